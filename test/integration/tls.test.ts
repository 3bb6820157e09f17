import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient, UnavailableError, type ClientTls } from '../../src/client/index.js';
import { addToCertificateDir, initCertificateDir } from '../../src/security/certificate-dir.js';
import { nodeTlsFlags } from '../../src/shared/tls-flags.js';
import type { ClusterView } from '../../src/server/cluster-view.js';
import { reservePorts } from '../../chaos/process-backend.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';
import { tempDir } from '../support/temp-dir.js';

function clientTls(dir: string, name = 'client'): ClientTls {
  return { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) };
}

/** The common name of the certificate a node's client port presents to a new connection. */
function servedCertificateName(address: string, tls: ClientTls): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca: tls.ca, cert: tls.cert, key: tls.key, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, () => {
      const subject = socket.getPeerCertificate().subject;
      socket.destroy();
      resolve(String(subject.CN));
    });
    socket.once('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no TLS handshake within 5 s')));
  });
}

describe('a cluster with mutual TLS between members and client certificates required', () => {
  const dir = join(tempDir('raftkv-tls-'), 'tls');
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  let httpAddress: string;

  beforeAll(async () => {
    await initCertificateDir(dir, { nodes: ['n1', 'n2', 'n3'], clients: ['client'], hosts: [], validDays: 30, caValidDays: 30, overwrite: false });
    await addToCertificateDir(dir, { nodes: ['n1-rotated'], clients: [], hosts: [], validDays: 30, overwrite: false });
    const reservation = await reservePorts(1);
    await reservation.release();
    httpAddress = `127.0.0.1:${reservation.ports[0]}`;
    cluster = await ProcessCluster.create(3, { nodeArgs: { n1: [...nodeTlsFlags(dir, 'n1'), '--listen-http', httpAddress], n2: nodeTlsFlags(dir, 'n2'), n3: nodeTlsFlags(dir, 'n3') } });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, tls: clientTls(dir) });
    await cluster.waitForLeader(client);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  it('replicates writes and serves linearizable reads on every member over TLS', async () => {
    await client.put('tls/a', 'one');
    for (const endpoint of cluster.endpoints) {
      const pinned = new RaftKvClient({ endpoints: [endpoint], pinned: true, timeoutMs: 20_000, tls: clientTls(dir) });
      try {
        expect((await pinned.get('tls/a'))?.value.toString()).toBe('one');
      } finally {
        pinned.close();
      }
    }
    expect(readFileSync(cluster.node('n1').logFile, 'utf8')).toContain('"peerVerifyId":true');
  });

  it('the live page of a TLS member reaches every member: it asks their status over TLS with its own certificate', async () => {
    const view = await waitFor('n1\'s /cluster.json to show every member reachable', async () => {
      const answer = (await (await fetch(`http://${httpAddress}/cluster.json`, { signal: AbortSignal.timeout(5000) })).json()) as ClusterView;
      return answer.members.length === 3 && answer.members.every((m) => m.reachable) ? answer : undefined;
    });
    expect(view.leader).not.toBeNull();
  });

  it('refuses clients without TLS, without a certificate, or with a certificate of another CA', async () => {
    await client.put('tls/b', 'two');
    const stranger = join(tempDir('raftkv-tls-'), 'other');
    await initCertificateDir(stranger, { nodes: [], clients: ['client'], hosts: [], validDays: 1, caValidDays: 1, overwrite: false });
    const attempts: [string, ClientTls | undefined, RegExp][] = [
      ['plaintext', undefined, /probably requires TLS/],
      ['no client certificate', { ca: readFileSync(join(dir, 'ca.crt')) }, /certificate required|handshake/],
      ['another CA\'s client certificate', { ...clientTls(stranger), ca: readFileSync(join(dir, 'ca.crt')) }, /handshake did not complete|may not trust/],
    ];
    for (const [what, tls, message] of attempts) {
      const outsider = new RaftKvClient({ endpoints: [cluster.endpoints[0] as string], pinned: true, timeoutMs: 3_000, attemptTimeoutMs: 1_000, ...(tls === undefined ? {} : { tls }) });
      try {
        const error = await outsider.get('tls/a').then(
          () => null,
          (e: unknown) => e,
        );
        expect(error, what).toBeInstanceOf(UnavailableError);
        expect((error as Error).message, what).toMatch(message);
        await expect(outsider.put('tls/b', 'intruder'), what).rejects.toThrow();
      } finally {
        outsider.close();
      }
    }
    expect((await client.get('tls/b'))?.value.toString()).toBe('two');
  });

  it('refuses unusable TLS options in the SDK at once', () => {
    expect(() => new RaftKvClient({ endpoints: ['127.0.0.1:1'], tls: { cert: readFileSync(join(dir, 'client.crt')) } })).toThrow(InvalidArgumentError);
    expect(() => new RaftKvClient({ endpoints: ['127.0.0.1:1'], tls: { ca: 'not a certificate' } })).toThrow(/tls: the CA is not usable PEM/);
  });

  it('reloads certificates on SIGHUP without an election, and keeps the old ones when the new files are broken', async () => {
    const n1 = cluster.node('n1');
    const termBefore = (await client.status(n1.clientAddress)).term;
    expect(await servedCertificateName(n1.clientAddress, clientTls(dir))).toBe('n1');
    copyFileSync(join(dir, 'n1-rotated.crt'), join(dir, 'n1.crt'));
    copyFileSync(join(dir, 'n1-rotated.key'), join(dir, 'n1.key'));
    process.kill(cluster.pid('n1'), 'SIGHUP');
    await waitFor('n1 to serve its new certificate', async () => ((await servedCertificateName(n1.clientAddress, clientTls(dir))) === 'n1-rotated' ? true : undefined));
    expect(cluster.log('n1')).toContain('certificates reloaded');

    writeFileSync(join(dir, 'n1.key'), 'garbage');
    process.kill(cluster.pid('n1'), 'SIGHUP');
    await waitFor('n1 to refuse the broken files', () => (cluster.log('n1').includes('certificates not reloaded') ? true : undefined));
    expect(cluster.log('n1')).toContain('client-key');
    expect(await servedCertificateName(n1.clientAddress, clientTls(dir))).toBe('n1-rotated');
    await client.put('tls/after-reload', 'ok');
    expect((await client.status(n1.clientAddress)).term).toBe(termBefore);
  });
});

