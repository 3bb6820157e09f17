/**
 * The register workload: each client picks a key among a few and a get, put or cas on it. Every
 * written value is unique in the run, which keeps histories checkable (see checker/
 * linearizability.ts) and makes a lost write visible. A cas expects the value last seen for
 * that key by any client, so it succeeds often enough to matter.
 */
import { findLostRegisterWrites, type Operation, type RegisterValue } from '../checker/index.js';
import { assertNotHarnessBug, workloadKeys, type Durability, type Workload, type WorkerContext } from './workload.js';

export interface RegisterWorkloadOptions {
  readonly keys: number;
  /** Percentages of gets and puts; the rest are cas. */
  readonly getPercent?: number;
  readonly putPercent?: number;
}

export class RegisterWorkload implements Workload {
  readonly name = 'register';
  readonly keys: readonly string[];
  private readonly getPercent: number;
  private readonly putPercent: number;
  /** The last value any client saw or wrote per key: the next cas's expectation. */
  private readonly lastSeen = new Map<string, RegisterValue>();

  constructor(options: RegisterWorkloadOptions) {
    this.keys = workloadKeys('r', options.keys);
    this.getPercent = options.getPercent ?? 50;
    this.putPercent = options.putPercent ?? 25;
  }

  async step(context: WorkerContext): Promise<void> {
    const { rng } = context;
    const key = rng.pick(this.keys);
    const roll = rng.int(100);
    if (roll < this.getPercent) await this.get(context, key);
    else if (roll < this.getPercent + this.putPercent) await this.put(context, key);
    else await this.cas(context, key);
  }

  durability(history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability {
    return registerDurability(history, finalValues);
  }

  private async get(context: WorkerContext, key: string): Promise<void> {
    const invocation = context.recorder.invoke(context.process, key);
    try {
      const kv = await context.reader().get(key, { timeoutMs: context.opTimeoutMs });
      const value = kv === null ? null : kv.value.toString('utf8');
      context.recorder.complete(invocation, { kind: 'get', outcome: 'ok', value });
      this.lastSeen.set(key, value);
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      // A read that failed observed nothing and changed nothing; the checker drops it.
      context.recorder.complete(invocation, { kind: 'get', outcome: 'indeterminate' });
      context.retire();
    }
  }

  private async put(context: WorkerContext, key: string): Promise<void> {
    const value = context.nextValue();
    const invocation = context.recorder.invoke(context.process, key);
    try {
      await context.client.put(key, value, { timeoutMs: context.opTimeoutMs });
      context.recorder.complete(invocation, { kind: 'put', value, outcome: 'ok' });
      this.lastSeen.set(key, value);
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      context.recorder.complete(invocation, { kind: 'put', value, outcome: 'indeterminate' });
      context.retire();
    }
  }

  private async cas(context: WorkerContext, key: string): Promise<void> {
    const expected = this.lastSeen.get(key) ?? null;
    const value = context.nextValue();
    const invocation = context.recorder.invoke(context.process, key);
    try {
      const result = await context.client.cas(key, expected === null ? { version: 0 } : { value: expected }, { put: value }, { timeoutMs: context.opTimeoutMs });
      context.recorder.complete(invocation, { kind: 'cas', expected, value, outcome: result.succeeded ? 'ok' : 'fail' });
      this.lastSeen.set(key, result.succeeded ? value : result.previous === null ? null : result.previous.value.toString('utf8'));
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      context.recorder.complete(invocation, { kind: 'cas', expected, value, outcome: 'indeterminate' });
      context.retire();
    }
  }
}

/**
 * Lost and unexplained writes of registers (keys written whole, read back at the end): what the
 * register workload reports, and what the txn workload reports of the keys its transactions write.
 */
export function registerDurability(history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability & { workload: 'register' } {
  const detail = findLostRegisterWrites(history, finalValues);
  const problems: string[] = [];
  const losses: string[] = [];
  for (const entry of detail.perKey) {
    if (entry.status === 'unexplained') problems.push(`key ${entry.key} holds ${JSON.stringify(entry.finalValue)}, which no write could have produced`);
    if (entry.status === 'no-final-read') problems.push(`key ${entry.key} has ${entry.acknowledgedWrites} acknowledged writes but no final read`);
    if (entry.status === 'lost') {
      losses.push(
        `key ${entry.key}: final value ${JSON.stringify(entry.finalValue)} loses an acknowledged write; suspects: ${entry.suspects.map((s) => `#${s.index}`).join(', ')}`,
      );
    }
  }
  return { workload: 'register', lost: detail.lostCount, losses, problems, detail };
}
