import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Message, NodeId, SnapshotRequest } from '../raft/index.js';
import { TransportBindError, TransportStateError } from './errors.js';
import { peerChannelOptions, peerServerOptions } from './grpc-options.js';
import { PeerReceiver, type PeerReceiverStats } from './peer-receiver.js';
import { PeerSender, type PeerSenderStats, type StreamedMessage } from './peer-sender.js';
import { raftPeerProto } from './proto.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { SnapshotSender } from './snapshot-sender.js';
import type { Transport, TransportEvents } from './transport.js';
import { checkAddress, resolveTransportOptions, type GrpcTransportOptions, type ResolvedTransportOptions } from './transport-options.js';

/** Counters for metrics. */
export interface TransportStats {
  readonly peers: ReadonlyMap<NodeId, PeerSenderStats>;
  readonly received: PeerReceiverStats;
  /** Messages for a node that is not a peer (no address known), dropped. */
  readonly unknownPeerDroppedMessages: number;
  /** Messages passed to send() after close(), dropped. */
  readonly closedDroppedMessages: number;
}

type TransportState =
  | { readonly kind: 'new' }
  | { readonly kind: 'starting' }
  | {
      readonly kind: 'running';
      readonly server: grpc.Server;
      readonly receiver: PeerReceiver;
      readonly snapshotReceiver: SnapshotReceiver;
      readonly snapshotSender: SnapshotSender;
      readonly boundAddress: string;
      readonly events: TransportEvents;
    }
  | { readonly kind: 'closed'; readonly boundAddress: string | undefined; readonly receiver: PeerReceiver | undefined };

/** What a transport without a snapshot store sends from: nothing (it never gets that far). */
const noSnapshots = {
  open: () => Promise.reject(new TransportStateError('this transport has no snapshot store')),
  receive: () => Promise.reject(new TransportStateError('this transport has no snapshot store')),
};

