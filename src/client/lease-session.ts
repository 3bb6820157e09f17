/** A lease kept alive for as long as a process holds locks or leads elections through it (etcd's concurrency.Session). */
import { CancelledError, InvalidArgumentError, LeaseExpiredError, LeaseNotFoundError, LeaseSessionExpiredError } from './errors.js';
import type { LeaseKeepAlive } from './lease-api.js';
import type { RaftKvClient } from './kv-client.js';

export interface LeaseSessionOptions {
  /** The lease's TTL in seconds (default 60): how long locks outlive a holder that stopped renewing. */
  readonly ttlSeconds?: number;
  /** Deadline of the grant. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export const defaultSessionTtlSeconds = 60;

/**
 * A lease granted for this process and renewed in the background until `close()`. Keys that
 * locks and elections create are attached to it, so they vanish when the process dies or is cut
 * off for longer than the TTL.
 *
 * `signal` aborts when the session ends: with a CancelledError after `close()`; with a
 * LeaseSessionExpiredError when the lease is lost: the cluster said it is gone, or no renewal
 * succeeded for a whole TTL (also after `orphan()`). The second is judged on this
 * process's monotonic clock and errs early: a renewal was sent no earlier than the previous
 * answer (or the grant) came, so the leader's deadline is at least that moment plus the TTL.
 */
export class LeaseSession {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly keepAlive: LeaseKeepAlive;
  // Invariant: the lease cannot have expired on the leader before this instant (performance.now()).
  private expiresAtMs: number;
  private expiryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    readonly client: RaftKvClient,
    readonly leaseId: number,
    readonly ttlSeconds: number,
    grantStartMs: number,
  ) {
    this.signal = this.controller.signal;
    this.expiresAtMs = grantStartMs + ttlSeconds * 1000;
    let previousAnswerMs = grantStartMs;
    this.keepAlive = client.lease.keepAlive(leaseId, {
      onRenewal: (renewal) => {
        const nowMs = performance.now();
        this.expiresAtMs = Math.max(this.expiresAtMs, previousAnswerMs + renewal.ttlSeconds * 1000);
        previousAnswerMs = nowMs;
        this.armExpiry();
      },
    });
    this.keepAlive.done.catch((error: unknown) => {
      if (error instanceof LeaseExpiredError) this.end(new LeaseSessionExpiredError(leaseId, `lease session ${leaseId.toString(16)}: the lease is gone (revoked or expired)`, { cause: error }));
    });
    this.armExpiry();
  }

  /** Grants a lease and starts keeping it alive. */
  static async open(client: RaftKvClient, options: LeaseSessionOptions = {}): Promise<LeaseSession> {
    const ttlSeconds = options.ttlSeconds ?? defaultSessionTtlSeconds;
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new InvalidArgumentError('ttlSeconds', `must be a whole number of seconds, at least 1, got ${String(ttlSeconds)}`);
    const grantStartMs = performance.now();
    const grant = await client.lease.grant(ttlSeconds, { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...(options.signal === undefined ? {} : { signal: options.signal }) });
    return new LeaseSession(client, grant.id, grant.ttlSeconds, grantStartMs);
  }

  /** The session ended: closed, orphaned and run out, or its lease lost. */
  get ended(): boolean {
    return this.signal.aborted;
  }

  /** The lease is lost (as opposed to closed): `signal.reason` is the LeaseSessionExpiredError. */
  get expired(): boolean {
    return this.signal.reason instanceof LeaseSessionExpiredError;
  }

  /** Throws the session's end as an error (LeaseSessionExpiredError or CancelledError) if it has ended. */
  throwIfEnded(): void {
    if (this.signal.aborted) throw this.signal.reason as Error;
  }

  /**
   * Stops renewing and revokes the lease, deleting every lock and campaign key of the session
   * at once. A lease already gone is fine. `signal` aborts with a CancelledError first.
   */
  async close(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.keepAlive.stop();
    const wasExpired = this.expired;
    this.end(new CancelledError(`lease session ${this.leaseId.toString(16)} closed`));
    if (wasExpired) return;
    try {
      await this.client.lease.revoke(this.leaseId, options);
    } catch (error) {
      if (!(error instanceof LeaseNotFoundError)) throw error;
    }
  }

  /**
   * Stops renewing without revoking (etcd's Orphan): the keys stay until the lease runs out,
   * and the session then ends as expired. For handing work over without a gap, and for tests.
   */
  orphan(): void {
    this.keepAlive.stop();
  }

  private armExpiry(): void {
    if (this.signal.aborted) return;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      if (performance.now() < this.expiresAtMs) return this.armExpiry();
      this.end(new LeaseSessionExpiredError(this.leaseId, `lease session ${this.leaseId.toString(16)}: no renewal for its TTL of ${this.ttlSeconds} s, the lease may have expired`));
    }, Math.max(0, this.expiresAtMs - performance.now()));
    this.expiryTimer.unref();
  }

  private end(reason: Error): void {
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (!this.signal.aborted) this.controller.abort(reason);
    this.keepAlive.stop();
  }
}
