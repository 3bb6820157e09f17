import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Message, NodeId } from '../raft/index.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { tlsMismatchHint } from '../shared/tls-hint.js';
import { reconnectDelayMs, type ReconnectBackoff } from './backoff.js';
import { stageTraceOn, traceStage } from '../shared/stage-trace.js';
import { encodeBatchBytes } from './batch-bytes.js';
import { encodeMessage, messageBytesUpperBound } from './codec.js';
import type { RaftPeerSendMethod } from './proto.js';
import { SendQueue, takeBatch } from './send-queue.js';
import type { TransportLimits } from './transport-options.js';
import type { WireMessageBatch } from './wire-types.js';

/** Where a sender is in its life. `idle` has no stream and nothing to send (or has not tried yet). */
export type PeerSenderStateKind = 'idle' | 'opening' | 'open' | 'backoff' | 'closed';

/** Counters for metrics. All totals are since the sender was created. */
export interface PeerSenderStats {
  readonly state: PeerSenderStateKind;
  readonly address: string;
  /** Messages waiting in the queue now; never above limits.queueMessagesMax. */
  readonly queuedMessages: number;
  /** Their size (an upper bound); never above limits.queueBytesMax. */
  readonly queuedBytes: number;
  /** Messages dropped: queue overflow (oldest first), oversized messages. */
  readonly droppedMessages: number;
  /** Messages written to a stream the peer had accepted. */
  readonly sentMessages: number;
  /** Their size: an upper bound of the encoded bytes (what the queue accounts with). */
  readonly sentBytes: number;
  readonly sentBatches: number;
  /** Streams that failed or could not be opened. */
  readonly streamFailures: number;
}

/** What a sender reports; the transport passes it on to the node. */
export interface PeerSenderEvents {
  onUnreachable(peer: NodeId): void;
}

/** What a peer stream carries: every message but snapshots, which have their own (SnapshotSender). */
export type StreamedMessage = Exclude<Message, { readonly type: 'snapshot' }>;

export interface PeerSenderConfig {
  readonly peer: NodeId;
  readonly address: string;
  readonly clusterId: string;
  /** Announced in every batch (see MessageBatch.sender_client_address); '' for none. */
  readonly selfClientAddress: string;
  readonly selfId: NodeId;
  readonly limits: TransportLimits;
  readonly backoff: ReconnectBackoff;
  readonly streamOpenTimeoutMs: number;
  readonly random: () => number;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  readonly method: RaftPeerSendMethod;
  readonly events: PeerSenderEvents;
  readonly logger: Logger;
}

/** One `RaftPeer.Send` call. */
interface PeerStream {
  readonly call: grpc.ClientWritableStream<Buffer>;
  // Invariant: once ended, nothing more is written to `call`.
  ended: boolean;
  /** Resolves when gRPC has reported the call's final status. */
  readonly done: Deferred<void>;
}

type SenderState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'opening'; readonly stream: PeerStream; readonly openTimer: NodeJS.Timeout }
  | { readonly kind: 'open'; readonly stream: PeerStream; awaitingDrain: boolean }
  | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'closed'; readonly stream: PeerStream | undefined };

/** Stage tracing: AppendEntries (their last entry) and acknowledgements as they are written. */
function traceSent(batch: readonly Message[]): void {
  for (const message of batch) {
    const last = message.type === 'append' ? message.entries.at(-1) : undefined;
    if (last !== undefined) traceStage('leader-append-out', last.index);
    if (message.type === 'append-response' && message.success) traceStage('follower-ack-out', message.index);
  }
}

/** Bytes a MessageBatch adds around its messages, besides what messageBytesUpperBound counts. */
function batchOverheadBytes(clusterId: string, from: string): number {
  return 64 + 3 * (clusterId.length + from.length);
}

/** Status codes that mean the peer refused us on purpose: a bug or a misconfiguration, not an outage. */
const refusalCodes: ReadonlySet<grpc.status> = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED]);