describe('members that do not belong', () => {
  const dir = join(tempDir('raftkv-tls-'), 'tls');
  let cluster: ProcessCluster;
  let client: RaftKvClient;

  beforeAll(async () => {
    await initCertificateDir(dir, { nodes: ['n1', 'n2', 'n3'], clients: ['client'], hosts: [], validDays: 30, caValidDays: 30, overwrite: false });
    // n4 poses as itself with n2's certificate; n5 speaks plaintext. The three others are a majority.
    cluster = await ProcessCluster.create(5, {
      nodeArgs: { n1: nodeTlsFlags(dir, 'n1'), n2: nodeTlsFlags(dir, 'n2'), n3: nodeTlsFlags(dir, 'n3'), n4: nodeTlsFlags(dir, 'n2') },
    });
    client = new RaftKvClient({ endpoints: cluster.endpoints.slice(0, 3), timeoutMs: 20_000, tls: clientTls(dir) });
    await cluster.waitForLeader(client);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  it('a member with another member\'s certificate is refused and named in the log', async () => {
    await client.put('members/a', '1');
    await waitFor('a refusal of n4 in a log', () =>
      ['n1', 'n2', 'n3'].some((id) => /certificate names \\"n2\\", but its batches claim to come from \\"n4\\"|presented a certificate for \\"n2\\", not for member \\"n4\\"/.test(cluster.log(id))) ? true : undefined,
    );
    const n4 = new RaftKvClient({ endpoints: [cluster.node('n4').clientAddress], pinned: true, timeoutMs: 2_000, tls: clientTls(dir) });
    try {
      await expect(n4.get('members/a', { consistency: 'serializable' })).resolves.toBeNull(); // it never received the write
    } finally {
      n4.close();
    }
  });

  it('a plaintext member meeting TLS members fails with a log line naming the cause on both sides', async () => {
    await waitFor('the TLS side to name the cause', () => (['n1', 'n2', 'n3'].some((id) => cluster.log(id).includes('the other side does not speak TLS')) ? true : undefined));
    await waitFor('the plaintext side to name the cause', () => (cluster.log('n5').includes('probably requires TLS') ? true : undefined));
    expect((await client.get('members/a'))?.value.toString()).toBe('1');
  });
});

describe('raftkv start with bad TLS settings', () => {
  const dir = tempDir('raftkv-tls-');

  beforeAll(async () => {
    await initCertificateDir(join(dir, 'tls'), { nodes: ['n1', 'n2'], clients: [], hosts: [], validDays: 1, caValidDays: 1, overwrite: false });
    await initCertificateDir(join(dir, 'other'), { nodes: ['n1'], clients: [], hosts: [], validDays: 1, caValidDays: 1, overwrite: false });
  });

  const base = (): string[] => ['start', '--id', 'n1', '--data', join(dir, 'data'), '--listen-peer', '127.0.0.1:7191', '--listen-client', '127.0.0.1:8191'];
  const file = (name: string): string => join(dir, 'tls', name);

  it.each([
    [() => ['--peer-cert', file('n1.crt')], 'missing --peer-key, --peer-ca'],
    [() => ['--client-ca', file('ca.crt')], 'client-ca: requires --client-cert and --client-key'],
    [() => ['--client-cert', file('n1.crt')], 'missing --client-key'],
    [() => ['--peer-verify-id', 'false'], 'peer-verify-id: only meaningful with peer TLS'],
    [() => ['--peer-cert', file('n1.crt'), '--peer-key', file('n2.key'), '--peer-ca', file('ca.crt')], `peer-key: ${file('n2.key')} is not the key of peer-cert`],
    [() => ['--peer-cert', file('n1.crt'), '--peer-key', file('n1.key'), '--peer-ca', join(dir, 'other', 'ca.crt')], 'is not signed by peer-ca'],
    [() => ['--client-cert', file('missing.crt'), '--client-key', file('n1.key')], 'client-cert: cannot read'],
    [() => ['--client-cert', file('n1.key'), '--client-key', file('n1.key')], 'is not a PEM certificate'],
  ])('%#: exits 2 naming the setting', async (extra, message) => {
    const result = await runCli([...base(), ...extra()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('CLI client flags: --cert without --key and an unreadable --cacert exit 2', async () => {
    const noKey = await runCli(['get', 'k', '--endpoints', '127.0.0.1:8191', '--cert', file('n1.crt')]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--cert and --key go together; missing --key');
    const missing = await runCli(['get', 'k', '--endpoints', '127.0.0.1:8191', '--cacert', file('nope.crt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--cacert: cannot read');
  });
});
