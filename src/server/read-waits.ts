import type { Index, ReadState } from '../raft/index.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { OverloadedError, TimeoutError } from '../shared/errors.js';

interface PendingRead {
  readonly result: Deferred<void>;
  readonly timer: NodeJS.Timeout;
  /** Set once the leader confirmed the read point (thesis §6.4 steps 1-3). */
  index: Index | null;
}

/**
 * Linearizable reads in flight: each waits for its ReadState, then for the state machine to
 * apply up to the read index (thesis §6.4 step 4), and only then may it read local state.
 */
export class ReadWaits {
  private readonly byContext = new Map<string, PendingRead>();
  private sequence = 0;

  constructor(
    private readonly contextPrefix: string,
    private readonly pendingMax: number,
  ) {}

  get size(): number {
    return this.byContext.size;
  }

  /**
   * Registers a read; returns its cluster-unique context and a promise that resolves when local
   * state may be read. The prefix (node id and start time) keeps contexts unique across restarts.
   */
  begin(timeoutMs: number): { context: string; ready: Promise<void> } {
    if (this.byContext.size >= this.pendingMax) {
      throw new OverloadedError(`${this.byContext.size} linearizable reads are already waiting`);
    }
    const context = `${this.contextPrefix}:${++this.sequence}`;
    const result = deferred<void>();
    const timer = setTimeout(() => {
      this.byContext.delete(context);
      result.reject(new TimeoutError(`read not confirmed by a quorum within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    this.byContext.set(context, { result, timer, index: null });
    return { context, ready: result.promise };
  }

  /** A read that could not even start (no leader): forget it. */
  abandon(context: string): void {
    const read = this.byContext.get(context);
    if (read === undefined) return;
    clearTimeout(read.timer);
    this.byContext.delete(context);
  }

  /** Records confirmed read points and releases every read whose index is applied. */
  onReadStates(readStates: readonly ReadState[], applied: Index): void {
    for (const state of readStates) {
      const read = this.byContext.get(state.context);
      if (read !== undefined && read.index === null) read.index = state.index;
    }
    this.release(applied);
  }

  /** Releases every confirmed read whose index the state machine has applied. */
  release(applied: Index): void {
    for (const [context, read] of this.byContext) {
      if (read.index !== null && read.index <= applied) {
        clearTimeout(read.timer);
        this.byContext.delete(context);
        read.result.resolve();
      }
    }
  }

  failAll(error: Error): void {
    for (const read of this.byContext.values()) {
      clearTimeout(read.timer);
      read.result.reject(error);
    }
    this.byContext.clear();
  }
}