/**
 * Sends this node's messages to one peer over one long-lived `RaftPeer.Send` stream.
 *
 * - Queue: bounded (`queueMessagesMax`, `queueBytesMax`); when full the oldest messages are
 *   dropped (see SendQueue for why). Nothing blocks: `enqueue` only queues and schedules a flush.
 * - Stream: opened when there is something to send. It counts as live once the peer accepts it
 *   (the peer sends response headers at once); only then is anything written, so "written"
 *   means "handed to a connection the peer is reading". Opening has a deadline
 *   (`streamOpenTimeoutMs`), because a blackholed address never refuses.
 * - Batching: a frame holds up to `batchMessagesMax` messages and `batchBytesMax` bytes (by an
 *   upper bound); a larger message goes alone, up to `messageBytesMax`, and one above that is
 *   dropped. One frame is encoded and written per turn of the event loop, the next after a
 *   setImmediate, so a backlog of megabytes (a follower's catch-up) never holds the loop for
 *   more than one frame's encoding.
 * - Backpressure: when `write` returns false, no further frame is written until 'drain'; new
 *   messages wait in the bounded queue meanwhile, so at most the Writable's highWaterMark
 *   (16 frames) plus the queue are ever held for a peer.
 * - Failure: when the stream ends for any reason, `onUnreachable` is reported once, and a new
 *   stream is opened after a backoff with jitter (`reconnectDelayMs`) if there is anything to
 *   send. Queued messages are kept, up to the bound.
 * - Snapshots never come here: they travel on InstallSnapshot streams (SnapshotSender).
 *
 * Events are delivered asynchronously (never from inside `enqueue`, so the node's send path is
 * not re-entered) and never after `close`/`forceClose`.
 */
export class PeerSender {
  private readonly queue: SendQueue;
  private readonly logger: Logger;
  private client: grpc.Client;
  private address: string;
  private state: SenderState = { kind: 'idle' };
  /** Failed attempts since a stream was last accepted: drives the backoff. */
  private failures = 0;
  private flushScheduled = false;
  /** Set on the first overflow drop and cleared when the queue drains, so an overflow logs once. */
  private overflowing = false;
  private channelReleased = false;
  private droppedMessages = 0;
  private sentMessages = 0;
  private sentBytes = 0;
  private sentBatches = 0;
  private streamFailures = 0;
  /** A snapshot message as protobufjs encodes a batch of it alone (batch-bytes.ts joins the bytes in). */
  private readonly encodeOne = (message: Message): Buffer => this.config.method.serializeBatch({ messages: [encodeMessage(message)] } as unknown as WireMessageBatch);

  constructor(private readonly config: PeerSenderConfig) {
    this.queue = new SendQueue(config.limits.queueMessagesMax, config.limits.queueBytesMax, messageBytesUpperBound);
    this.address = config.address;
    this.logger = config.logger.child({ peer: config.peer });
    this.client = this.newClient(config.address);
  }

  /** Queues messages (all addressed to this peer) and schedules sending them. Never blocks or throws. */
  enqueue(messages: readonly StreamedMessage[]): void {
    if (this.state.kind === 'closed') {
      this.droppedMessages += messages.length;
      return;
    }
    for (const message of messages) {
      if (message.type === 'heartbeat' && this.queue.length > 0) this.supersedeHeartbeats(message);
      const dropped = this.queue.push(message);
      if (dropped.length > 0 && !this.overflowing) {
        this.overflowing = true;
        this.logger.warn(
          { queueMessagesMax: this.queue.capacity, queueBytesMax: this.queue.bytesMax, state: this.state.kind },
          'send queue full: dropping the oldest messages',
        );
      }
      this.droppedMessages += dropped.length;
    }
    this.kick();
  }

  /**
   * Drops the queued heartbeats that `newer` supersedes: those of its term (its commit, lease
   * tick and read context are at least theirs, and acknowledging a read context confirms every
   * earlier one). Heartbeats pile up while the peer is unreachable (one per tick), and each one
   * it answers after a heal makes the leader send it an AppendEntries of everything it lacks: in
   * a chaos run, a few seconds of partition made a leader send 303 AppendEntries holding 59,103
   * entries (4.3 MB) to a node rejoining a log of about 600.
   */
  private supersedeHeartbeats(newer: StreamedMessage & { readonly type: 'heartbeat' }): void {
    const superseded = this.queue.removeWhere((queued) => queued.type === 'heartbeat' && queued.term === newer.term);
    this.droppedMessages += superseded.length;
  }

  /**
   * Points the sender at a new address. A stream to the old one is abandoned without reporting
   * the peer unreachable (it moved, it did not fail); the queue is kept and the backoff reset.
   */
  setAddress(address: string): void {
    if (address === this.address || this.state.kind === 'closed') return;
    this.logger.info({ from: this.address, to: address }, 'peer address changed');
    const previous = this.state;
    const oldClient = this.client;
    this.address = address;
    this.client = this.newClient(address);
    this.failures = 0;
    // Leave the state first: the abandoned stream's end then finds itself stale and reports nothing.
    this.transition({ kind: 'idle' });
    if (previous.kind === 'opening') clearTimeout(previous.openTimer);
    if (previous.kind === 'backoff') clearTimeout(previous.timer);
    if (previous.kind === 'opening' || previous.kind === 'open') previous.stream.call.cancel();
    oldClient.close();
    this.kick();
  }

