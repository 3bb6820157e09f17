import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, waitFor } from './process-cluster.js';

/**
 * SIGTERM with clients connected (issue 9). A stopping node used to wait for its SDK clients'
 * KV streams until its 5 s forced deadline; now a leader hands leadership over, the streams
 * end with UNAVAILABLE once what they carry is answered, and the process exits.
 *
 * The exit-time bounds are generous on purpose: a few hundred milliseconds is typical, but
 * this runs on a loaded 2-core machine next to other suites. 2.5 s still fails the old
 * behaviour (5 s and more) by a wide margin. `npx tsx test/integration/measure-shutdown.ts`
 * gives the figures.
 */
const exitMsMax = 2500;

describe('a node stopped with SIGTERM while clients are connected', () => {
  let cluster: ProcessCluster;
  let admin: RaftKvClient;

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    admin = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(admin);
  }, 60_000);

  afterAll(async () => {
    admin?.close();
    await cluster?.destroy();
  });

  /** SIGTERM, and how long until the process exited. */
  async function stopTimed(id: string): Promise<number> {
    const startedAt = performance.now();
    await cluster.stop(id);
    return performance.now() - startedAt;
  }

  it('exits promptly with an idle SDK client connected; the pinned client then gets a typed error naming its endpoint', async () => {
    const leader = await cluster.waitForLeader(admin);
    const follower = cluster.nodes.find((n) => n.id !== leader)!;
    const idle = new RaftKvClient({ endpoints: [follower.clientAddress], pinned: true, timeoutMs: 5000 });
    try {
      await idle.get('shutdown/idle'); // opens its KV stream to the follower
      const exitMs = await stopTimed(follower.id);
      expect(cluster.node(follower.id).lastExit).toEqual({ code: 0, signal: null });
      expect(exitMs).toBeLessThan(exitMsMax);
      // Its only node is gone: the next call fails with a typed error naming it, not a raw gRPC one.
      await expect(idle.get('shutdown/idle', { timeoutMs: 500 })).rejects.toThrow(new RegExp(`tried ${follower.clientAddress}`));
    } finally {
      idle.close();
      cluster.start(follower.id);
    }
    await waitFor(`${follower.id} to serve again`, async () => ((await admin.status(follower.clientAddress)).leaderId !== '' ? true : undefined));
  }, 60_000);

  it('hands leadership over when the leader stops under 100 writing clients: prompt exit, clients move on, nothing lost, no errors', async () => {
    const leader = await cluster.waitForLeader(admin);
    const clients = Array.from({ length: 100 }, () => new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 10_000 }));
    const acknowledged = clients.map(() => new Map<string, string>());
    const acknowledgedAfterExit = clients.map(() => 0);
    const errors: string[] = [];
    let exited = false;
    let stop = false;
    const writers = clients.map(async (client, c) => {
      for (let i = 0; !stop; i++) {
        const key = `shutdown/${c}/${i}`;
        try {
          await client.put(key, `v${i}`);
          acknowledged[c]!.set(key, `v${i}`);
          if (exited) acknowledgedAfterExit[c]!++;
        } catch (error) {
          errors.push(`${key}: ${(error as Error).message}`);
        }
      }
    });
    try {
      await waitFor('writes from every client', () => (acknowledged.every((keys) => keys.size >= 3) ? true : undefined), 60_000);
      const exitMs = await stopTimed(leader);
      exited = true;
      expect(cluster.node(leader).lastExit).toEqual({ code: 0, signal: null });
      expect(exitMs).toBeLessThan(exitMsMax);
      expect(cluster.log(leader)).toMatch(/"kind":"transferred"/);
      // Every client moves to the new leader and goes on writing.
      await waitFor('every client to write after the exit', () => (acknowledgedAfterExit.every((n) => n >= 3) ? true : undefined), 60_000);
    } finally {
      stop = true;
      await Promise.all(writers);
      for (const client of clients) client.close();
    }
    expect(errors).toEqual([]);
    expect(await cluster.waitForLeader(admin)).not.toBe(leader);
    for (const [c, keys] of acknowledged.entries()) {
      const stored = await admin.range({ prefix: `shutdown/${c}/` }, { limit: 10_000 });
      const values = new Map(stored.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
      for (const [key, value] of keys) expect(values.get(key), key).toBe(value);
    }
    cluster.start(leader);
  }, 120_000);
});
