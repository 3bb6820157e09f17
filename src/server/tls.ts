import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../raft/index.js';
import { ResumingTlsCredentials } from '../shared/resuming-tls-credentials.js';
import type { ClientTls } from '../client/index.js';
import { ReloadableCertificates, type ReloadResult } from '../security/reloadable-certificates.js';
import type { TlsFiles } from '../security/tls-files.js';
import { insecureTransportCredentials, type PeerVerifier, type TransportCredentials } from '../transport/index.js';

/** TLS settings of a node, as flags give them (config.ts). */
export interface NodeTlsConfig {
  /** Mutual TLS on the peer port and for dialling peers; null: plaintext. */
  readonly peer: { readonly files: TlsFiles & { readonly caFile: string }; readonly verifyId: boolean } | null;
  /** TLS on the client port; with a CA, client certificates are required and checked. Null: plaintext. */
  readonly client: TlsFiles | null;
}

/** The credentials a node serves and dials with, reloadable from their files. */
export interface NodeTls {
  readonly transport: TransportCredentials;
  readonly clientServer: grpc.ServerCredentials;
  /** What the node's own SDK calls to the cluster's client ports (joining) use; null: plaintext. */
  readonly asClient: ClientTls | null;
  /** Re-reads every certificate file (SIGHUP); each side keeps its old material if the new is broken. */
  reload(): { readonly side: 'peer' | 'client'; readonly result: ReloadResult }[];
  /** For the start-up log line: which sides use TLS, under which names, until when. */
  describe(): Record<string, unknown>;
}

/** Loads every certificate now (throws ConfigError naming the flag and file when one is wrong). */
export function nodeTls(config: NodeTlsConfig): NodeTls {
  const peer = config.peer === null ? null : { certificates: new ReloadableCertificates(config.peer.files), verifyId: config.peer.verifyId };
  const client = config.client === null ? null : new ReloadableCertificates(config.client);
  const transport = peer === null ? insecureTransportCredentials() : peerCredentials(peer.certificates, peer.verifyId);
  // grpc-js's createCertificateProviderServerCredentials hands its first argument to the
  // credentials as the identity provider and its second as the CA provider (its parameter names
  // say the opposite); our providers serve both, and a null CA means "no client certificates".
  const clientServer =
    client === null
      ? grpc.ServerCredentials.createInsecure()
      : grpc.experimental.createCertificateProviderServerCredentials(client, client.files.caFile === null ? null : client, client.files.caFile !== null);
  const identity = client ?? peer?.certificates ?? null;
  const trust = client?.material.ca ?? peer?.certificates.material.ca ?? null;
  return {
    transport,
    clientServer,
    asClient: client === null || identity === null ? null : { ...(trust === null ? {} : { ca: trust }), cert: identity.material.cert, key: identity.material.key },
    reload() {
      const results: { side: 'peer' | 'client'; result: ReloadResult }[] = [];
      if (peer !== null) results.push({ side: 'peer', result: peer.certificates.reload() });
      if (client !== null) results.push({ side: 'client', result: client.reload() });
      return results;
    },
    describe() {
      const side = (certificates: ReloadableCertificates | null): unknown =>
        certificates === null ? 'plaintext' : { name: certificates.material.commonName, validTo: new Date(certificates.material.validToMs).toISOString(), clientCertificates: certificates.files.caFile !== null };
      return { peerTls: side(peer?.certificates ?? null), peerVerifyId: peer?.verifyId ?? false, clientTls: side(client) };
    },
  };
}

/**
 * Mutual TLS between members. With `verifyId` a member proves its id twice: the node it dials
 * must present a certificate naming the member it meant to reach, and a stream's batches are
 * refused unless the certificate of the connection they came on names their sender. Without it,
 * any certificate of the CA is taken, and the dialled certificate must name the host dialled.
 * Dialling resumes TLS sessions across reconnects, until a reload changes the certificates.
 */
function peerCredentials(certificates: ReloadableCertificates, verifyId: boolean): TransportCredentials {
  const channels = new Map<NodeId, grpc.ChannelCredentials>();
  const dialContext = () => certificates.dialSecureContext();
  const hostChecked = new ResumingTlsCredentials(dialContext);
  const verifyPeer: PeerVerifier = (call, claimed) => {
    const name = certificateName(call.getAuthContext().sslPeerCertificate?.subject?.CN);
    return name === claimed ? null : `the connection's certificate names ${name === null ? 'no member' : `"${name}"`}, but its batches claim to come from "${claimed}"`;
  };
  return {
    server: grpc.experimental.createCertificateProviderServerCredentials(certificates, certificates, true),
    channelFor(peer) {
      if (!verifyId) return hostChecked;
      let channel = channels.get(peer);
      if (channel === undefined) {
        channel = new ResumingTlsCredentials(dialContext, {
          checkServerIdentity: (host, certificate) => {
            const name = certificateName(certificate.subject?.CN);
            return name === peer ? undefined : new Error(`the peer at ${host} presented a certificate for ${name === null ? 'no member' : `"${name}"`}, not for member "${peer}"`);
          },
        });
        channels.set(peer, channel);
      }
      return channel;
    },
    ...(verifyId ? { verifyPeer } : {}),
  };
}

function certificateName(cn: string | string[] | undefined): string | null {
  if (typeof cn === 'string') return cn;
  return null; // absent, or several CNs: no single member named
}
