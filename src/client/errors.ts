import { RaftKvError, isMembershipRefusal, type MembershipRefusal } from '../shared/errors.js';

export { InvalidArgumentError, LeaseExistsError, LeaseNotFoundError, OverloadedError, RaftKvError, TimeoutError } from '../shared/errors.js';
import { CompactedError, FutureRevisionError } from '../kv/errors.js';

/** The server's own classes: `requestedRevision` and `compactRevision` / `currentRevision` as it answered. */
export { CompactedError, FutureRevisionError };

/**
 * The typed error of an OUT_OF_RANGE answer about revisions (a read at a compacted or future
 * revision, a compaction refused), or null for another OUT_OF_RANGE (a session's). The
 * revisions come from the message (kv/errors.ts words it), the compact revision preferably from
 * the trailing metadata `compact-revision` (absent on the stream's answers).
 */
export function revisionErrorOf(details: string, compactRevisionMetadata: string | undefined): CompactedError | FutureRevisionError | null {
  const compacted = /revision (\d+) has been compacted; the oldest revision held is (\d+)/.exec(details);
  if (compacted !== null) return new CompactedError(Number(compacted[1]), Number(compactRevisionMetadata ?? compacted[2]));
  const future = /revision (\d+) is a future revision; the current revision is (\d+)/.exec(details);
  if (future !== null) return new FutureRevisionError(Number(future[1]), Number(future[2]));
  return null;
}

/** A keep-alive learned that its lease is gone (revoked, or expired): its keys are deleted. */
export class LeaseExpiredError extends RaftKvError {
  override readonly name = 'LeaseExpiredError';
  readonly code = 'LEASE_EXPIRED';

  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} is gone (expired or revoked): its keys are deleted`);
  }
}

/** No endpoint could serve the call before its deadline; `cause` is the last failure seen. */
export class UnavailableError extends RaftKvError {
  override readonly name = 'UnavailableError';
  readonly code = 'UNAVAILABLE';
}

/** The key does not exist (raised by `mustGet`; `get` returns null instead). */
export class NotFoundError extends RaftKvError {
  override readonly name = 'NotFoundError';
  readonly code = 'NOT_FOUND';

  constructor(readonly key: string) {
    super(`key not found: ${key}`);
  }
}

/**
 * The write was not applied: the cluster refused it because its session was gone (expired or
 * evicted), every session the SDK registered for it was gone again before the write reached the
 * log, and no earlier attempt can have been applied. Retrying is safe. (When the SDK can, it
 * registers a new session and sends the write again by itself; this is what is left when it
 * gave up: the session limits are far too small for the clients, see README "Sessions".)
 */
export class SessionExpiredError extends RaftKvError {
  override readonly name = 'SessionExpiredError';
  readonly code = 'SESSION_EXPIRED';
}

/**
 * The write may or may not have been applied, and the cluster can no longer tell: an earlier
 * attempt was sent and never answered, and since then its session ended (expired or evicted) or
 * its result was forgotten. It was applied at most once; the SDK does not send it again, since
 * under a new session that could apply it twice. Read the key to find out. `cause` is the
 * server's refusal.
 */
export class OutcomeUnknownError extends RaftKvError {
  override readonly name = 'OutcomeUnknownError';
  readonly code = 'OUTCOME_UNKNOWN';
}

/** The call was cancelled through its AbortSignal. A write's outcome is then unknown. */
export class CancelledError extends RaftKvError {
  override readonly name = 'CancelledError';
  readonly code = 'CANCELLED';
}

/** The server failed in a way the SDK does not retry; the message is the server's. */
export class ServerError extends RaftKvError {
  override readonly name = 'ServerError';
  readonly code = 'SERVER';

  constructor(
    message: string,
    readonly grpcCode: number,
  ) {
    super(message);
  }
}

/** A snapshot stream that is not whole: damaged in transit (checksum), cut short, or out of order. Nothing of it may be used. */
export class SnapshotIntegrityError extends RaftKvError {
  override readonly name = 'SnapshotIntegrityError';
  readonly code = 'SNAPSHOT_INTEGRITY';
}

/** Why a membership change was refused (kv.proto, trailing metadata `raftkv-refusal`). */
export type MembershipChangeRefusal = MembershipRefusal;

/** Whether `value` is a refusal reason this SDK knows. */
export const isMembershipChangeRefusal: (value: string) => value is MembershipChangeRefusal = isMembershipRefusal;

/**
 * The cluster refused a membership change; nothing changed. `reason` says why. The SDK does not
 * retry it, not even `change-pending` or `leader-not-ready`: the caller decides whether to wait
 * and try again.
 */
export class MembershipChangeError extends RaftKvError {
  override readonly name = 'MembershipChangeError';
  readonly code = 'MEMBERSHIP_CHANGE';

  constructor(
    readonly reason: MembershipChangeRefusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Auth is enabled and the cluster did not accept who the client says it is: a wrong user or
 * password, no credentials, or a token it could not renew. The message is the server's.
 */
export class AuthenticationError extends RaftKvError {
  override readonly name = 'AuthenticationError';
  readonly code = 'AUTHENTICATION';
}

/**
 * The user's roles do not grant what the call needs; nothing changed. `key` is the key (or
 * range) refused, in printable form, and `permission` the one lacked ('read', 'write', or
 * 'root' for a management call), when the server named them.
 */
export class PermissionDeniedError extends RaftKvError {
  override readonly name = 'PermissionDeniedError';
  readonly code = 'PERMISSION_DENIED';

  constructor(
    message: string,
    readonly key: string | null,
    readonly permission: 'read' | 'write' | 'root' | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** PERMISSION_DENIED's details (src/server/auth-guard.ts) as a typed error. */
export function permissionDenied(details: string, cause: unknown): PermissionDeniedError {
  const data = /lacks (read|write) permission on (?:key|range) (.*)$/.exec(details);
  if (data !== null) return new PermissionDeniedError(details, data[2] ?? null, data[1] as 'read' | 'write', { cause });
  return new PermissionDeniedError(details, null, /root role/.test(details) ? 'root' : null, { cause });
}

/**
 * A LeaseSession's lease is gone or may be: revoked elsewhere, found expired by its keep-alive,
 * or not renewed for its whole TTL (the keep-alive could not reach a leader). Locks and
 * leaderships held through it are lost; open a new session.
 */
export class LeaseSessionExpiredError extends RaftKvError {
  override readonly name = 'LeaseSessionExpiredError';
  readonly code = 'LEASE_SESSION_EXPIRED';

  constructor(
    readonly leaseId: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A held lock is no longer held: its key was deleted (its session's lease expired or was
 * revoked, or someone deleted it). Whatever the lock guarded may already be in other hands;
 * writes fenced by its revision are refused from now on.
 */
export class LockLostError extends RaftKvError {
  override readonly name = 'LockLostError';
  readonly code = 'LOCK_LOST';

  constructor(
    readonly key: string,
    readonly fencingRevision: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The campaign's key is gone (as LockLostError) or a proclaim or resign found it replaced: this candidate no longer leads. */
export class ElectionNotLeaderError extends RaftKvError {
  override readonly name = 'ElectionNotLeaderError';
  readonly code = 'ELECTION_NOT_LEADER';
}

/** The election has no candidate, so no leader (Election.leader). */
export class ElectionNoLeaderError extends RaftKvError {
  override readonly name = 'ElectionNoLeaderError';
  readonly code = 'ELECTION_NO_LEADER';

  constructor(readonly election: string) {
    super(`election ${JSON.stringify(election)} has no leader`);
  }
}
