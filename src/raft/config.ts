import type { Rng } from './rng.js';
import type { Entry, HardState, Index, LogPosition, Membership, NodeId, Snapshot } from './types.js';

/** How a leader serves ReadIndex requests (thesis §6.4). */
export type ReadMode =
  /** Confirm leadership with a heartbeat round before serving: linearizable with no clock assumption. */
  | 'read-index'
  /** Serve at the commit index while the leader lease holds (needs CheckQuorum and bounded clock drift). */
  | 'lease';

/** Tunables of one node. Ticks are the core's only unit of time: the driver decides how long one is. */
export interface RaftConfig {
  readonly id: NodeId;
  /** Followers campaign after a random timeout in [electionTicks, 2 * electionTicks) without a leader (§5.2). */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks; must be well below electionTicks. */
  readonly heartbeatTicks: number;
  /** Run PreVote before a real election so a partitioned node does not disrupt the cluster (thesis §9.6). */
  readonly preVote: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down (thesis §6.2). */
  readonly checkQuorum: boolean;
  readonly readMode: ReadMode;
  /** Upper bound on the bytes of entries in one AppendEntries message (at least one entry is always sent). */
  readonly messageBytesMax: number;
  /** Upper bound on AppendEntries messages in flight to one follower (pipelining window). */
  readonly inflightMessagesMax: number;
  /** Upper bound on entry bytes in flight to one follower. */
  readonly inflightBytesMax: number;
  /** Upper bound on entry bytes proposed but not yet committed; beyond it proposals are refused. */
  readonly uncommittedBytesMax: number;
  /** Upper bound on ReadIndex requests waiting for confirmation. */
  readonly pendingReadsMax: number;
  /** Upper bound on the bytes of committed entries handed out in one Ready. */
  readonly applyBytesMax: number;
  /**
   * A learner is promoted to voter (by a caller, or by the leader for an auto-promote learner)
   * only once its match index is within this many entries of the leader's last index, so a new
   * voter does not stall commits while it catches up (thesis §4.2.1). 0: fully caught up.
   */
  readonly promoteLagEntriesMax: number;
  readonly rng: Rng;
}

/** Sensible defaults for everything but identity and randomness. */
export const defaultRaftTunables = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  readMode: 'read-index',
  messageBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  inflightBytesMax: 16 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  pendingReadsMax: 4096,
  applyBytesMax: 16 * 1024 * 1024,
  promoteLagEntriesMax: 1000,
} as const satisfies Omit<RaftConfig, 'id' | 'rng'>;

/**
 * What a node has on disk when it starts: the driver reads it back from storage.
 * A brand-new node passes only `membership`.
 */
export interface RestoredState {
  readonly hardState: HardState;
  /** The newest snapshot, whose state the state machine holds (or will be restored from). */
  readonly snapshot: Snapshot | null;
  /**
   * The last entry dropped by compaction (index 0, term 0 when nothing was). The entries below
   * start right after it, so the log may keep a tail that the snapshot also covers.
   */
  readonly compactedTo: LogPosition;
  /** The persisted log, contiguous, starting at compactedTo.index + 1. */
  readonly entries: readonly Entry[];
  /**
   * The base configuration when there is no snapshot (with a snapshot, the snapshot's is used):
   * the bootstrap membership of a new cluster. The configuration in force is then the newest
   * conf-change entry in `entries`, else this one (conf-change.ts rules 1 and 2), so the driver
   * writes nothing about membership when it applies a conf-change entry. A node joining an
   * existing cluster passes an empty membership ({ voters: [], learners: [] }): it learns its
   * configuration from the log or snapshot the leader sends, and never campaigns before.
   */
  readonly membership: Membership;
  /** The state machine's applied index: entries up to it are not handed out again. */
  readonly applied: Index;
}

/** The RestoredState of a node that has never run. */
export function freshState(membership: Membership): RestoredState {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: null,
    compactedTo: { index: 0, term: 0 },
    entries: [],
    membership,
    applied: 0,
  };
}

/** Checks the tunables; a bad configuration is a programmer or operator error, reported with the field. */
export function validateRaftConfig(config: RaftConfig): void {
  const positive: (keyof RaftConfig)[] = [
    'electionTicks',
    'heartbeatTicks',
    'messageBytesMax',
    'inflightMessagesMax',
    'inflightBytesMax',
    'uncommittedBytesMax',
    'pendingReadsMax',
    'applyBytesMax',
  ];
  for (const field of positive) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new RangeError(`raft config: ${field} must be a positive integer, got ${String(value)}`);
    }
  }
  if (!Number.isInteger(config.promoteLagEntriesMax) || config.promoteLagEntriesMax < 0) {
    throw new RangeError(`raft config: promoteLagEntriesMax must be a non-negative integer, got ${String(config.promoteLagEntriesMax)}`);
  }
  if (config.heartbeatTicks >= config.electionTicks) {
    throw new RangeError(
      `raft config: heartbeatTicks (${config.heartbeatTicks}) must be below electionTicks (${config.electionTicks})`,
    );
  }
  if (config.readMode === 'lease' && !config.checkQuorum) {
    throw new RangeError('raft config: readMode "lease" requires checkQuorum, or a deposed leader could serve stale reads');
  }
}