  /**
   * Stops sending: drops the queue, half-closes an open stream so what was written still
   * arrives, and resolves once the peer has answered (it may never: bound this with a deadline
   * and call `forceClose`). No events are reported from here on.
   */
  async close(): Promise<void> {
    const stream = this.enterClosed();
    if (stream !== undefined && !stream.ended) {
      stream.call.end();
      await stream.done.promise;
    }
    this.releaseChannel();
  }

  /** Stops at once: cancels any stream and closes the channel. Idempotent; safe after `close`. */
  forceClose(): void {
    const stream = this.enterClosed();
    if (stream !== undefined && !stream.ended) stream.call.cancel();
    this.releaseChannel();
  }

  stats(): PeerSenderStats {
    return {
      state: this.state.kind,
      address: this.address,
      queuedMessages: this.queue.length,
      queuedBytes: this.queue.byteLength,
      droppedMessages: this.droppedMessages,
      sentMessages: this.sentMessages,
      sentBytes: this.sentBytes,
      sentBatches: this.sentBatches,
      streamFailures: this.streamFailures,
    };
  }

  private newClient(address: string): grpc.Client {
    return new grpc.Client(address, this.config.credentials, this.config.channelOptions);
  }

  private transition(next: SenderState): void {
    this.logger.trace({ from: this.state.kind, to: next.kind }, 'sender state');
    this.state = next;
  }

  /** Moves to `closed` (once), clearing timers and the queue; returns the stream still to finish, if any. */
  private enterClosed(): PeerStream | undefined {
    const previous = this.state;
    if (previous.kind === 'closed') return previous.stream;
    let stream: PeerStream | undefined;
    if (previous.kind === 'opening') {
      clearTimeout(previous.openTimer);
      // Nothing was written on it: no reason to wait for the peer.
      previous.stream.call.cancel();
    } else if (previous.kind === 'backoff') {
      clearTimeout(previous.timer);
    } else if (previous.kind === 'open') {
      stream = previous.stream;
    }
    this.transition({ kind: 'closed', stream });
    this.droppedMessages += this.queue.clear().length;
    return stream;
  }

  private releaseChannel(): void {
    if (this.channelReleased) return;
    this.channelReleased = true;
    this.client.close();
  }

  /** Starts sending if the state allows: opens a stream from idle, flushes an open one. */
  private kick(): void {
    if (this.queue.length === 0) return;
    if (this.state.kind === 'idle') this.openStream();
    // At once, not in a microtask: the driver calls send() once per Ready and then goes on with
    // synchronous work (preparing the log batch, applying), which a deferred frame would wait
    // behind. A frame already due in a later turn keeps its place: the queue stays in order.
    else if (this.state.kind === 'open' && !this.flushScheduled) this.flush();
  }

  private openStream(): void {
    const { method, streamOpenTimeoutMs } = this.config;
    const done = deferred<void>();
    // The callback reports the call's final status; grpc-js never calls it synchronously, so
    // `stream` is assigned by then (and the open timer covers a call that never reports).
    // Batches are encoded to bytes before they are written (batch-bytes.ts): the serializer passes them on.
    const call = this.client.makeClientStreamRequest<Buffer, unknown>(
      method.path,
      passBytes,
      method.deserializeSummary,
      new grpc.Metadata(),
      {},
      (error) => this.onStreamEnd(stream, error === null ? 'the peer ended the stream' : error),
    );
    const stream: PeerStream = { call, ended: false, done };
    // A Writable without an 'error' listener would crash the process on a write after cancel;
    // the outcome itself arrives through the callback above.
    call.on('error', (error: Error) => this.logger.debug({ err: error }, 'stream error'));
    call.on('metadata', () => this.onStreamAccepted(stream));
    const openTimer = setTimeout(() => {
      this.onStreamEnd(stream, `the peer did not accept the stream within ${streamOpenTimeoutMs} ms`);
      call.cancel();
    }, streamOpenTimeoutMs);
    openTimer.unref();
    this.transition({ kind: 'opening', stream, openTimer });
  }

  private onStreamAccepted(stream: PeerStream): void {
    if (this.state.kind !== 'opening' || this.state.stream !== stream) return;
    clearTimeout(this.state.openTimer);
    this.transition({ kind: 'open', stream, awaitingDrain: false });
    if (this.failures > 0) this.logger.info({ address: this.address, failures: this.failures }, 'reconnected to peer');
    else this.logger.info({ address: this.address }, 'connected to peer');
    this.failures = 0;
    this.flush();
  }

