import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { CIPHER_SUITES, getDefaultRootsData } from '@grpc/grpc-js/build/src/tls-helpers.js';
import { ResumingTlsCredentials, type TlsConnectionObserver } from '../shared/resuming-tls-credentials.js';
import { InvalidArgumentError } from './errors.js';

/** TLS towards the nodes' client ports (etcdctl's --cacert, --cert, --key). */
export interface ClientTls {
  /** PEM of the CA that signs the nodes' certificates; absent: the system's trusted roots. */
  readonly ca?: string | Buffer;
  /** This client's certificate (PEM), for nodes that require client certificates; with `key`. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Check the node's certificate against this name instead of the host dialled (e.g. when dialling by IP). */
  readonly serverName?: string;
}

/**
 * Checks `tls` now (bad PEM, a certificate without its key) so that a mistake fails the constructor, not every call.
 * The credentials resume TLS sessions across reconnects (ResumingTlsCredentials); `observe` sees each connection (tests).
 */
export function clientCredentials(tls: ClientTls | undefined, observe: TlsConnectionObserver | null = null): { credentials: grpc.ChannelCredentials; channelOptions: grpc.ChannelOptions } {
  if (tls === undefined) return { credentials: grpc.credentials.createInsecure(), channelOptions: {} };
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new InvalidArgumentError('tls', 'give both cert and key, or neither');
  const pem = (value: string | Buffer | undefined): Buffer | null => (value === undefined ? null : Buffer.isBuffer(value) ? value : Buffer.from(value));
  const ca = pem(tls.ca);
  const cert = pem(tls.cert);
  const key = pem(tls.key);
  const check = (what: string, parse: () => unknown): void => {
    try {
      parse();
    } catch (error) {
      throw new InvalidArgumentError('tls', `the ${what} is not usable PEM (${(error as Error).message})`);
    }
  };
  if (ca !== null) check('CA', () => new X509Certificate(ca));
  if (cert !== null) check('certificate', () => new X509Certificate(cert));
  if (key !== null) check('key', () => createPrivateKey(key));
  check('certificate and key pair', () => createSecureContext({ ...(ca === null ? {} : { ca }), ...(cert === null ? {} : { cert }), ...(key === null ? {} : { key }) }));
  // What grpc.credentials.createSsl builds: the system's roots (or GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) without a CA, and GRPC_SSL_CIPHER_SUITES.
  const context = createSecureContext({ ca: ca ?? getDefaultRootsData() ?? undefined, key: key ?? undefined, cert: cert ?? undefined, ciphers: CIPHER_SUITES });
  return {
    credentials: new ResumingTlsCredentials(() => context, {}, observe),
    channelOptions: tls.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName },
  };
}
