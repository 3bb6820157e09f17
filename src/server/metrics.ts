import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RaftStatus, Role } from '../raft/index.js';
import type { LoopDelayStats } from './loop-delay-monitor.js';

/** What the metrics read from a running node, at scrape time (nothing on the hot path). */
export interface MetricsSource {
  status(): RaftStatus;
  loopDelay(): LoopDelayStats;
  /** Linearizable reads registered and the ReadIndex requests made for them (in batches), since start. */
  readIndexCounts(): { readonly reads: number; readonly requests: number };
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
  return {
    registry,
    observeRequest(method, code, seconds) {
      requests.inc({ method, code });
      duration.observe({ method }, seconds);
    },
  };
}
