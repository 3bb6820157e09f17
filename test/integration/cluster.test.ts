import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, projectRoot, runCli, waitFor } from './process-cluster.js';

import { rawKvClient } from './raw-kv-client.js';

/**
 * A 3-node cluster of real `raftkv start` processes on loopback: real gRPC, real LevelDB with
 * fsync, real signals. Tests wait on conditions with generous deadlines, never on sleeps.
 */
describe('a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(client);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  it('puts, gets, deletes, ranges and compare-and-swaps through the SDK', async () => {
    const first = await client.put('fruit/apple', 'red');
    expect(first.version).toBe(1);
    const second = await client.put('fruit/apple', 'green');
    expect(second.version).toBe(2);
    expect(second.revision).toBeGreaterThan(first.revision);
    await client.put('fruit/banana', 'yellow');
    await client.put('vegetable/leek', 'green');

    const apple = await client.get('fruit/apple');
    expect(apple?.value.toString()).toBe('green');
    expect(apple?.version).toBe(2);
    expect(apple?.createRevision).toBe(first.revision);
    expect(await client.get('fruit/cherry')).toBeNull();

    const fruit = await client.range({ prefix: 'fruit/' });
    expect(fruit.kvs.map((kv) => kv.key.toString())).toEqual(['fruit/apple', 'fruit/banana']);
    expect(fruit.more).toBe(false);
    const limited = await client.range({ prefix: '' }, { limit: 2 });
    expect(limited.kvs).toHaveLength(2);
    expect(limited.more).toBe(true);
    const interval = await client.range({ start: 'fruit/b', end: 'vegetable/z' });
    expect(interval.kvs.map((kv) => kv.key.toString())).toEqual(['fruit/banana', 'vegetable/leek']);

    const lost = await client.cas('fruit/apple', { value: 'red' }, { put: 'yellow' });
    expect(lost.succeeded).toBe(false);
    expect(lost.previous?.value.toString()).toBe('green');
    const won = await client.cas('fruit/apple', { value: 'green' }, { put: 'yellow' });
    expect(won.succeeded).toBe(true);
    expect((await client.get('fruit/apple'))?.value.toString()).toBe('yellow');
    const created = await client.cas('fruit/cherry', { version: 0 }, { put: 'dark red' });
    expect(created.succeeded).toBe(true);
    const removed = await client.cas('fruit/cherry', { version: 1 }, { delete: true });
    expect(removed.succeeded).toBe(true);
    expect(await client.get('fruit/cherry')).toBeNull();

    expect((await client.delete('fruit/banana')).deleted).toBe(true);
    expect((await client.delete('fruit/banana')).deleted).toBe(false);
    expect(await client.get('fruit/banana')).toBeNull();
  });

  it('gives the same answers over one RPC per call (transport: unary) as over the stream', async () => {
    const unary = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 10_000, transport: 'unary' });
    try {
      const put = await unary.put('unary/key', 'one');
      expect((await client.get('unary/key'))?.modRevision).toBe(put.revision);
      expect((await unary.get('unary/key'))?.value.toString()).toBe('one');
      expect((await unary.cas('unary/key', { value: 'one' }, { put: 'two' })).succeeded).toBe(true);
      expect((await unary.range({ prefix: 'unary/' })).kvs.map((kv) => kv.value.toString())).toEqual(['two']);
      expect((await unary.delete('unary/key')).deleted).toBe(true);
      await expect(unary.put('', 'x')).rejects.toThrow(InvalidArgumentError);
    } finally {
      unary.close();
    }
  });

  it('splits many large concurrent writes over the stream into frames the server accepts', async () => {
    const value = Buffer.alloc(200 * 1024, 'v');
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => client.put(`large/${i}`, value)));
    expect(results).toHaveLength(32);
    const stored = await Promise.all(results.map((_, i) => client.get(`large/${i}`)));
    expect(stored.every((kv) => kv?.value.equals(value))).toBe(true);
    // A range stops at about 4 MiB of data and says there is more.
    const range = await client.range({ prefix: 'large/' }, { limit: 100 });
    expect(range.more).toBe(true);
    expect(range.kvs.length).toBeLessThan(32);
  });

  it('takes 1,500 concurrent writes from one client', async () => {
    const results = await Promise.all(Array.from({ length: 1500 }, (_, i) => client.put(`burst/${i}`, `v${i}`)));
    expect(results.every((r) => r.version === 1)).toBe(true);
    expect((await client.range({ prefix: 'burst/' }, { limit: 2000 })).kvs).toHaveLength(1500);
  }, 60_000);

  it('serves linearizable and serializable reads on a follower, and a follower refuses writes with the leader named', async () => {
    const leader = await cluster.waitForLeader(client);
    const follower = cluster.nodes.find((n) => n.id !== leader)!;
    await client.put('read/at-follower', 'v1');
    const direct = new RaftKvClient({ endpoints: [follower.clientAddress], timeoutMs: 5000 });
    try {
      expect((await direct.get('read/at-follower'))?.value.toString()).toBe('v1');
      await waitFor('the follower to apply the write', async () =>
        (await direct.get('read/at-follower', { consistency: 'serializable' }))?.value.toString() === 'v1' ? true : undefined,
      );
    } finally {
      direct.close();
    }
    const raw = rawKvClient(follower.clientAddress);
    try {
      const error = (await raw.put({ key: Buffer.from('k'), value: Buffer.from('v') }).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(error.metadata.get('raftkv-leader-id')).toEqual([leader]);
      expect(error.metadata.get('raftkv-leader-address')).toEqual([cluster.node(leader).clientAddress]);
    } finally {
      raw.close();
    }
  });

  it('works from the CLI, in text and in JSON, with exit codes that scripts can use', async () => {
    const endpoints = ['--endpoints', cluster.endpoints.join(',')];
    const put = await runCli(['put', 'cli/key', 'hello world', ...endpoints]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/^OK revision=\d+ version=1\n$/);

    const get = await runCli(['get', 'cli/key', ...endpoints]);
    expect(get).toMatchObject({ code: 0, stdout: 'hello world\n' });
    const getJson = await runCli(['get', 'cli/key', '--json', ...endpoints]);
    expect(JSON.parse(getJson.stdout)).toMatchObject({ found: true, key: 'cli/key', value: 'hello world', version: 1 });
    const serializable = await runCli(['get', 'cli/key', '--serializable', ...endpoints]);
    expect(serializable.code).toBe(0);

    const missing = await runCli(['get', 'cli/missing', ...endpoints]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not found: cli/missing');

    const casFail = await runCli(['cas', 'cli/key', '--expect', 'nope', 'x', ...endpoints]);
    expect(casFail.code).toBe(1);
    expect(casFail.stdout).toContain('compare failed: current value "hello world" version 1');
    const casOk = await runCli(['cas', 'cli/key', '--expect', 'hello world', 'bye', ...endpoints]);
    expect(casOk.code).toBe(0);

    await runCli(['put', 'cli/other', 'x', ...endpoints]);
    const range = await runCli(['range', 'cli/', ...endpoints]);
    expect(range).toMatchObject({ code: 0, stdout: 'cli/key=bye\ncli/other=x\n' });
    const rangeJson = await runCli(['range', 'cli/', '--limit', '1', '--json', ...endpoints]);
    expect(JSON.parse(rangeJson.stdout)).toMatchObject({ kvs: [{ key: 'cli/key', value: 'bye' }], more: true });

    const del = await runCli(['del', 'cli/other', ...endpoints]);
    expect(del.code).toBe(0);
    const delAgain = await runCli(['del', 'cli/other', ...endpoints]);
    expect(delAgain.code).toBe(1);

    const status = await runCli(['status', ...endpoints]);
    expect(status.code).toBe(0);
    expect(status.stdout.match(/role=leader/g)).toHaveLength(1);
    expect(status.stdout.match(/role=follower/g)).toHaveLength(2);
    // Each node reports how long its event loop was held: worst since start and over the recent window.
    expect(status.stdout.match(/ loop-delay-max=\d+ms loop-delay-recent=\d+ms\/10s stalls=\d+/g)).toHaveLength(3);
    // And its process memory: resident set and V8 heap in use.
    expect(status.stdout.match(/ rss=\d+\.\dMiB heap=\d+\.\dMiB/g)).toHaveLength(3);
    const statusJson = JSON.parse((await runCli(['status', '--json', ...endpoints])).stdout) as { status: { rssBytes: number; heapUsedBytes: number } }[];
    for (const row of statusJson) {
      expect(row.status.rssBytes).toBeGreaterThan(row.status.heapUsedBytes);
      expect(row.status.heapUsedBytes).toBeGreaterThan(0);
    }

    const badUsage = await runCli(['cas', 'cli/key', 'x', ...endpoints]);
    expect(badUsage.code).toBe(2);
    expect(badUsage.stderr).toContain('--expect');
    const unreachable = await runCli(['get', 'k', '--endpoints', '127.0.0.1:1', '--timeout', '500']);
    expect(unreachable.code).toBe(1);
  });

  it("runs the README's SDK example", async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts', cluster.endpoints.join(',')], { cwd: projectRoot, encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^put greeting at revision \d+\nget greeting -> hello \(version 1\)\ncas succeeded: true\nfruit: fruit\/apple=red, fruit\/pear=green\nafter delete: null\n$/);
  });

  it('refuses bad input with the field and the limit, and writes nothing', async () => {
    const before = await client.range({ prefix: '' });
    await expect(client.put('', 'v')).rejects.toThrow(InvalidArgumentError);
    await expect(client.put('', 'v')).rejects.toThrow(/key/);
    await expect(client.put('k'.repeat(4097), 'v')).rejects.toThrow(/key.*4097.*4096/);
    await expect(client.put('big', Buffer.alloc(1024 * 1024 + 1))).rejects.toThrow(/value.*1048577.*1048576/);
    await expect(client.get('')).rejects.toThrow(InvalidArgumentError);
    await expect(client.range({ start: 'b', end: 'a' })).rejects.toThrow(/end/);
    // Over the request limit as a whole (1.5 MiB): gRPC refuses it before it is read.
    await expect(client.put('huge', Buffer.alloc(2 * 1024 * 1024))).rejects.toThrow(InvalidArgumentError);
    const after = await client.range({ prefix: '' });
    expect(after.kvs.map((kv) => [kv.key.toString(), kv.modRevision])).toEqual(before.kvs.map((kv) => [kv.key.toString(), kv.modRevision]));
  });

  it('applies a retried write (same session and sequence) once and returns its first result', async () => {
    const leader = await cluster.waitForLeader(client);
    const raw = rawKvClient(cluster.node(leader).clientAddress);
    try {
      const { clientId } = await raw.registerSession();
      const put = (value: string): Promise<{ version: number; modRevision: number }> =>
        raw.put({ key: Buffer.from('session/key'), value: Buffer.from(value), session: { clientId, sequence: 1, ackedSequence: 0 } });
      const first = await put('once');
      const retry = await put('twice'); // a retry of sequence 1: must not apply again
      expect({ version: retry.version, modRevision: retry.modRevision }).toEqual({ version: first.version, modRevision: first.modRevision });
      const kv = await client.get('session/key');
      expect(kv?.version).toBe(1);
      expect(kv?.value.toString()).toBe('once');
    } finally {
      raw.close();
    }
  });

  it('keeps serving when the leader is killed (-9) during a stream of writes, and loses no acknowledged write', async () => {
    const acknowledged = new Map<string, string>();
    let acknowledgedAfterKill = 0;
    let killed = false;
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `stream/${w}/${i}`;
        await client.put(key, `v${i}`);
        acknowledged.set(key, `v${i}`);
        if (killed) acknowledgedAfterKill++;
      }
    };
    const writers = Array.from({ length: 4 }, (_, w) => writer(w));
    await waitFor('some writes', () => (acknowledged.size >= 50 ? true : undefined));
    const leader = await cluster.waitForLeader(client);
    await cluster.kill(leader);
    killed = true;
    await waitFor('writes acknowledged by a new leader', () => (acknowledgedAfterKill >= 50 ? true : undefined), 30_000);
    stop = true;
    await Promise.all(writers);
    expect(await cluster.waitForLeader(client)).not.toBe(leader);

    cluster.start(leader);
    for (const [key, value] of acknowledged) expect((await client.get(key))?.value.toString(), key).toBe(value);
    // The restarted node catches up and serves the same data.
    const restarted = new RaftKvClient({ endpoints: [cluster.node(leader).clientAddress], timeoutMs: 15_000 });
    try {
      const last = [...acknowledged.keys()].at(-1)!;
      await waitFor('the old leader to catch up', async () =>
        (await restarted.get(last, { consistency: 'serializable' }))?.value.toString() === acknowledged.get(last) ? true : undefined,
      );
    } finally {
      restarted.close();
    }
  }, 90_000);

  it('cannot accept writes or serve linearizable reads in a minority, and recovers when the majority returns', async () => {
    await client.put('minority/key', 'before');
    const leader = await cluster.waitForLeader(client);
    const followers = cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const isolated = new RaftKvClient({ endpoints: [cluster.node(leader).clientAddress], timeoutMs: 2000 });
    try {
      for (const id of followers) cluster.pause(id);
      await expect(isolated.put('minority/key', 'during')).rejects.toThrow();
      await expect(isolated.get('minority/key')).rejects.toThrow();
      // Local, possibly stale state is still there for those who ask for it.
      expect((await isolated.get('minority/key', { consistency: 'serializable' }))?.value.toString()).toBe('before');
    } finally {
      for (const id of followers) cluster.resume(id);
      isolated.close();
    }
    await client.put('minority/key', 'after');
    expect((await client.get('minority/key'))?.value.toString()).toBe('after');
  }, 60_000);

  it('keeps every acknowledged write when every node is killed (-9) and restarted from disk', async () => {
    const acknowledged = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 25; i++) {
          await client.put(`restart/${w}/${i}`, `value-${w}-${i}`);
          acknowledged.set(`restart/${w}/${i}`, `value-${w}-${i}`);
        }
      }),
    );
    await Promise.all(cluster.nodes.map((n) => cluster.kill(n.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    await cluster.waitForLeader(client);
    const all = await client.range({ prefix: 'restart/' }, { limit: 1000 });
    expect(new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]))).toEqual(acknowledged);
  }, 90_000);
});
