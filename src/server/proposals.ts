import type { Entry, Index, Term } from '../raft/index.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { OverloadedError, ProposalDroppedError, TimeoutError } from '../shared/errors.js';

interface PendingProposal<T> {
  readonly term: Term;
  readonly result: Deferred<T>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Client writes waiting for their log entry to be applied. A proposal is identified by the
 * (index, term) the core gave it: if the entry applied at that index has another term, another
 * leader overwrote it and it will never apply (§5.3), so the caller may safely retry.
 */
export class ProposalTracker<T> {
  // Invariant: every pending proposal owns exactly one live timer.
  private readonly pending = new Map<Index, PendingProposal<T>>();

  constructor(private readonly pendingMax: number) {}

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
    const timer = setTimeout(() => {
      // Only this proposal's own entry: the index may have been proposed again since.
      if (this.pending.get(index)?.result === result) this.pending.delete(index);
      result.reject(new TimeoutError(`write at index ${index} not applied within ${timeoutMs} ms; its outcome is unknown`));
    }, timeoutMs);
    timer.unref();
    const overwritten = this.pending.get(index);
    if (overwritten !== undefined) {
      // A new leader term reuses the index: the old entry was truncated and will never apply.
      clearTimeout(overwritten.timer);
      overwritten.result.reject(new ProposalDroppedError(`index ${index} was proposed again in term ${term}`));
    }
    this.pending.set(index, { term, result, timer });
    return result.promise;
  }

  /** Settles the proposals whose entries were just applied, with their outcomes (same order as entries). */
  settle(entries: readonly Entry[], outcomes: readonly T[]): void {
    if (this.pending.size === 0) return;
    entries.forEach((entry, i) => {
      const proposal = this.pending.get(entry.index);
      if (proposal === undefined) return;
      this.pending.delete(entry.index);
      clearTimeout(proposal.timer);
      if (proposal.term === entry.term) proposal.result.resolve(outcomes[i] as T);
      else proposal.result.reject(new ProposalDroppedError(`index ${entry.index} was taken by an entry of term ${entry.term}; the write was not applied`));
    });
  }

  /** Rejects everything pending (the node is stopping). */
  failAll(error: Error): void {
    for (const proposal of this.pending.values()) {
      clearTimeout(proposal.timer);
      proposal.result.reject(error);
    }
    this.pending.clear();
  }
}
