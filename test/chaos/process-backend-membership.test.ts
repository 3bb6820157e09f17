import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterObserver } from '../../chaos/cluster-observer.js';
import { isVoterSet, removeMember, waitForMembers } from '../../chaos/membership-change.js';
import { ProcessBackend } from '../../chaos/process-backend.js';
import { waitUntil } from '../../chaos/wait.js';
import { RaftKvClient } from '../../src/client/index.js';

/**
 * The process backend across a membership change, with real `raftkv start` processes: a node
 * removed through the SDK and stopped, a fresh one from a spare slot joining with --join, and
 * the links to the new node going through the harness's proxies (every node dials it at its
 * --peer-dial-override, though the replicated address book names its real port), so they can be
 * cut. Then the new node is killed and restarted on its data (its --join is then ignored).
 */
describe('process backend: membership', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-chaos-membership-'));
  let backend: ProcessBackend | null = null;
  let observer: ClusterObserver | null = null;
  let client: RaftKvClient | null = null;

  afterAll(async () => {
    client?.close();
    observer?.close();
    await backend?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces a node by one that joins, dials it through its proxies, and restarts it on its data', async () => {
    const b = await ProcessBackend.create({ nodeCount: 3, spareNodes: 1, dir, tickMs: 50, electionTicks: 10, snapshotEntries: 200, logLevel: 'info' });
    backend = b;
    expect(b.nodeIds).toEqual(['n1', 'n2', 'n3']);
    expect(b.nextNodeId()).toBe('n4');
    await b.start();
    const o = new ClusterObserver(() => b.nodeIds, (id) => b.clientEndpoint(id));
    observer = o;
    await o.waitForSettled({ timeoutMs: 30_000 });
    const c = new RaftKvClient({ endpoints: b.nodeIds.map((id) => b.clientEndpoint(id)), transport: 'unary', timeoutMs: 5000 });
    client = c;
    await c.put('before', 'v1');

    await removeMember(c, 'n3', { timeoutMs: 30_000 });
    await b.removeNode('n3');
    expect(b.nodeIds).toEqual(['n1', 'n2']);
    expect(b.nodeState('n3')).toBe('stopped');

    const added = await b.addNode(['n1', 'n2'].map((id) => b.clientEndpoint(id)));
    expect(added).toBe('n4');
    expect(b.spareNodes()).toBe(0);
    expect(b.nodeIds).toEqual(['n1', 'n2', 'n4']);
    const list = await waitForMembers(c, 'n4 promoted', (members) => isVoterSet(members, b.nodeIds), { timeoutMs: 30_000 });
    // The address book holds n4's real peer address; the nodes dial the proxies instead.
    expect(list.members.find((member) => member.id === 'n4')?.peerAddress).toBe(b.memberAddresses('n4').peer);
    const { leader } = await o.waitForSettled({ timeoutMs: 30_000 });
    expect((await c.get('before'))?.value.toString()).toBe('v1');
    // Before any probe (a probe dials the proxy itself): Raft traffic between the leader and n4
    // went through the proxies, both ways.
    expect(b.linkStats()[`${leader.id}->n4`]?.bytesForwarded ?? 0, `${leader.id} dialled n4 through its proxy`).toBeGreaterThan(0);
    expect(b.linkStats()[`n4->${leader.id}`]?.bytesForwarded ?? 0, `n4 dialled ${leader.id} through its proxy`).toBeGreaterThan(0);
    expect(await b.probe('n1', 'n4', 1000)).toBe(true);

    // Links to and from the new node can be cut like any other.
    for (const other of ['n1', 'n2']) {
      await b.cut(other, 'n4');
      await b.cut('n4', other);
    }
    expect(await b.probe('n1', 'n4', 1000)).toBe(false);
    await b.healAll();
    expect(b.cutLinks()).toEqual([]);

    // Killed and restarted on its data, the joined node resumes its stored configuration.
    await b.kill('n4');
    await b.restart('n4');
    await o.waitForSettled({ timeoutMs: 30_000 });
    await c.put('after', 'v2');
    await waitUntil('n4 to have applied the last write', async () => {
      const local = new RaftKvClient({ endpoints: [b.clientEndpoint('n4')], transport: 'unary', timeoutMs: 2000 });
      try {
        return (await local.get('after', { consistency: 'serializable' }))?.value.toString() === 'v2' ? true : undefined;
      } finally {
        local.close();
      }
    }, { timeoutMs: 15_000 });
    expect(readFileSync(b.logFiles().get('n4') as string, 'utf8')).toContain('--join ignored');
    expect([...b.logFiles().keys()]).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(b.unexpectedExits()).toEqual([]);
  }, 120_000);
});
