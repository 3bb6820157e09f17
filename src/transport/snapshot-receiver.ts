import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Message, NodeId, SnapshotRequest } from '../raft/index.js';
import { InvalidSnapshotError, SnapshotBusyError } from '../shared/errors.js';
import { failpoint } from '../shared/failpoints.js';
import { SnapshotStreamTally } from '../shared/snapshot-stream.js';
import { decodeBatch, type BatchReceiver } from './batch-codec.js';
import { PeerProtocolError } from './errors.js';
import { refusalStatus } from './peer-receiver.js';
import { snapshotFormat } from './snapshot-sender.js';
import type { PeerVerifier, SnapshotTiming, SnapshotTransferObserver } from './transport-options.js';
import type { SnapshotStore, SnapshotWriter } from './transport.js';
import { readRecord, readUint, showValue } from './wire-fields.js';
import type { WireInstallSnapshotResult } from './wire-types.js';

export interface SnapshotReceiverConfig {
  readonly receiver: BatchReceiver;
  /** Where the data goes; without a store every snapshot is refused (FAILED_PRECONDITION). */
  readonly store: SnapshotStore | undefined;
  readonly timing: SnapshotTiming;
  /** Hands the snapshot message (its data: the store's token) to Raft. */
  readonly deliver: (messages: readonly Message[]) => void;
  readonly learnClientAddress: (peer: NodeId, address: string) => void;
  /** Checks the connection proves the member id the header claims (mutual TLS); absent: not checked. */
  readonly verifyPeer?: PeerVerifier;
  /** Told of every transfer that ended (metrics). */
  readonly observe?: SnapshotTransferObserver;
  readonly logger: Logger;
}

