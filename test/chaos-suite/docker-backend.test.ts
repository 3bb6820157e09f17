/**
 * The docker backend's own promises, against a real engine (`npm run test:chaos`): a directed
 * cut silences one direction of one link and nothing else, client traffic is never cut, kill
 * and restart keep the node's address and data, pause freezes, an exit nobody caused is seen, a
 * node added from a spare slot joins with its fixed address and its links can be cut, and stop
 * leaves no container, network or iptables chain behind.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterObserver } from '../../chaos/cluster-observer.js';
import { DockerBackend } from '../../chaos/docker-backend.js';
import { isVoterSet, removeMember, waitForMembers } from '../../chaos/membership-change.js';
import { waitUntil } from '../../chaos/wait.js';
import { RaftKvClient } from '../../src/client/index.js';
import { requireDocker, suiteImage, trackBackend } from './scenario.js';
import { tempDir } from '../support/temp-dir.js';

const probeMs = 1000;

describe('docker backend', () => {
  let backend: DockerBackend | null = null;
  let observer: ClusterObserver | null = null;
  let dir = '';

  beforeAll(async () => {
    // A failed preflight fails every test below with its message (each calls ready()).
    await requireDocker().catch(() => {});
  });

  afterAll(async () => {
    observer?.close();
    await backend?.stop();
  });

  /** The running cluster, started once for the tests of this file. */
  async function ready(settle = true): Promise<{ backend: DockerBackend; observer: ClusterObserver }> {
    await requireDocker();
    if (backend === null) {
      dir = tempDir('raftkv-docker-backend-');
      backend = await DockerBackend.create({ nodeCount: 3, spareNodes: 1, dir, image: suiteImage, tickMs: 50, electionTicks: 10, logLevel: 'info' });
      trackBackend(backend);
      await backend.start();
      const started = backend;
      observer = new ClusterObserver(() => started.nodeIds, (id) => started.clientEndpoint(id));
    }
    const o = observer as ClusterObserver;
    if (settle) await o.waitForSettled({ timeoutMs: 30_000 });
    return { backend, observer: o };
  }

  it('cut(X, Y) stops what X sends to Y and nothing else; clients still reach both', async () => {
    const { backend: b, observer: o } = await ready();
    for (const from of b.nodeIds) for (const to of b.nodeIds) if (from !== to) expect(await b.probe(from, to, probeMs), `${from}->${to} before`).toBe(true);

    await b.cut('n1', 'n2');
    expect(b.cutLinks()).toEqual([{ from: 'n1', to: 'n2' }]);
    expect(await b.probe('n1', 'n2', probeMs), 'n1->n2 cut').toBe(false);
    // One way only: n2's own connection to n1 (n2 -> n1:7001) still carries traffic both ways.
    expect(await b.probe('n2', 'n1', probeMs), 'n2->n1 open').toBe(true);
    expect(await b.probe('n1', 'n3', probeMs), 'n1->n3 open').toBe(true);
    expect(await b.probe('n3', 'n2', probeMs), 'n3->n2 open').toBe(true);
    // The host's clients are never cut.
    expect(await o.status('n1'), 'client -> n1').not.toBeNull();
    expect(await o.status('n2'), 'client -> n2').not.toBeNull();

    await b.heal('n1', 'n2');
    expect(b.cutLinks()).toEqual([]);
    await waitUntil('n1->n2 to answer again', async () => ((await b.probe('n1', 'n2', probeMs)) ? true : undefined), { timeoutMs: 10_000 });
  });

  it('isolating the leader both ways makes it step down while clients still reach it', async () => {
    const { backend: b, observer: o } = await ready();
    const leader = await o.waitForLeader(b.nodeIds, { timeoutMs: 10_000 });
    const others = b.nodeIds.filter((id) => id !== leader.id);
    for (const other of others) {
      await b.cut(leader.id, other);
      await b.cut(other, leader.id);
    }
    await o.waitForNoLeader([leader.id], { timeoutMs: 10_000 });
    const next = await o.waitForLeader(others, { timeoutMs: 10_000, aboveTerm: leader.term });
    expect(others).toContain(next.id);
    expect(await o.status(leader.id), 'client -> isolated node').not.toBeNull();
    await b.healAll();
    expect(b.cutLinks()).toEqual([]);
    await o.waitForSettled({ timeoutMs: 30_000 });
  });

  it('kill and restart keep the node\'s address and data; pause freezes it', async () => {
    const { backend: b, observer: o } = await ready();
    const client = new RaftKvClient({ endpoints: b.nodeIds.map((id) => b.clientEndpoint(id)), transport: 'unary', timeoutMs: 5000 });
    try {
      for (let i = 0; i < 20; i++) await client.put(`k${i}`, `v${i}`, { timeoutMs: 5000 });
    } finally {
      client.close();
    }
    const endpoint = b.clientEndpoint('n2');
    await b.kill('n2');
    expect(b.nodeState('n2')).toBe('killed');
    expect(await o.status('n2', 500)).toBeNull();
    await b.restart('n2');
    expect(b.nodeState('n2')).toBe('running');
    expect(b.clientEndpoint('n2')).toBe(endpoint);
    await o.waitForSettled({ timeoutMs: 30_000 });
    // The second incarnation found the first one's log on disk.
    const log = readFileSync(b.logFiles().get('n2') as string, 'utf8');
    const restored = [...log.matchAll(/"lastIndex":(\d+)[^\n]*"msg":"restored from disk"/g)].map((match) => Number(match[1]));
    expect(restored.length).toBe(2);
    expect(restored[1]).toBeGreaterThanOrEqual(20);

    await b.pause('n3');
    expect(b.nodeState('n3')).toBe('paused');
    expect(await o.status('n3', 500)).toBeNull();
    expect(await b.probe('n1', 'n3', probeMs), 'a paused node does not answer a probe').toBe(false);
    await b.resume('n3');
    expect(b.nodeState('n3')).toBe('running');
    await o.waitForSettled({ timeoutMs: 30_000 });
    expect(b.unexpectedExits()).toEqual([]);
  });

  it('sees a container that exits without the backend as an unexpected exit', async () => {
    const { backend: b } = await ready();
    execFileSync('docker', ['kill', b.containerName('n3')], { stdio: 'ignore' });
    await waitUntil('the exit to be seen', () => (b.unexpectedExits().length > 0 ? true : undefined), { timeoutMs: 10_000 });
    expect(b.unexpectedExits()).toMatchObject([{ id: 'n3', code: 137 }]);
    expect(b.nodeState('n3')).toBe('crashed');
  });

  it('replaces the crashed n3 by n4 from a spare slot: it joins with its fixed address, and its links can be cut', async () => {
    const { backend: b, observer: o } = await ready(false); // n3 crashed in the test above
    const client = new RaftKvClient({ endpoints: ['n1', 'n2'].map((id) => b.clientEndpoint(id)), transport: 'unary', timeoutMs: 5000 });
    try {
      await removeMember(client, 'n3', { timeoutMs: 30_000 });
      await b.removeNode('n3');
      expect(b.nodeIds).toEqual(['n1', 'n2']);
      expect(b.nextNodeId()).toBe('n4');
      const added = await b.addNode(b.nodeIds.map((id) => b.clientEndpoint(id)));
      expect(added).toBe('n4');
      expect(b.spareNodes()).toBe(0);
      expect(b.memberAddresses('n4')).toEqual({ peer: `${b.address('n4')}:7001`, client: `${b.address('n4')}:8001` });
      const list = await waitForMembers(client, 'n4 a voter', (members) => isVoterSet(members, b.nodeIds), { timeoutMs: 30_000 });
      expect(list.members.find((member) => member.id === 'n4')?.peerAddress).toBe(`${b.address('n4')}:7001`);
      await o.waitForSettled({ timeoutMs: 30_000 });
      expect(await b.probe('n1', 'n4', probeMs), 'n1->n4 before').toBe(true);
      await b.cut('n1', 'n4');
      expect(await b.probe('n1', 'n4', probeMs), 'n1->n4 cut').toBe(false);
      expect(await b.probe('n4', 'n1', probeMs), 'n4->n1 open').toBe(true);
      await b.heal('n1', 'n4');
      await waitUntil('n1->n4 to answer again', async () => ((await b.probe('n1', 'n4', probeMs)) ? true : undefined), { timeoutMs: 10_000 });
      expect([...b.logFiles().keys()]).toEqual(['n1', 'n2', 'n3', 'n4']);
    } finally {
      client.close();
    }
  });

  it('stop removes every container, the network and the iptables chain, and can be called again', async () => {
    const { backend: b } = await ready(false);
    await b.cut('n1', 'n2');
    await b.stop();
    await b.stop();
    const label = `label=raftkv.chaos.run=${b.runId}`;
    expect(execFileSync('docker', ['ps', '--all', '--quiet', '--filter', label], { encoding: 'utf8' }).trim()).toBe('');
    expect(execFileSync('docker', ['network', 'ls', '--quiet', '--filter', `name=${b.networkName}`], { encoding: 'utf8' }).trim()).toBe('');
    expect(execFileSync('iptables', ['-w', '-S', 'DOCKER-USER'], { encoding: 'utf8' })).not.toContain(`RAFTKV-${b.runId}`);
    expect(() => execFileSync('iptables', ['-w', '-S', `RAFTKV-${b.runId}`], { stdio: 'pipe' })).toThrow();
    // The nodes' data stays, owned by whoever ran the harness.
    expect(readFileSync(join(dir, 'nodes', 'n1.log'), 'utf8')).toContain('node serving');
  });
});
