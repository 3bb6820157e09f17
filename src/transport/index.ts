/** The peer transport: carries Raft messages between nodes. Everything the rest of raftkv may use from it. */
export type { Transport, TransportEvents } from './transport.js';
export { GrpcTransport } from './grpc-transport.js';
export type { TransportStats } from './grpc-transport.js';
export type { PeerSenderStats, PeerSenderStateKind } from './peer-sender.js';
export type { PeerReceiverStats } from './peer-receiver.js';
export {
  defaultKeepalive,
  defaultStreamOpenTimeoutMs,
  defaultTransportLimits,
  insecureTransportCredentials,
} from './transport-options.js';
export type { GrpcTransportOptions, KeepaliveOptions, PeerVerifier, SnapshotTransferObserver, TransportCredentials, TransportLimits } from './transport-options.js';
export { defaultReconnectBackoff } from './backoff.js';
export type { ReconnectBackoff } from './backoff.js';
export { PeerProtocolError, TransportBindError, TransportConfigError, TransportStateError } from './errors.js';
export type { PeerRefusal } from './errors.js';
export { decodeMessage, encodeMessage } from './codec.js';
export { decodeBatch, encodeBatch } from './batch-codec.js';
export type { BatchReceiver, DecodedBatch } from './batch-codec.js';
