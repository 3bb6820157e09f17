/**
 * The shapes of raftkv.v1 peer messages (proto/raftkv/v1/raft.proto) as @grpc/proto-loader
 * hands them over and accepts them, given the loader options in `../shared/proto.ts`
 * ({ keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, bytes: Buffer }):
 * camelCase fields, uint64 as `number`, enums by name, bytes as Buffer (any Uint8Array when
 * encoding), absent sub-messages as `null`, absent scalars as their default.
 *
 * These describe what we *send*. What we *receive* is treated as `unknown` and validated by the
 * codec: a peer may run another version or be broken, and protobuf happily decodes an unknown
 * enum number or a uint64 beyond 2^53.
 */

/** The MessageType enum by name. UNSPECIFIED is never sent and always refused. */
export type WireMessageType =
  | 'MESSAGE_TYPE_UNSPECIFIED'
  | 'VOTE_REQUEST'
  | 'VOTE_RESPONSE'
  | 'APPEND'
  | 'APPEND_RESPONSE'
  | 'HEARTBEAT'
  | 'HEARTBEAT_RESPONSE'
  | 'SNAPSHOT'
  | 'TIMEOUT_NOW'
  | 'READ_INDEX'
  | 'READ_INDEX_RESPONSE';

export type WireEntryType = 'ENTRY_TYPE_NORMAL' | 'ENTRY_TYPE_CONF_CHANGE';

export interface WireEntry {
  term: number;
  index: number;
  type: WireEntryType;
  data: Uint8Array;
}

export interface WireMembership {
  voters: string[];
  learners: string[];
  outgoingVoters?: string[];
  autoPromote?: string[];
  context?: Uint8Array;
}

export interface WireSnapshotMeta {
  index: number;
  term: number;
  membership: WireMembership | null;
}

export interface WireSnapshot {
  meta: WireSnapshotMeta | null;
  data: Uint8Array;
}

/** One RaftMessage. Only `type`, `from`, `to` and `term` are always set; the rest depend on the type. */
export interface WireRaftMessage {
  type: WireMessageType;
  from: string;
  to: string;
  term: number;
  preVote?: boolean;
  lastLogIndex?: number;
  lastLogTerm?: number;
  transfer?: boolean;
  granted?: boolean;
  prevLogIndex?: number;
  prevLogTerm?: number;
  entries?: WireEntry[];
  commit?: number;
  success?: boolean;
  index?: number;
  rejectHintIndex?: number;
  rejectHintTerm?: number;
  context?: string;
  snapshot?: WireSnapshot | null;
  leaseTick?: number;
}

export interface WireMessageBatch {
  clusterId: string;
  from: string;
  messages: WireRaftMessage[];
  senderClientAddress?: string;
}

export interface WireSendSummary {
  batchesReceived: number;
}

export interface WireSnapshotHeader {
  clusterId: string;
  from: string;
  senderClientAddress: string;
  message: WireRaftMessage;
  format: number;
}

export interface WireSnapshotTrailer {
  sha256: Uint8Array;
  chunks: number;
  bytes: number;
}

/** One frame of InstallSnapshot: exactly one of the three parts. */
export type WireSnapshotChunk = { header: WireSnapshotHeader } | { data: Uint8Array } | { trailer: WireSnapshotTrailer };

export interface WireInstallSnapshotResult {
  bytesReceived: number;
}
