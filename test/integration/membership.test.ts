import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MembershipChangeError, RaftKvClient, type MemberList } from '../../src/client/index.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';
import { stopAndCheck, WriteLoad, type LoadVerdict } from './write-load.js';

const scenarioTimeoutMs = 180_000;

/** Every check of a load passed: linearizable, nothing lost, every acknowledged write on every member, equal keyspaces. */
function expectHealthy(verdict: LoadVerdict, acknowledgedMin: number): void {
  expect(verdict.violations).toEqual([]);
  expect(verdict.verdict).toBe('linearizable');
  expect(verdict.lostRegisterWrites).toBe(0);
  expect(verdict.missing).toEqual({});
  expect(verdict.divergent).toEqual([]);
  expect(verdict.acknowledged).toBeGreaterThanOrEqual(acknowledgedMin);
}

/** Ids and roles, for comparing member lists. */
function roles(list: MemberList): string[] {
  return list.members.map((m) => `${m.id}:${m.role}`).sort();
}

/**
 * Membership changes on real `raftkv start` processes (conf-change.ts; README "Membership"):
 * each scenario runs under a steady write load from several SDK clients, then checks that the
 * history is linearizable, that no acknowledged write is lost, and that every member holds
 * every acknowledged write and the same keyspace.
 */
describe('membership changes under a steady write load', () => {
  let cluster: ProcessCluster;
  let admin: RaftKvClient;

  /** The nodes the cluster lists as members, as the leader sees them. */
  const members = async (): Promise<MemberList> => admin.members();
  const memberNodes = async (): Promise<{ id: string; clientAddress: string }[]> => {
    const ids = new Set((await members()).members.map((m) => m.id));
    return cluster.nodes.filter((n) => ids.has(n.id));
  };
  const waitForVoter = (id: string): Promise<MemberList> =>
    waitFor(`${id} to be a voter`, async () => {
      const list = await members();
      return list.members.find((m) => m.id === id)?.role === 'voter' ? list : undefined;
    }, 90_000);
  const leaderId = async (): Promise<string> => waitFor('a leader', async () => (await members()).leaderId ?? undefined);

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    admin = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
    await cluster.waitForLeader(admin);
  }, 60_000);

  afterAll(async () => {
    admin?.close();
    await cluster?.destroy();
  });

  it('grows 3 -> 5: new nodes join with --join, catch up as learners, and are promoted', async () => {
    const load = WriteLoad.start(() => cluster.endpoints, { prefix: 'grow' });
    await load.progress(50);
    for (const id of ['n4', 'n5']) {
      await cluster.addNode(id);
      await waitForVoter(id);
      await load.progress(30);
    }
    const list = await members();
    expect(roles(list)).toEqual(['n1:voter', 'n2:voter', 'n3:voter', 'n4:voter', 'n5:voter']);
    // The address book: every member's peer and client address, learned through the log.
    for (const member of list.members) {
      expect(member).toMatchObject({ peerAddress: cluster.node(member.id).peerAddress, clientAddress: cluster.node(member.id).clientAddress });
      expect(member.matchIndex).not.toBeNull();
    }
    // Restarted on their data directories, nodes resume the configuration they stored: a joined
    // node ignores --join, an original one no longer reads --peers (which lists only n1..n3).
    for (const id of ['n4', 'n1']) {
      await cluster.stop(id);
      cluster.start(id);
      await waitFor(`${id} to be back`, async () => ((await admin.status(cluster.node(id).clientAddress, { timeoutMs: 1000 })).leaderId !== '' ? true : undefined));
      await load.progress(20);
    }
    expect(cluster.log('n4')).toContain('--join ignored: this data directory already holds a configuration');
    expect(roles(await members())).toEqual(['n1:voter', 'n2:voter', 'n3:voter', 'n4:voter', 'n5:voter']);
    expectHealthy(await stopAndCheck(load, await memberNodes(), cluster.endpoints), 100);
  }, scenarioTimeoutMs);

  it('shrinks 5 -> 3 with member remove; a removed node says so and refuses clients', async () => {
    const load = WriteLoad.start(() => cluster.endpoints, { prefix: 'shrink' });
    await load.progress(50);
    const leader = await leaderId();
    const removed = (await members()).members.map((m) => m.id).filter((id) => id !== leader).slice(0, 2);
    for (const id of removed) {
      const after = await admin.removeMember(id);
      expect(after.members.map((m) => m.id)).not.toContain(id);
      await load.progress(30);
    }
    expect((await members()).members).toHaveLength(3);
    for (const id of removed) {
      const node = cluster.node(id);
      const status = await waitFor(`${id} to know it was removed`, async () => {
        const s = await admin.status(node.clientAddress, { timeoutMs: 2000 });
        return s.removed ? s : undefined;
      });
      expect(status.removed).toBe(true);
      const pinned = new RaftKvClient({ endpoints: [node.clientAddress], pinned: true, timeoutMs: 2000 });
      await expect(pinned.put('shrink/x', 'y')).rejects.toThrow(/was removed from the cluster/);
      pinned.close();
    }
    expectHealthy(await stopAndCheck(load, await memberNodes(), cluster.endpoints), 100);
    for (const id of removed) await cluster.stop(id);
  }, scenarioTimeoutMs);

  it('replaces a killed node: remove it, start a fresh one with --join, wait until it is promoted', async () => {
    const load = WriteLoad.start(() => cluster.endpoints, { prefix: 'replace' });
    await load.progress(50);
    const leader = await leaderId();
    const dead = (await members()).members.map((m) => m.id).find((id) => id !== leader) as string;
    await cluster.kill(dead);
    await load.progress(30);
    await admin.removeMember(dead);
    await cluster.addNode('n6');
    await waitForVoter('n6');
    await load.progress(30);
    expect(roles(await members())).toHaveLength(3);
    expect(roles(await members())).not.toContain(`${dead}:voter`);
    expectHealthy(await stopAndCheck(load, await memberNodes(), cluster.endpoints), 100);
  }, scenarioTimeoutMs);

  it('a client given ONE endpoint keeps working after that node is removed', async () => {
    const leader = await leaderId();
    const follower = (await members()).members.map((m) => m.id).find((id) => id !== leader) as string;
    const only = cluster.node(follower).clientAddress;
    const load = WriteLoad.start(() => [only], { prefix: 'one-endpoint' });
    await load.progress(50);
    await admin.removeMember(follower);
    // Writes go on: the removed node points the clients at a member, and they learn the others.
    await load.progress(100);
    expectHealthy(await stopAndCheck(load, await memberNodes(), cluster.endpoints), 150);
    await cluster.stop(follower);
    // Back to three voters for the next scenario.
    await cluster.addNode('n7');
    await waitForVoter('n7');
  }, scenarioTimeoutMs);

  it('removes the leader: it hands over, a new leader takes over, writes continue and nothing is lost', async () => {
    const load = WriteLoad.start(() => cluster.endpoints, { prefix: 'leader' });
    await load.progress(50);
    const leader = await leaderId();
    await admin.removeMember(leader);
    const next = await waitFor('a new leader', async () => {
      const id = (await members()).leaderId;
      return id !== null && id !== leader ? id : undefined;
    });
    expect(next).not.toBe(leader);
    await load.progress(100);
    const list = await members();
    expect(list.members.map((m) => m.id)).not.toContain(leader);
    expect(list.members.filter((m) => m.role === 'voter')).toHaveLength(2);
    expectHealthy(await stopAndCheck(load, await memberNodes(), cluster.endpoints), 150);
    expect((await admin.status(cluster.node(leader).clientAddress)).removed).toBe(true);
    await cluster.stop(leader);
  }, scenarioTimeoutMs);
});

