/** The raftkv SDK. */
export { RaftKvClient, leaderAddressMetadataKey, leaderIdMetadataKey, readPolicies } from './kv-client.js';
export type { ClientTls } from './client-tls.js';
export { txnCompare, txnOp } from './txn.js';
export type { RangeOptions, RangeSortOrder, RangeSortTarget } from './range-options.js';
export type { TxnCompare, TxnCompareResult, TxnCompareTarget, TxnKeys, TxnOp, TxnOpResult, TxnRequest, TxnResult } from './txn.js';
export type {
  Bytes,
  CallOptions,
  CasAction,
  CasCompare,
  CasResult,
  ClusterStatus,
  Consistency,
  DeleteResult,
  KeyValue,
  MemberInfo,
  MemberList,
  NewMember,
  PutResult,
  RaftKvClientOptions,
  RangeResult,
  ReadPolicy,
  SessionLimits,
  SessionLimitsStatus,
} from './kv-client.js';
export { AuthApi, permissionTypes } from './auth-api.js';
export { LeaseApi, LeaseKeepAlive } from './lease-api.js';
export { LeaseSession, defaultSessionTtlSeconds } from './lease-session.js';
export type { LeaseSessionOptions } from './lease-session.js';
export { Lock, LockHandle } from './lock.js';
export type { LockOptions } from './lock.js';
export { Election } from './election.js';
export type { CampaignOptions, ElectionLeader } from './election.js';
export type { KeepAliveOptions, LeaseGrant, LeaseRenewal, LeaseTimeToLive } from './lease-api.js';
export type { AuthStatus, PermissionKeys, PermissionType, RolePermission } from './auth-api.js';
export {
  CompactedError,
  FutureRevisionError,
  AuthenticationError,
  PermissionDeniedError,
  CancelledError,
  ElectionNoLeaderError,
  ElectionNotLeaderError,
  InvalidArgumentError,
  LeaseExistsError,
  LeaseExpiredError,
  LeaseNotFoundError,
  LeaseSessionExpiredError,
  LockLostError,
  MembershipChangeError,
  NotFoundError,
  OutcomeUnknownError,
  OverloadedError,
  RaftKvError,
  ServerError,
  SessionExpiredError,
  SnapshotIntegrityError,
  TimeoutError,
  UnavailableError,
} from './errors.js';
export type { MembershipChangeRefusal } from './errors.js';
export type { WatchBatch, WatchEvent, WatchOptions, Watcher } from './watch.js';
export { defaultSnapshotTimeoutMs } from './snapshot-download.js';
export type { SnapshotDownload, SnapshotInfo, SnapshotOptions } from './snapshot-download.js';
