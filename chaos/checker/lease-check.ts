/**
 * The lease workload's checks (chaos/workloads/lease.ts), over what each lease's client saw, in
 * milliseconds of one monotonic clock of the harness process:
 *
 * 1. Kept alive: a read of the lease's key that completed before the lease's protected deadline
 *    never finds the key missing. Every answered renewal k proves the leader set a deadline of at
 *    least b_k + TTL, where b_k is when its request could have been sent at the earliest: when
 *    the keep-alive started (the first) or when the renewal before it was answered (the handle
 *    sends only after an answer); the grant proves grant-invoke + TTL. A leader change only
 *    lengthens a lease (README "Leases"), so this bound holds across it.
 * 2. Revoked: a read invoked after the revoke was acknowledged never finds the key.
 * 3. Expired: a read invoked later than the expiry limit never finds the key. The limit is
 *    base + W, W = 2 TTL + an election timeout + slack, where base is when the lease was last
 *    renewed at the latest (the keep-alive's stop, or the grant's acknowledgement without one):
 *    expiry happens within TTL of the last renewal, or TTL + an election timeout after a
 *    takeover. A fault in effect meanwhile may leave the cluster without a leader, which cannot
 *    expire anything, and ends in a takeover: the limit is then W after the fault's heal (again
 *    for faults that follow within that).
 */

/** One lease as its client saw it. */
export interface LeaseLog {
  readonly id: number;
  readonly key: string;
  readonly ttlMs: number;
  readonly grantInvokeMs: number;
  readonly grantAckMs: number;
  /** When the key's put with this lease was acknowledged; null: never (failed or indeterminate). */
  attachAckMs: number | null;
  /** When the keep-alive started, and when each renewal was answered. */
  keepAliveStartMs: number | null;
  readonly renewalsMs: number[];
  /** When the keep-alive was stopped (null: never started, or still running at the end). */
  keepAliveStopMs: number | null;
  revokeInvokeMs: number | null;
  revokeAckMs: number | null;
  readonly reads: { readonly invokeMs: number; readonly doneMs: number; readonly present: boolean }[];
}

export interface LeaseCheckResult {
  readonly leases: number;
  readonly keysAttached: number;
  readonly readsChecked: number;
  readonly renewals: number;
  readonly revoked: number;
  /** Leases left to expire whose key a read later saw missing. */
  readonly expiredObserved: number;
  readonly violations: readonly string[];
}

/** Applies the three rules of the file comment to every lease. */
/** When a fault was in effect, healing included (endMs Infinity: never healed). */
export interface FaultWindow {
  readonly startMs: number;
  readonly endMs: number;
}

export function checkLeases(
  logs: readonly LeaseLog[],
  options: { readonly electionTimeoutMs: number; readonly slackMs: number; readonly faults: readonly FaultWindow[] },
): LeaseCheckResult {
  const violations: string[] = [];
  let readsChecked = 0;
  let expiredObserved = 0;
  for (const lease of logs) {
    const protectedUntilMs = protectedDeadline(lease);
    const expireBaseMs = lease.keepAliveStartMs === null ? lease.grantAckMs : lease.keepAliveStopMs;
    const expireLimitMs = expireBaseMs === null ? null : expiryLimit(expireBaseMs, 2 * lease.ttlMs + options.electionTimeoutMs + options.slackMs, options.faults);
    const attached = lease.attachAckMs;
    for (const read of lease.reads) {
      readsChecked++;
      const what = `lease ${lease.id} key ${lease.key}: read at ${read.invokeMs.toFixed(0)}..${read.doneMs.toFixed(0)} ms`;
      const revokedBefore = lease.revokeInvokeMs !== null && lease.revokeInvokeMs < read.doneMs;
      if (!read.present && attached !== null && attached < read.invokeMs && !revokedBefore && read.doneMs < protectedUntilMs) {
        violations.push(`${what} found the key missing while the lease was kept alive (protected until ${protectedUntilMs.toFixed(0)} ms)`);
      }
      if (read.present && lease.revokeAckMs !== null && read.invokeMs > lease.revokeAckMs) {
        violations.push(`${what} found the key after its revoke was acknowledged at ${lease.revokeAckMs.toFixed(0)} ms`);
      }
      if (read.present && expireLimitMs !== null && read.invokeMs > expireLimitMs) {
        violations.push(`${what} found the key after the lease should have expired (by ${expireLimitMs.toFixed(0)} ms)`);
      }
    }
    if (lease.revokeAckMs === null && expireBaseMs !== null && lease.reads.some((read) => !read.present && expireBaseMs < read.invokeMs)) expiredObserved++;
  }
  return {
    leases: logs.length,
    keysAttached: logs.filter((lease) => lease.attachAckMs !== null).length,
    readsChecked,
    renewals: logs.reduce((sum, lease) => sum + lease.renewalsMs.length, 0),
    revoked: logs.filter((lease) => lease.revokeAckMs !== null).length,
    expiredObserved,
    violations,
  };
}

/** Rule 3's limit: `windowMs` after `baseMs`, or after the heal of every fault in effect within it. */
export function expiryLimit(baseMs: number, windowMs: number, faults: readonly FaultWindow[]): number {
  let limitMs = baseMs + windowMs;
  for (let moved = true; moved; ) {
    moved = false;
    for (const fault of faults) {
      if (fault.startMs <= limitMs && fault.endMs >= baseMs && fault.endMs + windowMs > limitMs) {
        limitMs = fault.endMs + windowMs;
        moved = true;
      }
    }
  }
  return limitMs;
}

/** The latest deadline the grant and the answered renewals prove (rule 1). */
export function protectedDeadline(lease: Pick<LeaseLog, 'grantInvokeMs' | 'ttlMs' | 'keepAliveStartMs' | 'renewalsMs'>): number {
  let until = lease.grantInvokeMs + lease.ttlMs;
  if (lease.keepAliveStartMs === null) return until;
  let sentAfterMs = lease.keepAliveStartMs;
  for (const answeredMs of lease.renewalsMs) {
    until = Math.max(until, sentAfterMs + lease.ttlMs);
    sentAfterMs = answeredMs;
  }
  return until;
}
