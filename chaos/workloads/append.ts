/**
 * The append workload: each key holds a list of unique elements, space-separated. A client
 * appends one new element by reading the list and swapping it for the list plus the element
 * (cas on the whole value), re-trying with the value a failed cas reports, a few times at most.
 * At the end every acknowledged element must be in its key's list exactly once.
 *
 * Every written value contains a new element, so written values are unique and the read and
 * cas operations form an ordinary register history that the linearizability checker also sees.
 *
 * A list is rewritten whole on every append, so lists are kept short: once a key holds
 * `elementsPerKeyMax` acknowledged elements its slot moves on to a fresh key ("a3" -> "a3.1"),
 * as Jepsen retires keys after a number of writes. Without that, values, the Raft log and the
 * history grow quadratically with the run.
 */
import { findLostAppends, type Operation, type RegisterValue } from '../checker/index.js';
import { assertNotHarnessBug, workloadKeys, type Durability, type Workload, type WorkerContext } from './workload.js';

export interface AppendWorkloadOptions {
  /** Keys appended to at any one time. */
  readonly keys: number;
  /** Cas attempts per append before giving the element up (definitely not appended). */
  readonly casAttemptsMax?: number;
  /** Acknowledged elements after which a key is retired for a fresh one. */
  readonly elementsPerKeyMax?: number;
}

export class AppendWorkload implements Workload {
  readonly name = 'append';
  private readonly casAttemptsMax: number;
  private readonly elementsPerKeyMax: number;
  /** The key each slot appends to now. */
  private readonly current: string[];
  // Invariant: every key ever used, in order of first use (the final reads cover them all).
  private readonly used: string[];
  // Invariant: per key, the elements whose append was acknowledged, each once.
  private readonly acknowledged = new Map<string, string[]>();

  constructor(options: AppendWorkloadOptions) {
    this.current = workloadKeys('a', options.keys);
    this.used = [...this.current];
    this.casAttemptsMax = options.casAttemptsMax ?? 3;
    this.elementsPerKeyMax = options.elementsPerKeyMax ?? 100;
  }

  /** Every key appended to so far, retired ones included. */
  get keys(): readonly string[] {
    return this.used;
  }

  /** Acknowledged appends so far, per key. */
  acknowledgedAppends(): ReadonlyMap<string, readonly string[]> {
    return this.acknowledged;
  }

  async step(context: WorkerContext): Promise<void> {
    const slot = context.rng.int(this.current.length);
    const key = this.current[slot] as string;
    const element = context.nextValue();
    let current = await this.read(context, key);
    if (current === undefined) return;
    for (let attempt = 0; attempt < this.casAttemptsMax && !context.stopping.aborted; attempt++) {
      const next = current === null ? element : `${current} ${element}`;
      const invocation = context.recorder.invoke(context.process, key);
      try {
        const result = await context.client.cas(key, current === null ? { version: 0 } : { value: current }, { put: next }, { timeoutMs: context.opTimeoutMs });
        context.recorder.complete(invocation, { kind: 'cas', expected: current, value: next, outcome: result.succeeded ? 'ok' : 'fail' });
        if (result.succeeded) {
          const list = this.acknowledged.get(key) ?? [];
          list.push(element);
          this.acknowledged.set(key, list);
          if (list.length >= this.elementsPerKeyMax && this.current[slot] === key) this.retire(slot);
          return;
        }
        current = result.previous === null ? null : result.previous.value.toString('utf8');
      } catch (error) {
        assertNotHarnessBug(error);
        context.noteError(error);
        // The element may or may not be in the list now; it is not acknowledged, never retried.
        context.recorder.complete(invocation, { kind: 'cas', expected: current, value: next, outcome: 'indeterminate' });
        context.retire();
        return;
      }
    }
  }

  durability(_history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability {
    const finalLists = new Map<string, string[]>();
    for (const [key, value] of finalValues) finalLists.set(key, parseList(value));
    const detail = findLostAppends(this.acknowledged, finalLists);
    const problems: string[] = [];
    const losses: string[] = [];
    for (const entry of detail.perKey) {
      if (entry.status === 'no-final-read') {
        problems.push(`key ${entry.key} has ${entry.acknowledgedAppends} acknowledged appends but no final read`);
        continue;
      }
      if (entry.missing.length > 0) losses.push(`key ${entry.key} lost acknowledged appends ${entry.missing.join(', ')}`);
      if (entry.duplicated.length > 0) problems.push(`key ${entry.key} holds ${entry.duplicated.join(', ')} more than once`);
    }
    return { workload: 'append', lost: detail.lostCount, losses, problems, detail };
  }

  /** Moves a slot to a fresh key: "a3" -> "a3.1" -> "a3.2"... */
  private retire(slot: number): void {
    const generation = this.used.filter((key) => key === `a${slot}` || key.startsWith(`a${slot}.`)).length;
    const fresh = `a${slot}.${generation}`;
    this.current[slot] = fresh;
    this.used.push(fresh);
  }

  /** The list's current value (null: empty), or undefined if the read failed. */
  private async read(context: WorkerContext, key: string): Promise<RegisterValue | undefined> {
    const invocation = context.recorder.invoke(context.process, key);
    try {
      const kv = await context.reader().get(key, { timeoutMs: context.opTimeoutMs });
      const value = kv === null ? null : kv.value.toString('utf8');
      context.recorder.complete(invocation, { kind: 'get', outcome: 'ok', value });
      return value;
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      context.recorder.complete(invocation, { kind: 'get', outcome: 'indeterminate' });
      context.retire();
      return undefined;
    }
  }
}

/** A key's list: its value split on spaces; absent is empty. */
export function parseList(value: RegisterValue): string[] {
  return value === null || value === '' ? [] : value.split(' ');
}
