import type { ApplyOutcome, KvStateMachine } from '../kv/index.js';
import type { Index, LogPosition, Membership, SoftState } from '../raft/index.js';
import type { ClusterStatus } from '../client/index.js';
import { ClusterViewer, type MemberStatus } from './cluster-view.js';
import { EventLog } from './event-log.js';
import { LiveStats } from './live-stats.js';
import type { PeerDirectory } from './peer-directory.js';
import type { RaftNode } from './raft-node.js';

/** Events the live page's log keeps (leader changes, snapshots, member changes). */
export const liveEventsMax = 100;
/** Seconds of samples a Status answer carries: enough to bridge a missed poll or two of the live page. */
export const statusSampleCount = 5;

/** The leader as a node last saw it, for `isLeaderChange`. */
export interface SeenLeader {
  readonly leader: string | null;
  readonly term: number;
}

/**
 * Whether a soft state is a leader change worth an event: another leader, the same leader in a
 * new term (an election it won again), or the leader lost (null: an election is on), except
 * before any leader was seen (a node starts knowing none).
 */
export function isLeaderChange(seen: SeenLeader | null, next: SeenLeader): boolean {
  if (seen === null) return next.leader !== null;
  if (seen.leader !== next.leader) return true;
  return next.leader !== null && seen.term !== next.term;
}

/**
 * What a running node records for the live page: the client operations it answers, second by
 * second, and its events. The node's hooks feed it; the HTTP endpoints and Status read it.
 */
export class LiveActivity {
  readonly stats: LiveStats;
  readonly events: EventLog;
  private seenLeader: SeenLeader | null = null;
  private seenMembers: string | null = null;

  constructor(options: { readonly clock?: () => number } = {}) {
    this.stats = new LiveStats(options.clock === undefined ? {} : { clock: options.clock });
    this.events = new EventLog(liveEventsMax, options.clock);
  }

  /** One client operation answered (what the request metrics count). */
  observeRequest(method: string, code: string, seconds: number): void {
    this.stats.observe(method, code === 'OK', seconds);
  }

  /** RaftNode's onSoftState. */
  onSoftState({ leader, term }: SoftState): void {
    const next = { leader, term };
    if (!isLeaderChange(this.seenLeader, next)) return;
    this.seenLeader = next;
    this.events.record({ kind: 'leader-changed', leader, term });
  }

  /** The committed configuration, from RaftNode's onConfiguration (called once at start: not an event). */
  onCommittedConfiguration(committed: Membership): void {
    const members = JSON.stringify([committed.voters, committed.learners]);
    if (this.seenMembers !== null && members !== this.seenMembers) this.events.record({ kind: 'members-changed', voters: [...committed.voters], learners: [...committed.learners] });
    this.seenMembers = members;
  }

  onSnapshotTaken(index: Index, compactedTo: Index): void {
    this.events.record({ kind: 'snapshot-taken', index, compactedTo });
  }

  onSnapshotInstalled(seconds: number, position: LogPosition): void {
    this.events.record({ kind: 'snapshot-installed', index: position.index, term: position.term, ms: Math.round(seconds * 1000) });
  }

  /** Starts closing a second at each whole second (an unref()'d timer). */
  start(): void {
    this.stats.start();
  }

  stop(): void {
    this.stats.stop();
  }
}

export interface NodeClusterViewerDeps {
  readonly node: RaftNode<ApplyOutcome>;
  readonly stateMachine: KvStateMachine;
  readonly directory: PeerDirectory;
  readonly activity: LiveActivity;
  /** Asks a member's Cluster.Status (the node's own client, with its TLS). */
  readonly askStatus: (clientAddress: string, timeoutMs: number) => Promise<ClusterStatus>;
}

/** The cluster view of a running node: the members in force, its own status read locally. */
export function nodeClusterViewer(deps: NodeClusterViewerDeps): ClusterViewer {
  const { node, stateMachine, directory, activity } = deps;
  return new ClusterViewer({
    selfId: node.id,
    members: () => {
      const { membership } = node.status();
      const voters = membership.voters.map((id) => ({ id, voter: true }));
      const learners = membership.learners.map((id) => ({ id, voter: false }));
      return [...voters, ...learners].map((m) => ({ ...m, clientAddress: directory.clientAddressOf(m.id) }));
    },
    localStatus: (): MemberStatus => {
      const status = node.status();
      return {
        id: status.id,
        role: status.role,
        term: status.term,
        leaderId: status.leader ?? '',
        commitIndex: status.commit,
        appliedIndex: stateMachine.appliedIndex,
        lastIndex: status.lastIndex,
        snapshotIndex: status.snapshotIndex,
        recentSamples: activity.stats.recent(statusSampleCount),
        members: [...directory.book()].map(([id, addresses]) => ({ id, clientAddress: addresses.clientAddress })),
      };
    },
    askStatus: deps.askStatus,
  });
}
