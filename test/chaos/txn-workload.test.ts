import { describe, expect, it } from 'vitest';
import { TimeoutError, type KeyValue, type RaftKvClient, type TxnRequest, type TxnResult } from '../../src/client/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { checkLinearizability, checkTxnLinearizability } from '../../chaos/checker/index.js';
import { HistoryRecorder } from '../../chaos/history-recorder.js';
import { balanceOf, initialBalance, TxnWorkload } from '../../chaos/workloads/txn.js';
import type { WorkerContext } from '../../chaos/workloads/workload.js';

/** An in-memory transactional store standing in for the SDK: values with versions, compares on versions. */
class FakeTxnClient {
  readonly store = new Map<string, { value: string; version: number }>();
  /** Errors the next writing transactions throw; `applyFailed` says whether a failed one still took effect. */
  readonly failures: Error[] = [];
  applyFailed = false;
  /** Apply only the first put of a transaction (a broken, non-atomic store). */
  tornWrites = false;

  async txn(request: TxnRequest): Promise<TxnResult> {
    const holds = (request.compare ?? []).every((c) => (this.store.get(c.key as string)?.version ?? 0) === c.value);
    const writes = [...(request.success ?? []), ...(request.failure ?? [])].some((op) => 'put' in op);
    const failure = writes ? this.failures.shift() : undefined;
    if (failure !== undefined && !this.applyFailed) throw failure;
    const responses = [];
    let puts = 0;
    for (const op of (holds ? request.success : request.failure) ?? []) {
      if ('put' in op) {
        if (this.tornWrites && puts++ > 0) continue;
        const key = op.put.key as string;
        this.store.set(key, { value: op.put.value as string, version: (this.store.get(key)?.version ?? 0) + 1 });
        responses.push({ put: { revision: 1, version: 1 } });
      } else if ('get' in op) {
        const kvs: KeyValue[] = [...this.store].filter(([key]) => key.startsWith(op.get.key as string)).sort().map(([key, { value, version }]) => ({
          key: Buffer.from(key),
          value: Buffer.from(value),
          version,
          createRevision: 1,
          modRevision: 1,
        }));
        responses.push({ get: { kvs, more: false, count: kvs.length } });
      }
    }
    if (failure !== undefined) throw failure;
    return { succeeded: holds, revision: 1, responses };
  }
}

function context(client: FakeTxnClient, recorder: HistoryRecorder, worker = 0): WorkerContext {
  let sequence = 0;
  let process = worker;
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
      process += 10;
    },
    noteError: () => undefined,
  };
}

function finalValues(client: FakeTxnClient, keys: readonly string[]): Map<string, string | null> {
  return new Map(keys.map((key) => [key, client.store.get(key)?.value ?? null]));
}

describe('TxnWorkload', () => {
  it('creates the accounts once, then moves units between them, conserving the total, in histories both checkers accept', async () => {
    let now = 0;
    const recorder = new HistoryRecorder(() => (now += 1));
    const client = new FakeTxnClient();
    const workload = new TxnWorkload({ accounts: 3 });
    const contexts = [context(client, recorder, 0), context(client, recorder, 1)];
    for (let step = 0; step < 60; step++) await workload.step(contexts[step % 2]!);
    const total = workload.keys.reduce((sum, key) => sum + (balanceOf(client.store.get(key)?.value ?? null) ?? 0), 0);
    expect(total).toBe(3 * initialBalance);
    expect([...client.store.values()].some((account) => account.version > 3)).toBe(true);
    expect(checkTxnLinearizability(workload.history(), { timeLimitMs: 10_000 }).verdict).toBe('linearizable');
    expect(checkLinearizability(recorder.operations(), { timeLimitMs: 10_000 }).verdict).toBe('linearizable');
    const durability = workload.durability(recorder.operations(), finalValues(client, workload.keys));
    expect(durability.problems).toEqual([]);
    expect(durability.lost).toBe(0);
  });

  it('records a transfer whose reply was lost as indeterminate, and still passes when it took effect', async () => {
    let now = 0;
    const recorder = new HistoryRecorder(() => (now += 1));
    const client = new FakeTxnClient();
    const workload = new TxnWorkload({ accounts: 2, readPercent: 0 });
    const ctx = context(client, recorder);
    await workload.step(ctx);
    client.applyFailed = true;
    client.failures.push(new TimeoutError('lost'), new TimeoutError('lost'));
    for (let step = 0; step < 4; step++) await workload.step(ctx);
    expect(client.failures).toEqual([]);
    expect(workload.history().some((op) => op.outcome === 'indeterminate')).toBe(true);
    expect(checkTxnLinearizability(workload.history(), { timeLimitMs: 10_000 }).verdict).toBe('linearizable');
    expect(workload.durability(recorder.operations(), finalValues(client, workload.keys)).problems).toEqual([]);
  });

  it('catches a store that applies half of a transfer: the checker and the conservation check both fail', async () => {
    let now = 0;
    const recorder = new HistoryRecorder(() => (now += 1));
    const client = new FakeTxnClient();
    const workload = new TxnWorkload({ accounts: 2, readPercent: 0 });
    const ctx = context(client, recorder);
    await workload.step(ctx);
    client.tornWrites = true;
    for (let step = 0; step < 4; step++) await workload.step(ctx);
    expect(checkTxnLinearizability(workload.history(), { timeLimitMs: 10_000 }).verdict).toBe('not-linearizable');
    expect(workload.durability(recorder.operations(), finalValues(client, workload.keys)).problems.join('\n')).toMatch(/not the 200 they started with: a transfer was applied in part/);
  });

  it('refuses fewer than 2 accounts', () => {
    expect(() => new TxnWorkload({ accounts: 1 })).toThrow(/at least 2 accounts/);
  });
});
