import { once } from 'node:events';
import { createServer, type Server } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../chaos/link-proxy.js';
import { probeLink } from '../../chaos/link-probe.js';
import { createCertificateAuthority, issueCertificate } from '../../src/security/certificates.js';

/**
 * A peer port with mutual TLS, behind the harness's link proxy: the probe must tell a healed link
 * from a cut one. A plaintext HTTP/2 preface gets no answer from a TLS server (the process
 * backend's probes timed out on every healed link of a --tls run), so over TLS the probe
 * handshakes.
 */
describe('probeLink over TLS', () => {
  let server: Server;
  let proxy: LinkProxy;

  beforeEach(async () => {
    const ca = createCertificateAuthority('probe-test-ca', 1);
    const node = issueCertificate(ca, { commonName: 'n1', hosts: ['127.0.0.1'], usage: 'server-and-client', validDays: 1 });
    // As a member's peer port: client certificates required and verified.
    server = createServer({ cert: node.certPem, key: node.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] });
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = await LinkProxy.open({ name: 'n2->n1', targetHost: '127.0.0.1', targetPort: (server.address() as { port: number }).port });
  });

  afterEach(async () => {
    await proxy.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reaches a TLS peer through a healed link, and not through a cut one', async () => {
    expect(await probeLink(proxy.address, { timeoutMs: 5000, tls: true })).toMatchObject({ reached: true });
    proxy.cut();
    expect((await probeLink(proxy.address, { timeoutMs: 2000, tls: true })).reached).toBe(false);
    proxy.heal();
    expect(await probeLink(proxy.address, { timeoutMs: 5000, tls: true })).toMatchObject({ reached: true });
  });

  it('gets no answer to a plaintext preface from a TLS peer (why the TLS probe exists)', async () => {
    expect((await probeLink(proxy.address, { timeoutMs: 1500 })).reached).toBe(false);
  });
});
