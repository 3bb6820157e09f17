import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeId } from '../raft/index.js';
import { defaultReconnectBackoff, type ReconnectBackoff } from './backoff.js';
import { TransportConfigError } from './errors.js';
import type { SnapshotStore } from './transport.js';

/** Limits on what the transport holds and sends (STYLE habit 6). */
export interface TransportLimits {
  /** Messages queued per peer; past it the oldest are dropped. */
  readonly queueMessagesMax: number;
  /** Bytes queued per peer (by an upper bound of each message's size); past it the oldest are dropped. At least messageBytesMax. */
  readonly queueBytesMax: number;
  /** Messages per MessageBatch frame. */
  readonly batchMessagesMax: number;
  /** The largest gRPC message sent or accepted (a whole MessageBatch); a single larger message is dropped. */
  readonly messageBytesMax: number;
  /**
   * The bytes a sender puts in one MessageBatch (a larger single message goes alone, up to
   * messageBytesMax). A batch is encoded in one go, and the sender writes one per turn of the
   * event loop, so this bounds how long sending holds the loop (a catch-up sends megabytes).
   */
  readonly batchBytesMax: number;
}

export const defaultTransportLimits: TransportLimits = {
  queueMessagesMax: 4096,
  queueBytesMax: 64 * 1024 * 1024,
  batchMessagesMax: 512,
  messageBytesMax: 16 * 1024 * 1024,
  batchBytesMax: 1024 * 1024,
};

/**
 * HTTP/2 keepalive, which is how a dead peer (powered off, partitioned, SIGSTOPped: no RST ever
 * comes) is noticed on an open stream: a ping unanswered within `timeoutMs` breaks the
 * connection and with it the stream.
 */
export interface KeepaliveOptions {
  /** How often to ping, even on an idle connection. */
  readonly timeMs: number;
  /** How long a ping may go unanswered. */
  readonly timeoutMs: number;
}

export const defaultKeepalive: KeepaliveOptions = { timeMs: 2000, timeoutMs: 1000 };

/**
 * The credentials seam: insecure by default; mutual TLS (src/server/tls.ts) plugs in here
 * without touching the rest of the transport.
 */
export interface TransportCredentials {
  readonly server: grpc.ServerCredentials;
  /** The credentials this node dials `peer` with (per peer: TLS checks the certificate names that member). */
  channelFor(peer: NodeId): grpc.ChannelCredentials;
  /**
   * Whether the connection a stream arrived on proves the member id its batches claim: null if
   * so, otherwise why not (the batch is refused PERMISSION_DENIED). Absent: any claim is taken.
   */
  readonly verifyPeer?: PeerVerifier;
}

/** See TransportCredentials.verifyPeer. */
export type PeerVerifier = (call: Pick<grpc.ServerReadableStream<unknown, unknown>, 'getAuthContext'>, claimed: NodeId) => string | null;

export function insecureTransportCredentials(): TransportCredentials {
  const channel = grpc.credentials.createInsecure();
  return { server: grpc.ServerCredentials.createInsecure(), channelFor: () => channel };
}

/** Everything a GrpcTransport is built from. Optional fields have the defaults exported beside them. */
export interface GrpcTransportOptions {
  /** Batches naming another cluster are refused: two clusters on one network must not mix. */
  readonly clusterId: string;
  readonly selfId: NodeId;
  /** This node's client address, announced to peers so they can point clients at it ('' for none). */
  readonly selfClientAddress?: string;
  /** "host:port" to listen on; port 0 picks a free port (read it back from `boundAddress`). */
  readonly listenAddress: string;
  /** Peer id -> "host:port". An entry for `selfId` is ignored. Change later with setPeerAddress/removePeer. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /**
   * Peer id -> "host:port" dialled instead of whatever address `peers` or setPeerAddress gives
   * that peer (NAT, port forwarding, a proxy in the way). Applies from the moment the peer is
   * known; an override for a peer never known does nothing.
   */
  readonly peerDialOverrides?: ReadonlyMap<NodeId, string>;
  /** Already bound to this node (as the server's root logger is); the transport adds only `component`. */
  readonly logger: Logger;
  readonly limits?: Partial<TransportLimits>;
  readonly backoff?: Partial<ReconnectBackoff>;
  readonly keepalive?: Partial<KeepaliveOptions>;
  /** How long a new stream may take to be accepted by the peer before the attempt counts as failed. */
  readonly streamOpenTimeoutMs?: number;
  /** Jitter source for reconnects, in [0, 1). Outside the deterministic core, so Math.random is fine. */
  readonly random?: () => number;
  readonly credentials?: TransportCredentials;
  /** Where snapshots are read from and stored; without one, snapshots are neither sent nor taken. */
  readonly snapshots?: SnapshotStore;
  readonly snapshotTiming?: Partial<SnapshotTiming>;
  /** Told of every snapshot transfer that ended, sent or received (metrics). */
  readonly onSnapshotTransfer?: SnapshotTransferObserver;
}

