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
  SessionLimits,
  SessionLimitsStatus,
} from './kv-client.js';
export {
  CancelledError,
  InvalidArgumentError,
  NotFoundError,
  OutcomeUnknownError,
  OverloadedError,
  RaftKvError,
  ServerError,
  SessionExpiredError,
  TimeoutError,
  UnavailableError,
} from './errors.js';
