import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';

/**
 * Quorum loss (issue 10, "Recovery"): two of three nodes are gone for good. `raftkv recover` turns
 * the survivor into a one-node cluster that keeps every write it held; two fresh nodes join it and
 * are promoted, and hold those writes too. Real processes, real LevelDB.
 */
describe('raftkv recover after a lost quorum', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  const acknowledged = new Map<string, string>();

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(client);
    // Several rounds over the same keys, so a key's latest value is what must survive.
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const key = `k${i}`;
          const value = `v${round}-${i}`;
          await client.put(key, value);
          acknowledged.set(key, value);
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  it('refuses without --force-new-cluster, changing nothing; with it, the survivor serves alone with every write it held', async () => {
    const leader = await cluster.waitForLeader(client);
    // The survivor is a follower: the harder case, it may not know the last commit index.
    const survivor = cluster.nodes.find((node) => node.id !== leader)?.id as string;
    const lost = cluster.nodes.map((node) => node.id).filter((id) => id !== survivor);
    for (const id of lost) await cluster.kill(id);

    // What the survivor holds, read locally (there is no quorum for a linearizable read).
    const survivorClient = new RaftKvClient({ endpoints: [cluster.node(survivor).clientAddress], timeoutMs: 5000, pinned: true });
    const held = new Map<string, string>();
    try {
      for (const key of acknowledged.keys()) {
        const kv = await survivorClient.get(key, { consistency: 'serializable' });
        if (kv !== null) held.set(key, kv.value.toString());
      }
    } finally {
      survivorClient.close();
    }
    // Every write was committed on a majority of three, so this follower holds all but the
    // newest few; it must hold most of them, or the test proves little.
    expect(held.size).toBeGreaterThan(acknowledged.size / 2);
    await cluster.stop(survivor);
    const dataDir = cluster.node(survivor).dataDir;

    const dryRun = await runCli(['recover', '--data', dataDir, '--id', survivor, '--json']);
    expect(dryRun.code, dryRun.stderr).toBe(2);
    expect(dryRun.stderr).toContain('--force-new-cluster');
    const plan = JSON.parse(dryRun.stdout) as { recovered: boolean; before: { voters: string[] }; after: { voters: string[] } };
    expect(plan.recovered).toBe(false);
    expect([...plan.before.voters].sort()).toEqual(['n1', 'n2', 'n3']);
    expect(plan.after.voters).toEqual([survivor]);
    // Nothing changed: asking again shows the same configuration in force.
    const again = await runCli(['recover', '--data', dataDir, '--id', survivor, '--json']);
    expect((JSON.parse(again.stdout) as { before: { voters: string[] } }).before.voters.sort()).toEqual(['n1', 'n2', 'n3']);

    const wrongId = await runCli(['recover', '--data', dataDir, '--id', 'n9', '--force-new-cluster']);
    expect(wrongId.code).toBe(1);
    expect(wrongId.stderr).toContain('not a member');

    const recovered = await runCli(['recover', '--data', dataDir, '--id', survivor, '--force-new-cluster']);
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.stdout).toContain('may be lost');
    expect(recovered.stdout).toContain(`one-node cluster of ${survivor}`);

    cluster.start(survivor);
    const alone = new RaftKvClient({ endpoints: [cluster.node(survivor).clientAddress], timeoutMs: 15_000 });
    try {
      await waitFor('the survivor to lead alone', async () => {
        const status = await alone.status(cluster.node(survivor).clientAddress, { timeoutMs: 1000 }).catch(() => null);
        return status?.role === 'leader' ? status : undefined;
      }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${cluster.log(survivor).split('\n').slice(-25).join('\n')}`);
      });
      // Linearizable reads: the one-node cluster has a quorum again.
      for (const [key, value] of held) expect((await alone.get(key))?.value.toString(), key).toBe(value);
      const write = await alone.put('after-recovery', 'yes');
      expect(write.revision).toBeGreaterThan(0);
      expect((await alone.get('after-recovery'))?.value.toString()).toBe('yes');

      // Two fresh nodes join the recovered cluster and are promoted: three voters again.
      for (const id of ['n4', 'n5']) {
        await cluster.addNode(id, { join: [cluster.node(survivor).clientAddress] });
        await waitFor(`${id} to be promoted`, async () => {
          const list = await alone.members({ timeoutMs: 2000 }).catch(() => null);
          return list?.members.find((member) => member.id === id)?.role === 'voter' && !list.joint ? list : undefined;
        }, 60_000);
      }
      const list = await alone.members();
      expect(list.members.map((member) => `${member.id}:${member.role}`).sort()).toEqual([`${survivor}:voter`, 'n4:voter', 'n5:voter'].sort());
      // Every write the survivor held is on the new members too (read locally on each).
      for (const id of ['n4', 'n5']) {
        const local = new RaftKvClient({ endpoints: [cluster.node(id).clientAddress], timeoutMs: 5000, pinned: true });
        try {
          await waitFor(`${id} to apply the recovered writes`, async () => ((await local.get('after-recovery', { consistency: 'serializable' }).catch(() => null)) !== null ? true : undefined));
          for (const [key, value] of held) expect((await local.get(key, { consistency: 'serializable' }))?.value.toString(), `${id} ${key}`).toBe(value);
        } finally {
          local.close();
        }
      }
    } finally {
      alone.close();
    }
  }, 240_000);

  it('refuses a directory that holds no node, naming it', async () => {
    const result = await runCli(['recover', '--data', `${cluster.root}/nothing-here`, '--id', 'n1', '--force-new-cluster']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no node data directory');
  });
});
