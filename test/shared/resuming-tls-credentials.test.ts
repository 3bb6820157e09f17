import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials } from '../../src/client/client-tls.js';
import { createCertificateAuthority, issueCertificate, type CertifiedKey } from '../../src/security/certificates.js';
import { ReloadableCertificates } from '../../src/security/reloadable-certificates.js';
import type { TlsFiles } from '../../src/security/tls-files.js';
import { ResumingTlsCredentials, groundedOnGrpcJsVersion } from '../../src/shared/resuming-tls-credentials.js';

const whoAmI = '/test.Tls/WhoAmI';
const identity = (value: Buffer): Buffer => value;

/** A grpc-js server with client certificates required, as a node's ports; WhoAmI answers the CN of the caller's certificate. */
async function startServer(certificates: ReloadableCertificates): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(
    { whoAmI: { path: whoAmI, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    {
      whoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        callback(null, Buffer.from(String(call.getAuthContext().sslPeerCertificate?.subject?.CN)));
      },
    },
  );
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(certificates, certificates, true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error === null ? resolve(bound) : reject(error))));
  return { server, address: `127.0.0.1:${port}` };
}

/** Records every TLS connection and the session tickets it received. */
class Connections {
  readonly sockets: TLSSocket[] = [];
  readonly ticketCounts = new Map<TLSSocket, number>();
  readonly observe = (socket: TLSSocket): void => {
    this.sockets.push(socket);
    this.ticketCounts.set(socket, 0);
    socket.on('session', () => this.ticketCounts.set(socket, (this.ticketCounts.get(socket) ?? 0) + 1));
  };

  get last(): TLSSocket {
    const socket = this.sockets.at(-1);
    if (socket === undefined) throw new Error('no TLS connection made');
    return socket;
  }

