import { describe, expect, it } from 'vitest';
import { TimeoutError, UnavailableError, type KeyValue, type RaftKvClient } from '../../src/client/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { checkLinearizability, type Operation } from '../../chaos/checker/index.js';
import { completedCount, HistoryRecorder } from '../../chaos/history-recorder.js';
import { AppendWorkload, parseList } from '../../chaos/workloads/append.js';
import { RegisterWorkload } from '../../chaos/workloads/register.js';
import type { WorkerContext } from '../../chaos/workloads/workload.js';

/**
 * The workloads against an in-memory register store standing in for the SDK: how outcomes are
 * classified, how values stay unique, and how the final state is judged. No cluster, no clock.
 */
class FakeClient {
  readonly store = new Map<string, string>();
  /** Errors the next reads throw, in order, before answering normally again. */
  readonly readFailures: Error[] = [];
  /** Errors the next writes (put, cas) throw. */
  readonly writeFailures: Error[] = [];
  /** When set, a failing write still takes effect (the reply was lost, not the request). */
  applyFailedWrites = false;

  async get(key: string): Promise<KeyValue | null> {
    this.maybeFail();
    const value = this.store.get(key);
    return value === undefined ? null : kv(key, value);
  }

  async put(key: string, value: string): Promise<{ revision: number; version: number }> {
    this.write(() => this.store.set(key, value));
    return { revision: 1, version: 1 };
  }

  async cas(key: string, compare: { value: string } | { version: number }, action: { put: string }) {
    const current = this.store.get(key);
    const holds = 'value' in compare ? current === compare.value : compare.version === 0 && current === undefined;
    this.write(() => {
      if (holds) this.store.set(key, action.put);
    });
    return { succeeded: holds, previous: current === undefined ? null : kv(key, current), revision: 1 };
  }

  private write(apply: () => void): void {
    const failure = this.writeFailures.shift();
    if (failure === undefined || this.applyFailedWrites) apply();
    if (failure !== undefined) throw failure;
  }

  private maybeFail(): void {
    const failure = this.readFailures.shift();
    if (failure !== undefined) throw failure;
  }
}

function kv(key: string, value: string): KeyValue {
  return { key: Buffer.from(key), value: Buffer.from(value), version: 1, createRevision: 1, modRevision: 1 };
}

function contextFor(client: FakeClient, recorder: HistoryRecorder, worker = 0, clients = 2): WorkerContext {
  let process = worker;
  let sequence = 0;
  return {
    worker,
    get process() {
      return process;
    },
    client: client as unknown as RaftKvClient,
    reader: () => client as unknown as RaftKvClient,
    rng: new SeededRng(worker + 1),
    recorder,
    opTimeoutMs: 1000,
    stopping: new AbortController().signal,
    nextValue: () => `${worker}-${++sequence}`,
    retire: () => {
      process += clients;
    },
    noteError: () => {},
  };
}

function recorderWithFakeClock(): HistoryRecorder {
  let now = 0;
  return new HistoryRecorder(() => (now += 1));
}

describe('RegisterWorkload', () => {
  it('records ok operations with unique values, forming a linearizable history', async () => {
    const client = new FakeClient();
    const recorder = recorderWithFakeClock();
    const workload = new RegisterWorkload({ keys: 2 });
    const context = contextFor(client, recorder);
    for (let i = 0; i < 200; i++) await workload.step(context);
    const history = recorder.operations();
    expect(history).toHaveLength(200);
    expect(new Set(history.map((op) => op.kind))).toEqual(new Set(['get', 'put', 'cas']));
    const written = history.flatMap((op) => (op.kind === 'get' ? [] : [op.value]));
    expect(new Set(written).size).toBe(written.length);
    expect(history.filter((op) => op.kind === 'cas' && op.outcome === 'ok').length).toBeGreaterThan(0);
    expect(checkLinearizability(history, { timeLimitMs: 5000 }).verdict).toBe('linearizable');
    const finalValues = new Map(workload.keys.map((key) => [key, client.store.get(key) ?? null]));
    expect(workload.durability(history, finalValues)).toMatchObject({ lost: 0, problems: [] });
  });

  it('makes a failed write indeterminate and moves the client to a new process', async () => {
    const client = new FakeClient();
    const recorder = recorderWithFakeClock();
    const workload = new RegisterWorkload({ keys: 1, getPercent: 0, putPercent: 100 });
    const context = contextFor(client, recorder, 1, 3);
    client.writeFailures.push(new TimeoutError('deadline'));
    await workload.step(context);
    await workload.step(context);
    const [first, second] = recorder.operations() as [Operation, Operation];
    expect(first).toMatchObject({ kind: 'put', outcome: 'indeterminate', process: 1 });
    expect(second).toMatchObject({ kind: 'put', outcome: 'ok', process: 4 });
    expect(completedCount(recorder.operations())).toBe(1);
  });

  it('reports a write the final state lost', async () => {
    const client = new FakeClient();
    const recorder = recorderWithFakeClock();
    const workload = new RegisterWorkload({ keys: 1, getPercent: 0, putPercent: 100 });
    const context = contextFor(client, recorder);
    await workload.step(context);
    await workload.step(context);
    const history = recorder.operations();
    const result = workload.durability(history, new Map([['r0', '0-1']]));
    expect(result.lost).toBe(1);
    expect(result.losses[0]).toContain('r0');
  });
});

