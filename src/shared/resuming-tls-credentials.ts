import * as grpc from '@grpc/grpc-js';
// Not grpc-js's public API: the default authority and target parsing its own secure credentials
// use, so that ours connect to the same name. package.json pins grpc-js exactly, and
// test/shared/resuming-tls-credentials.test.ts fails on another version until this file is
// checked against it (`groundedOnGrpcJsVersion`).
import { getDefaultAuthority } from '@grpc/grpc-js/build/src/resolver.js';
import { parseUri, splitHostPort, type GrpcUri } from '@grpc/grpc-js/build/src/uri-parser.js';
import type { Socket } from 'node:net';
import { checkServerIdentity as defaultCheckServerIdentity, connect, type ConnectionOptions, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';

/** How the server's certificate is checked, as grpc-js's `VerifyOptions`. */
export interface ResumingTlsVerify {
  readonly checkServerIdentity?: (host: string, certificate: PeerCertificate) => Error | undefined;
  readonly rejectUnauthorized?: boolean;
}

/** Sees every TLS connection made, once its handshake is done (tests check `isSessionReused()`). */
export type TlsConnectionObserver = (socket: TLSSocket) => void;

/** The grpc-js version whose internals (resolver, uri-parser) this file was checked against. */
export const groundedOnGrpcJsVersion = '1.14.7';

/** At most this many remembered sessions (one per server address): peers and endpoints are far fewer. */
export const tlsSessionsMax = 256;

/**
 * Channel credentials that make the TLS connection the way grpc-js's own secure credentials do
 * (same servername, identity check, ALPN 'h2', rejectUnauthorized), and in addition resume the
 * TLS session: the last session ticket a server sent on a connection is offered again on the next
 * connection to that address, so a reconnect (a node restarted, a link healed, a channel
 * re-created) costs an abbreviated handshake instead of a full one. Tickets live in memory only,
 * one per address, and only for the secure context they were made with: once `secureContext()`
 * returns a new one (a certificate reload), the old tickets are not offered. A server that
 * refuses a ticket (its own reload, a restart with new ticket keys) answers with a full
 * handshake on the same connection; nothing is lost but the saving.
 */
export class ResumingTlsCredentials extends grpc.ChannelCredentials {
  // Invariant: at most tlsSessionsMax entries; the oldest-stored goes first.
  private readonly sessions = new Map<string, { readonly context: SecureContext; readonly session: Buffer }>();

  /**
   * `secureContext` gives the context for a new connection (a reloadable provider's current
   * one: return the same object while the material is unchanged), or null when there is none
   * usable, which fails the connection attempt.
   */
  constructor(
    private readonly secureContext: () => SecureContext | null,
    private readonly verify: ResumingTlsVerify = {},
    private readonly observe: TlsConnectionObserver | null = null,
  ) {
    super();
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(channelTarget: GrpcUri, options: grpc.ChannelOptions, callCredentials?: grpc.CallCredentials): grpc.experimental.SecureConnector {
    const credentials = callCredentials ?? grpc.credentials.createEmpty();
    const target = tlsTarget(channelTarget, options, this.verify);
    return {
      connect: (socket) => this.connect(socket, target),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => credentials,
      destroy: () => {},
    };
  }

  private connect(socket: Socket, target: TlsTarget): Promise<grpc.experimental.SecureConnectResult> {
    return new Promise((resolve, reject) => {
      const context = this.secureContext();
      if (context === null) {
        reject(new Error('Failed to load credentials'));
        return;
      }
      if (socket.closed) {
        reject(new Error('Socket closed while loading credentials'));
        return;
      }
      const key = `${target.servername} ${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;
      const remembered = this.sessions.get(key);
      const session = remembered !== undefined && remembered.context === context ? remembered.session : undefined;
      const tlsSocket = connect({ ...target.options, socket, secureContext: context, ...(session === undefined ? {} : { session }) }, () => {
        tlsSocket.removeListener('close', onClose);
        tlsSocket.removeListener('error', onError);
        if ((this.verify.rejectUnauthorized ?? true) && !tlsSocket.authorized) {
          this.sessions.delete(key);
          reject(tlsSocket.authorizationError);
          return;
        }
        this.observe?.(tlsSocket);
        resolve({ socket: tlsSocket, secure: true });
      });
      // TLS 1.3 sends its tickets after the handshake, possibly several: keep the last.
      tlsSocket.on('session', (ticket: Buffer) => this.remember(key, context, ticket));
      const onClose = (): void => reject(new Error('Socket closed'));
      const onError = (error: Error): void => {
        this.sessions.delete(key);
        reject(error);
      };
      tlsSocket.once('close', onClose);
      tlsSocket.once('error', onError);
    });
  }

  private remember(key: string, context: SecureContext, session: Buffer): void {
    this.sessions.delete(key);
    this.sessions.set(key, { context, session });
    if (this.sessions.size > tlsSessionsMax) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
  }
}

interface TlsTarget {
  readonly servername: string;
  readonly options: ConnectionOptions;
}

/** grpc-js's getConnectionOptions (channel-credentials.js), less the secure context. */
function tlsTarget(channelTarget: GrpcUri, options: grpc.ChannelOptions, verify: ResumingTlsVerify): TlsTarget {
  let realTarget = channelTarget;
  const proxied = options['grpc.http_connect_target'] as string | undefined;
  if (proxied !== undefined) realTarget = parseUri(proxied) ?? realTarget;
  const authority = getDefaultAuthority(realTarget);
  const remoteHost = splitHostPort(authority)?.host ?? authority;
  const override = options['grpc.ssl_target_name_override'] as string | undefined;
  const check = verify.checkServerIdentity ?? defaultCheckServerIdentity;
  const servername = override !== undefined && override !== '' ? override : remoteHost;
  return {
    servername,
    options: {
      host: remoteHost,
      servername,
      ALPNProtocols: ['h2'],
      ...(override !== undefined && override !== '' ? { checkServerIdentity: (_host: string, certificate: PeerCertificate) => check(override, certificate) } : verify.checkServerIdentity === undefined ? {} : { checkServerIdentity: verify.checkServerIdentity }),
      ...(verify.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: verify.rejectUnauthorized }),
      ...(options['grpc-node.tls_enable_trace'] ? { enableTrace: true } : {}),
    },
  };
}