  /** Tickets arrive after the handshake; a reconnect can only resume once one has. */
  async ticketOnLast(): Promise<void> {
    const deadlineMs = Date.now() + 10_000;
    while ((this.ticketCounts.get(this.last) ?? 0) === 0) {
      if (Date.now() > deadlineMs) throw new Error('no session ticket within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** One WhoAmI call on a new channel (closed after), or on `client` when given. */
async function callWhoAmI(address: string, credentials: grpc.ChannelCredentials, client?: grpc.Client): Promise<string> {
  const channel = client ?? new grpc.Client(address, credentials);
  try {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      channel.makeUnaryRequest(whoAmI, identity, identity, Buffer.alloc(0), { deadline: Date.now() + 20_000 }, (error, value) => (error === null && value !== undefined ? resolve(value) : reject(error ?? new Error('no answer'))));
    });
    return answer.toString();
  } finally {
    if (client === undefined) channel.close();
  }
}

describe('the grpc-js internals ResumingTlsCredentials imports', () => {
  it('are those of the grpc-js version it was checked against (re-check the file, then this constant, on an upgrade)', () => {
    const manifest = createRequire(import.meta.url).resolve('@grpc/grpc-js/package.json');
    const installed = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
    expect(installed).toBe(groundedOnGrpcJsVersion);
  });
});

describe('TLS session resumption across reconnects', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-tls-resume-'));
  const ca = createCertificateAuthority('test-ca', 1);
  const caFile = join(dir, 'ca.crt');
  const write = (name: string, key: CertifiedKey): TlsFiles => {
    writeFileSync(join(dir, `${name}.crt`), key.certPem);
    writeFileSync(join(dir, `${name}.key`), key.keyPem);
    return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`), caFile, flags: { cert: 'cert', key: 'key', ca: 'ca' } };
  };
  const issue = (commonName: string): CertifiedKey => issueCertificate(ca, { commonName, hosts: ['127.0.0.1', 'localhost'], usage: 'server-and-client', validDays: 1 });
  let serverFiles: TlsFiles;
  let serverCertificates: ReloadableCertificates;
  let server: grpc.Server;
  let address: string;

  beforeAll(async () => {
    writeFileSync(caFile, ca.certPem);
    serverFiles = write('server', issue('server-1'));
    serverCertificates = new ReloadableCertificates(serverFiles);
    ({ server, address } = await startServer(serverCertificates));
  });

  afterAll(() => {
    server?.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resumes the session of an SDK channel on a re-created channel and after the connection is cut', async () => {
    const client = issue('sdk-client');
    const connections = new Connections();
    const { credentials } = clientCredentials({ ca: ca.certPem, cert: client.certPem, key: client.keyPem }, connections.observe);
    expect(await callWhoAmI(address, credentials)).toBe('sdk-client');
    expect(connections.last.isSessionReused()).toBe(false);
    await connections.ticketOnLast();

    expect(await callWhoAmI(address, credentials)).toBe('sdk-client');
    expect(connections.sockets).toHaveLength(2);
    expect(connections.last.isSessionReused()).toBe(true);
    // The resumed session still carries the client's certificate to the server: it answered the CN.

    const channel = new grpc.Client(address, credentials);
    try {
      expect(await callWhoAmI(address, credentials, channel)).toBe('sdk-client');
      // A resumed connection got no new ticket (Node's server sends none then): the first one serves again.
      expect(connections.last.isSessionReused()).toBe(true);
      connections.last.destroy(); // the link cut: the channel reconnects on the next call
      await expect.poll(async () => {
        await callWhoAmI(address, credentials, channel).catch(() => undefined);
        return connections.sockets.length;
      }, { timeout: 20_000 }).toBe(4);
      expect(connections.last.isSessionReused()).toBe(true);
    } finally {
      channel.close();
    }
  });

  it('falls back to a full handshake when the server reloaded its certificate, then resumes again', async () => {
    const clientFiles = write('peer-client', issue('peer-client'));
    const clientCertificates = new ReloadableCertificates(clientFiles);
    const connections = new Connections();
    const credentials = new ResumingTlsCredentials(() => clientCertificates.dialSecureContext(), {}, connections.observe);
    expect(await callWhoAmI(address, credentials)).toBe('peer-client');
    await connections.ticketOnLast();

    write('server', issue('server-2'));
    expect(serverCertificates.reload().kind).toBe('reloaded');
    // grpc-js applies the new certificate to its TLS server when its provider says so (same turn).
    expect(await callWhoAmI(address, credentials)).toBe('peer-client');
    expect(connections.last.isSessionReused()).toBe(false); // the old ticket was refused, the handshake was full
    expect(connections.last.getPeerCertificate().subject.CN).toBe('server-2');
    await connections.ticketOnLast();

    expect(await callWhoAmI(address, credentials)).toBe('peer-client');
    expect(connections.last.isSessionReused()).toBe(true);
    // Node checks the server's identity on full handshakes only (a resumed session shows no certificate):
    // tickets are kept per credentials object and server name, so only the same checks ever passed them.
  });

  it('offers no session made with the certificate of before its own reload', async () => {
    const clientFiles = write('rotating-client', issue('rotating-1'));
    const clientCertificates = new ReloadableCertificates(clientFiles);
    const connections = new Connections();
    const credentials = new ResumingTlsCredentials(() => clientCertificates.dialSecureContext(), {}, connections.observe);
    expect(await callWhoAmI(address, credentials)).toBe('rotating-1');
    await connections.ticketOnLast();

    write('rotating-client', issue('rotating-2'));
    expect(clientCertificates.reload().kind).toBe('reloaded');
    // A resumed session would present the old certificate to the server: the new one must be seen.
    expect(await callWhoAmI(address, credentials)).toBe('rotating-2');
    expect(connections.last.isSessionReused()).toBe(false);
  });

  it('keeps one secure context until the certificates change', () => {
    const files = write('context-check', issue('context-1'));
    const certificates = new ReloadableCertificates(files);
    const first = certificates.dialSecureContext();
    expect(first).not.toBeNull();
    expect(certificates.dialSecureContext()).toBe(first);
    expect(certificates.reload().kind).toBe('unchanged');
    expect(certificates.dialSecureContext()).toBe(first);
    write('context-check', issue('context-2'));
    expect(certificates.reload().kind).toBe('reloaded');
    expect(certificates.dialSecureContext()).not.toBe(first);
  });
});
