/** The raftkv SDK. */
export { RaftKvClient, leaderAddressMetadataKey, leaderIdMetadataKey } from './kv-client.js';
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
  PutResult,
  RaftKvClientOptions,
  RangeResult,
} from './kv-client.js';
export {
  CancelledError,
  InvalidArgumentError,
  NotFoundError,
  OverloadedError,
  RaftKvError,
  ServerError,
  SessionExpiredError,
  SnapshotIntegrityError,
  TimeoutError,
  UnavailableError,
} from './errors.js';
export { defaultSnapshotTimeoutMs } from './snapshot-download.js';
export type { SnapshotDownload, SnapshotInfo, SnapshotOptions } from './snapshot-download.js';