/** Bad input: each refused with a message naming the reason, and the member list unchanged. */
describe('membership changes that are refused', () => {
  let cluster: ProcessCluster;
  let admin: RaftKvClient;

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    admin = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
    await cluster.waitForLeader(admin);
  }, 60_000);

  afterAll(async () => {
    admin?.close();
    await cluster?.destroy();
  });

  /** Runs `attempt`, expects MembershipChangeError(reason) with the reason in its message, and the same members after. */
  async function expectRefused(reason: MembershipChangeError['reason'], attempt: () => Promise<unknown>): Promise<MembershipChangeError> {
    const before = await admin.members();
    const error = await attempt().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MembershipChangeError);
    expect((error as MembershipChangeError).reason).toBe(reason);
    expect((error as Error).message).toContain(reason);
    const after = await admin.members();
    expect(after.members.map(({ id, role, peerAddress, clientAddress }) => ({ id, role, peerAddress, clientAddress }))).toEqual(
      before.members.map(({ id, role, peerAddress, clientAddress }) => ({ id, role, peerAddress, clientAddress })),
    );
    return error as MembershipChangeError;
  }

  it('adding an id that exists: member-exists', async () => {
    await expectRefused('member-exists', () => admin.addMember({ id: 'n2', peerAddress: '127.0.0.1:1' }));
    const cli = await runCli(['member', 'add', 'n2', '--peer', '127.0.0.1:1', '--endpoints', cluster.endpoints.join(',')]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^raftkv: member add: refused: member-exists: n2 is already a member/);
  });

  it('adding a node at an address another member has: address-in-use', async () => {
    const error = await expectRefused('address-in-use', () => admin.addMember({ id: 'n9', peerAddress: cluster.node('n1').peerAddress }));
    expect(error.message).toContain(`${cluster.node('n1').peerAddress} is n1's`);
  });

  it('bad ids and addresses: invalid (exit 2 from the CLI)', async () => {
    await expectRefused('invalid', () => admin.addMember({ id: 'no spaces', peerAddress: '127.0.0.1:1' }));
    await expectRefused('invalid', () => admin.addMember({ id: 'n9', peerAddress: 'nowhere' }));
    const cli = await runCli(['member', 'add', 'n9', '--peer', 'nowhere', '--endpoints', cluster.endpoints.join(',')]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('invalid: peer_address "nowhere" is not host:port');
  });

  it('removing or promoting a node that is not a member: unknown-member', async () => {
    await expectRefused('unknown-member', () => admin.removeMember('n9'));
    const cli = await runCli(['member', 'remove', 'n9', '--endpoints', cluster.endpoints.join(','), '--json']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('unknown-member: n9 is not a member');
  });

  it('promoting a learner that lags (stopped while writes continue): learner-not-caught-up; once back and caught up, it is promoted', async () => {
    await cluster.addNode('n4', { extraArgs: ['--join-as', 'learner'] });
    await waitFor('n4 to be a caught-up learner', async () => {
      const n4 = (await admin.members()).members.find((m) => m.id === 'n4');
      return n4?.role === 'learner' && n4.autoPromote === false && n4.lag === 0 ? n4 : undefined;
    }, 60_000);
    await cluster.stop('n4');
    // More entries than promoteLagEntriesMax (1000) while it is down.
    const writer = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
    for (let batch = 0; batch < 12; batch++) await Promise.all(Array.from({ length: 100 }, (_, i) => writer.put(`lag/${batch}/${i}`, 'x')));
    writer.close();
    const error = await expectRefused('learner-not-caught-up', () => admin.promoteMember('n4'));
    expect(error.message).toContain('n4 is not caught up');
    cluster.start('n4');
    const promoted = await waitFor('n4 to catch up and be promoted', async () => {
      try {
        return await admin.promoteMember('n4');
      } catch (e) {
        if (e instanceof MembershipChangeError && e.reason === 'learner-not-caught-up') return undefined;
        throw e;
      }
    }, 90_000);
    expect(promoted.members.find((m) => m.id === 'n4')?.role).toBe('voter');
  }, scenarioTimeoutMs);

  it('joining with another --cluster-id: refused (cluster-id-mismatch), the node exits, nothing changes', async () => {
    const before = roles(await admin.members());
    await cluster.addNode('n5', { extraArgs: ['--cluster-id', 'another-cluster'] });
    const exit = await cluster.exited('n5', 60_000);
    expect(exit.code).toBe(1);
    expect(cluster.log('n5')).toMatch(/cluster-id-mismatch: this cluster is "raftkv", the request is for "another-cluster"/);
    expect(roles(await admin.members())).toEqual(before);
  }, scenarioTimeoutMs);

  it('leader transfer hands leadership to the voter named (CLI), and refuses a non-voter', async () => {
    const leader = (await admin.members()).leaderId;
    const target = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
    const cli = await runCli(['leader', 'transfer', target, '--endpoints', cluster.endpoints.join(','), '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toEqual({ leaderId: target });
    await waitFor(`${target} to lead`, async () => ((await admin.members()).leaderId === target ? true : undefined));
    const refused = await runCli(['leader', 'transfer', 'n9', '--endpoints', cluster.endpoints.join(',')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('"n9" is not a voter');
  }, scenarioTimeoutMs);

  it('removing the last voter: would-remove-last-voter', async () => {
    const single = await ProcessCluster.create(1);
    const client = new RaftKvClient({ endpoints: single.endpoints, timeoutMs: 20_000 });
    try {
      await single.waitForLeader(client);
      const before = await client.members();
      const error = await client.removeMember('n1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MembershipChangeError);
      expect((error as MembershipChangeError).reason).toBe('would-remove-last-voter');
      expect((error as Error).message).toContain('the change would leave no voter');
      expect(roles(await client.members())).toEqual(roles(before));
      const cli = await runCli(['member', 'list', '--endpoints', single.endpoints.join(','), '--json']);
      expect(cli.code).toBe(0);
      expect(JSON.parse(cli.stdout)).toMatchObject({ leaderId: 'n1', joint: false, members: [{ id: 'n1', role: 'voter', leader: true }] });
    } finally {
      client.close();
      await single.destroy();
    }
  }, scenarioTimeoutMs);
});

/** A node joining a cluster whose log was compacted catches up from a snapshot (InstallSnapshot), the address book with it. */
describe('joining a cluster whose log is compacted', () => {
  it('the new node installs a snapshot, then is promoted, and holds every acknowledged write', async () => {
    const cluster = await ProcessCluster.create(3, { extraArgs: ['--snapshot-entries', '200', '--snapshot-retain-entries', '0'] });
    const admin = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
    try {
      await cluster.waitForLeader(admin);
      for (let batch = 0; batch < 6; batch++) await Promise.all(Array.from({ length: 100 }, (_, i) => admin.put(`before/${batch}/${i}`, 'x')));
      await waitFor('the leader to compact its log', async () => {
        const statuses = await cluster.statuses(admin);
        return statuses.find((s) => s.role === 'leader' && s.compactedIndex > 0);
      });
      const load = WriteLoad.start(() => cluster.endpoints, { prefix: 'snap', workers: 3 });
      await load.progress(30);
      await cluster.addNode('n4');
      await waitFor('n4 to be a voter', async () => ((await admin.members()).members.find((m) => m.id === 'n4')?.role === 'voter' ? true : undefined), 90_000);
      await load.progress(30);
      expect(cluster.log('n4')).toContain('snapshot installed');
      const n4 = await admin.status(cluster.node('n4').clientAddress);
      expect(n4.snapshotIndex).toBeGreaterThan(0);
      expect(n4.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4']);
      expect(n4.members.every((m) => m.peerAddress !== '')).toBe(true);
      const members = cluster.nodes.map(({ id, clientAddress }) => ({ id, clientAddress }));
      expectHealthy(await stopAndCheck(load, members, cluster.endpoints), 60);
      // A write from before the snapshot, which n4 never saw as a log entry.
      const onN4 = new RaftKvClient({ endpoints: [cluster.node('n4').clientAddress], pinned: true });
      expect((await onN4.get('before/5/99', { consistency: 'serializable' }))?.value.toString()).toBe('x');
      onN4.close();
    } finally {
      admin.close();
      await cluster.destroy();
    }
  }, scenarioTimeoutMs);
});