/** Why a transfer was refused, with the status the sender gets. */
class TransferRefused extends Error {
  constructor(
    readonly status: grpc.status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The server side of `RaftPeer.InstallSnapshot`. Checks the header like any batch (cluster,
 * sender, a SNAPSHOT message for this node), stores each chunk before it reads the next (so
 * gRPC's flow control holds the sender back), checks the trailer's checksum and sizes, and only
 * then delivers the message to Raft. Anything wrong ends the call with a status naming it, and
 * what was stored is dropped: a snapshot is installed whole or not at all.
 */
export class SnapshotReceiver {
  private readonly active = new Set<grpc.ServerReadableStream<unknown, WireInstallSnapshotResult>>();

  constructor(private readonly config: SnapshotReceiverConfig) {}

  readonly handleInstallSnapshot: grpc.handleClientStreamingCall<unknown, WireInstallSnapshotResult> = (call, respond) => {
    this.active.add(call);
    const startedAt = performance.now();
    this.receive(call)
      .then(
        (result) => {
          this.config.logger.info({ ...result, ms: Math.round(performance.now() - startedAt) }, 'snapshot received');
          this.config.observe?.({ direction: 'received', ok: true, bytes: result.bytes, seconds: (performance.now() - startedAt) / 1000 });
          respond(null, { bytesReceived: result.bytes });
        },
        (error: unknown) => {
          const refused =
            error instanceof TransferRefused ? error : new TransferRefused(grpc.status.INTERNAL, `snapshot not stored: ${(error as Error).message}`, { cause: error });
          this.config.logger.warn({ err: refused.cause ?? refused, status: grpc.status[refused.status], remote: call.getPeer() }, `snapshot refused: ${refused.message}`);
          this.config.observe?.({ direction: 'received', ok: false, bytes: 0, seconds: (performance.now() - startedAt) / 1000 });
          respond({ code: refused.status, details: refused.message });
        },
      )
      .finally(() => this.active.delete(call));
  };

  /** Ends every transfer in progress (the server is closing). */
  shutdown(): void {
    for (const call of this.active) call.destroy(new Error('the node is shutting down'));
  }

  private async receive(call: grpc.ServerReadableStream<unknown, WireInstallSnapshotResult>): Promise<{ from: NodeId; index: number; term: number; bytes: number; chunks: number }> {
    const store = this.config.store;
    if (store === undefined) throw new TransferRefused(grpc.status.FAILED_PRECONDITION, 'this node takes no snapshots');
    const frames = withStallTimeout(call, this.config.timing.stallTimeoutMs);
    const first = await frames.next();
    if (first.done === true) throw new TransferRefused(grpc.status.INVALID_ARGUMENT, 'snapshot stream ended before its header');
    const { from, message } = this.decodeHeader(first.value, call);

    let writer: SnapshotWriter;
    try {
      writer = await store.receive();
    } catch (error) {
      if (error instanceof SnapshotBusyError) throw new TransferRefused(grpc.status.UNAVAILABLE, error.message, { cause: error });
      throw error;
    }
    try {
      const tally = new SnapshotStreamTally();
      for (;;) {
        const next = await frames.next();
        if (next.done === true) throw new TransferRefused(grpc.status.DATA_LOSS, `snapshot stream ended after ${tally.chunks} chunks without its trailer`);
        const frame = readRecord(next.value, 'snapshot frame');
        if (frame['part'] === 'data') {
          const data = frame['data'];
          if (!(data instanceof Uint8Array)) throw new TransferRefused(grpc.status.INVALID_ARGUMENT, `snapshot chunk ${tally.chunks}: expected bytes, got ${showValue(data)}`);
          tally.add(data);
          await writer.write(data);
          if (tally.chunks === 1) failpoint('snapshot-receive-mid-stream');
          continue;
        }
        if (frame['part'] !== 'trailer') throw new TransferRefused(grpc.status.INVALID_ARGUMENT, `snapshot frame after ${tally.chunks} chunks: expected data or trailer, got ${showValue(frame['part'])}`);
        verifyTrailer(frame['trailer'], tally);
        break;
      }
      const token = writer.finish();
      failpoint('snapshot-receive-before-install');
      this.config.deliver([{ ...message, snapshot: { meta: message.snapshot.meta, data: token } }]);
      return { from, index: message.snapshot.meta.index, term: message.snapshot.meta.term, bytes: tally.bytes, chunks: tally.chunks };
    } catch (error) {
      await writer.abort();
      if (error instanceof InvalidSnapshotError) throw new TransferRefused(grpc.status.INVALID_ARGUMENT, error.message, { cause: error });
      if (error instanceof PeerProtocolError) throw new TransferRefused(grpc.status.INVALID_ARGUMENT, error.message, { cause: error });
      throw error;
    }
  }

  private decodeHeader(wire: unknown, call: grpc.ServerReadableStream<unknown, WireInstallSnapshotResult>): { from: NodeId; message: SnapshotRequest } {
    try {
      const frame = readRecord(wire, 'snapshot frame');
      if (frame['part'] !== 'header') throw new PeerProtocolError('malformed', 'snapshot frame', `the first frame must be the header, got ${showValue(frame['part'])}`);
      const header = readRecord(frame['header'], 'snapshot header');
      const format = readUint(header, 'format', 'snapshot header');
      if (format !== snapshotFormat) throw new PeerProtocolError('malformed', 'snapshot header.format', `this node reads snapshot format ${snapshotFormat}, got ${format}`);
      const batch = decodeBatch(
        { clusterId: header['clusterId'], from: header['from'], messages: [header['message']], senderClientAddress: header['senderClientAddress'] },
        this.config.receiver,
      );
      const message = batch.messages[0];
      if (batch.messages.length !== 1 || message?.type !== 'snapshot') {
        throw new PeerProtocolError('malformed', 'snapshot header.message', `expected a SNAPSHOT message, got ${showValue(message?.type)}`);
      }
      if (message.snapshot.data.byteLength !== 0) throw new PeerProtocolError('malformed', 'snapshot header.message.snapshot.data', 'the data travels in chunks, not in the header');
      const refusal = this.config.verifyPeer?.(call, batch.from) ?? null;
      if (refusal !== null) throw new PeerProtocolError('wrong-identity', 'snapshot header.from', refusal);
      if (batch.senderClientAddress !== '') this.config.learnClientAddress(batch.from, batch.senderClientAddress);
      return { from: batch.from, message };
    } catch (error) {
      if (error instanceof PeerProtocolError) throw new TransferRefused(refusalStatus(error.refusal), error.message, { cause: error });
      throw error;
    }
  }
}

function verifyTrailer(wire: unknown, tally: SnapshotStreamTally): void {
  const trailer = readRecord(wire, 'snapshot trailer');
  const sha256 = trailer['sha256'];
  const digestBytes = tally.trailer().sha256.byteLength;
  if (!(sha256 instanceof Uint8Array) || sha256.byteLength !== digestBytes) {
    throw new TransferRefused(grpc.status.INVALID_ARGUMENT, `snapshot trailer.sha256: expected ${digestBytes} bytes, got ${showValue(sha256)}`);
  }
  const mismatch = tally.mismatch({ sha256, bytes: readUint(trailer, 'bytes', 'snapshot trailer'), chunks: readUint(trailer, 'chunks', 'snapshot trailer') });
  if (mismatch !== null) throw new TransferRefused(grpc.status.DATA_LOSS, `snapshot ${mismatch}`);
}

/**
 * The call's frames, one at a time; fails if none arrives within `stallMs` (a sender that
 * stopped sending must not hold the staging area forever) and destroys the call then.
 */
async function* withStallTimeout(call: grpc.ServerReadableStream<unknown, unknown>, stallMs: number): AsyncGenerator<unknown> {
  const frames = call[Symbol.asyncIterator]();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransferRefused(grpc.status.DEADLINE_EXCEEDED, `no snapshot data for ${stallMs} ms`)), stallMs);
      });
      let next: IteratorResult<unknown>;
      try {
        next = await Promise.race([frames.next(), stalled]);
      } catch (error) {
        if (error instanceof TransferRefused) call.destroy(error);
        throw error;
      } finally {
        clearTimeout(timer);
      }
      if (next.done === true) return;
      // Only the wait for the sender is timed here; storing the chunk is the caller's time.
      yield next.value;
    }
  } finally {
    await frames.return?.();
  }
}
