import type { Entry, Index, NodeId, Snapshot, Term } from './types.js';

/** Fields every peer message carries. `term` is the sender's term (§5.1), except where noted. */
interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/**
 * RequestVote (§5.2), or its PreVote probe (thesis §9.6) when `preVote` is set; a PreVote
 * carries the term the sender would campaign in, without having moved to it.
 */
export interface VoteRequest extends Envelope {
  readonly type: 'vote-request';
  readonly preVote: boolean;
  readonly lastLogIndex: Index;
  readonly lastLogTerm: Term;
  /** Set when a leadership transfer triggered the campaign: voters skip the leader-lease check (thesis §4.2.3). */
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'vote-response';
  readonly preVote: boolean;
  readonly granted: boolean;
}

/** AppendEntries (§5.3). An empty `entries` is a probe. */
export interface AppendRequest extends Envelope {
  readonly type: 'append';
  readonly prevLogIndex: Index;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
}

/**
 * The answer to AppendEntries or InstallSnapshot. On success `index` is the last index the
 * follower now matches. On rejection `index` is the rejected prevLogIndex and the hint lets the
 * leader skip a whole term of conflicting entries at once (§5.3, "fast back-off").
 */
export interface AppendResponse extends Envelope {
  readonly type: 'append-response';
  readonly success: boolean;
  readonly index: Index;
  readonly rejectHintIndex: Index;
  readonly rejectHintTerm: Term;
}

/** A leader's heartbeat. `commit` never exceeds what the follower is known to match, so it is safe to apply. */
export interface Heartbeat extends Envelope {
  readonly type: 'heartbeat';
  readonly commit: Index;
  /** The newest pending ReadIndex request this round confirms, or '' (thesis §6.4). */
  readonly readContext: string;
  /** The leader's tick count when it sent this round, echoed back to time its lease (thesis §6.4.1). */
  readonly leaseTick: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeat-response';
  readonly readContext: string;
  readonly leaseTick: number;
}

/** InstallSnapshot (§7). The transport streams the data the snapshot refers to. */
export interface SnapshotRequest extends Envelope {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** Tells the leadership transfer target to campaign now (thesis §3.10). */
export interface TimeoutNow extends Envelope {
  readonly type: 'timeout-now';
}

/** A follower asks the leader for a read index on behalf of its client (thesis §6.4). */
export interface ReadIndexRequest extends Envelope {
  readonly type: 'read-index';
  readonly context: string;
}

/** The leader's answer: the read may be served once the follower has applied `index`. */
export interface ReadIndexResponse extends Envelope {
  readonly type: 'read-index-response';
  readonly context: string;
  readonly index: Index;
}

/** Every message one Raft node sends another: a closed union, switched over with assertNever. */
export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = Message['type'];

/** The message types a node answers even from a stale term, so a deposed leader learns the new term. */
export function isLeaderMessage(message: Message): message is AppendRequest | Heartbeat | SnapshotRequest {
  return message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot';
}
