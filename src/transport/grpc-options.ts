import type { ChannelOptions } from '@grpc/grpc-js';
import type { ReconnectBackoff } from './backoff.js';
import type { KeepaliveOptions, TransportLimits } from './transport-options.js';

/**
 * gRPC channel options for a stream to one peer.
 * - keepalive: pings every `timeMs` even without calls, so a dead peer is noticed while idle
 *   and on a stream that is not writing (TCP alone may take many minutes).
 * - message size both ways from `messageBytesMax` (grpc-js defaults: 4 MiB receive, unlimited send).
 * - reconnect backoff aligned with ours: the subchannel has its own, and a subchannel still in
 *   its back-off makes our attempt fail at once, whatever our schedule says.
 * - a local subchannel pool: each peer's channel owns its connection, so closing it really
 *   closes the socket, and two transports in one process (tests) never share one.
 * - retries off: with them, grpc-js may buffer writes before the call is committed and call
 *   the write callback early, and "written to a live stream" must mean what it says.
 */
export function peerChannelOptions(limits: TransportLimits, keepalive: KeepaliveOptions, backoff: ReconnectBackoff): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': limits.messageBytesMax,
    'grpc.max_send_message_length': limits.messageBytesMax,
    'grpc.initial_reconnect_backoff_ms': backoff.initialMs,
    'grpc.max_reconnect_backoff_ms': backoff.maxMs,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_retries': 0,
  };
}

/**
 * gRPC server options for the RaftPeer service.
 * - keepalive from our side too, so a stream from a peer that died is closed here as well.
 * - the ping policy: peers ping every `timeMs` even without calls. grpc-js 1.14 servers do not
 *   police client pings, but C-core servers do (GOAWAY "too_many_pings" below 5 minutes by
 *   default), so the permissive policy is stated for any server implementation we move to.
 * - message size both ways from `messageBytesMax`.
 */
export function peerServerOptions(limits: TransportLimits, keepalive: KeepaliveOptions): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': Math.max(1, Math.floor(keepalive.timeMs / 2)),
    'grpc.http2.max_ping_strikes': 0,
    'grpc.max_receive_message_length': limits.messageBytesMax,
    'grpc.max_send_message_length': limits.messageBytesMax,
  };
}
