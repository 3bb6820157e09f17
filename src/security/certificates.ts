import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  namedBits,
  objectIdentifier,
  octetString,
  readChildren,
  readElement,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What a certificate may be used for: a node's is both (peer mTLS dials and listens). */
export type CertificateUsage = 'server' | 'client' | 'server-and-client';

export interface IssueRequest {
  readonly commonName: string;
  /** DNS names and IP addresses the certificate is valid for (subjectAltName). */
  readonly hosts: readonly string[];
  readonly usage: CertificateUsage;
  readonly validDays: number;
}

/** A bad name, host or CA handed to the certificate code. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

const oid = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** KeyUsage bits (RFC 5280 §4.2.1.3). */
const keyUsageBit = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

const organization = 'raftkv';
/** Certificates start an hour back, so a peer whose clock is a little behind accepts them. */
const clockSkewMs = 3_600_000;
const dayMs = 86_400_000;

/** A self-signed certificate authority on a new P-256 key. */
export function createCertificateAuthority(commonName: string, validDays: number): CertifiedKey {
  checkName(commonName, 'CA name');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = distinguishedName(commonName);
  const keyId = keyIdentifier(publicKey);
  const extensions = [
    extension(oid.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
    extension(oid.keyUsage, true, namedBits([keyUsageBit.digitalSignature, keyUsageBit.keyCertSign, keyUsageBit.cRLSign])),
    extension(oid.subjectKeyIdentifier, false, octetString(keyId)),
  ];
  const certPem = signCertificate({ subject, issuer: subject, publicKey, extensions, validDays, signer: privateKey });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** A certificate on a new P-256 key, signed by `ca`. */
export function issueCertificate(ca: CertifiedKey, request: IssueRequest): CertifiedKey {
  checkName(request.commonName, 'name');
  const authority = loadAuthority(ca);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const purposes = request.usage === 'server' ? [oid.serverAuth] : request.usage === 'client' ? [oid.clientAuth] : [oid.serverAuth, oid.clientAuth];
  const extensions = [
    extension(oid.basicConstraints, true, sequence()),
    extension(oid.keyUsage, true, namedBits([keyUsageBit.digitalSignature])),
    extension(oid.extKeyUsage, false, sequence(...purposes.map(objectIdentifier))),
    extension(oid.subjectKeyIdentifier, false, octetString(keyIdentifier(publicKey))),
    extension(oid.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyIdentifier(authority.publicKey)))),
  ];
  if (request.hosts.length > 0) extensions.push(extension(oid.subjectAltName, false, sequence(...request.hosts.map(generalName))));
  const certPem = signCertificate({
    subject: distinguishedName(request.commonName),
    issuer: authority.subject,
    publicKey,
    extensions,
    validDays: request.validDays,
    signer: authority.privateKey,
  });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** Whether `host` is something a certificate can name: an IP address or a DNS name. */
export function isCertificateHost(host: string): boolean {
  return isIP(host) !== 0 || /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host);
}

function loadAuthority(ca: CertifiedKey): { subject: Buffer; publicKey: KeyObject; privateKey: KeyObject } {
  let certificate: X509Certificate;
  let privateKey: KeyObject;
  try {
    certificate = new X509Certificate(ca.certPem);
    privateKey = createPrivateKey(ca.keyPem);
  } catch (error) {
    throw new CertificateError(`the CA certificate or key cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (!certificate.ca) throw new CertificateError(`the CA certificate (${certificate.subject.replace(/\n/g, ', ')}) is not a certificate authority`);
  if (!certificate.checkPrivateKey(privateKey)) throw new CertificateError('the CA key does not belong to the CA certificate');
  if (privateKey.asymmetricKeyType !== 'ec') throw new CertificateError(`the CA key is ${privateKey.asymmetricKeyType ?? 'unknown'}; raftkv signs with P-256 (EC) CA keys only`);
  return { subject: subjectOf(certificate), publicKey: createPublicKey(privateKey), privateKey };
}

/**
 * The CA's subject exactly as it is encoded in its certificate: an issued certificate's issuer
 * must repeat it byte for byte (RFC 5280 §7.1), whoever made the CA.
 */
function subjectOf(certificate: X509Certificate): Buffer {
  const [tbs] = readChildren(readElement(certificate.raw, 0).content);
  if (tbs === undefined) throw new CertificateError('the CA certificate is empty');
  const fields = readChildren(tbs.content);
  // TBSCertificate: [0] version (present in v3), serial, signature, issuer, validity, subject, ...
  const subject = fields[fields[0]?.tag === 0xa0 ? 5 : 4];
  if (subject === undefined) throw new CertificateError('the CA certificate has no subject');
  return Buffer.from(subject.bytes);
}

/** Refuses a name a certificate (and its file) cannot carry. */
export function checkName(name: string, what: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) {
    throw new CertificateError(`${what} "${name}" must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
  }
}

function distinguishedName(commonName: string): Buffer {
  return sequence(set(sequence(objectIdentifier(oid.organization), utf8String(organization))), set(sequence(objectIdentifier(oid.commonName), utf8String(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(objectIdentifier(id), boolean(true), octetString(value)) : sequence(objectIdentifier(id), octetString(value));
}

/** A key identifier (RFC 5280 §4.2.1.2 allows any unique value): SHA-256 of the key, 20 bytes. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, 20);
}

/** A subjectAltName entry: iPAddress [7] or dNSName [2] (RFC 5280 §4.2.1.6). */
function generalName(host: string): Buffer {
  const family = isIP(host);
  if (family === 4) return implicitPrimitive(7, Buffer.from(host.split('.').map(Number)));
  if (family === 6) return implicitPrimitive(7, ipv6Bytes(host));
  if (!isCertificateHost(host)) throw new CertificateError(`host "${host}" is neither an IP address nor a DNS name`);
  return implicitPrimitive(2, Buffer.from(host.toLowerCase(), 'ascii'));
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail.push(...text.slice(lastColon + 1).split('.').map(Number));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const before = groupsOf(head);
  const after = rest === undefined ? [] : groupsOf(rest);
  const groups = rest === undefined ? before : [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(bytes, 12);
  return bytes;
}

function signCertificate(parts: {
  subject: Buffer;
  issuer: Buffer;
  publicKey: KeyObject;
  extensions: readonly Buffer[];
  validDays: number;
  signer: KeyObject;
}): string {
  if (!Number.isInteger(parts.validDays) || parts.validDays < 1 || parts.validDays > 36_500) {
    throw new CertificateError(`validity must be 1..36500 days, got ${parts.validDays}`);
  }
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f; // a positive serial of at most 20 octets (RFC 5280 §4.1.2.2)
  const signatureAlgorithm = sequence(objectIdentifier(oid.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    signatureAlgorithm,
    parts.issuer,
    sequence(time(new Date(now - clockSkewMs)), time(new Date(now + parts.validDays * dayMs))),
    parts.subject,
    parts.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...parts.extensions)),
  );
  const signature = sign('sha256', tbs, parts.signer); // ECDSA-Sig-Value in DER
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}
