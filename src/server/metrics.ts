import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { NodeId, RaftStatus, Role } from '../raft/index.js';
import type { TransportStats } from '../transport/index.js';
import type { LoopDelayStats } from './loop-delay-monitor.js';

/** What the metrics read from a running node, at scrape time (nothing on the hot path). */
export interface MetricsSource {
  status(): RaftStatus;
  loopDelay(): LoopDelayStats;
  /** Linearizable reads registered and the ReadIndex requests made for them (in batches), since start. */
  readIndexCounts(): { readonly reads: number; readonly requests: number };
  /** The peer transport's counters, per peer this node sends to, and for what it received. */
  transportStats(): TransportStats;
}

const roles: readonly Role[] = ['follower', 'pre-candidate', 'candidate', 'leader'];

/**
 * A node's Prometheus registry (one per node, not prom-client's global one: a process may run
 * more than one Raft group some day). Gauges are read from the node when scraped; the counters
 * that need events (requests by method and code) are incremented by the services.
 */
export interface NodeMetrics {
  readonly registry: Registry;
  /** One client request answered: its method, gRPC status name and how long it took. */
  observeRequest(method: string, code: string, seconds: number): void;
  /** One storage write: how long it took, its operations, whether it was synced (fsync). */
  observeStorageWrite(seconds: number, operations: number, synced: boolean): void;
  /** One linearizable read's wait for its read index and the apply up to it. */
  observeReadIndex(seconds: number): void;
  /** A write proposed here that failed (not committed, or its outcome not known here). */
  proposalFailed(): void;
  /** A snapshot received from the leader was installed, taking this long. */
  observeSnapshotInstalled(seconds: number): void;
  /** A snapshot transfer that ended, sent to or received from a peer. */
  observeSnapshotTransfer(transfer: { readonly direction: 'sent' | 'received'; readonly ok: boolean; readonly bytes: number; readonly seconds: number }): void;
}

