import { RaftKvError } from '../shared/errors.js';

export { InvalidArgumentError, OverloadedError, RaftKvError, TimeoutError } from '../shared/errors.js';

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
 * The server had forgotten this client's session (idle too long, or evicted): the write was
 * refused, and since an earlier attempt of it may have applied, its outcome is unknown. The
 * client starts a new session for its next writes.
 */
export class SessionExpiredError extends RaftKvError {
  override readonly name = 'SessionExpiredError';
  readonly code = 'SESSION_EXPIRED';
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
export type MembershipChangeRefusal =
  | 'change-pending'
  | 'leader-not-ready'
  | 'unknown-member'
  | 'member-exists'
  | 'address-in-use'
  | 'learner-not-caught-up'
  | 'would-remove-last-voter'
  | 'cluster-id-mismatch'
  | 'invalid';

const membershipChangeRefusals: readonly string[] = [
  'change-pending',
  'leader-not-ready',
  'unknown-member',
  'member-exists',
  'address-in-use',
  'learner-not-caught-up',
  'would-remove-last-voter',
  'cluster-id-mismatch',
  'invalid',
];

/** Whether `value` is a refusal reason this SDK knows. */
export function isMembershipChangeRefusal(value: string): value is MembershipChangeRefusal {
  return membershipChangeRefusals.includes(value);
}

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
