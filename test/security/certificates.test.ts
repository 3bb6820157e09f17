import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateError, createCertificateAuthority, issueCertificate, type CertifiedKey } from '../../src/security/certificates.js';
import { objectIdentifier, namedBits, readChildren, readElement, time, unsignedInteger } from '../../src/security/der.js';

describe('DER encodings (X.690)', () => {
  it('writes object identifiers, integers, named bits and times as X.690 gives them', () => {
    expect(objectIdentifier('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(unsignedInteger(Buffer.from([0x80])).toString('hex')).toBe('02020080'); // a sign byte keeps it positive
    expect(unsignedInteger(Buffer.from([0, 0, 5])).toString('hex')).toBe('020105'); // minimal form
    expect(namedBits([0, 5, 6]).toString('hex')).toBe('03020186'); // keyCertSign|cRLSign|digitalSignature
    expect(time(new Date(Date.UTC(2026, 11, 7, 1, 2, 3))).toString('ascii', 2)).toBe('261207010203Z');
    expect(time(new Date(Date.UTC(2051, 0, 1))).toString('ascii', 2)).toBe('20510101000000Z');
  });

  it('reads back long-form lengths and refuses a truncated element', () => {
    const long = Buffer.concat([Buffer.from([0x04, 0x82, 0x01, 0x00]), Buffer.alloc(256, 7)]);
    expect(readElement(long, 0).content.length).toBe(256);
    expect(readChildren(Buffer.concat([long, long]))).toHaveLength(2);
    expect(() => readElement(long.subarray(0, 100), 0)).toThrow(/runs past the end/);
  });
});

describe('certificates', () => {
  const ca = createCertificateAuthority('raftkv-ca', 30);
  const node = issueCertificate(ca, { commonName: 'n1', hosts: ['n1', 'localhost', '127.0.0.1', '::1', '10.0.0.7', 'kv.example.com'], usage: 'server-and-client', validDays: 7 });

  it('makes a CA that signs itself, and node certificates it signs for the names given', () => {
    const authority = new X509Certificate(ca.certPem);
    const leaf = new X509Certificate(node.certPem);
    expect(authority.ca).toBe(true);
    expect(authority.verify(authority.publicKey)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(authority)).toBe(true);
    expect(leaf.verify(authority.publicKey)).toBe(true);
    expect(leaf.subject).toContain('CN=n1');
    expect(leaf.checkHost('kv.example.com')).toBe('kv.example.com');
    expect(leaf.checkHost('n2')).toBeUndefined();
    expect(leaf.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(leaf.checkPrivateKey(createPrivateKey(node.keyPem))).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(false);
    const days = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
  });

  it('issues from a CA it did not make, repeating that CA\'s subject as the issuer', () => {
    const other = createCertificateAuthority('other-ca', 30);
    const leaf = new X509Certificate(issueCertificate(other, { commonName: 'alice', hosts: [], usage: 'client', validDays: 1 }).certPem);
    expect(leaf.issuer).toBe(new X509Certificate(other.certPem).subject);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('refuses bad names, hosts, validity and a CA that is not one', () => {
    expect(() => issueCertificate(ca, { commonName: '../etc', hosts: [], usage: 'client', validDays: 1 })).toThrow(CertificateError);
    expect(() => issueCertificate(ca, { commonName: 'n2', hosts: ['not a host'], usage: 'server', validDays: 1 })).toThrow(/host "not a host"/);
    expect(() => issueCertificate(ca, { commonName: 'n2', hosts: [], usage: 'server', validDays: 0 })).toThrow(/1\.\.36500 days/);
    expect(() => issueCertificate(node, { commonName: 'n2', hosts: [], usage: 'server', validDays: 1 })).toThrow(/not a certificate authority/);
    expect(() => issueCertificate({ certPem: ca.certPem, keyPem: node.keyPem }, { commonName: 'n2', hosts: [], usage: 'server', validDays: 1 })).toThrow(/does not belong/);
    expect(() => issueCertificate({ certPem: 'garbage', keyPem: ca.keyPem }, { commonName: 'n2', hosts: [], usage: 'server', validDays: 1 })).toThrow(/cannot be read/);
  });
});

/** A unary echo service without a .proto: enough to prove a TLS handshake through grpc-js. */
const echoService = {
  echo: {
    path: '/raftkv.test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (value: Buffer) => value,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (value: Buffer) => value,
  },
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

describe('mutual TLS through grpc-js with the certificates', () => {
  const ca = createCertificateAuthority('raftkv-ca', 30);
  const server1 = issueCertificate(ca, { commonName: 'n1', hosts: ['n1', 'localhost', '127.0.0.1'], usage: 'server-and-client', validDays: 1 });
  const peer2 = issueCertificate(ca, { commonName: 'n2', hosts: ['n2', 'localhost'], usage: 'server-and-client', validDays: 1 });
  const client = issueCertificate(ca, { commonName: 'client', hosts: [], usage: 'client', validDays: 1 });
  const stranger = createCertificateAuthority('stranger-ca', 30);
  const strangerClient = issueCertificate(stranger, { commonName: 'n2', hosts: [], usage: 'client', validDays: 1 });
  const server = new grpc.Server();
  let port = 0;

  beforeAll(async () => {
    server.addService(echoService, {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        callback(null, Buffer.from(`${call.getAuthContext().sslPeerCertificate?.subject.CN ?? '?'}:${call.request.toString()}`));
      },
    });
    const credentials = grpc.ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(server1.certPem), private_key: Buffer.from(server1.keyPem) }], true);
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))));
  });
  afterAll(() => server.forceShutdown());

  async function echo(trust: CertifiedKey, identity: CertifiedKey | null, host = 'localhost'): Promise<string> {
    const credentials = grpc.credentials.createSsl(Buffer.from(trust.certPem), identity === null ? null : Buffer.from(identity.keyPem), identity === null ? null : Buffer.from(identity.certPem));
    const stub = new EchoClient(`127.0.0.1:${port}`, credentials, { 'grpc.ssl_target_name_override': host, 'grpc.default_authority': host });
    try {
      return await new Promise<string>((resolve, reject) =>
        stub.makeUnaryRequest(echoService.echo.path, (v: Buffer) => v, (v: Buffer) => v, Buffer.from('hi'), { deadline: Date.now() + 5_000 }, (error, value) => (error ? reject(error) : resolve((value as Buffer).toString()))),
      );
    } finally {
      stub.close();
    }
  }

  it('lets a peer with a certificate of the cluster CA in, and the server sees its node id', async () => {
    await expect(echo(ca, peer2)).resolves.toBe('n2:hi');
    await expect(echo(ca, client)).resolves.toBe('client:hi');
  });

  it('refuses a client without a certificate or with one from another CA', async () => {
    await expect(echo(ca, null)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(echo(ca, strangerClient)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('lets a client refuse a server its CA did not sign, or one whose certificate does not name the host dialled', async () => {
    await expect(echo(stranger, peer2)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(echo(ca, peer2, 'n3')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
