import { deferred, type Deferred } from '../shared/deferred.js';

/**
 * Counts the reads in progress on each state generation, so that a generation replaced by a
 * snapshot is cleared only once no read can still see it (a read that started before the
 * switch finishes on the state it started on, which was current when it started).
 */
export class GenerationReaders {
  private readonly counts = new Map<number, number>();
  private readonly drainWaits = new Map<number, Deferred<void>>();

  enter(generation: number): void {
    this.counts.set(generation, (this.counts.get(generation) ?? 0) + 1);
  }

  leave(generation: number): void {
    const count = (this.counts.get(generation) ?? 0) - 1;
    if (count > 0) {
      this.counts.set(generation, count);
      return;
    }
    this.counts.delete(generation);
    this.drainWaits.get(generation)?.resolve();
    this.drainWaits.delete(generation);
  }

  /** Resolves once no read of `generation` is in progress (at once if none is). */
  drained(generation: number): Promise<void> {
    if (!this.counts.has(generation)) return Promise.resolve();
    let wait = this.drainWaits.get(generation);
    if (wait === undefined) {
      wait = deferred<void>();
      this.drainWaits.set(generation, wait);
    }
    return wait.promise;
  }
}
