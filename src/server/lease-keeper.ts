/**
 * The leader's lease deadlines (etcd's lessor): which lease expires when, on this node's
 * monotonic clock, in memory only. Only the leader keeps them; it decides expiry and replicates
 * it as an ordinary revoke through the log, so every replica deletes the same keys at the same
 * index. Keep-alives refresh a deadline here, not through the log (as etcd).
 *
 * On promotion the new leader does not know the old leader's deadlines: it gives every lease
 * its full TTL plus one election timeout from now (etcd's Promote), so no lease kept alive
 * through the old leader expires on takeover; a lease may outlive its TTL by up to about one TTL
 * plus an election timeout across a leader change (README "Leases").
 */
import type { Logger } from '../shared/logger.js';

/** A monotonic clock in milliseconds (performance.now in production, a counter in tests). */
export interface MonotonicClock {
  nowMs(): number;
}

export interface LeaseKeeperDeps {
  readonly clock: MonotonicClock;
  /** This node's role and term now. */
  readonly leadership: () => { readonly role: string; readonly term: number };
  /** The leases as of the applied index. */
  readonly leases: () => readonly { readonly id: number; readonly ttlSeconds: number }[];
  /** One lease as of the applied index; undefined when it does not exist. */
  readonly lease: (id: number) => { readonly ttlSeconds: number } | undefined;
  /** Proposes the revoke of an expired lease; rejects when the proposal fails (it is retried). */
  readonly revoke: (id: number) => Promise<unknown>;
  /** One election timeout: what a new leader adds to every lease. */
  readonly electionTimeoutMs: number;
  readonly logger: Logger;
}

/** What timeToLive knows of a lease on the leader. */
export interface LeaseDeadline {
  /** Seconds left before the leader revokes it (0 once passed: its revoke is on its way). */
  readonly remainingSeconds: number;
}

export class LeaseKeeper {
  /** The term this node led in when the deadlines were set; null while not leading. */
  private leadingTerm: number | null = null;
  /** By lease id: when it expires, on deps.clock. Invariant: empty while not leading. */
  private readonly deadlines = new Map<number, number>();
  /** Leases whose revoke is proposed and not yet failed (a failure makes it eligible again). */
  private readonly revoking = new Set<number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Checks deadlines every `intervalMs` until `stop`. */
  start(intervalMs: number): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Follows leadership and the applied leases, and proposes the revoke of every lease whose
   * deadline has passed (once; again after a failed proposal). Synchronous; the revokes run on.
   */
  tick(): void {
    if (!this.followLeadership()) return;
    this.reconcile();
    const now = this.deps.clock.nowMs();
    for (const [id, deadlineMs] of this.deadlines) {
      if (deadlineMs > now || this.revoking.has(id)) continue;
      this.revoking.add(id);
      const term = this.leadingTerm;
      this.deps.revoke(id).then(
        () => this.revoking.delete(id),
        (error: unknown) => {
          this.revoking.delete(id);
          if (this.leadingTerm === term) this.deps.logger.warn({ err: error, lease: id }, 'revoking an expired lease failed; retrying');
        },
      );
    }
  }

  /** The deadline a grant just applied here starts with: its TTL from now, no promotion extension. */
  granted(id: number, ttlSeconds: number): void {
    if (!this.followLeadership()) return;
    this.deadlines.set(id, this.deps.clock.nowMs() + ttlSeconds * 1000);
  }

  /**
   * Renews lease `id` for its TTL from now; returns the TTL, or 0 when the lease does not exist.
   * The caller has checked that this node leads.
   */
  keepAlive(id: number): number {
    if (!this.followLeadership()) return 0;
    const lease = this.deps.lease(id);
    if (lease === undefined) return 0;
    this.deadlines.set(id, this.deps.clock.nowMs() + lease.ttlSeconds * 1000);
    return lease.ttlSeconds;
  }

  /** How long lease `id` has left on this leader; null when this node does not lead or the lease is gone. */
  deadline(id: number): LeaseDeadline | null {
    if (!this.followLeadership()) return null;
    const lease = this.deps.lease(id);
    if (lease === undefined) return null;
    const deadlineMs = this.deadlines.get(id) ?? this.promoted(id, lease.ttlSeconds);
    return { remainingSeconds: Math.max(0, Math.ceil((deadlineMs - this.deps.clock.nowMs()) / 1000)) };
  }

  /** Clears the deadlines when this node stops leading or leads a new term; returns whether it leads. */
  private followLeadership(): boolean {
    const { role, term } = this.deps.leadership();
    if (role !== 'leader') {
      this.leadingTerm = null;
      this.deadlines.clear();
      return false;
    }
    if (this.leadingTerm !== term) {
      this.leadingTerm = term;
      this.deadlines.clear();
    }
    return true;
  }

  /**
   * Gives every lease without a deadline TTL + election timeout from now (the promotion rule;
   * also for a lease first seen later in the term: its grant was applied before this node could
   * time it), and forgets leases that are gone.
   */
  private reconcile(): void {
    const live = new Set<number>();
    for (const { id, ttlSeconds } of this.deps.leases()) {
      live.add(id);
      if (!this.deadlines.has(id)) this.promoted(id, ttlSeconds);
    }
    for (const id of this.deadlines.keys()) if (!live.has(id)) this.deadlines.delete(id);
  }

  private promoted(id: number, ttlSeconds: number): number {
    const deadlineMs = this.deps.clock.nowMs() + ttlSeconds * 1000 + this.deps.electionTimeoutMs;
    this.deadlines.set(id, deadlineMs);
    return deadlineMs;
  }
}