/** A snapshot transfer that ended: which way, whether it was delivered whole, its bytes and time. */
export type SnapshotTransferObserver = (transfer: { readonly direction: 'sent' | 'received'; readonly ok: boolean; readonly bytes: number; readonly seconds: number }) => void;

export const defaultStreamOpenTimeoutMs = 5000;

/** Deadlines of one snapshot transfer (STYLE: every async path has one). */
export interface SnapshotTiming {
  /** The whole transfer, from open to the receiver's answer. */
  readonly transferTimeoutMs: number;
  /** The longest wait for progress: the peer taking the next chunk, or (receiving) the next chunk arriving. */
  readonly stallTimeoutMs: number;
}

export const defaultSnapshotTiming: SnapshotTiming = { transferTimeoutMs: 30 * 60 * 1000, stallTimeoutMs: 30_000 };

/** The options with every default filled in and every number checked. */
export interface ResolvedTransportOptions {
  readonly clusterId: string;
  readonly selfId: NodeId;
  readonly selfClientAddress: string;
  readonly listenAddress: string;
  readonly peerDialOverrides: ReadonlyMap<NodeId, string>;
  readonly limits: TransportLimits;
  readonly backoff: ReconnectBackoff;
  readonly keepalive: KeepaliveOptions;
  readonly streamOpenTimeoutMs: number;
  readonly random: () => number;
  readonly credentials: TransportCredentials;
  readonly snapshots: SnapshotStore | undefined;
  readonly snapshotTiming: SnapshotTiming;
  readonly onSnapshotTransfer: SnapshotTransferObserver | undefined;
}

/** Fills in defaults and validates; throws TransportConfigError naming the bad option. */
export function resolveTransportOptions(options: GrpcTransportOptions): ResolvedTransportOptions {
  if (options.clusterId.length === 0) throw new TransportConfigError('clusterId must not be empty');
  checkAddress('listenAddress', options.listenAddress);
  for (const [id, address] of options.peers) checkAddress(`peers[${id}]`, address);
  const peerDialOverrides = new Map(options.peerDialOverrides ?? []);
  for (const [id, address] of peerDialOverrides) checkAddress(`peerDialOverrides[${id}]`, address);
  const limits = { ...defaultTransportLimits, ...options.limits };
  const backoff = { ...defaultReconnectBackoff, ...options.backoff };
  const keepalive = { ...defaultKeepalive, ...options.keepalive };
  const streamOpenTimeoutMs = options.streamOpenTimeoutMs ?? defaultStreamOpenTimeoutMs;
  checkPositive('limits.queueMessagesMax', limits.queueMessagesMax);
  checkPositive('limits.batchMessagesMax', limits.batchMessagesMax);
  // Below a few KiB not even a single heartbeat batch with its framing fits.
  checkPositive('limits.messageBytesMax', limits.messageBytesMax, 4096);
  checkPositive('limits.batchBytesMax', limits.batchBytesMax, 4096);
  if (limits.batchBytesMax > limits.messageBytesMax) {
    throw new TransportConfigError(`limits.batchBytesMax (${limits.batchBytesMax}) must not exceed limits.messageBytesMax (${limits.messageBytesMax})`);
  }
  // A queue that cannot hold one largest message would drop it before it is ever sent.
  checkPositive('limits.queueBytesMax', limits.queueBytesMax, limits.messageBytesMax);
  checkPositive('backoff.initialMs', backoff.initialMs);
  checkPositive('backoff.maxMs', backoff.maxMs, backoff.initialMs);
  checkPositive('keepalive.timeMs', keepalive.timeMs);
  checkPositive('keepalive.timeoutMs', keepalive.timeoutMs);
  checkPositive('streamOpenTimeoutMs', streamOpenTimeoutMs);
  const snapshotTiming = { ...defaultSnapshotTiming, ...options.snapshotTiming };
  checkPositive('snapshotTiming.transferTimeoutMs', snapshotTiming.transferTimeoutMs);
  checkPositive('snapshotTiming.stallTimeoutMs', snapshotTiming.stallTimeoutMs);
  return {
    clusterId: options.clusterId,
    selfId: options.selfId,
    selfClientAddress: options.selfClientAddress ?? '',
    listenAddress: options.listenAddress,
    peerDialOverrides,
    limits,
    backoff,
    keepalive,
    streamOpenTimeoutMs,
    random: options.random ?? Math.random,
    credentials: options.credentials ?? insecureTransportCredentials(),
    snapshots: options.snapshots,
    snapshotTiming,
    onSnapshotTransfer: options.onSnapshotTransfer,
  };
}

function checkPositive(name: string, value: number, min = 1): void {
  if (!Number.isSafeInteger(value) || value < min) throw new TransportConfigError(`${name} must be an integer >= ${min}, got ${value}`);
}

/** "host:port" with a port in 0..65535 (IPv6 hosts in brackets). */
export function checkAddress(name: string, address: string): void {
  const match = /^(.+):(\d{1,5})$/.exec(address);
  if (match === null || Number(match[2]) > 65535) throw new TransportConfigError(`${name} must be "host:port", got ${JSON.stringify(address)}`);
}