/** `host:port` with the port replaced: how a listen address with port 0 becomes the bound one. */
function withPort(address: string, port: number): string {
  return `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
}

/**
 * The gRPC implementation of `Transport`: one `RaftPeer.Send` client stream per peer and
 * direction (as etcd's peer streams), and a server receiving the streams peers open to us.
 * See PeerSender for queueing, batching, backpressure and reconnects, and PeerReceiver for
 * what is refused.
 *
 * Beyond the interface: `boundAddress` (to use port 0), `setPeerAddress`/`removePeer` (to follow
 * membership changes), and `stats` (for metrics).
 *
 * Events: delivered asynchronously from gRPC callbacks and microtasks, never from inside `send`,
 * and never once `close` has been called.
 */
export class GrpcTransport implements Transport {
  private readonly options: ResolvedTransportOptions;
  private readonly logger: Logger;
  // Invariant: never holds selfId; senders has a key only if peerAddresses has it. Holds the
  // addresses dialled: a peer's dial override if it has one, else the address it was given.
  private readonly peerAddresses: Map<NodeId, string>;
  /** What each peer announced as its client address (for "not the leader" hints). */
  private readonly peerClientAddresses = new Map<NodeId, string>();
  private readonly senders = new Map<NodeId, PeerSender>();
  private state: TransportState = { kind: 'new' };
  private started: Promise<void> | undefined;
  private closed: Promise<void> | undefined;
  private unknownPeerDroppedMessages = 0;
  private closedDroppedMessages = 0;

  /** Validates the options (throws TransportConfigError); binds nothing until `start`. */
  constructor(options: GrpcTransportOptions) {
    this.options = resolveTransportOptions(options);
    this.logger = options.logger.child({ component: 'raft-transport' });
    this.peerAddresses = new Map([...options.peers].filter(([id]) => id !== options.selfId).map(([id, address]) => [id, this.dialAddress(id, address)]));
  }

  /**
   * Binds `listenAddress` and starts serving peers. Rejects with TransportBindError if the
   * address cannot be bound, and TransportStateError if called twice.
   */
  start(events: TransportEvents): Promise<void> {
    if (this.state.kind !== 'new') return Promise.reject(new TransportStateError(`start() called on a ${this.state.kind} transport`));
    this.state = { kind: 'starting' };
    this.started = this.bind(events);
    return this.started;
  }

  private async bind(events: TransportEvents): Promise<void> {
    const { limits, keepalive, credentials, listenAddress, clusterId, selfId } = this.options;
    const proto = raftPeerProto();
    const server = new grpc.Server(peerServerOptions(limits, keepalive));
    const receiver = new PeerReceiver({
      receiver: { clusterId, selfId, isKnownPeer: (id) => this.peerAddresses.has(id as NodeId) },
      ...(credentials.verifyPeer === undefined ? {} : { verifyPeer: credentials.verifyPeer }),
      deliver: (messages) => {
        if (this.state.kind === 'running') events.onMessages(messages);
      },
      learnClientAddress: (peer, address) => this.peerClientAddresses.set(peer, address),
      logger: this.logger,
    });
    const deliver = (messages: readonly Message[]): void => {
      if (this.state.kind === 'running') events.onMessages(messages);
    };
    const learnClientAddress = (peer: NodeId, address: string): void => {
      this.peerClientAddresses.set(peer, address);
    };
    const snapshotReceiver = new SnapshotReceiver({
      receiver: { clusterId, selfId, isKnownPeer: (id) => this.peerAddresses.has(id as NodeId) },
      ...(credentials.verifyPeer === undefined ? {} : { verifyPeer: credentials.verifyPeer }),
      ...(this.options.onSnapshotTransfer === undefined ? {} : { observe: this.options.onSnapshotTransfer }),
      store: this.options.snapshots,
      timing: this.options.snapshotTiming,
      deliver,
      learnClientAddress,
      logger: this.logger,
    });
    const snapshotSender = new SnapshotSender({
      clusterId,
      selfId,
      selfClientAddress: this.options.selfClientAddress,
      store: this.options.snapshots ?? noSnapshots,
      timing: this.options.snapshotTiming,
      method: proto.installSnapshot,
      credentialsFor: (peer) => credentials.channelFor(peer),
      channelOptions: peerChannelOptions(limits, keepalive, this.options.backoff),
      ...(this.options.onSnapshotTransfer === undefined ? {} : { observe: this.options.onSnapshotTransfer }),
      report: (peer, delivered) => {
        if (this.state.kind === 'running') events.onSnapshotStatus(peer, delivered);
      },
      logger: this.logger,
    });
    server.addService(proto.service, { Send: receiver.handleSend, InstallSnapshot: snapshotReceiver.handleInstallSnapshot });
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(listenAddress, credentials.server, (error, boundPort) => (error === null ? resolve(boundPort) : reject(error)));
      });
    } catch (error) {
      server.forceShutdown();
      this.state = { kind: 'closed', boundAddress: undefined, receiver: undefined };
      throw new TransportBindError(listenAddress, { cause: error });
    }
    const boundAddress = withPort(listenAddress, port);
    if (this.closed !== undefined) {
      // close() was called while binding and gave up waiting: it already moved us to closed.
      server.forceShutdown();
      throw new TransportStateError('the transport was closed while it was starting');
    }
    this.state = { kind: 'running', server, receiver, snapshotReceiver, snapshotSender, boundAddress, events };
    for (const [peer, address] of this.peerAddresses) this.senders.set(peer, this.newSender(peer, address, events));
    this.logger.info({ address: boundAddress, peers: Object.fromEntries(this.peerAddresses) }, 'raft transport listening');
  }

  /** The "host:port" the server is bound to, with the real port when listening on port 0. */
  /** The client address `peer` announced in its batches, or null if none arrived yet. */
  clientAddressOf(peer: NodeId): string | null {
    return this.peerClientAddresses.get(peer) ?? null;
  }

  get boundAddress(): string {
    if (this.state.kind === 'running') return this.state.boundAddress;
    if (this.state.kind === 'closed' && this.state.boundAddress !== undefined) return this.state.boundAddress;
    throw new TransportStateError(`boundAddress read on a ${this.state.kind} transport`);
  }

  /**
   * Queues each message for the peer it names. Never blocks and never throws for a peer that is
   * down; a message for a node with no known address is dropped and counted, and a snapshot
   * among them reported undelivered. After close() everything is dropped. Throws
   * TransportStateError before start() has resolved: that is a bug in the caller.
   */
  send(messages: readonly Message[]): void {
    const state = this.state;
    if (state.kind === 'closed') {
      this.closedDroppedMessages += messages.length;
      return;
    }
    if (state.kind !== 'running') throw new TransportStateError(`send() called on a ${state.kind} transport`);
    const byPeer = new Map<NodeId, StreamedMessage[]>();
    for (const message of messages) {
      if (message.type === 'snapshot') {
        this.sendSnapshot(state.snapshotSender, message, state.events);
        continue;
      }
      const group = byPeer.get(message.to);
      if (group === undefined) byPeer.set(message.to, [message]);
      else group.push(message);
    }
    for (const [peer, group] of byPeer) {
      const sender = this.senders.get(peer);
      if (sender !== undefined) {
        sender.enqueue(group);
        continue;
      }
      this.unknownPeerDroppedMessages += group.length;
      this.logger.debug({ peer, messages: group.length }, 'no address for peer: messages dropped');
    }
  }

  /** Snapshots travel on their own stream (InstallSnapshot), never in the peer's message queue. */
  private sendSnapshot(sender: SnapshotSender, message: SnapshotRequest, events: TransportEvents): void {
    const address = this.peerAddresses.get(message.to);
    if (address === undefined || this.options.snapshots === undefined) {
      this.unknownPeerDroppedMessages += 1;
      this.logger.warn({ peer: message.to, reason: address === undefined ? 'no address for the peer' : 'this transport has no snapshot store' }, 'snapshot not sent');
      queueMicrotask(() => {
        if (this.state.kind === 'running') events.onSnapshotStatus(message.to, false);
      });
      return;
    }
    sender.send(message, address);
  }

  /**
   * Adds a peer or changes its address (membership change, or a test that learned a port).
   * A peer with a dial override is dialled there whatever `address` says. An entry for this node
   * itself is ignored, as in the constructor. Throws TransportConfigError for an address that is
   * not "host:port".
   */
  setPeerAddress(peer: NodeId, address: string): void {
    checkAddress(`peer ${peer}`, address);
    if (peer === this.options.selfId) return;
    const dialed = this.dialAddress(peer, address);
    this.peerAddresses.set(peer, dialed);
    if (this.state.kind !== 'running') return;
    const sender = this.senders.get(peer);
    if (sender !== undefined) sender.setAddress(dialed);
    else this.senders.set(peer, this.newSender(peer, dialed, this.state.events));
  }

  private dialAddress(peer: NodeId, address: string): string {
    return this.options.peerDialOverrides.get(peer) ?? address;
  }

  /**
   * Forgets a peer: its queue is dropped, its stream cancelled, and batches it sends from now on
   * are refused.
   */
  removePeer(peer: NodeId): void {
    this.peerAddresses.delete(peer);
    this.senders.get(peer)?.forceClose();
    this.senders.delete(peer);
  }

  stats(): TransportStats {
    const receiver = this.state.kind === 'running' || this.state.kind === 'closed' ? this.state.receiver : undefined;
    return {
      peers: new Map([...this.senders].map(([peer, sender]) => [peer, sender.stats()])),
      received: receiver?.stats() ?? { openStreams: 0, receivedBatches: 0, receivedMessages: 0, refusedBatches: 0 },
      unknownPeerDroppedMessages: this.unknownPeerDroppedMessages,
      closedDroppedMessages: this.closedDroppedMessages,
    };
  }

  /**
   * Stops listening, ends every stream and drops what is queued; resolves within `deadlineMs`.
   * Gracefully first (streams half-closed so written messages arrive, incoming streams answered,
   * the server drained); whatever is not done by the deadline is cancelled. Idempotent: later
   * calls return the first call's promise.
   */
  close(deadlineMs: number): Promise<void> {
    this.closed ??= this.shutdown(deadlineMs);
    return this.closed;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), Math.max(0, deadlineMs));
      timer.unref();
    });
    try {
      if (this.state.kind === 'starting') {
        // Binding is local and quick; the deadline still bounds it.
        await Promise.race([this.started?.catch(() => undefined), deadline]);
      }
      const state = this.state;
      if (state.kind === 'closed') return;
      if (state.kind !== 'running') {
        this.state = { kind: 'closed', boundAddress: undefined, receiver: undefined };
        return;
      }
      this.state = { kind: 'closed', boundAddress: state.boundAddress, receiver: state.receiver };
      const senders = [...this.senders.values()];
      const sendersClosed = Promise.all([...senders.map((sender) => sender.close()), state.snapshotSender.close()]);
      state.receiver.shutdown();
      state.snapshotReceiver.shutdown();
      const serverClosed = new Promise<void>((resolve) => state.server.tryShutdown(() => resolve()));
      const outcome = await Promise.race([Promise.all([sendersClosed, serverClosed]).then(() => 'closed' as const), deadline]);
      if (outcome === 'deadline') {
        this.logger.warn({ deadlineMs }, 'raft transport did not close gracefully in time: forcing');
        state.server.forceShutdown();
      }
      for (const sender of senders) sender.forceClose();
      this.logger.info({ outcome }, 'raft transport closed');
    } finally {
      clearTimeout(timer);
    }
  }

  private newSender(peer: NodeId, address: string, events: TransportEvents): PeerSender {
    const { clusterId, selfId, selfClientAddress, limits, backoff, keepalive, streamOpenTimeoutMs, random, credentials } = this.options;
    return new PeerSender({
      peer,
      address,
      clusterId,
      selfId,
      selfClientAddress,
      limits,
      backoff,
      streamOpenTimeoutMs,
      random,
      credentials: credentials.channelFor(peer),
      channelOptions: peerChannelOptions(limits, keepalive, backoff),
      method: raftPeerProto().send,
      events,
      logger: this.logger,
    });
  }
}
