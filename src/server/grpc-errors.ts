import * as grpc from '@grpc/grpc-js';
import { assertNever } from '../raft/index.js';
import {
  AuthChangeRefusedError,
  InvalidArgumentError,
  LeaseExistsError,
  LeaseNotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  LeaderChangedError,
  MembershipChangeRefusedError,
  NotLeaderError,
  OverloadedError,
  ProposalDroppedError,
  RemovedNodeError,
  ShuttingDownError,
  TimeoutError,
  type MembershipRefusal,
} from '../shared/errors.js';
import { CompactedError, FutureRevisionError, type StaleReason } from '../kv/index.js';
import type { Logger } from '../shared/logger.js';

/** Trailing metadata keys of a "not the leader" answer (see kv.proto). */
export const leaderIdMetadataKey = 'raftkv-leader-id';
export const leaderAddressMetadataKey = 'raftkv-leader-address';
/** Trailing metadata key of a read or compaction below the compact revision: that revision (kv.proto). */
export const compactRevisionMetadataKey = 'compact-revision';
/** Trailing metadata key of a refused membership change: the reason (kv.proto). */
export const refusalMetadataKey = 'raftkv-refusal';

/**
 * A session write the state machine refused without applying it: kv.proto's ABORTED when its
 * session is not registered (this attempt definitely not applied), OUT_OF_RANGE when its
 * sequence's result is forgotten (an earlier attempt's outcome unknown).
 */
export class StaleSessionError extends Error {
  override readonly name = 'StaleSessionError';
  readonly code = 'STALE_SESSION';

  constructor(
    readonly reason: StaleReason,
    message: string,
  ) {
    super(message);
  }
}

/** An error as the client API reports it: a gRPC status code, a message, and leader hints. */
export interface ApiError {
  readonly code: grpc.status;
  readonly details: string;
  readonly leaderId?: string;
  readonly leaderAddress?: string;
  /** A refused membership change: why (trailing metadata `raftkv-refusal`). */
  readonly refusal?: MembershipRefusal;
  /** A read or compaction below the compact revision: that revision (trailing metadata `compact-revision`). */
  readonly compactRevision?: number;
}

/** The status code of each membership refusal (kv.proto, Cluster). */
export function refusalCode(reason: MembershipRefusal): grpc.status {
  switch (reason) {
    case 'member-exists':
    case 'address-in-use':
      return grpc.status.ALREADY_EXISTS;
    case 'unknown-member':
      return grpc.status.NOT_FOUND;
    case 'change-pending':
    case 'leader-not-ready':
    case 'learner-not-caught-up':
    case 'would-remove-last-voter':
    case 'cluster-id-mismatch':
      return grpc.status.FAILED_PRECONDITION;
    case 'invalid':
      return grpc.status.INVALID_ARGUMENT;
    default:
      return assertNever(reason, 'membership refusal');
  }
}

/** The status code of each refused auth change (kv.proto, Auth). */
export function authRefusalCode(refusal: AuthChangeRefusedError['refusal']): grpc.status {
  switch (refusal) {
    case 'user-exists':
    case 'role-exists':
      return grpc.status.ALREADY_EXISTS;
    case 'user-not-found':
    case 'role-not-found':
    case 'role-not-granted':
    case 'permission-not-granted':
      return grpc.status.NOT_FOUND;
    case 'root-user-missing':
    case 'root-protected':
    case 'limit':
      return grpc.status.FAILED_PRECONDITION;
    default:
      return assertNever(refusal, 'auth refusal');
  }
}

/**
 * Maps the node's typed errors to gRPC statuses, the contract in kv.proto. Anything unexpected
 * is INTERNAL and logged: it is a bug, and the client must not guess what happened.
 */
export function classifyError(error: unknown, logger: Logger): ApiError {
  if (error instanceof InvalidArgumentError) return { code: grpc.status.INVALID_ARGUMENT, details: error.message };
  if (error instanceof NotLeaderError) {
    return {
      code: grpc.status.FAILED_PRECONDITION,
      details: error.message,
      leaderId: error.leaderId ?? '',
      leaderAddress: error.leaderAddress ?? '',
    };
  }
  if (error instanceof MembershipChangeRefusedError) return { code: refusalCode(error.reason), details: error.message, refusal: error.reason };
  if (error instanceof RemovedNodeError) {
    return { code: grpc.status.FAILED_PRECONDITION, details: error.message, leaderId: error.leaderId ?? '', leaderAddress: error.leaderAddress ?? '' };
  }
  if (error instanceof UnauthenticatedError) return { code: grpc.status.UNAUTHENTICATED, details: error.message };
  if (error instanceof PermissionDeniedError) return { code: grpc.status.PERMISSION_DENIED, details: error.message };
  if (error instanceof AuthChangeRefusedError) return { code: authRefusalCode(error.refusal), details: error.message };
  if (error instanceof LeaseNotFoundError) return { code: grpc.status.NOT_FOUND, details: error.message };
  if (error instanceof LeaseExistsError) return { code: grpc.status.ALREADY_EXISTS, details: error.message };
  if (error instanceof OverloadedError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: error.message };
  if (error instanceof TimeoutError) return { code: grpc.status.DEADLINE_EXCEEDED, details: error.message };
  if (error instanceof ProposalDroppedError || error instanceof ShuttingDownError || error instanceof LeaderChangedError) {
    return { code: grpc.status.UNAVAILABLE, details: error.message };
  }
  // As etcd: OUT_OF_RANGE for both, the messages naming the revisions.
  if (error instanceof CompactedError) return { code: grpc.status.OUT_OF_RANGE, details: error.message, compactRevision: error.compactRevision };
  if (error instanceof FutureRevisionError) return { code: grpc.status.OUT_OF_RANGE, details: error.message };
  if (error instanceof StaleSessionError) {
    return { code: error.reason === 'unknown-session' ? grpc.status.ABORTED : grpc.status.OUT_OF_RANGE, details: error.message };
  }
  logger.error({ err: error }, 'request failed unexpectedly');
  return { code: grpc.status.INTERNAL, details: `internal error: ${(error as Error)?.message ?? String(error)}` };
}

/** The same, as a unary call's status, with the leader hints in trailing metadata. */
export function toGrpcError(error: unknown, logger: Logger): Partial<grpc.StatusObject> {
  const api = classifyError(error, logger);
  if (api.leaderId === undefined && api.refusal === undefined && api.compactRevision === undefined) return { code: api.code, details: api.details };
  const metadata = new grpc.Metadata();
  if (api.leaderId !== undefined) {
    metadata.set(leaderIdMetadataKey, api.leaderId);
    metadata.set(leaderAddressMetadataKey, api.leaderAddress ?? '');
  }
  if (api.refusal !== undefined) metadata.set(refusalMetadataKey, api.refusal);
  if (api.compactRevision !== undefined) metadata.set(compactRevisionMetadataKey, String(api.compactRevision));
  return { code: api.code, details: api.details, metadata };
}
