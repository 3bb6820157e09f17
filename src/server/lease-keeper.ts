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
 *
 * Checkpoints (etcd's lease checkpoints) bound that for long leases: every checkpoint interval
 * the leader records, through the log, how long each lease that outlives the next checkpoint
 * has left, and a new leader starts such a lease from that instead of its full TTL. A keep-alive
 * of a checkpointed lease clears its checkpoint through the log before it is answered, so a
 * lease renewed to its full TTL is never cut short by an older checkpoint after a leader change.
 */
import type { LeaseCheckpoint } from '../kv/index.js';
import { leaseCheckpointsMax } from '../kv/index.js';
import type { Logger } from '../shared/logger.js';

/** A monotonic clock in milliseconds (performance.now in production, a counter in tests). */
export interface MonotonicClock {
  nowMs(): number;
}

export interface LeaseKeeperDeps {
  readonly clock: MonotonicClock;
  /** This node's role and term now. */
  readonly leadership: () => { readonly role: string; readonly term: number };
  /** The leases as of the applied index, with their checkpoints (remainingSeconds, 0: none). */
  readonly leases: () => readonly AppliedLease[];
  /** One lease as of the applied index; undefined when it does not exist. */
  readonly lease: (id: number) => Omit<AppliedLease, 'id'> | undefined;
  /** Proposes the revoke of an expired lease; rejects when the proposal fails (it is retried). */
  readonly revoke: (id: number) => Promise<unknown>;
  /** Proposes a lease checkpoint (at most leaseCheckpointsMax leases) and resolves once it is applied here. */
  readonly checkpoint: (checkpoints: readonly LeaseCheckpoint[]) => Promise<unknown>;
  /** How often the leader checkpoints its leases; 0: never (a new leader gives every lease its full TTL). */
  readonly checkpointIntervalMs: number;
  /** One election timeout: what a new leader adds to every lease. */
  readonly electionTimeoutMs: number;
  readonly logger: Logger;
}

/** A lease as the state machine holds it. */
export interface AppliedLease {
  readonly id: number;
  readonly ttlSeconds: number;
  readonly remainingSeconds: number;
}

/** A keep-alive's answer: the TTL it renewed the lease for (0: no such lease), once `ready` resolves. */
export interface KeepAliveResult {
  readonly ttlSeconds: number;
  /** Resolves once the lease's checkpoint is cleared through the log; null when it has none to clear. */
  readonly ready: Promise<void> | null;
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
  /** When the next checkpoint is due, on deps.clock; null while not leading. */
  private nextCheckpointMs: number | null = null;
  /** Leases in a checkpoint proposal not yet settled, with that proposal. */
  private readonly checkpointing = new Map<number, Promise<unknown>>();
  /** Checkpoint clears in flight, by lease, shared by keep-alives that arrive meanwhile. */
  private readonly clearing = new Map<number, Promise<void>>();
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
    this.maybeCheckpoint(now);
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
   * Renews lease `id` for its TTL from now; answers the TTL, or 0 when the lease does not exist.
   * The caller has checked that this node leads, and answers the client once `ready` resolves.
   */
  keepAlive(id: number): KeepAliveResult {
    if (!this.followLeadership()) return { ttlSeconds: 0, ready: null };
    const lease = this.deps.lease(id);
    if (lease === undefined) return { ttlSeconds: 0, ready: null };
    this.deadlines.set(id, this.deps.clock.nowMs() + lease.ttlSeconds * 1000);
    // A checkpoint on its way holds what the lease had left before this renewal: clear it after
    // that proposal (even a failed one: it may still commit), so the clear follows it in the log.
    const onItsWay = this.checkpointing.get(id);
    if (onItsWay !== undefined) {
      const clear = (): Promise<void> => this.clearCheckpoint(id);
      return { ttlSeconds: lease.ttlSeconds, ready: onItsWay.then(clear, clear) };
    }
    return { ttlSeconds: lease.ttlSeconds, ready: lease.remainingSeconds > 0 ? this.clearCheckpoint(id) : null };
  }

  /** How long lease `id` has left on this leader; null when this node does not lead or the lease is gone. */
  deadline(id: number): LeaseDeadline | null {
    if (!this.followLeadership()) return null;
    const lease = this.deps.lease(id);
    if (lease === undefined) return null;
    const deadlineMs = this.deadlines.get(id) ?? this.promoted(id, lease.ttlSeconds, lease.remainingSeconds);
    return { remainingSeconds: Math.max(0, Math.ceil((deadlineMs - this.deps.clock.nowMs()) / 1000)) };
  }

  /** Clears the deadlines when this node stops leading or leads a new term; returns whether it leads. */
  private followLeadership(): boolean {
    const { role, term } = this.deps.leadership();
    if (role !== 'leader') {
      this.leadingTerm = null;
      this.deadlines.clear();
      this.nextCheckpointMs = null;
      return false;
    }
    if (this.leadingTerm !== term) {
      this.leadingTerm = term;
      this.deadlines.clear();
      this.nextCheckpointMs = this.deps.checkpointIntervalMs > 0 ? this.deps.clock.nowMs() + this.deps.checkpointIntervalMs : null;
    }
    return true;
  }

  /**
   * Every checkpoint interval: proposes, in batches, how long each lease that outlives the next
   * checkpoint has left (etcd checkpoints only those: a shorter one gains little from it).
   */
  private maybeCheckpoint(now: number): void {
    const intervalMs = this.deps.checkpointIntervalMs;
    if (this.nextCheckpointMs === null || now < this.nextCheckpointMs || this.checkpointing.size > 0) return;
    this.nextCheckpointMs = now + intervalMs;
    const checkpoints: LeaseCheckpoint[] = [];
    for (const [id, deadlineMs] of this.deadlines) {
      if (deadlineMs - now <= intervalMs || this.revoking.has(id)) continue;
      checkpoints.push({ id, remainingSeconds: Math.ceil((deadlineMs - now) / 1000) });
    }
    if (checkpoints.length === 0) return;
    const term = this.leadingTerm;
    for (let from = 0; from < checkpoints.length; from += leaseCheckpointsMax) {
      const batch = checkpoints.slice(from, from + leaseCheckpointsMax);
      const proposal = this.deps.checkpoint(batch);
      for (const { id } of batch) this.checkpointing.set(id, proposal);
      proposal
        .catch((error: unknown) => {
          if (this.leadingTerm === term) this.deps.logger.warn({ err: error, leases: batch.length }, 'proposing a lease checkpoint failed; the next interval takes another');
        })
        .finally(() => {
          for (const { id } of batch) if (this.checkpointing.get(id) === proposal) this.checkpointing.delete(id);
        });
    }
  }

  /** Proposes that lease `id` has no checkpoint (it was renewed to its full TTL); shared while in flight. */
  private clearCheckpoint(id: number): Promise<void> {
    const inFlight = this.clearing.get(id);
    if (inFlight !== undefined) return inFlight;
    const clearing = this.deps.checkpoint([{ id, remainingSeconds: 0 }]).then(
      () => {
        this.clearing.delete(id);
      },
      (error: unknown) => {
        this.clearing.delete(id);
        this.deps.logger.warn({ err: error, lease: id }, 'clearing a renewed lease\'s checkpoint failed');
        throw error;
      },
    );
    this.clearing.set(id, clearing);
    return clearing;
  }

  /**
   * Gives every lease without a deadline TTL + election timeout from now (the promotion rule;
   * also for a lease first seen later in the term: its grant was applied before this node could
   * time it), and forgets leases that are gone.
   */
  private reconcile(): void {
    const live = new Set<number>();
    for (const { id, ttlSeconds, remainingSeconds } of this.deps.leases()) {
      live.add(id);
      if (!this.deadlines.has(id)) this.promoted(id, ttlSeconds, remainingSeconds);
    }
    for (const id of this.deadlines.keys()) if (!live.has(id)) this.deadlines.delete(id);
  }

  /** The promotion rule: what the lease had left at its last checkpoint, else its TTL, plus an election timeout. */
  private promoted(id: number, ttlSeconds: number, remainingSeconds: number): number {
    const seconds = remainingSeconds > 0 ? Math.min(remainingSeconds, ttlSeconds) : ttlSeconds;
    const deadlineMs = this.deps.clock.nowMs() + seconds * 1000 + this.deps.electionTimeoutMs;
    this.deadlines.set(id, deadlineMs);
    return deadlineMs;
  }
}
