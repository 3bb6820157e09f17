import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompactedError, FutureRevisionError, RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';
import { logLines, putMany, waitForConvergence } from './snapshot-helpers.js';

/**
 * Revision history (issue 15) on a 3-node cluster of real processes: reads at past revisions
 * from the leader and a follower, compaction through the SDK and the CLI, a follower that
 * installs a snapshot serving the same history, a restart keeping it, and the retention
 * compacting by itself.
 */
describe('revision history on a 3-node cluster', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  const revisions: number[] = [];

  beforeAll(async () => {
    // Small snapshots, so that a follower left behind installs one; a retention of 300 revisions.
    cluster = await ProcessCluster.create(3, { extraArgs: ['--snapshot-entries', '50', '--snapshot-retain-entries', '10', '--history-retention', '300'] });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000 });
    await cluster.waitForLeader(client);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  async function followerEndpoint(): Promise<{ id: string; endpoint: string }> {
    const { follower } = await cluster.waitForLeaderAndFollower(client);
    return { id: follower.id, endpoint: follower.clientAddress };
  }

  async function valueAt(sdk: RaftKvClient, key: string, revision: number): Promise<string | null> {
    const kv = await sdk.get(key, { revision });
    return kv === null ? null : kv.value.toString();
  }

  it('reads past revisions from the leader and from a follower', async () => {
    for (const value of ['v1', 'v2', 'v3']) revisions.push((await client.put('h/k', value)).revision);
    revisions.push((await client.delete('h/k')).revision);
    expect(await valueAt(client, 'h/k', revisions[0] as number)).toBe('v1');
    expect(await valueAt(client, 'h/k', revisions[2] as number)).toBe('v3');
    expect(await valueAt(client, 'h/k', revisions[3] as number)).toBeNull();
    expect((await client.range({ prefix: 'h/' }, { revision: revisions[1] as number })).kvs.map((kv) => kv.value.toString())).toEqual(['v2']);
    const { endpoint } = await followerEndpoint();
    const pinned = new RaftKvClient({ endpoints: [endpoint], pinned: true, timeoutMs: 10_000 });
    try {
      expect(await valueAt(pinned, 'h/k', revisions[1] as number)).toBe('v2');
      const kv = await pinned.get('h/k', { revision: revisions[2] as number, consistency: 'serializable' });
      expect(kv).toMatchObject({ version: 3, modRevision: revisions[2] });
    } finally {
      pinned.close();
    }
    await expect(client.get('h/k', { revision: 1_000_000_000 })).rejects.toBeInstanceOf(FutureRevisionError);
  });

  it('compacts through the SDK and the CLI; older reads fail with CompactedError and exit code 1', async () => {
    const [r1, r2, r3] = revisions as [number, number, number];
    await client.compact(r2, { physical: true });
    const refused = await client.get('h/k', { revision: r1 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CompactedError);
    expect(refused).toMatchObject({ requestedRevision: r1, compactRevision: r2 });
    expect(await valueAt(client, 'h/k', r2)).toBe('v2');
    await expect(client.compact(r1)).rejects.toBeInstanceOf(CompactedError);

    const endpoints = ['--endpoints', cluster.endpoints.join(',')];
    const old = await runCli(['get', 'h/k', '--rev', String(r1), ...endpoints]);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain(`revision ${r1} has been compacted; the oldest revision held is ${r2}`);
    const atR3 = await runCli(['get', 'h/k', '--rev', String(r3), ...endpoints]);
    expect(atR3.stdout.trim()).toBe('v3');
    const bad = await runCli(['get', 'h/k', '--rev', 'soon', ...endpoints]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--rev');
    const put = await runCli(['put', 'h/cli', 'x', '--json', ...endpoints]);
    const written = JSON.parse(put.stdout) as { revision: number; version: number };
    expect(written).toMatchObject({ version: 1 });
    const compacted = await runCli(['compact', String(r3), '--physical', ...endpoints]);
    expect(compacted.code).toBe(0);
    const again = await runCli(['compact', String(r2), ...endpoints]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('has been compacted');
    const status = await runCli(['status', '--json', ...endpoints]);
    expect((JSON.parse(status.stdout) as { status: { compactRevision: number } }[]).map((row) => row.status.compactRevision)).toEqual([r3, r3, r3]);
  }, 120_000);

  it('serves the same history on a follower that installed a snapshot, and after a restart', async () => {
    const r3 = revisions[2] as number;
    const { id, endpoint } = await followerEndpoint();
    await cluster.stop(id);
    await putMany(client, 150, (i) => ({ key: `fill/${i}`, value: Buffer.from(`${i}`) }), 16);
    cluster.start(id);
    await waitForConvergence(cluster, client);
    expect(logLines(cluster.log(id), 'snapshot installed').length).toBeGreaterThan(0);
    const pinned = new RaftKvClient({ endpoints: [endpoint], pinned: true, timeoutMs: 10_000 });
    try {
      expect(await valueAt(pinned, 'h/k', r3)).toBe('v3');
      await expect(pinned.get('h/k', { revision: r3 - 1 })).rejects.toBeInstanceOf(CompactedError);
      await cluster.stop(id);
      cluster.start(id);
      await waitForConvergence(cluster, client);
      expect(await valueAt(pinned, 'h/k', r3)).toBe('v3');
    } finally {
      pinned.close();
    }
  }, 240_000);

  it('compacts by itself once the history outgrows the retention', async () => {
    const before = (await client.status()).compactRevision;
    await putMany(client, 400, (i) => ({ key: `more/${i}`, value: Buffer.from(`${i}`) }), 16);
    const statuses = await waitFor(
      'the retention to compact on every node',
      async () => {
        const all = await cluster.statuses(client);
        return all.length === 3 && all.every((s) => s.compactRevision > before && s.compactRevision >= s.appliedIndex - 400) ? all : undefined;
      },
      120_000,
    );
    expect(statuses.every((s) => s.compactRevision <= s.appliedIndex - 300)).toBe(true);
  }, 240_000);
});
