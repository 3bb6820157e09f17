/**
 * `raftkv start --join` into a cluster with auth on: adding a member needs root, so a node
 * joining anonymously is refused with a hint naming --join-user, and exits without changing the
 * configuration; with --join-user root (the password from RAFTKV_JOIN_PASSWORD, never on the
 * command line) it joins and is promoted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, waitFor } from './process-cluster.js';

describe('joining a cluster with auth on', () => {
  let cluster: ProcessCluster;
  let root: RaftKvClient;
  const password = 'join-test-root-pw';

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    const setup = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000 });
    try {
      await cluster.waitForLeader(setup);
      await setup.auth.addUser('root', password);
      await setup.auth.enable();
    } finally {
      setup.close();
    }
    root = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, auth: { user: 'root', password } });
  }, 120_000);

  afterAll(async () => {
    root?.close();
    await cluster?.destroy();
  });

  const memberIds = async (): Promise<string[]> => (await root.members()).members.map((m) => m.id).sort();

  it('refuses an anonymous join with a hint, and the configuration is unchanged', async () => {
    const before = await memberIds();
    await cluster.addNode('n4');
    const exit = await cluster.exited('n4', 60_000);
    expect(exit.code).toBe(1);
    expect(cluster.log('n4')).toContain('the cluster has auth on: give --join-user root');
    expect(await memberIds()).toEqual(before);
  }, 120_000);

  it('joins as root with --join-user and RAFTKV_JOIN_PASSWORD, and is promoted', async () => {
    await cluster.addNode('n5', { extraArgs: ['--join-user', 'root'], env: { RAFTKV_JOIN_PASSWORD: password } });
    const joined = await waitFor('n5 promoted to voter', async () => {
      const list = await root.members();
      return list.members.find((m) => m.id === 'n5')?.role === 'voter' ? list : undefined;
    }, 90_000);
    expect(joined.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3', 'n5']);
    expect(cluster.log('n5')).not.toContain(password);
  }, 120_000);
});
