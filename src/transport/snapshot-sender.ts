import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeId, SnapshotRequest } from '../raft/index.js';
import { failpoint } from '../shared/failpoints.js';
import { SnapshotStreamTally, snapshotRecordFormat } from '../shared/snapshot-stream.js';
import { encodeMessage } from './codec.js';
import type { RaftPeerInstallSnapshotMethod } from './proto.js';
import type { SnapshotTiming, SnapshotTransferObserver } from './transport-options.js';
import type { SnapshotReader, SnapshotStore } from './transport.js';
import type { WireInstallSnapshotResult, WireSnapshotChunk } from './wire-types.js';

/** The layout of snapshot data this version sends (src/kv/snapshot-format.ts). */
export const snapshotFormat = snapshotRecordFormat;

export interface SnapshotSenderConfig {
  readonly clusterId: string;
  readonly selfId: NodeId;
  readonly selfClientAddress: string;
  readonly store: SnapshotStore;
  readonly timing: SnapshotTiming;
  readonly method: RaftPeerInstallSnapshotMethod;
  /** The credentials to dial `peer` with. */
  readonly credentialsFor: (peer: NodeId) => grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  /** Called once per snapshot message: true once the receiver accepted it whole. */
  readonly report: (peer: NodeId, delivered: boolean) => void;
  /** Told of every transfer that ended (metrics). */
  readonly observe?: SnapshotTransferObserver;
  readonly logger: Logger;
}

/** A transfer that has not finished: enough to cancel it. */
interface Transfer {
  readonly cancel: (reason: string) => void;
  readonly done: Promise<void>;
}

/**
 * Streams snapshots to followers over `RaftPeer.InstallSnapshot`, one transfer per peer at a
 * time, each on its own connection so that it never delays the peer's Raft messages. The data
 * is read from the store as it is sent and writes wait for gRPC's flow control, so neither side
 * holds more than a few chunks. Every snapshot message gets exactly one report: delivered once
 * the receiver answered OK, undelivered otherwise (the leader's core then probes and retries).
 *
 * A snapshot message for a peer that is already receiving one waits for that transfer (the
 * newest replaces an older waiting one, which is reported undelivered).
 */
export class SnapshotSender {
  private readonly transfers = new Map<NodeId, Transfer>();
  private readonly waiting = new Map<NodeId, { readonly message: SnapshotRequest; readonly address: string }>();
  private closed = false;

  constructor(private readonly config: SnapshotSenderConfig) {}

  send(message: SnapshotRequest, address: string): void {
    const peer = message.to;
    if (this.closed) {
      this.config.report(peer, false);
      return;
    }
    if (this.transfers.has(peer)) {
      const replaced = this.waiting.get(peer);
      if (replaced !== undefined) this.config.report(peer, false);
      this.waiting.set(peer, { message, address });
      return;
    }
    this.start(message, address);
  }

  /** Cancels every transfer (each reported undelivered) and waits for them to end. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [peer] of this.waiting) this.config.report(peer, false);
    this.waiting.clear();
    const transfers = [...this.transfers.values()];
    for (const transfer of transfers) transfer.cancel('the transport is closing');
    await Promise.all(transfers.map((transfer) => transfer.done));
  }

  /** Peers with a transfer in progress. */
  get inProgress(): number {
    return this.transfers.size;
  }

  private start(message: SnapshotRequest, address: string): void {
    const peer = message.to;
    const controller = new AbortController();
    const startedAt = performance.now();
    const done = this.transfer(message, address, controller.signal)
      .then(
        (result) => {
          this.config.logger.info({ to: peer, ...result }, 'snapshot sent');
          this.config.observe?.({ direction: 'sent', ok: true, bytes: result.bytes, seconds: result.ms / 1000 });
          this.config.report(peer, true);
        },
        (error: unknown) => {
          this.config.logger.warn({ to: peer, err: error }, 'snapshot not delivered; the leader will retry');
          this.config.observe?.({ direction: 'sent', ok: false, bytes: 0, seconds: (performance.now() - startedAt) / 1000 });
          this.config.report(peer, false);
        },
      )
      .finally(() => {
        this.transfers.delete(peer);
        const next = this.waiting.get(peer);
        this.waiting.delete(peer);
        if (next !== undefined && !this.closed) this.start(next.message, next.address);
        else if (next !== undefined) this.config.report(peer, false);
      });
    this.transfers.set(peer, { cancel: (reason) => controller.abort(new Error(reason)), done });
  }

