import { randomInt, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { KvStateMachine, encodeCommand, type ApplyOutcome } from '../kv/index.js';
import { RaftCore, defaultRaftTunables, type Membership, type NodeId } from '../raft/index.js';
import { SeededRng } from '../shared/seeded-rng.js';
import { ConfigError } from '../shared/errors.js';
import { armFailpointsFromEnvironment } from '../shared/failpoints.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { prepareStageTrace } from '../shared/stage-trace.js';
import { protoMessageTypes, serviceClient } from '../shared/proto.js';
import { NodeStore, RaftLogStore, StorageCorruptError } from '../storage/index.js';
import { GrpcTransport, type SnapshotTransferObserver } from '../transport/index.js';
import type { NodeConfig } from './config.js';
import { kvServiceHandlers } from './kv-service.js';
import { WatchHub } from './watch-hub.js';
import { watchService } from './watch-service.js';
import { HistoryCompactor } from './history-retention.js';
import { bootstrapAddressBook, withAddressBook } from './address-book.js';
import { joinCluster } from './join-cluster.js';
import { maintenanceServiceHandlers } from './maintenance-service.js';
import { authServiceHandlers } from './auth-service.js';
import { LeaseKeeper } from './lease-keeper.js';
import { leaseServiceHandlers } from './lease-service.js';
import { strictService } from './strict-wire.js';
import { streamResponseSerializer, type StreamResponseValue } from './stream-response-codec.js';
import { PasswordHasher } from './password-hash.js';
import { PeerDirectory } from './peer-directory.js';
import { RaftNode } from './raft-node.js';
import { nodeTls } from './tls.js';
import { startHttpEndpoints } from './http-endpoints.js';
import { nodeMetrics, type NodeMetrics } from './metrics.js';
import { RaftKvClient } from '../client/index.js';
import { LiveActivity, nodeClusterViewer, statusSampleCount } from './live-activity.js';

/** The most a graceful stop takes; past it, calls still open are cut. */
const shutdownDeadlineMs = 5000;
/** How often the leader looks for expired leases (etcd checks every 500 ms). */
const leaseCheckIntervalMs = 250;
/** How long operations in flight on client streams may take to finish once the node stops. */
const streamDrainMs = 1000;

/** A running node: what `startNode` returns and `stop` ends. */
export interface RunningNode {
  readonly node: RaftNode<ApplyOutcome>;
  readonly clientAddress: string;
  readonly logger: Logger;
  /**
   * Graceful stop: a leader hands leadership over first; client streams end with UNAVAILABLE
   * (the SDK retries elsewhere) once what they carry is answered; storage closed.
   */
  stop(): Promise<void>;
  /** Resolves when the node stopped, by `stop()` or after a fatal error (then with that error). */
  readonly stopped: Promise<Error | null>;
  /** Re-reads the TLS certificates (SIGHUP): new connections use them, open ones keep theirs. */
  reloadCertificates(): void;
}

/**
 * Opens the node's storage, restores Raft and the state machine from it, and starts serving
 * peers and clients. A node restarts from exactly what it persisted.
 */
export async function startNode(config: NodeConfig): Promise<RunningNode> {
  let raftState: () => Record<string, unknown> = () => ({});
  // Every line says which node wrote it, and in which term and role.
  const logger = createLogger({ level: config.logLevel, bindings: { node: config.id }, mixin: () => raftState() });
  // Certificates are checked before anything else: a wrong file stops the node before it opens storage.
  const tls = nodeTls(config.tls);
  const failpoints = armFailpointsFromEnvironment();
  if (failpoints.size > 0) logger.warn({ failpoints: [...failpoints] }, 'failpoints armed (RAFTKV_FAILPOINTS): this node will kill itself at them');
  const stageTraceFile = prepareStageTrace();
  if (stageTraceFile !== null) logger.info({ file: stageTraceFile }, 'tracing write stages (RAFTKV_TRACE_STAGES): records are written at exit');
  const store = await NodeStore.open(config.dataDir, { createIfMissing: true, blockCacheBytes: config.caches.storageCacheBytes });
  try {
    const logStore = new RaftLogStore(store);
    const persisted = await logStore.load();
    const stateMachine = await KvStateMachine.open(store, { cacheBytesMax: config.caches.keyCacheBytes });
    if (stateMachine.appliedIndex < persisted.compactedTo.index) {
      throw new StorageCorruptError(
        `${store.path} sm-meta/applied`,
        `the state machine is at ${stateMachine.appliedIndex}, below the log's compaction point ${persisted.compactedTo.index}: entries between are lost`,
      );
    }
    const bootstrapBook = bootstrapAddressBook(config.peers, config.id, config.advertiseClient);
    // A conf-change entry in the log, or a snapshot, means the stored configuration has moved on
    // from whatever --peers said; only a data directory that never saw one is checked against it.
    const neverChanged = persisted.snapshotMeta === null && !persisted.entries.some((e) => e.type === 'conf-change');
    let membership: Membership;
    let joining = false;
    if (persisted.membership === null) {
      if (config.join.length > 0) {
        // Rule 1 of conf-change.ts: a node in no configuration learns one from the log or a
        // snapshot, and never campaigns before.
        membership = { voters: [], learners: [] };
        joining = true;
      } else {
        membership = withAddressBook({ voters: [...config.peers.keys()], learners: [] }, bootstrapBook);
      }
      await logStore.saveMembership(membership);
    } else {
      membership = persisted.membership;
      const hasConfiguration = membership.voters.length > 0 || !neverChanged;
      if (config.join.length > 0 && hasConfiguration) {
        logger.info({ join: config.join }, '--join ignored: this data directory already holds a configuration, which it resumes');
      }
      // A node that started joining and stopped before it got a configuration asks again.
      joining = config.join.length > 0 && !hasConfiguration;
      if (!hasConfiguration && !joining) {
        logger.warn('this data directory holds no configuration yet (a node that was joining): it waits to be added; start it with --join to ask');
      }
      if (neverChanged && membership.voters.length > 0) checkMembership(membership, { voters: [...config.peers.keys()], learners: [] }, config.dataDir);
    }

    const core = new RaftCore(
      {
        ...defaultRaftTunables,
        // A follower persists a received AppendEntries in one Ready, however many entries it
        // holds (the drive loop's turn limits bound only how many messages it steps at once):
        // 256 KiB is a few thousand small entries, some tens of milliseconds of work.
        messageBytesMax: 256 * 1024,
        id: config.id,
        electionTicks: config.electionTicks,
        heartbeatTicks: config.heartbeatTicks,
        // Outside the simulator, election timeouts should differ from run to run.
        rng: new SeededRng(randomInt(0, 2 ** 32 - 1)),
      },
      {
        hardState: persisted.hardState,
        snapshot: persisted.snapshotMeta === null ? null : { meta: persisted.snapshotMeta, data: new Uint8Array(0) },
        compactedTo: persisted.compactedTo,
        entries: persisted.entries,
        membership,
        applied: stateMachine.appliedIndex,
      },
    );
    logger.info(
      {
        term: persisted.hardState.term,
        commit: persisted.hardState.commit,
        lastIndex: logStore.lastIndex,
        compactedTo: persisted.compactedTo.index,
        snapshotIndex: persisted.snapshotMeta?.index ?? 0,
        logEntries: persisted.entries.length,
        applied: stateMachine.appliedIndex,
      },
      'restored from disk',
    );

    // Snapshot transfers are counted once the metrics exist (they need the node, made below).
    let observeSnapshotTransfer: SnapshotTransferObserver = () => {};
    let observeSnapshotInstalled: (seconds: number) => void = () => {};
    const transport = new GrpcTransport({
      clusterId: config.clusterId,
      selfId: config.id,
      selfClientAddress: config.advertiseClient,
      listenAddress: config.listenPeer,
      // The peer directory sets them from the configuration in force, once the node starts.
      peers: new Map(),
      peerDialOverrides: config.peerDialOverrides,
      credentials: tls.transport,
      onSnapshotTransfer: (transfer) => observeSnapshotTransfer(transfer),
      logger,
      snapshots: {
        open: () => stateMachine.openSnapshot(config.snapshots.chunkBytes),
        receive: () => stateMachine.receiveSnapshot(),
        // The core knows the configuration exactly from its own snapshot's index on.
        membershipAt: (index) => (index >= core.status().snapshotIndex ? core.membershipAt(index) : null),
      },
    });
    const directory = new PeerDirectory(config.id, config.advertiseClient, bootstrapBook, transport, logger);
    const activity = new LiveActivity();
    let reportFatal: (error: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => {
      reportFatal = resolve;
    });
    const node = new RaftNode<ApplyOutcome>({
      core,
      log: logStore,
      stateMachine,
      transport,
      logger,
      tickMs: config.tickMs,
      pendingProposalsMax: config.limits.pendingProposalsMax,
      pendingReadsMax: config.limits.pendingReadsMax,
      snapshotPolicy: config.snapshots,
      incarnation: randomUUID().slice(0, 8),
      onFatal: (error) => reportFatal(error),
      onConfiguration: (inForce, committed) => {
        directory.follow(inForce, committed);
        activity.onCommittedConfiguration(committed);
      },
      onSnapshotInstalled: (seconds, position) => {
        observeSnapshotInstalled(seconds);
        activity.onSnapshotInstalled(seconds, position);
      },
      onSnapshotTaken: (index, compactedTo) => activity.onSnapshotTaken(index, compactedTo),
      onSoftState: (state) => activity.onSoftState(state),
    });
    raftState = () => {
      const { term, role } = node.leadership();
      return { term, role };
    };
    await node.start();

    const server = new grpc.Server({
      'grpc.max_receive_message_length': config.limits.requestBytesMax,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
    const metrics = nodeMetrics(
      { status: () => node.status(), loopDelay: () => node.loopDelay(), readIndexCounts: () => node.readIndexCounts(), transportStats: () => transport.stats() },
      { member: config.id },
    );
    store.observeWrites((seconds, operations, synced) => metrics.observeStorageWrite(seconds, operations, synced));
    observeSnapshotTransfer = (transfer) => metrics.observeSnapshotTransfer(transfer);
    observeSnapshotInstalled = (seconds) => metrics.observeSnapshotInstalled(seconds);
    // The live page's per-second samples count what the request metrics count.
    const observedMetrics: NodeMetrics = {
      ...metrics,
      observeRequest: (method, code, seconds) => {
        metrics.observeRequest(method, code, seconds);
        activity.observeRequest(method, code, seconds);
      },
    };
    activity.start();
    const recentSamples = () => activity.stats.recent(statusSampleCount);
    const handlers = kvServiceHandlers({ node, stateMachine, config, clientAddressOf: (id) => directory.clientAddressOf(id) || null, directory, logger, metrics: observedMetrics, recentSamples });
    // Every client request is checked as protobuf, sub-messages included, before protobufjs
    // decodes it: it decodes a truncated int64 varint as another number (strict-wire.ts).
    const clientService = (name: string): grpc.ServiceDefinition =>
      strictService(serviceClient('raftkv/v1/kv.proto', name).service, 'raftkv.v1', protoMessageTypes('raftkv/v1/kv.proto'));
    server.addService(withDirectStreamResponses(clientService('KV')), handlers.kv);
    server.addService(clientService('Cluster'), handlers.cluster);
    server.addService(clientService('Maintenance'), maintenanceServiceHandlers({ node, stateMachine, config, logger, guard: handlers.guard }));
    // Any member serves watches: each applies the same entries in the same order.
    const watchHub = new WatchHub(stateMachine, { queueBytesMax: config.watch.queueBytesMax, progressIntervalMs: config.watch.progressIntervalMs, logger });
    watchHub.start();
    const watches = watchService({
      hub: watchHub,
      guard: handlers.guard,
      keyBytesMax: config.limits.keyBytesMax,
      header: (revision) => ({ memberId: config.id, term: node.leadership().term, revision }),
      logger,
    });
    server.addService(clientService('Watch'), watches.handlers);
    server.addService(
      clientService('Auth'),
      authServiceHandlers({ node, stateMachine, config, operations: handlers.operations, guard: handlers.guard, hasher: new PasswordHasher(), logger, metrics }),
    );
    const leaseKeeper = new LeaseKeeper({
      clock: { nowMs: () => performance.now() },
      leadership: () => node.leadership(),
      leases: () => stateMachine.leases(),
      lease: (id) => stateMachine.lease(id),
      revoke: (id) => handlers.operations.proposeLease({ kind: 'lease-revoke', id }, config.requestTimeoutMs),
      checkpoint: (checkpoints) => node.propose(encodeCommand({ kind: 'lease-checkpoint', checkpoints }), config.requestTimeoutMs),
      checkpointIntervalMs: config.leaseCheckpointIntervalMs,
      electionTimeoutMs: config.electionTicks * config.tickMs,
      logger,
    });
    leaseKeeper.start(leaseCheckIntervalMs);
    server.addService(
      clientService('Lease'),
      leaseServiceHandlers({ node, stateMachine, config, operations: handlers.operations, guard: handlers.guard, keeper: leaseKeeper, logger, metrics: observedMetrics }),
    );
    const historyCompactor = new HistoryCompactor({
      retention: config.historyRetention,
      isLeader: () => node.leadership().role === 'leader',
      appliedIndex: () => stateMachine.appliedIndex,
      compactRevision: () => stateMachine.compactRevision,
      compact: async (revision) => {
        await node.propose(encodeCommand({ kind: 'compact', revision }), config.requestTimeoutMs);
      },
      logger,
    });
    historyCompactor.start();
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(config.listenClient, tls.clientServer, (error) => {
        if (error) reject(new ConfigError(`listen-client ${config.listenClient}: cannot listen (${error.message})`, { cause: error }));
        else resolve();
      });
    });
    // The live page asks the other members' Cluster.Status as a client would (TLS included).
    const statusClient = new RaftKvClient({ endpoints: [config.advertiseClient], pinned: true, ...(tls.asClient === null ? {} : { tls: tls.asClient }) });
    const clusterViewer = nodeClusterViewer({ node, stateMachine, directory, activity, askStatus: (address, timeoutMs) => statusClient.status(address, { timeoutMs }) });
    const http =
      config.listenHttp === null
        ? null
        : await startHttpEndpoints(config.listenHttp, {
            status: () => node.status(),
            probeStorage: () => store.probe(),
            registry: metrics.registry,
            readyLagEntriesMax: config.readyLagEntries,
            live: { stats: activity.stats, events: activity.events, cluster: clusterViewer },
          }).catch(async (error: unknown) => {
            server.forceShutdown();
            statusClient.close();
            activity.stop();
            historyCompactor.stop();
            await node.stop(1000);
            throw error;
          });
    logger.info({ listenClient: config.listenClient, listenPeer: config.listenPeer, listenHttp: http?.address ?? null, members: Object.fromEntries(directory.book()), ...tls.describe() }, 'node serving');

    let stopping: Promise<void> | null = null;
    let fatalError: Error | null = null;
    let resolveStopped: (value: Error | null) => void = () => {};
    const stopped = new Promise<Error | null>((resolve) => {
      resolveStopped = resolve;
    });
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        const startedAt = Date.now();
        const remainingMs = (): number => Math.max(0, startedAt + shutdownDeadlineMs - Date.now());
        logger.info('shutting down');
        // The core abandons a transfer after one election timeout: waiting longer is pointless.
        const handOff = await node.handOffLeadership(Math.min(config.electionTicks * config.tickMs, remainingMs()));
        if (handOff.kind !== 'not-leader') logger.info({ handOff }, 'leadership hand-off before stopping');
        // Watchers resume on another member from the last revision they saw.
        watches.shutdown();
        watchHub.stop();
        leaseKeeper.stop();
        await handlers.streams.shutdown(Math.min(streamDrainMs, remainingMs()));
        // Stop listening now; stopping the node then fails what unary calls still wait for
        // (UNAVAILABLE), so the server has nothing left to wait for.
        const serverClosed = shutdownServer(server, remainingMs());
        await http?.close();
        statusClient.close();
        activity.stop();
        historyCompactor.stop();
        await node.stop(remainingMs());
        directory.dispose();
        await serverClosed;
        await store.close();
        logger.info('stopped');
        resolveStopped(fatalError);
      })();
      return stopping;
    };
    void fatal.then(async (error) => {
      fatalError = error;
      try {
        await stop();
      } catch (stopError) {
        logger.error({ err: stopError }, 'stopping after a fatal error failed');
      }
      resolveStopped(error);
    });
    if (joining) {
      try {
        const joinAbort = new AbortController();
        void fatal.then(() => joinAbort.abort());
        await joinCluster({ config, directory, logger, signal: joinAbort.signal, tls: tls.asClient });
      } catch (error) {
        logger.error({ err: error }, 'joining the cluster failed; stopping');
        await stop();
        throw error;
      }
    }
    const reloadCertificates = (): void => {
      for (const { side, result } of tls.reload()) {
        if (result.kind === 'refused') logger.error({ side, err: result.error }, 'certificates not reloaded: the new files are not usable; the current ones stay in use');
        else if (result.kind === 'reloaded') logger.info({ side, name: result.material.commonName, validTo: new Date(result.material.validToMs).toISOString() }, 'certificates reloaded');
        else logger.info({ side }, 'certificates unchanged');
      }
    };
    return { node, clientAddress: config.listenClient, logger, stop, stopped, reloadCertificates };
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
}

