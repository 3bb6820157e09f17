/**
 * The Raft core's value types. Everything here is plain data: the driver persists it,
 * the transport encodes it, the simulator compares it.
 */

declare const nodeIdBrand: unique symbol;
/** A node's identity in the cluster (e.g. "n1"). Branded so a stray string is a type error. */
export type NodeId = string & { readonly [nodeIdBrand]: true };

/** Makes a NodeId from a string; throws on an empty one (an id must name something). */
export function nodeId(value: string): NodeId {
  if (value.length === 0) throw new TypeError('a node id must not be empty');
  return value as NodeId;
}

/** A Raft term (§5.1). 0 means "before any election". */
export type Term = number;
/** A log index (§5.3). The first entry has index 1; 0 means "no entry". */
export type Index = number;

/**
 * The kinds of log entry. A leader's no-op at the start of its term is a `normal` entry with
 * empty data. A `conf-change` entry carries a configuration change whose data the core encodes
 * itself (conf-change-codec.ts); the state machine must not treat it as a command.
 */
export type EntryType = 'normal' | 'conf-change';

/** One entry of the replicated log. */
export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly type: EntryType;
  /** Opaque to the core: the state machine's command. Empty for the leader's no-op. */
  readonly data: Uint8Array;
}

/**
 * What must survive a crash besides the log (§5.1, Figure 2 "persistent state"):
 * the current term and the vote cast in it, and the commit index (an optimisation, as in etcd,
 * so a restarted node can apply without waiting for a leader).
 */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: Index;
}

export const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

/**
 * The voting and non-voting members of the cluster (a configuration). A value, so membership
 * changes replace it whole. The optional lists are absent when empty (the canonical form, see
 * `normalizeMembership` in membership.ts), so a configuration written before they existed reads
 * the same.
 */
export interface Membership {
  /** The voters; while joint, those of the incoming configuration (C_new of thesis §4.3). */
  readonly voters: readonly NodeId[];
  /** Members that receive the log and snapshots but never vote or count toward any quorum. */
  readonly learners: readonly NodeId[];
  /**
   * Set only while joint (thesis §4.3): the voters of the outgoing configuration (C_old). Every
   * decision then needs a majority of `voters` AND a majority of `outgoingVoters`. Disjoint
   * from `learners`; may share members with `voters` (those kept across the change).
   */
  readonly outgoingVoters?: readonly NodeId[];
  /** Learners the leader promotes to voters by itself once they are caught up. A subset of `learners`. */
  readonly autoPromote?: readonly NodeId[];
  /**
   * Opaque to the core, carried forward untouched (conf-change.ts rule 7): the driver keeps the
   * members' addresses here. Absent when empty. At most confChangeContextBytesMax bytes.
   */
  readonly context?: Uint8Array;
}

/** Identifies the state a snapshot captures: everything up to and including `index` (§7). */
export interface SnapshotMeta {
  readonly index: Index;
  readonly term: Term;
  readonly membership: Membership;
}

/**
 * A snapshot as the core sees it. `data` is opaque: the simulator puts the state machine in it;
 * the real node puts a reference the transport resolves to a stream.
 */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** The role a node plays (§5.1, plus the PreVote phase of thesis §9.6). */
export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** A linearizable read that may be served once the state machine has applied `index` (thesis §6.4). */
export interface ReadState {
  readonly context: string;
  readonly index: Index;
}

/** The index and term that identify a position in the log. */
export interface LogPosition {
  readonly index: Index;
  readonly term: Term;
}
