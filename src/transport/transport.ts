import type { Membership, Message, NodeId } from '../raft/index.js';
import type { SnapshotReader, SnapshotWriter } from '../shared/snapshot-stream.js';

export type { SnapshotReader, SnapshotWriter };

/** What the transport tells the node about the peers it talks to. */
export interface TransportEvents {
  /** Messages that arrived from a peer, already decoded and validated, addressed to this node. */
  onMessages(messages: readonly Message[]): void;
  /** A peer could not be reached (connection refused or broken): Raft should probe, not pipeline. */
  onUnreachable(peer: NodeId): void;
  /** The outcome of sending a snapshot message to a peer: streamed and accepted, or failed. */
  onSnapshotStatus(peer: NodeId, delivered: boolean): void;
}

/**
 * Carries Raft messages between the nodes of one cluster (hashicorp/raft's Transport seam).
 *
 * Contract: `send` never blocks and never throws for a peer that is down; messages that cannot
 * be delivered are dropped (Raft retries), and queues are bounded. Messages from unknown peers
 * or another cluster, and malformed messages, are refused and never reach `onMessages`.
 */
export interface Transport {
  /** Starts listening for peers; resolves once the listening address is bound. */
  start(events: TransportEvents): Promise<void>;
  /** Queues messages for their peers (each message names its `to`). */
  send(messages: readonly Message[]): void;
  /** Stops listening, closes every stream, and drops what is queued. Resolves within `deadlineMs`. */
  close(deadlineMs: number): Promise<void>;
}

/** Where snapshots come from and go to: the state machine (src/kv), behind the node. */
export interface SnapshotStore {
  /** Opens a snapshot of the state as of now for sending. */
  open(): Promise<SnapshotReader>;
  /** Starts receiving one; rejects with SnapshotBusyError while another is received or installed. */
  receive(): Promise<SnapshotWriter>;
  /**
   * The configuration in force at `index` (the node's Raft core knows it), or null when that is
   * no longer known (compacted past). A snapshot sent holds the state as of the reader's applied
   * index, which may be past the snapshot the core asked for, so it must carry the configuration
   * at that index (conf-change.ts rule 2), not the one of the core's snapshot. Without it, the
   * core's is sent (a node whose membership never changes).
   */
  membershipAt?(index: number): Membership | null;
}
