import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../shared/errors.js';

/** Where one listener's (or dialer's) certificate, key and trusted CA are, and the flags that named them. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signs the other side's certificates; null: this side presents a certificate only. */
  readonly caFile: string | null;
  /** Flag names for messages, e.g. { cert: 'peer-cert', key: 'peer-key', ca: 'peer-ca' }. */
  readonly flags: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** The PEM contents of a TlsFiles, checked, and what an operator wants to know about them. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
  /** The certificate's common name (a node's id, in certificates from `raftkv certs`). */
  readonly commonName: string | null;
  readonly validToMs: number;
}

/**
 * Reads and checks `files`: each file readable PEM, the key the certificate's, the certificate
 * within its validity and, when a CA is given, signed by it (a peer would refuse it otherwise).
 * Throws ConfigError naming the flag, the file and what is wrong.
 */
export function loadTlsMaterial(files: TlsFiles, nowMs: number = Date.now()): TlsMaterial {
  const cert = readPem(files.certFile, files.flags.cert);
  const key = readPem(files.keyFile, files.flags.key);
  const ca = files.caFile === null ? null : readPem(files.caFile, files.flags.ca);
  const certificate = parse(() => new X509Certificate(cert), files.flags.cert, files.certFile, 'is not a PEM certificate');
  const privateKey = parse(() => createPrivateKey(key), files.flags.key, files.keyFile, 'is not a PEM private key');
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${files.flags.key}: ${files.keyFile} is not the key of ${files.flags.cert} ${files.certFile}`);
  }
  const validFromMs = Date.parse(certificate.validFrom);
  const validToMs = Date.parse(certificate.validTo);
  if (nowMs < validFromMs) throw new ConfigError(`${files.flags.cert}: ${files.certFile} is not valid before ${certificate.validFrom}`);
  if (nowMs > validToMs) throw new ConfigError(`${files.flags.cert}: ${files.certFile} expired on ${certificate.validTo}`);
  if (ca !== null && files.caFile !== null) {
    const authority = parse(() => new X509Certificate(ca), files.flags.ca, files.caFile, 'is not a PEM certificate');
    if (!authority.ca) throw new ConfigError(`${files.flags.ca}: ${files.caFile} is not a certificate authority`);
    if (!certificate.checkIssued(authority) || !certificate.verify(authority.publicKey)) {
      throw new ConfigError(`${files.flags.cert}: ${files.certFile} is not signed by ${files.flags.ca} ${files.caFile}; the other side would refuse it`);
    }
  }
  return { cert, key, ca, commonName: commonNameOf(certificate), validToMs };
}

/** The CN of a certificate's subject, as node's X509Certificate prints it. */
export function commonNameOf(certificate: X509Certificate): string | null {
  const line = certificate.subject.split('\n').find((part) => part.startsWith('CN='));
  return line === undefined ? null : line.slice('CN='.length);
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${flag}: cannot read ${path} (${(error as Error).message})`, { cause: error });
  }
}

function parse<T>(read: () => T, flag: string, path: string, what: string): T {
  try {
    return read();
  } catch (error) {
    throw new ConfigError(`${flag}: ${path} ${what} (${(error as Error).message})`, { cause: error });
  }
}
