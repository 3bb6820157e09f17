import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Message, NodeId } from '../raft/index.js';
import { decodeBatch, type BatchReceiver } from './batch-codec.js';
import { PeerProtocolError, type PeerRefusal } from './errors.js';
import type { PeerVerifier } from './transport-options.js';
import { showValue } from './wire-fields.js';
import type { WireSendSummary } from './wire-types.js';

/** Counters for metrics, totals since the receiver was created. */
export interface PeerReceiverStats {
  readonly openStreams: number;
  readonly receivedBatches: number;
  readonly receivedMessages: number;
  readonly refusedBatches: number;
}

export interface PeerReceiverConfig {
  readonly receiver: BatchReceiver;
  /** Gets every accepted batch's messages, in stream order. */
  readonly deliver: (messages: readonly Message[]) => void;
  /** Called with each batch's announced client address of its sender. */
  readonly learnClientAddress: (peer: NodeId, address: string) => void;
  /** Checks the connection proves the member id the first batch claims (mutual TLS); absent: not checked. */
  readonly verifyPeer?: PeerVerifier;
  readonly logger: Logger;
}

/** One incoming `RaftPeer.Send` stream. */
interface IncomingStream {
  readonly call: grpc.ServerReadableStream<unknown, WireSendSummary>;
  readonly respond: grpc.sendUnaryData<WireSendSummary>;
  /** The peer the first accepted batch came from; every later batch must come from it too. */
  peer: string | undefined;
  batches: number;
  // Invariant: once answered, no batch of this stream is delivered and `respond` is not called again.
  answered: boolean;
}

/** The gRPC status for each refusal: another cluster's batch is not ours to read at all. */
export function refusalStatus(refusal: PeerRefusal): grpc.status {
  switch (refusal) {
    case 'wrong-cluster':
    case 'wrong-identity':
      return grpc.status.PERMISSION_DENIED;
    case 'unknown-peer':
    case 'misaddressed':
    case 'malformed':
      return grpc.status.INVALID_ARGUMENT;
  }
}

/**
 * The server side of `RaftPeer.Send`. Accepts a stream at once (sends response headers, which
 * is what the sender waits for before writing), then checks each batch whole (`decodeBatch`)
 * and delivers its messages, or refuses it: the stream ends with INVALID_ARGUMENT, or
 * PERMISSION_DENIED for another cluster, a status message naming the field and the value, a
 * warning in our log, and nothing of that batch delivered. Batches already delivered stay
 * delivered (they were valid).
 *
 * Delivery is synchronous from the gRPC 'data' event and there is no queue here: the node's
 * onMessages only feeds its core, and gRPC's flow control pushes back on the sender otherwise.
 */
export class PeerReceiver {
  private readonly streams = new Set<IncomingStream>();
  private receivedBatches = 0;
  private receivedMessages = 0;
  private refusedBatches = 0;

  constructor(private readonly config: PeerReceiverConfig) {}

  /** The `RaftPeer.Send` handler, for grpc.Server.addService. */
  readonly handleSend: grpc.handleClientStreamingCall<unknown, WireSendSummary> = (call, respond) => {
    const stream: IncomingStream = { call, respond, peer: undefined, batches: 0, answered: false };
    this.streams.add(stream);
    call.on('data', (batch: unknown) => this.onBatch(stream, batch));
    call.on('end', () => this.answer(stream));
    // The call is over without an answer from us (the peer cancelled, the connection broke).
    call.on('cancelled', () => this.forget(stream));
    call.on('error', (error: Error) => {
      this.config.logger.debug({ err: error, remote: call.getPeer() }, 'incoming stream error');
      this.forget(stream);
    });
    call.sendMetadata(new grpc.Metadata());
  };

  /**
   * Answers every open stream with its summary, as the proto says a receiver does when it shuts
   * down, so the server's graceful shutdown need not wait for peers to hang up.
   */
  shutdown(): void {
    for (const stream of [...this.streams]) this.answer(stream);
  }

  stats(): PeerReceiverStats {
    return {
      openStreams: this.streams.size,
      receivedBatches: this.receivedBatches,
      receivedMessages: this.receivedMessages,
      refusedBatches: this.refusedBatches,
    };
  }

  private onBatch(stream: IncomingStream, wire: unknown): void {
    if (stream.answered) return;
    let messages: readonly Message[];
    try {
      const batch = decodeBatch(wire, this.config.receiver);
      if (stream.peer !== undefined && batch.from !== stream.peer) {
        throw new PeerProtocolError('misaddressed', 'batch.from', `this stream carries batches from ${showValue(stream.peer)}, got ${showValue(batch.from)}`);
      }
      if (stream.peer === undefined && this.config.verifyPeer !== undefined) {
        const refusal = this.config.verifyPeer(stream.call, batch.from);
        if (refusal !== null) throw new PeerProtocolError('wrong-identity', 'batch.from', refusal);
      }
      stream.peer = batch.from;
      messages = batch.messages;
      if (batch.senderClientAddress !== '') this.config.learnClientAddress(batch.from, batch.senderClientAddress);
    } catch (error) {
      if (!(error instanceof PeerProtocolError)) throw error;
      this.refuse(stream, error);
      return;
    }
    stream.batches += 1;
    this.receivedBatches += 1;
    this.receivedMessages += messages.length;
    if (messages.length > 0) this.config.deliver(messages);
  }

  private refuse(stream: IncomingStream, error: PeerProtocolError): void {
    this.refusedBatches += 1;
    const code = refusalStatus(error.refusal);
    this.config.logger.warn(
      { err: error, refusal: error.refusal, field: error.field, remote: stream.call.getPeer(), peer: stream.peer, status: grpc.status[code] },
      'refused a batch from a peer',
    );
    this.forget(stream);
    stream.respond({ code, details: error.message });
  }

  private answer(stream: IncomingStream): void {
    if (stream.answered) return;
    this.forget(stream);
    stream.respond(null, { batchesReceived: stream.batches });
  }

  private forget(stream: IncomingStream): void {
    stream.answered = true;
    this.streams.delete(stream);
  }
}
