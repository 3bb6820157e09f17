/**
 * Typed errors shared by the server, the SDK and the CLI (STYLE habit 10): each has a stable
 * `code`, a `name`, and the `cause` it wraps, so callers decide by type whether a retry is safe.
 */
export abstract class RaftKvError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A configuration value (flag, file, environment) is wrong; the message names it. */
export class ConfigError extends RaftKvError {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG';
}

/** This node is not the leader; `leaderId`/`leaderAddress` say where to go, when known. */
export class NotLeaderError extends RaftKvError {
  override readonly name = 'NotLeaderError';
  readonly code = 'NOT_LEADER';

  constructor(
    readonly leaderId: string | null,
    readonly leaderAddress: string | null,
  ) {
    super(leaderId === null ? 'not the leader, and no leader is known' : `not the leader; the leader is ${leaderId}${leaderAddress ? ` at ${leaderAddress}` : ''}`);
  }
}

/** A deadline passed. For a write, the outcome is unknown: retry it with the same session sequence. */
export class TimeoutError extends RaftKvError {
  override readonly name = 'TimeoutError';
  readonly code = 'TIMEOUT';
}

/** The proposal was overwritten by another leader's entry: it was not applied; retrying is safe. */
export class ProposalDroppedError extends RaftKvError {
  override readonly name = 'ProposalDroppedError';
  readonly code = 'PROPOSAL_DROPPED';
}

/**
 * The leader changed while a linearizable read waited for its read point (the old leader's
 * pending ReadIndex requests are gone): nothing was read; retrying, on any node, is safe.
 */
export class LeaderChangedError extends RaftKvError {
  override readonly name = 'LeaderChangedError';
  readonly code = 'LEADER_CHANGED';
}

/** Too much is in flight; retry later. */
export class OverloadedError extends RaftKvError {
  override readonly name = 'OverloadedError';
  readonly code = 'OVERLOADED';
}

/** The node is stopping and takes no new work. */
export class ShuttingDownError extends RaftKvError {
  override readonly name = 'ShuttingDownError';
  readonly code = 'SHUTTING_DOWN';
}

/** A request broke a limit or had a malformed field; the message names the field and the limit. */
export class InvalidArgumentError extends RaftKvError {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'INVALID_ARGUMENT';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Snapshot data from a peer that is not a valid snapshot (garbled, truncated, wrong checksum); nothing of it is installed. */
export class InvalidSnapshotError extends RaftKvError {
  override readonly name = 'InvalidSnapshotError';
  readonly code = 'INVALID_SNAPSHOT';
}

/** A snapshot is already being received or waits to be installed; the sender retries later. */
export class SnapshotBusyError extends RaftKvError {
  override readonly name = 'SnapshotBusyError';
  readonly code = 'SNAPSHOT_BUSY';
}

/**
 * Why a membership change was refused (kv.proto Cluster, trailing metadata `raftkv-refusal`): the
 * one list the server maps to gRPC codes and the SDK maps back.
 */
export const membershipRefusals = [
  'change-pending',
  'leader-not-ready',
  'unknown-member',
  'member-exists',
  'address-in-use',
  'learner-not-caught-up',
  'would-remove-last-voter',
  'cluster-id-mismatch',
  'invalid',
] as const;
export type MembershipRefusal = (typeof membershipRefusals)[number];

/** Whether `value` names a refusal this build knows. */
export function isMembershipRefusal(value: string): value is MembershipRefusal {
  return (membershipRefusals as readonly string[]).includes(value);
}

/** A membership change was refused; nothing changed. `reason` says why, the message says it in words. */
export class MembershipChangeRefusedError extends RaftKvError {
  override readonly name = 'MembershipChangeRefusedError';
  readonly code = 'MEMBERSHIP_CHANGE_REFUSED';

  constructor(
    readonly reason: MembershipRefusal,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

/** The committed configuration no longer lists this node: it serves no client until stopped. */
export class RemovedNodeError extends RaftKvError {
  override readonly name = 'RemovedNodeError';
  readonly code = 'REMOVED';

  constructor(
    readonly id: string,
    /** A member to go to instead (the leader this node last knew, else another member), when known. */
    readonly leaderId: string | null,
    readonly leaderAddress: string | null,
  ) {
    super(`this node (${id}) was removed from the cluster`);
  }
}

/** Auth is enabled and the call names no valid caller (no token, a bad or expired one, an unknown certificate name). */
export class UnauthenticatedError extends RaftKvError {
  override readonly name = 'UnauthenticatedError';
  readonly code = 'UNAUTHENTICATED';
}

/** The caller's roles do not grant what the call needs; the message names the key (or the call) and the permission. */
export class PermissionDeniedError extends RaftKvError {
  override readonly name = 'PermissionDeniedError';
  readonly code = 'PERMISSION_DENIED';
}

/** Why an auth change was refused (src/kv/auth-state.ts AuthRefusal); nothing changed. */
export type AuthChangeRefusal =
  | 'user-exists'
  | 'user-not-found'
  | 'role-exists'
  | 'role-not-found'
  | 'role-not-granted'
  | 'permission-not-granted'
  | 'root-user-missing'
  | 'root-protected'
  | 'limit';

/** A change to users or roles the replicated state refused (an unknown user, role exists, no root user...). */
export class AuthChangeRefusedError extends RaftKvError {
  override readonly name = 'AuthChangeRefusedError';
  readonly code = 'AUTH_REFUSED';

  constructor(
    readonly refusal: AuthChangeRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** A lease that does not exist (never granted, revoked or expired) was named; nothing changed. */
export class LeaseNotFoundError extends RaftKvError {
  override readonly name = 'LeaseNotFoundError';
  readonly code = 'LEASE_NOT_FOUND';

  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} not found`);
  }
}

/** A grant named the id of a live lease; nothing changed. */
export class LeaseExistsError extends RaftKvError {
  override readonly name = 'LeaseExistsError';
  readonly code = 'LEASE_EXISTS';

  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} already exists`);
  }
}