  private async transfer(
    message: SnapshotRequest,
    address: string,
    signal: AbortSignal,
  ): Promise<{ index: number; term: number; bytes: number; chunks: number; ms: number }> {
    const { timing, method, store } = this.config;
    const startedAt = performance.now();
    const reader = await store.open();
    const client = new grpc.Client(address, this.config.credentialsFor(message.to), this.config.channelOptions);
    try {
      const membership = store.membershipAt === undefined ? message.snapshot.meta.membership : store.membershipAt(reader.applied.index);
      if (membership === null) throw new Error(`the configuration at index ${reader.applied.index} is no longer known here (compacted meanwhile); the next attempt reads a newer state`);
      const meta = { index: reader.applied.index, term: reader.applied.term, membership };
      // The receiver installs exactly what the data holds: the state as of `reader.applied`, at
      // or after the snapshot the core asked for, and committed (it was applied here).
      const header: WireSnapshotChunk = {
        header: {
          clusterId: this.config.clusterId,
          from: this.config.selfId,
          senderClientAddress: this.config.selfClientAddress,
          message: encodeMessage({ ...message, snapshot: { meta, data: new Uint8Array(0) } }),
          format: snapshotFormat,
        },
      };
      const totals = await streamSnapshot(client, method, header, reader, timing, signal);
      return { index: meta.index, term: meta.term, ...totals, ms: Math.round(performance.now() - startedAt) };
    } finally {
      client.close();
      await reader.close();
    }
  }
}

/** Writes the header, every chunk (waiting for flow control), the trailer; resolves on the receiver's OK. */
async function streamSnapshot(
  client: grpc.Client,
  method: RaftPeerInstallSnapshotMethod,
  header: WireSnapshotChunk,
  reader: SnapshotReader,
  timing: SnapshotTiming,
  signal: AbortSignal,
): Promise<{ bytes: number; chunks: number }> {
  let settle!: { resolve: (result: unknown) => void; reject: (error: Error) => void };
  const answered = new Promise<unknown>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const call = client.makeClientStreamRequest<WireSnapshotChunk, unknown>(
    method.path,
    method.serializeChunk,
    method.deserializeResult,
    new grpc.Metadata(),
    { deadline: Date.now() + timing.transferTimeoutMs },
    (error, result) => (error ? settle.reject(error) : settle.resolve(result)),
  );
  // The answer may come early (a refusal): it ends the writing below.
  let failure: Error | null = null;
  answered.catch((error: Error) => {
    failure = error;
  });
  const onAbort = (): void => call.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const tally = new SnapshotStreamTally();
    await write(call, header, timing.stallTimeoutMs, () => failure);
    for await (const data of reader.chunks()) {
      if (failure !== null || signal.aborted) break;
      tally.add(data);
      await write(call, { data }, timing.stallTimeoutMs, () => failure);
      if (tally.chunks === 1) failpoint('snapshot-send-mid-stream');
    }
    if (failure === null && !signal.aborted) {
      await write(call, { trailer: tally.trailer() }, timing.stallTimeoutMs, () => failure);
      call.end();
    }
    const result = (await answered) as WireInstallSnapshotResult;
    if (typeof result.bytesReceived === 'number' && result.bytesReceived !== tally.bytes) {
      throw new Error(`the receiver stored ${result.bytesReceived} bytes of ${tally.bytes}`);
    }
    return { bytes: tally.bytes, chunks: tally.chunks };
  } catch (error) {
    call.cancel();
    await answered.catch(() => undefined);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * One write; when gRPC's buffer is full, waits for 'drain', the call's end, or `stallMs` without
 * progress (the receiver stopped reading: the transfer is cancelled).
 */
async function write(call: grpc.ClientWritableStream<WireSnapshotChunk>, chunk: WireSnapshotChunk, stallMs: number, failed: () => Error | null): Promise<void> {
  const already = failed();
  if (already !== null) throw already;
  if (call.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`the receiver took no data for ${stallMs} ms`));
    }, stallMs);
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onEnd = (): void => {
      cleanup();
      reject(failed() ?? new Error('the snapshot stream ended while writing'));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      call.off('drain', onDrain);
      call.off('close', onEnd);
      call.off('error', onEnd);
    };
    call.on('drain', onDrain);
    call.on('close', onEnd);
    call.on('error', onEnd);
  });
}
