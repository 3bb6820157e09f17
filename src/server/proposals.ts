import type { Entry, Index, Term } from '../raft/index.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { OverloadedError, ProposalDroppedError, TimeoutError } from '../shared/errors.js';

interface PendingProposal<T> {
  readonly term: Term;
  readonly result: Deferred<T>;
  readonly deadlineMs: number;
  readonly timeoutMs: number;
}

/**
 * Client writes waiting for their log entry to be applied. A proposal is identified by the
 * (index, term) the core gave it: if the entry applied at that index has another term, another
 * leader overwrote it and it will never apply (§5.3), so the caller may safely retry.
 *
 * One timer for all of them, not one each: a timer armed and cleared per write showed in CPU
 * profiles under load, and almost every proposal settles long before its deadline.
 */
export class ProposalTracker<T> {
  private readonly pending = new Map<Index, PendingProposal<T>>();
  // Invariant: armed (non-null) whenever a proposal is pending, due no later than the earliest
  // deadline among them (it may be earlier: a settled proposal leaves it as it was).
  private timer: NodeJS.Timeout | null = null;
  private timerDueMs = Infinity;

  constructor(
    private readonly pendingMax: number,
    private readonly nowMs: () => number = () => Date.now(),
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Throws OverloadedError when the bound is reached, before the caller proposes anything. */
  ensureCapacity(): void {
    if (this.pending.size >= this.pendingMax) {
      throw new OverloadedError(`${this.pending.size} writes are already waiting to commit (pending-proposals-max)`);
    }
  }

  /** Waits for the entry at (index, term) to be applied; rejects with TimeoutError after `timeoutMs`. */
  track(index: Index, term: Term, timeoutMs: number): Promise<T> {
    const result = deferred<T>();
    const overwritten = this.pending.get(index);
    if (overwritten !== undefined) {
      // A new leader term reuses the index: the old entry was truncated and will never apply.
      overwritten.result.reject(new ProposalDroppedError(`index ${index} was proposed again in term ${term}`));
    }
    const deadlineMs = this.nowMs() + timeoutMs;
    this.pending.set(index, { term, result, deadlineMs, timeoutMs });
    if (deadlineMs < this.timerDueMs) this.arm(deadlineMs);
    return result.promise;
  }

  /** Settles the proposals whose entries were just applied, with their outcomes (same order as entries). */
  settle(entries: readonly Entry[], outcomes: readonly T[]): void {
    if (this.pending.size === 0) return;
    entries.forEach((entry, i) => {
      const proposal = this.pending.get(entry.index);
      if (proposal === undefined) return;
      this.pending.delete(entry.index);
      if (proposal.term === entry.term) proposal.result.resolve(outcomes[i] as T);
      else proposal.result.reject(new ProposalDroppedError(`index ${entry.index} was taken by an entry of term ${entry.term}; the write was not applied`));
    });
    if (this.pending.size === 0) this.disarm();
  }

  /** Rejects everything pending (the node is stopping). */
  failAll(error: Error): void {
    this.disarm();
    for (const proposal of this.pending.values()) proposal.result.reject(error);
    this.pending.clear();
  }

  private arm(dueMs: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerDueMs = dueMs;
    this.timer = setTimeout(() => this.expire(), Math.max(0, dueMs - this.nowMs()));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerDueMs = Infinity;
  }

  /** Times out every proposal past its deadline, and arms the timer for the earliest left. */
  private expire(): void {
    this.timer = null;
    this.timerDueMs = Infinity;
    const now = this.nowMs();
    let nextMs = Infinity;
    for (const [index, proposal] of this.pending) {
      if (proposal.deadlineMs > now) {
        nextMs = Math.min(nextMs, proposal.deadlineMs);
        continue;
      }
      this.pending.delete(index);
      proposal.result.reject(new TimeoutError(`write at index ${index} not applied within ${proposal.timeoutMs} ms; its outcome is unknown`));
    }
    if (nextMs < Infinity) this.arm(nextMs);
  }
}
