import { performance } from 'node:perf_hooks';
import { checkLinearizability, describeViolation, findLostRegisterWrites, type Operation, type RegisterValue } from '../../chaos/checker/index.js';
import { HistoryRecorder } from '../../chaos/history-recorder.js';
import { RaftKvClient } from '../../src/client/index.js';
import { waitFor } from './process-cluster.js';

const registerKeys = ['r/0', 'r/1', 'r/2', 'r/3'];

/**
 * A steady load from several SDK clients while membership changes: each client alternates a
 * put to a key of its own (every acknowledged one must be on every member at the end) with a
 * register operation on a few shared keys (put of a unique value, or get), recorded in the
 * chaos checker's history format for a linearizability check.
 */
export class WriteLoad {
  private readonly recorder: HistoryRecorder;
  private readonly clients: RaftKvClient[] = [];
  private readonly workers: Promise<void>[] = [];
  private stopping = false;
  /** Unique keys whose put was acknowledged. */
  readonly acknowledged: string[] = [];
  /** Puts to unique keys whose outcome is unknown (they may or may not exist). */
  readonly uncertain: string[] = [];
  errors: string[] = [];

  private constructor(endpointsOf: (worker: number) => readonly string[], workers: number, readonly prefix: string) {
    const startedAt = performance.now();
    this.recorder = new HistoryRecorder(() => performance.now() - startedAt);
    for (let process = 0; process < workers; process++) {
      const client = new RaftKvClient({ endpoints: endpointsOf(process), timeoutMs: 15_000 });
      this.clients.push(client);
      this.workers.push(this.run(process, client));
    }
  }

  /** Starts `workers` clients; `endpointsOf` gives each its endpoints (e.g. one node only). */
  static start(endpointsOf: (worker: number) => readonly string[], options: { workers?: number; prefix: string }): WriteLoad {
    return new WriteLoad(endpointsOf, options.workers ?? 4, options.prefix);
  }

  /** Waits until at least `count` more unique writes have been acknowledged. */
  async progress(count: number, timeoutMs = 60_000): Promise<void> {
    const target = this.acknowledged.length + count;
    await waitFor(`${count} more acknowledged writes (errors so far: ${this.errors.slice(-3).join(' | ')})`, () => (this.acknowledged.length >= target ? true : undefined), timeoutMs);
  }

  /** Stops the clients once their current operation ends; returns the recorded register history. */
  async stop(): Promise<readonly Operation[]> {
    this.stopping = true;
    await Promise.all(this.workers);
    for (const client of this.clients) client.close();
    return this.recorder.operations();
  }

  private async run(process: number, client: RaftKvClient): Promise<void> {
    for (let i = 0; !this.stopping; i++) {
      const key = `${this.prefix}/u/p${process}/${i}`;
      try {
        await client.put(key, `v${i}`);
        this.acknowledged.push(key);
      } catch (error) {
        this.uncertain.push(key);
        this.errors.push(`put ${key}: ${(error as Error).message}`);
      }
      await this.registerOperation(process, client, i);
    }
  }

  private async registerOperation(process: number, client: RaftKvClient, i: number): Promise<void> {
    const key = `${this.prefix}/${registerKeys[(process + i) % registerKeys.length]}`;
    const invocation = this.recorder.invoke(process, key);
    if (i % 3 === 0) {
      try {
        const kv = await client.get(key);
        this.recorder.complete(invocation, { kind: 'get', outcome: 'ok', value: kv === null ? null : kv.value.toString('utf8') });
      } catch (error) {
        this.errors.push(`get ${key}: ${(error as Error).message}`);
        this.recorder.complete(invocation, { kind: 'get', outcome: 'indeterminate' });
      }
      return;
    }
    const value = `p${process}-${i}`;
    try {
      await client.put(key, value);
      this.recorder.complete(invocation, { kind: 'put', value, outcome: 'ok' });
    } catch (error) {
      this.errors.push(`put ${key}: ${(error as Error).message}`);
      this.recorder.complete(invocation, { kind: 'put', value, outcome: 'indeterminate' });
    }
  }

  /** The shared register keys of this load. */
  registerKeys(): string[] {
    return registerKeys.map((k) => `${this.prefix}/${k}`);
  }
}

/** What a load's end-of-run checks found; every list empty and `verdict` linearizable when all is well. */
export interface LoadVerdict {
  readonly acknowledged: number;
  readonly verdict: string;
  readonly violations: string[];
  readonly lostRegisterWrites: number;
  /** Per member: acknowledged unique keys it does not hold. */
  readonly missing: Record<string, string[]>;
  /** Members whose keyspace differs from the first member's. */
  readonly divergent: string[];
}

/**
 * Stops the load and checks it: the register history is linearizable, no acknowledged register
 * write is lost (final linearizable reads), every acknowledged unique write is on every member,
 * and all members hold the same keyspace (serializable reads once each has applied the leader's
 * commit index).
 */
export async function stopAndCheck(load: WriteLoad, members: readonly { id: string; clientAddress: string }[], endpoints: readonly string[]): Promise<LoadVerdict> {
  const history = await load.stop();
  const client = new RaftKvClient({ endpoints, timeoutMs: 15_000 });
  try {
    const finals = new Map<string, RegisterValue>();
    for (const key of load.registerKeys()) {
      const kv = await client.get(key);
      finals.set(key, kv === null ? null : kv.value.toString('utf8'));
    }
    const linearizability = checkLinearizability(history, { timeLimitMs: 30_000 });
    const violations = linearizability.perKey.flatMap((k) => (k.verdict === 'not-linearizable' ? [describeViolation(k.key, k.violation)] : []));
    const lost = findLostRegisterWrites(history, finals);

    // A linearizable write now, then every member must apply up to it: all have caught up.
    const barrier = await client.put(`${load.prefix}/barrier`, 'end');
    const keyspaces = new Map<string, string[]>();
    for (const member of members) {
      const pinned = new RaftKvClient({ endpoints: [member.clientAddress], pinned: true, timeoutMs: 15_000 });
      try {
        await waitFor(`${member.id} to apply index ${barrier.revision}`, async () => ((await pinned.status(member.clientAddress)).appliedIndex >= barrier.revision ? true : undefined));
        const range = await pinned.range({ prefix: `${load.prefix}/` }, { consistency: 'serializable', limit: 100_000 });
        keyspaces.set(member.id, range.kvs.map((kv) => `${kv.key.toString('utf8')}=${kv.value.toString('utf8')}`));
      } finally {
        pinned.close();
      }
    }
    const missing: Record<string, string[]> = {};
    for (const [id, keyspace] of keyspaces) {
      const keys = new Set(keyspace.map((entry) => entry.slice(0, entry.indexOf('='))));
      const absent = load.acknowledged.filter((key) => !keys.has(key));
      if (absent.length > 0) missing[id] = absent.slice(0, 10);
    }
    const [first, ...rest] = [...keyspaces.values()];
    const divergent = [...keyspaces.keys()].slice(1).filter((_, i) => JSON.stringify(rest[i]) !== JSON.stringify(first));
    return { acknowledged: load.acknowledged.length, verdict: linearizability.verdict, violations, lostRegisterWrites: lost.lostCount, missing, divergent };
  } finally {
    client.close();
  }
}