  /** The stream is over, for whatever reason. Runs once per stream. */
  private onStreamEnd(stream: PeerStream, reason: grpc.ServiceError | string): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.done.resolve();
    const state = this.state;
    // A stream we closed or abandoned (address change) is no failure.
    if ((state.kind !== 'opening' && state.kind !== 'open') || state.stream !== stream) return;
    if (state.kind === 'opening') clearTimeout(state.openTimer);
    this.failures += 1;
    this.streamFailures += 1;
    this.logFailure(state.kind, reason);
    this.notify((events) => events.onUnreachable(this.config.peer));
    const delayMs = reconnectDelayMs(this.failures, this.config.backoff, this.config.random);
    const timer = setTimeout(() => this.onBackoffEnd(), delayMs);
    timer.unref();
    this.transition({ kind: 'backoff', timer });
  }

  private logFailure(was: 'opening' | 'open', reason: grpc.ServiceError | string): void {
    const detail =
      typeof reason === 'string'
        ? { reason }
        : { reason: reason.details, code: grpc.status[reason.code] ?? reason.code };
    const fields = { ...detail, address: this.address, failures: this.failures };
    const hint = tlsMismatchHint(detail.reason, this.config.credentials._isSecure(), '--peer-cert, --peer-key, --peer-ca');
    if (hint !== null) {
      // Retrying cannot fix a configuration mismatch: say so now and then, not on every attempt.
      if (this.failures % 100 === 1) this.logger.error({ ...fields, hint }, `cannot reach peer: ${hint}`);
      else this.logger.debug({ ...fields, hint }, 'cannot reach peer');
    } else if (typeof reason !== 'string' && refusalCodes.has(reason.code)) {
      // The peer refused what we sent: retrying will not help until someone fixes the cause.
      this.logger.error(fields, 'peer refused our stream');
    } else if (was === 'open') {
      this.logger.warn(fields, 'stream to peer broke');
    } else if (this.failures === 1) {
      this.logger.info(fields, 'cannot reach peer');
    } else {
      // A peer that stays down would otherwise log on every attempt.
      this.logger.debug(fields, 'cannot reach peer');
    }
  }

  private onBackoffEnd(): void {
    if (this.state.kind !== 'backoff') return;
    this.transition({ kind: 'idle' });
    this.kick();
  }

  /** The next frame goes out in a later turn of the event loop, after timers and I/O waiting now. */
  private scheduleNextFrame(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes one frame, then schedules the next (if any) for a later turn, unless the stream pushes back. */
  private flush(): void {
    const state = this.state;
    if (state.kind !== 'open' || state.awaitingDrain) return;
    const { stream } = state;
    const { clusterId, selfId, limits } = this.config;
    const overheadBytes = batchOverheadBytes(clusterId, selfId);
    const batchLimits = {
      messagesMax: limits.batchMessagesMax,
      bytesMax: Math.min(limits.batchBytesMax, limits.messageBytesMax) - overheadBytes,
      aloneBytesMax: limits.messageBytesMax - overheadBytes,
    };
    let batch: Message[] = [];
    let batchBytes = 0;
    while (batch.length === 0 && this.queue.length > 0) {
      const taken = takeBatch(this.queue, batchLimits, messageBytesUpperBound);
      batch = taken.batch;
      batchBytes = taken.bytes;
      if (taken.oversized !== undefined) {
        this.logger.warn(
          { type: taken.oversized.type, bytesMax: batchLimits.aloneBytesMax, bytes: messageBytesUpperBound(taken.oversized) },
          'message larger than messageBytesMax: dropped',
        );
        this.droppedMessages += 1;
      }
    }
    if (batch.length > 0) {
      const writable = stream.call.write(encodeBatchBytes(clusterId, selfId, batch, this.config.selfClientAddress, this.encodeOne));
      if (stageTraceOn) traceSent(batch);
      this.sentMessages += batch.length;
      this.sentBatches += 1;
      this.sentBytes += batchBytes;
      if (!writable) {
        state.awaitingDrain = true;
        stream.call.once('drain', () => this.onDrain(stream));
        return;
      }
    }
    if (this.queue.length > 0) this.scheduleNextFrame();
    else this.overflowing = false;
  }

  private onDrain(stream: PeerStream): void {
    if (this.state.kind !== 'open' || this.state.stream !== stream) return;
    this.state.awaitingDrain = false;
    this.flush();
  }


  private notify(report: (events: PeerSenderEvents) => void): void {
    queueMicrotask(() => {
      if (this.state.kind !== 'closed') report(this.config.events);
    });
  }
}

/** The serializer of a stream whose messages are already protobuf bytes. */
function passBytes(bytes: Buffer): Buffer {
  return bytes;
}