export function nodeMetrics(source: MetricsSource, labels: { readonly member: string }): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ member: labels.member });
  collectDefaultMetrics({ register: registry, prefix: 'raftkv_' });

  let lastLeader: string | null | undefined;
  const leaderChanges = new Counter({ name: 'raftkv_raft_leader_changes_seen_total', help: 'Times this node saw the leader change (etcd: etcd_server_leader_changes_seen_total).', registers: [registry] });
  const gauge = (name: string, help: string, read: (status: RaftStatus) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(source.status()));
      },
    });
  };
  gauge('raftkv_raft_term', 'The current Raft term.', (s) => s.term);
  gauge('raftkv_raft_commit_index', 'The highest log index known committed.', (s) => s.commit);
  gauge('raftkv_raft_applied_index', 'The highest log index applied to the state machine.', (s) => s.applied);
  gauge('raftkv_raft_last_index', 'The last index of this node\'s log.', (s) => s.lastIndex);
  gauge('raftkv_raft_log_entries', 'Entries held in the log (after compaction).', (s) => s.lastIndex - s.compactedTo.index);
  gauge('raftkv_raft_log_bytes', 'Bytes of the entries held in the log.', (s) => s.logBytes);
  gauge('raftkv_raft_snapshot_index', 'The index of the latest snapshot.', (s) => s.snapshotIndex);
  gauge('raftkv_raft_voters', 'Voters in the configuration in force.', (s) => s.membership.voters.length);
  gauge('raftkv_raft_learners', 'Learners in the configuration in force.', (s) => s.membership.learners.length);
  new Gauge({
    name: 'raftkv_raft_has_leader',
    help: 'Whether a leader is known: 1 or 0 (etcd: etcd_server_has_leader).',
    registers: [registry],
    collect() {
      const { leader } = source.status();
      if (lastLeader !== undefined && leader !== lastLeader && leader !== null) leaderChanges.inc();
      lastLeader = leader;
      this.set(leader === null ? 0 : 1);
    },
  });
  new Gauge({
    name: 'raftkv_raft_role',
    help: 'This node\'s role: 1 for the current one.',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      const { role } = source.status();
      for (const r of roles) this.set({ role: r }, r === role ? 1 : 0);
    },
  });
  new Gauge({
    name: 'raftkv_event_loop_delay_max_seconds',
    help: 'The longest the event loop was held, since start (window="all") and recently (window="recent").',
    labelNames: ['window'],
    registers: [registry],
    collect() {
      const delay = source.loopDelay();
      this.set({ window: 'all' }, delay.maxMs / 1000);
      this.set({ window: 'recent' }, delay.recentMaxMs / 1000);
    },
  });
  new Counter({
    name: 'raftkv_linearizable_reads_total',
    help: 'Linearizable reads this node served or waited for, since start.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.readIndexCounts().reads);
    },
  });
  new Counter({
    name: 'raftkv_read_index_requests_total',
    help: 'ReadIndex requests this node made for its linearizable reads (one per batch), since start.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.readIndexCounts().requests);
    },
  });
  new Gauge({
    name: 'raftkv_event_loop_stalls',
    help: 'Event-loop delays above the stall threshold since start, each logged.',
    registers: [registry],
    collect() {
      this.set(source.loopDelay().stalls);
    },
  });
  const requests = new Counter({ name: 'raftkv_grpc_requests_total', help: 'Client operations answered (unary calls and stream operations), by method and gRPC status.', labelNames: ['method', 'code'] as const, registers: [registry] });
  const duration = new Histogram({
    name: 'raftkv_grpc_request_duration_seconds',
    help: 'Time from a client operation\'s arrival to its answer, by method.',
    labelNames: ['method'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const storageWrite = new Histogram({
    name: 'raftkv_storage_write_duration_seconds',
    help: 'Time of one LevelDB batch write, synced (fsync: the log and hard state) or not (applies) (etcd: etcd_disk_wal_fsync_duration_seconds).',
    labelNames: ['synced'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024],
    registers: [registry],
  });
  const storageBatch = new Histogram({
    name: 'raftkv_storage_write_operations',
    help: 'Operations (puts and deletes) in one LevelDB batch write.',
    labelNames: ['synced'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
    registers: [registry],
  });
  const readIndex = new Histogram({
    name: 'raftkv_read_index_duration_seconds',
    help: 'Time a linearizable read waits for its read index to be confirmed and applied here.',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const snapshotTransfers = new Counter({ name: 'raftkv_snapshot_transfers_total', help: 'Snapshot transfers (InstallSnapshot streams) that ended, by direction and result.', labelNames: ['direction', 'result'] as const, registers: [registry] });
  const snapshotBytes = new Counter({ name: 'raftkv_snapshot_bytes_total', help: 'Bytes of snapshots delivered whole, by direction.', labelNames: ['direction'] as const, registers: [registry] });
  const snapshotSeconds = new Histogram({
    name: 'raftkv_snapshot_transfer_duration_seconds',
    help: 'Time of one snapshot transfer, by direction (etcd: etcd_network_snapshot_send_total_duration_seconds).',
    labelNames: ['direction'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  });
  const snapshotInstalls = new Histogram({
    name: 'raftkv_snapshot_install_duration_seconds',
    help: 'Time to install a snapshot received from the leader (one atomic synced batch, then the old state dropped).',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers: [registry],
  });
  const proposalsFailed = new Counter({ name: 'raftkv_proposals_failed_total', help: 'Writes proposed here that failed (etcd: etcd_server_proposals_failed_total).', registers: [registry] });
  peerMetrics(registry, source);
  return {
    registry,
    observeRequest(method, code, seconds) {
      requests.inc({ method, code });
      duration.observe({ method }, seconds);
    },
    observeStorageWrite(seconds, operations, synced) {
      const labels = { synced: synced ? 'true' : 'false' };
      storageWrite.observe(labels, seconds);
      storageBatch.observe(labels, operations);
    },
    observeReadIndex(seconds) {
      readIndex.observe(seconds);
    },
    proposalFailed() {
      proposalsFailed.inc();
    },
    observeSnapshotInstalled(seconds) {
      snapshotInstalls.observe(seconds);
    },
    observeSnapshotTransfer(transfer) {
      snapshotTransfers.inc({ direction: transfer.direction, result: transfer.ok ? 'delivered' : 'failed' });
      if (transfer.ok) snapshotBytes.inc({ direction: transfer.direction }, transfer.bytes);
      snapshotSeconds.observe({ direction: transfer.direction }, transfer.seconds);
    },
  };
}

/** The peer transport's counters, read at scrape time (etcd: etcd_network_peer_*). */
function peerMetrics(registry: Registry, source: MetricsSource): void {
  type SenderStats = TransportStats['peers'] extends ReadonlyMap<NodeId, infer S> ? S : never;
  const perPeerCounter = (name: string, help: string, read: (stats: SenderStats) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['peer'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [peer, stats] of source.transportStats().peers) this.inc({ peer }, read(stats));
      },
    });
  };
  const perPeerGauge = (name: string, help: string, read: (stats: SenderStats) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['peer'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [peer, stats] of source.transportStats().peers) this.set({ peer }, read(stats));
      },
    });
  };
  const received = (name: string, help: string, read: (stats: TransportStats['received']) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(source.transportStats().received));
      },
    });
  };
  perPeerCounter('raftkv_peer_sent_messages_total', 'Raft messages written to a stream the peer accepted.', (s) => s.sentMessages);
  perPeerCounter('raftkv_peer_sent_bytes_total', 'Bytes of the Raft messages sent to the peer, as an upper bound of their encoded size.', (s) => s.sentBytes);
  perPeerCounter('raftkv_peer_sent_batches_total', 'Frames (batches of messages) written to the peer.', (s) => s.sentBatches);
  perPeerCounter('raftkv_peer_dropped_messages_total', 'Messages dropped for the peer: queue overflow (oldest first), oversized, or superseded.', (s) => s.droppedMessages);
  perPeerCounter('raftkv_peer_stream_failures_total', 'Streams to the peer that failed or could not be opened (each is followed by a reconnect).', (s) => s.streamFailures);
  perPeerGauge('raftkv_peer_queued_messages', 'Messages waiting to be sent to the peer.', (s) => s.queuedMessages);
  perPeerGauge('raftkv_peer_queued_bytes', 'Bytes (an upper bound) waiting to be sent to the peer.', (s) => s.queuedBytes);
  received('raftkv_peer_received_messages_total', 'Raft messages received from peers and delivered.', (s) => s.receivedMessages);
  received('raftkv_peer_received_batches_total', 'Frames received from peers.', (s) => s.receivedBatches);
  received('raftkv_peer_refused_batches_total', 'Frames from peers refused (malformed, another cluster, an unknown member, a certificate naming another member).', (s) => s.refusedBatches);
}
