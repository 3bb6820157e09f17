import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, LeaseExpiredError, LeaseNotFoundError, RaftKvClient, leaderIdMetadataKey, txnOp } from '../../src/client/index.js';
import { serviceClient } from '../../src/shared/proto.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';

/**
 * Leases (issue 15) on a 3-node cluster of real processes: expiry, keep-alive across a leader
 * kill, revoke, checkpoints (every second here, so every lease above 1 s is checkpointed), the CLI.
 */
describe('leases on a 3-node cluster', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3, { extraArgs: ['--lease-checkpoint-interval', '1'] });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(client);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  const present = async (key: string): Promise<boolean> => (await client.get(key)) !== null;

  it('a lease that is not kept alive expires, and its keys vanish with it; other keys stay', async () => {
    const lease = await client.lease.grant(2);
    expect(lease.ttlSeconds).toBe(2);
    await client.put('exp/a', '1', { lease: lease.id });
    await client.put('exp/b', '2', { lease: lease.id });
    await client.put('exp/plain', '3');
    expect((await client.get('exp/a'))?.lease).toBe(lease.id);
    const ttl = await client.lease.timeToLive(lease.id, { keys: true });
    expect(ttl.grantedTtlSeconds).toBe(2);
    expect(ttl.keys.map(String)).toEqual(['exp/a', 'exp/b']);
    await waitFor('the lease keys to vanish', async () => (!(await present('exp/a')) && !(await present('exp/b')) ? true : undefined), 30_000);
    expect(await present('exp/plain')).toBe(true);
    expect((await client.lease.timeToLive(lease.id)).ttlSeconds).toBe(-1);
    expect(await client.lease.leases()).not.toContain(lease.id);
  }, 60_000);

  it('revoke deletes the keys at once; unknown leases are refused and change nothing', async () => {
    const lease = await client.lease.grant(60);
    await client.put('rev/a', '1', { lease: lease.id });
    await client.txn({ success: [txnOp.put('rev/b', '2', { lease: lease.id })] });
    expect((await client.lease.timeToLive(lease.id, { keys: true })).keys.map(String)).toEqual(['rev/a', 'rev/b']);
    expect(await client.lease.revoke(lease.id)).toEqual({ deleted: 2 });
    expect(await present('rev/a')).toBe(false);
    expect(await present('rev/b')).toBe(false);
    await expect(client.lease.revoke(lease.id)).rejects.toBeInstanceOf(LeaseNotFoundError);
    await expect(client.put('rev/c', '1', { lease: lease.id })).rejects.toThrow(`lease ${lease.id} not found`);
    await expect(client.txn({ success: [txnOp.put('rev/d', '1'), txnOp.put('rev/e', '1', { lease: lease.id })] })).rejects.toBeInstanceOf(LeaseNotFoundError);
    expect(await present('rev/c')).toBe(false);
    expect(await present('rev/d')).toBe(false);
    await expect(client.lease.grant(10, { id: Number.MAX_SAFE_INTEGER + 2 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.put('rev/f', '1', { lease: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  }, 60_000);

  it('a revoke reaches watchers as the DELETE of every attached key, all at the revoke\'s one revision, with the lease on prevKv', async () => {
    const lease = await client.lease.grant(60);
    const first = await client.put('wrev/a', '1', { lease: lease.id });
    await client.put('wrev/b', '2', { lease: lease.id });
    await client.put('wrev/plain', '3');
    const watcher = client.watch('wrev/', { prefix: true, prevKv: true, startRevision: first.revision });
    const events: { type: string; key: string; revision: number; prevLease: number | undefined }[] = [];
    const reading = (async () => {
      for await (const batch of watcher) {
        if (batch.kind === 'progress') continue;
        for (const event of batch.events) events.push({ type: event.type, key: event.key.toString(), revision: event.revision, prevLease: event.prevKv?.lease });
        if (events.filter((event) => event.type === 'delete').length === 2) return;
      }
    })();
    await client.lease.revoke(lease.id);
    await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`no DELETE events within 30 s; got ${JSON.stringify(events)}`)), 30_000).unref())]);
    watcher.cancel();
    const deletes = events.filter((event) => event.type === 'delete');
    expect(deletes.map((event) => event.key).sort()).toEqual(['wrev/a', 'wrev/b']);
    expect(new Set(deletes.map((event) => event.revision)).size).toBe(1);
    expect(deletes.every((event) => event.prevLease === lease.id)).toBe(true);
    expect(events.filter((event) => event.type === 'put').map((event) => event.key)).toEqual(['wrev/a', 'wrev/b', 'wrev/plain']);
    // The history holds the revoke too: a read just before it sees the keys, at it none.
    const revokeRevision = deletes[0]!.revision;
    expect((await client.get('wrev/a', { revision: revokeRevision - 1 }))?.lease).toBe(lease.id);
    expect(await client.get('wrev/a', { revision: revokeRevision })).toBeNull();
  }, 60_000);

  it('keep-alive keeps the keys across a leader kill; once stopped, the lease expires and says so', async () => {
    const lease = await client.lease.grant(4);
    await client.put('ka/k', 'v', { lease: lease.id });
    const keepAlive = client.lease.keepAlive(lease.id);
    await waitFor('a first renewal', () => (keepAlive.renewals > 0 ? true : undefined), 15_000);
    const leader = await cluster.waitForLeader(client);
    await cluster.kill(leader);
    const survivor = new RaftKvClient({ endpoints: cluster.nodes.filter((n) => n.id !== leader).map((n) => n.clientAddress), timeoutMs: 15_000 });
    try {
      await cluster.waitForLeader(survivor);
      const renewalsAtKill = keepAlive.renewals;
      // Three TTLs after the kill, the key is still there on every read, and renewals went on.
      const until = Date.now() + 12_000;
      while (Date.now() < until) {
        expect((await survivor.get('ka/k'))?.value.toString()).toBe('v');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(keepAlive.renewals).toBeGreaterThan(renewalsAtKill);
      keepAlive.stop();
      await keepAlive.done;
      await waitFor('the key to vanish once not kept alive', async () => ((await survivor.get('ka/k')) === null ? true : undefined), 30_000);
      // A keep-alive of a lease that is gone ends with LeaseExpiredError.
      const late = survivor.lease.keepAlive(lease.id);
      await expect(late.done).rejects.toBeInstanceOf(LeaseExpiredError);
    } finally {
      survivor.close();
      cluster.start(leader);
    }
  }, 120_000);

  it('after a leader kill, a lease not kept alive has less than its TTL left; one kept alive since has its full TTL', async () => {
    const ttl = 600;
    const idle = await client.lease.grant(ttl);
    const kept = await client.lease.grant(ttl);
    const grantedAt = Date.now();
    // Checkpoints every second: wait until the leader has surely taken several (10 s, generous).
    await waitFor('10 s to pass', () => (Date.now() - grantedAt >= 10_000 ? true : undefined), 15_000);
    // Renewing one clears its checkpoint through the log before the renewal is answered.
    const renewals: number[] = [];
    const keepAlive = client.lease.keepAlive(kept.id, { onRenewal: (renewal) => renewals.push(renewal.ttlSeconds) });
    await waitFor('a renewal', () => (renewals.length > 0 ? true : undefined), 15_000);
    keepAlive.stop();
    await keepAlive.done;
    expect(renewals[0]).toBe(ttl);
    const leader = await cluster.waitForLeader(client);
    await cluster.kill(leader);
    const survivor = new RaftKvClient({ endpoints: cluster.nodes.filter((n) => n.id !== leader).map((n) => n.clientAddress), timeoutMs: 15_000 });
    try {
      await cluster.waitForLeader(survivor);
      const idleLeft = (await survivor.lease.timeToLive(idle.id)).ttlSeconds;
      const keptLeft = (await survivor.lease.timeToLive(kept.id)).ttlSeconds;
      // Without a checkpoint a new leader gives TTL + an election timeout (> 600 s). With one taken
      // at least ~2 s after the grant, at most 598 s + the election timeout (about 1 s here).
      expect(idleLeft).toBeGreaterThan(ttl - 60);
      expect(idleLeft).toBeLessThan(ttl);
      expect(keptLeft).toBeGreaterThanOrEqual(ttl);
    } finally {
      survivor.close();
      cluster.start(leader);
    }
  }, 120_000);

  it('a follower answers every Lease call FAILED_PRECONDITION with the leader hint; the SDK follows it', async () => {
    const { leader, follower } = await cluster.waitForLeaderAndFollower(client);
    const Lease = serviceClient('raftkv/v1/kv.proto', 'Lease');
    const raw = new Lease(follower.clientAddress, grpc.credentials.createInsecure()) as unknown as Record<string, (...args: unknown[]) => unknown>;
    try {
      const error = await new Promise<grpc.ServiceError>((resolve) => {
        (raw.leaseGrant as (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void).call(raw, { ttl: 10 }, { deadline: Date.now() + 10_000 }, (e) => resolve(e as grpc.ServiceError));
      });
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.metadata.get(leaderIdMetadataKey)).toEqual([leader.id]);
      const streamError = await new Promise<grpc.ServiceError>((resolve) => {
        const stream = (raw.leaseKeepAlive as () => grpc.ClientDuplexStream<unknown, unknown>).call(raw);
        stream.on('data', () => undefined);
        stream.on('error', (e) => resolve(e as grpc.ServiceError));
        stream.write({ id: 1 });
      });
      expect(streamError.code).toBe(grpc.status.FAILED_PRECONDITION);
    } finally {
      (raw as unknown as grpc.Client).close();
    }
    // A client that knows only the follower learns the leader from the hint.
    const viaFollower = new RaftKvClient({ endpoints: [follower.clientAddress], timeoutMs: 15_000 });
    try {
      const lease = await viaFollower.lease.grant(30);
      expect(await viaFollower.lease.leases()).toContain(lease.id);
      await viaFollower.lease.revoke(lease.id);
    } finally {
      viaFollower.close();
    }
  }, 60_000);

  it('a leader cut off from its quorum answers neither lease time-to-live nor the lease list (a ReadIndex round first)', async () => {
    const lease = await client.lease.grant(60);
    const leader = await cluster.waitForLeader(client);
    const leaderNode = cluster.nodes.find((n) => n.id === leader);
    expect(leaderNode).toBeDefined();
    const followers = cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const pinned = new RaftKvClient({ endpoints: [leaderNode?.clientAddress as string], timeoutMs: 2_000 });
    try {
      expect((await pinned.lease.timeToLive(lease.id)).grantedTtlSeconds).toBe(60);
      for (const id of followers) cluster.pause(id);
      // Still leader for up to an election timeout, but it cannot confirm it: no answer.
      await expect(pinned.lease.timeToLive(lease.id)).rejects.toThrow();
      await expect(pinned.lease.leases()).rejects.toThrow();
    } finally {
      for (const id of followers) cluster.resume(id);
      pinned.close();
    }
    await cluster.waitForLeader(client);
    expect((await client.lease.timeToLive(lease.id)).grantedTtlSeconds).toBe(60);
    await client.lease.revoke(lease.id);
  }, 60_000);

  it('CLI: lease grant --json, put --lease --json, ttl --keys --json, list, keep-alive --once, revoke; bad ids and TTLs exit 2', async () => {
    const endpoints = `--endpoints=${cluster.endpoints.join(',')}`;
    const granted = await runCli(['lease', 'grant', '60', '--json', endpoints]);
    expect(granted.code).toBe(0);
    const { id, ttl } = JSON.parse(granted.stdout) as { id: number; ttl: number };
    expect(ttl).toBe(60);
    const put = await runCli(['put', 'cli/k', 'v', '--lease', String(id), '--json', endpoints]);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout)).toHaveProperty('revision');
    const ttlOut = await runCli(['lease', 'ttl', String(id), '--keys', '--json', endpoints]);
    expect(JSON.parse(ttlOut.stdout)).toMatchObject({ id, grantedTtl: 60, keys: ['cli/k'] });
    expect((await runCli(['lease', 'list', endpoints])).stdout.split('\n')).toContain(String(id));
    const once = await runCli(['lease', 'keep-alive', String(id), '--once', endpoints]);
    expect(once.code).toBe(0);
    expect(once.stdout).toContain(`lease ${id} kept alive, ttl=60`);
    expect((await runCli(['lease', 'revoke', String(id), endpoints])).stdout).toContain('1 key deleted');
    const gone = await runCli(['lease', 'ttl', String(id), endpoints]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`lease ${id} not found`);
    for (const args of [['lease', 'grant', 'ten'], ['lease', 'grant', '0'], ['lease', 'revoke', '-3'], ['lease', 'ttl', '9007199254740993'], ['put', 'k', 'v', '--lease', 'x']]) {
      const bad = await runCli([...args, endpoints]);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toMatch(/TTL_SECONDS|ID|--lease/);
    }
  }, 120_000);
});

