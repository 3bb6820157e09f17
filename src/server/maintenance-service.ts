import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { snapshotRecordFormat, type ApplyOutcome, type KvStateMachine } from '../kv/index.js';
import { waitForDrain } from '../shared/drain.js';
import { OverloadedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { SnapshotStreamTally } from '../shared/snapshot-stream.js';
import type { NodeConfig } from './config.js';
import { toGrpcError } from './grpc-errors.js';
import { timeoutFromDeadline } from './kv-service.js';
import type { RaftNode } from './raft-node.js';
import type { AuthGuard } from './auth-guard.js';

export interface MaintenanceServiceDeps {
  readonly node: RaftNode<ApplyOutcome>;
  readonly stateMachine: KvStateMachine;
  readonly config: NodeConfig;
  readonly logger: Logger;
  /** The auth checks: a snapshot holds all the data, so only root may take one. */
  readonly guard?: AuthGuard;
}

/** Backup snapshots streamed at once from one node; more get RESOURCE_EXHAUSTED. Each pins a LevelDB snapshot. */
export const backupStreamsMax = 2;
/** A reader that takes no data for this long is cut off, releasing the LevelDB snapshot. */
export const backupStallTimeoutMs = 30_000;

/**
 * The Maintenance service of kv.proto. `Snapshot` streams the node's keyspace for a backup: after
 * a ReadIndex round (so it holds every write acknowledged before the call), through the same
 * reader that serves InstallSnapshot (KvStateMachine.openSnapshot, without client sessions), in
 * the same chunks, with the same trailer. The node keeps applying and serving meanwhile.
 */
export function maintenanceServiceHandlers(deps: MaintenanceServiceDeps): grpc.UntypedServiceImplementation {
  let active = 0;
  const snapshot: grpc.handleServerStreamingCall<unknown, unknown> = (call) => {
    try {
      deps.guard?.requireRoot(deps.guard.resolveCall(call), 'Maintenance.Snapshot (it holds all the data)');
    } catch (error) {
      call.emit('error', toGrpcError(error, deps.logger));
      return;
    }
    if (active >= backupStreamsMax) {
      call.emit('error', toGrpcError(new OverloadedError(`${active} snapshots are already being streamed from this node (at most ${backupStreamsMax}); retry later`), deps.logger));
      return;
    }
    active += 1;
    const startedAt = performance.now();
    const cancelled = new AbortController();
    call.on('cancelled', () => cancelled.abort(new Error('the client cancelled the snapshot')));
    streamBackup(call, deps, cancelled.signal)
      .then(
        (result) => deps.logger.info({ ...result, ms: Math.round(performance.now() - startedAt), remote: call.getPeer() }, 'backup snapshot streamed'),
        (error: unknown) => {
          if (cancelled.signal.aborted) {
            deps.logger.info({ remote: call.getPeer() }, 'backup snapshot cancelled by the client');
            return;
          }
          deps.logger.warn({ err: error, remote: call.getPeer() }, 'backup snapshot failed');
          call.emit('error', toGrpcError(error, deps.logger));
        },
      )
      .finally(() => {
        active -= 1;
      });
  };
  return { snapshot };
}

async function streamBackup(
  call: grpc.ServerWritableStream<unknown, unknown>,
  deps: MaintenanceServiceDeps,
  signal: AbortSignal,
): Promise<{ revision: number; chunks: number; bytes: number }> {
  const { node, stateMachine, config } = deps;
  await node.linearizableBarrier(timeoutFromDeadline(call.getDeadline(), config.requestTimeoutMs));
  signal.throwIfAborted();
  const reader = await stateMachine.openSnapshot(config.snapshots.chunkBytes, { includeSessions: false });
  try {
    const send = async (message: unknown): Promise<void> => {
      signal.throwIfAborted();
      if (!call.write(message)) await waitForDrain(call, backupStallTimeoutMs, signal);
    };
    const { index: revision, term } = reader.applied;
    await send({ header: { revision, term, memberId: node.id, clusterId: config.clusterId, format: snapshotRecordFormat } });
    const tally = new SnapshotStreamTally();
    for await (const data of reader.chunks()) {
      tally.add(data);
      await send({ data });
    }
    const trailer = tally.trailer();
    await send({ trailer: { sha256: Buffer.from(trailer.sha256), chunks: trailer.chunks, bytes: trailer.bytes } });
    call.end();
    return { revision, chunks: trailer.chunks, bytes: trailer.bytes };
  } finally {
    await reader.close();
  }
}
