import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftKvClient, type ClusterStatus } from '../../src/client/index.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';

/**
 * Reads spread over a 3-node cluster of real processes (README "Consistency"): a round-robin
 * client's linearizable reads are served by every member, batched into few ReadIndex requests,
 * and stay linearizable while writes go on.
 */
describe('reads spread over every member', () => {
  let cluster: ProcessCluster;
  let writer: RaftKvClient;

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    writer = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(writer);
    await waitFor('every node to answer', async () => ((await statuses().catch(() => null)) === null ? undefined : true));
  }, 60_000);

  afterAll(async () => {
    writer?.close();
    await cluster?.destroy();
  });

  const statuses = (): Promise<ClusterStatus[]> => Promise.all(cluster.endpoints.map((endpoint) => writer.status(endpoint, { timeoutMs: 10_000 })));

  it('a round-robin client has every member serve linearizable reads, in batches', async () => {
    await writer.put('spread/k', 'v');
    const reader = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000, reads: 'round-robin' });
    try {
      const before = await statuses();
      // 30 waves of 20 reads, each wave issued at once (one turn, which goes to one member).
      const waves: Promise<unknown>[] = [];
      for (let wave = 0; wave < 30; wave++) {
        waves.push(Promise.all(Array.from({ length: 20 }, () => reader.get('spread/k'))));
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      const values = (await Promise.all(waves)).flat() as Awaited<ReturnType<RaftKvClient['get']>>[];
      expect(values.every((kv) => kv?.value.toString() === 'v')).toBe(true);
      const after = await statuses();
      const reads = after.map((s, i) => s.linearizableReads - (before[i] as ClusterStatus).linearizableReads);
      const requests = after.map((s, i) => s.readIndexRequests - (before[i] as ClusterStatus).readIndexRequests);
      // Each member took about a third; none was left out.
      for (const served of reads) expect(served).toBeGreaterThanOrEqual(100);
      expect(reads.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(600);
      // Reads that arrive together cannot each have had their own ReadIndex request.
      expect(requests.reduce((a, b) => a + b, 0)).toBeLessThan(reads.reduce((a, b) => a + b, 0));
    } finally {
      reader.close();
    }
  }, 60_000);

  it('stays linearizable across nodes while writes go on: a read sees every write acknowledged before it began, and a reader never goes back', async () => {
    const reader = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000, reads: 'round-robin' });
    const readers = [reader, new RaftKvClient({ endpoints: [...cluster.endpoints].reverse(), timeoutMs: 15_000 })];
    try {
      let acknowledged = 0;
      let writing = true;
      const writes = (async () => {
        for (let i = 1; i <= 150; i++) {
          await writer.put('spread/counter', String(i));
          acknowledged = i;
        }
        writing = false;
      })();
      const violations: string[] = [];
      let readsDone = 0;
      const readLoop = async (client: RaftKvClient, consistency: 'linearizable' | 'serializable'): Promise<void> => {
        let last = 0;
        while (writing) {
          const floor = acknowledged;
          const kv = await client.get('spread/counter', { consistency });
          const seen = kv === null ? 0 : Number(kv.value.toString());
          if (consistency === 'linearizable' && seen < floor) violations.push(`read ${seen} after ${floor} was acknowledged`);
          if (consistency === 'linearizable' && seen < last) violations.push(`read ${seen} after reading ${last}`);
          last = seen;
          readsDone++;
        }
      };
      await Promise.all([writes, ...readers.map((c) => readLoop(c, 'linearizable')), readLoop(reader, 'serializable')]);
      expect(violations).toEqual([]);
      expect(readsDone).toBeGreaterThan(10);
      // Read-your-writes on every member in turn.
      for (let i = 0; i < 6; i++) {
        await writer.put('spread/ryw', String(i));
        expect((await reader.get('spread/ryw'))?.value.toString()).toBe(String(i));
      }
    } finally {
      for (const c of readers) c.close();
    }
  }, 120_000);
});

/** `--reads` on the CLI: a bad value exits 2 naming the flag, before any call. */
describe('raftkv --reads with a bad value', () => {
  it.each([
    [['get', 'k', '--endpoints', '127.0.0.1:1', '--reads', 'nearest']],
    [['range', 'k', '--endpoints', '127.0.0.1:1', '--reads', 'any']],
    [['bench', '--endpoints', '127.0.0.1:1', '--workload', 'get', '--duration', '1', '--reads', 'follower']],
  ])('raftkv %j exits 2 naming the flag and the choices', async (args) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`--reads: must be leader or round-robin, got "${args[args.length - 1]}"`);
  }, 30_000);
});