describe('AppendWorkload', () => {
  it('acknowledges each element once and finds it in the final list', async () => {
    const client = new FakeClient();
    const recorder = recorderWithFakeClock();
    const workload = new AppendWorkload({ keys: 2 });
    const contexts = [contextFor(client, recorder, 0), contextFor(client, recorder, 1)];
    for (let i = 0; i < 50; i++) for (const context of contexts) await workload.step(context);
    const acknowledged = [...workload.acknowledgedAppends().values()].flat();
    expect(acknowledged).toHaveLength(100);
    const finalValues = new Map(workload.keys.map((key) => [key, client.store.get(key) ?? null]));
    expect(workload.durability(recorder.operations(), finalValues)).toMatchObject({ lost: 0, problems: [] });
    expect(checkLinearizability(recorder.operations(), { timeLimitMs: 5000 }).verdict).toBe('linearizable');
  });

  it('does not acknowledge an append whose cas failed with an unknown outcome, and never retries it', async () => {
    const client = new FakeClient();
    client.applyFailedWrites = true;
    const recorder = recorderWithFakeClock();
    const workload = new AppendWorkload({ keys: 1 });
    const context = contextFor(client, recorder);
    await workload.step(context); // appends 0-1
    client.readFailures.push(new UnavailableError('gone')); // the get of the next step fails
    await workload.step(context);
    await workload.step(context); // get ok, then:
    expect(workload.acknowledgedAppends().get('a0')).toEqual(['0-1', '0-3']);
    client.writeFailures.push(new TimeoutError('lost reply')); // the cas is applied, but unanswered
    const before = recorder.operations().length;
    await workload.step(context);
    const ops = recorder.operations().slice(before);
    expect(ops.map((op) => `${op.kind} ${op.outcome}`)).toEqual(['get ok', 'cas indeterminate']);
    expect(workload.acknowledgedAppends().get('a0')).toEqual(['0-1', '0-3']);
    expect(parseList(client.store.get('a0') ?? null)).toEqual(['0-1', '0-3', '0-4']);
    expect(workload.durability(recorder.operations(), new Map([['a0', client.store.get('a0') ?? null]]))).toMatchObject({ lost: 0, problems: [] });
  });

  it('retires a key once it holds enough elements, and judges every key it used', async () => {
    const client = new FakeClient();
    const recorder = recorderWithFakeClock();
    const workload = new AppendWorkload({ keys: 1, elementsPerKeyMax: 3 });
    const context = contextFor(client, recorder);
    for (let i = 0; i < 10; i++) await workload.step(context);
    expect(workload.keys).toEqual(['a0', 'a0.1', 'a0.2', 'a0.3']);
    expect(workload.keys.map((key) => parseList(client.store.get(key) ?? null).length)).toEqual([3, 3, 3, 1]);
    const finalValues = new Map(workload.keys.map((key) => [key, client.store.get(key) ?? null]));
    expect(workload.durability(recorder.operations(), finalValues)).toMatchObject({ lost: 0, problems: [] });
  });

  it('reports lost and duplicated elements', () => {
    const workload = new AppendWorkload({ keys: 1 });
    (workload.acknowledgedAppends() as Map<string, string[]>).set('a0', ['0-1', '0-2']);
    const result = workload.durability([], new Map([['a0', '0-1 0-1']]));
    expect(result.lost).toBe(1);
    expect(result.losses[0]).toContain('0-2');
    expect(result.problems[0]).toContain('more than once');
  });
});
