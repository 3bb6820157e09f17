/** A distributed mutex on a lease session (etcd's concurrency.Mutex), fenced by revision. */
import { enqueue, dequeue, monitorHeldKey, queuePrefix, sessionLost, waitForTurn, withinScope } from './key-queue.js';
import { CancelledError, LockLostError } from './errors.js';
import type { LeaseSession } from './lease-session.js';

export interface LockOptions {
  /** Aborting it gives up the wait (CancelledError) and removes the waiting key. */
  readonly signal?: AbortSignal;
  /** Give up the wait after this long (TimeoutError), removing the waiting key. Default: wait as long as it takes. */
  readonly timeoutMs?: number;
}

/**
 * A mutex named `name`, taken through `session`: `lock()` queues the session's key
 * `<name>/<lease id in hex>` and waits, with a watch, until every key created before it is
 * gone. The holder's key vanishes with its session's lease, so a holder that dies releases the
 * lock after the TTL.
 */
export class Lock {
  readonly prefix: string;

  constructor(
    readonly session: LeaseSession,
    readonly name: string,
  ) {
    this.prefix = queuePrefix(name);
  }

  /** The key this session queues under the lock. */
  get key(): string {
    return `${this.prefix}${this.session.leaseId.toString(16)}`;
  }

  /**
   * Waits for the lock and returns it held. The same session locking again (through this or
   * another Lock of the same name) gets the same key back, held once it is its turn (as etcd's
   * Mutex): the handles share the key, and one unlock releases it. Cancelled (signal, timeout)
   * or failed, it removes its waiting key. LeaseSessionExpiredError if the session's lease is
   * lost before the lock is held.
   */
  async lock(options: LockOptions = {}): Promise<LockHandle> {
    return withinScope(`lock ${JSON.stringify(this.name)}`, this.session, options, async (signal) => {
      const queued = await enqueue(this.session, this.prefix, '', signal);
      const { kv } = queued;
      if (queued.first) return new LockHandle(this.session, this.name, kv.key, kv.createRevision, queued.revision);
      try {
        const turn = await waitForTurn(this.session.client, this.prefix, kv, signal);
        if (turn.own === undefined) throw sessionLost(this.session, new Error(`the lock key ${this.key} is gone`));
        return new LockHandle(this.session, this.name, kv.key, kv.createRevision, turn.revision);
      } catch (error) {
        // Take our key out of the queue, whatever cut the wait short, so that those behind us do not wait for it.
        await dequeue(this.session.client, kv.key, kv.createRevision, { timeoutMs: 5000 }).catch(() => false);
        throw error;
      }
    });
  }
}

/**
 * A held lock. Pass `fencingRevision` with every write to what the lock guards, and have the
 * guarded resource refuse revisions older than the newest it has seen (or compare it in a
 * transaction: see README "Locks and elections"): a holder that lost the lock without knowing
 * (paused, cut off past its TTL) is then refused instead of overwriting its successor's work.
 */
export class LockHandle {
  /** Aborted when the lock is lost (reason: LockLostError) or released (reason: CancelledError). */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly monitor: { stop(): void };

  constructor(
    private readonly session: LeaseSession,
    readonly name: string,
    /** The lock's key in the store, `<name>/<lease id in hex>`. */
    readonly key: Buffer,
    /** The key's create revision: larger for every later holder of the lock. */
    readonly fencingRevision: number,
    heldAtRevision: number,
  ) {
    this.signal = this.controller.signal;
    this.monitor = monitorHeldKey(session, key, heldAtRevision, (cause) => {
      this.controller.abort(new LockLostError(key.toString(), fencingRevision, `lock ${JSON.stringify(name)} lost (fencing revision ${fencingRevision}): ${cause.message}`, { cause }));
    });
  }

  /** The lock was lost: its key was deleted or the session's lease expired. `signal.reason` says how. */
  get lost(): boolean {
    return this.signal.reason instanceof LockLostError;
  }

  /** Throws the LockLostError if the lock is lost (or CancelledError once released). */
  throwIfLost(): void {
    if (this.signal.aborted) throw this.signal.reason as Error;
  }

  /** Releases the lock: deletes its key if it is still ours. Releasing a lost or released lock does nothing. */
  async unlock(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.signal.aborted) return;
    this.monitor.stop();
    this.controller.abort(new CancelledError(`lock ${JSON.stringify(this.name)} released`));
    await dequeue(this.session.client, this.key, this.fencingRevision, options);
  }
}