/** `raftkv start`: runs a node until SIGTERM or SIGINT, then stops it gracefully. */
export async function runNode(config: NodeConfig): Promise<void> {
  const running = await startNode(config);
  const onSignal = (signal: NodeJS.Signals): void => {
    running.logger.info({ signal }, 'signal received');
    void running.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const onHangUp = (): void => {
    running.logger.info('SIGHUP: reloading certificates');
    running.reloadCertificates();
  };
  process.on('SIGHUP', onHangUp);
  const error = await running.stopped;
  process.off('SIGHUP', onHangUp);
  running.logger.flush();
  if (error !== null) {
    process.exitCode = 1;
    throw error;
  }
}

/**
 * A data directory bootstrapped with one --peers must not be started with another while it has
 * never seen a membership change (then --peers is its only configuration; a typo would start a
 * different cluster). Once it has, the stored configuration rules and --peers is not used.
 */
function checkMembership(persisted: Membership, configured: Membership, dataDir: string): void {
  const same = (a: readonly NodeId[], b: readonly NodeId[]): boolean => a.length === b.length && [...a].sort().every((id, i) => id === [...b].sort()[i]);
  if (!same(persisted.voters, configured.voters)) {
    throw new ConfigError(
      `peers: ${dataDir} belongs to a cluster of ${persisted.voters.join(',')}, but --peers names ${configured.voters.join(',')}; change members with \`raftkv member add/remove\`, not --peers`,
    );
  }
}

function shutdownServer(server: grpc.Server, deadlineMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, Math.max(1, deadlineMs));
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** KV with Stream's answers encoded by stream-response-codec.ts (protobufjs for the kinds it leaves). */
function withDirectStreamResponses(kv: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const stream = kv['Stream'] as grpc.MethodDefinition<unknown, StreamResponseValue> | undefined;
  if (stream === undefined) throw new Error('proto: raftkv.v1.KV has no Stream method');
  return { ...kv, Stream: { ...stream, responseSerialize: streamResponseSerializer((value) => stream.responseSerialize(value)) } };
}
