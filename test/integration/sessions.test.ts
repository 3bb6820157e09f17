import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient, type SessionLimitsStatus } from '../../src/client/index.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';
import { rawKvClient } from './raw-kv-client.js';

/**
 * Sessions registered through the log (issue 9), on real processes. The nodes are started with
 * different session flags: whichever leads first seeds the cluster's limits, and every node
 * applies those, not its own flags.
 */
describe('exactly-once sessions on a 3-node cluster of real processes', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3, {
      nodeArgs: { n1: ['--sessions-max', '11'], n2: ['--sessions-max', '12'], n3: ['--sessions-max', '13'] },
    });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(client);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  /** The session limits each node reports, once all of them report the same applied limits as `expected` says. */
  async function limitsOnEveryNode(expected: (limits: SessionLimitsStatus) => boolean): Promise<SessionLimitsStatus[]> {
    return waitFor('every node to apply the same session limits', async () => {
      const all = await Promise.all(
        cluster.endpoints.map(async (endpoint) => {
          const direct = new RaftKvClient({ endpoints: [endpoint], timeoutMs: 5000 });
          try {
            return await direct.sessionLimits();
          } finally {
            direct.close();
          }
        }),
      );
      return all.every(expected) ? all : undefined;
    });
  }

  it('seeds the limits from the first leader\'s flags through the log; every node applies the same ones', async () => {
    await client.put('seed', 'v'); // the first registration seeds the limits
    const all = await limitsOnEveryNode((limits) => limits.recorded);
    const sessionsMax = all[0]?.sessionsMax;
    expect([11, 12, 13]).toContain(sessionsMax);
    expect(all.map((limits) => limits.sessionsMax)).toEqual([sessionsMax, sessionsMax, sessionsMax]);
  });

  it('refuses out-of-bounds limits naming the limit, and changes nothing', async () => {
    const before = await client.sessionLimits();
    const error = await client.sessionLimits({ sessionsMax: 2_000_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/sessionLimits\.sessionsMax.*1\.\.1000000/);
    const cli = await runCli(['session-limits', '--session-results-max', '70000', '--endpoints', cluster.endpoints.join(',')]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/resultsPerSessionMax/);
    const zero = await runCli(['session-limits', '--sessions-max', '0', '--endpoints', cluster.endpoints.join(',')]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--sessions-max/);
    expect(await client.sessionLimits()).toMatchObject({ sessionsMax: before.sessionsMax, resultsPerSessionMax: before.resultsPerSessionMax });
  });

  it('a retry of a first write after its session was evicted is refused (ABORTED), never applied twice', async () => {
    const set = await runCli(['session-limits', '--sessions-max', '1', '--json', '--endpoints', cluster.endpoints.join(',')]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ sessionsMax: 1, recorded: true });
    await limitsOnEveryNode((limits) => limits.sessionsMax === 1);

    const leader = await cluster.waitForLeader(client);
    const raw = rawKvClient(cluster.node(leader).clientAddress);
    try {
      const a = await raw.registerSession();
      const first = await raw.put({ key: Buffer.from('evicted/key'), value: Buffer.from('v'), session: { clientId: a.clientId, sequence: 1, ackedSequence: 0 } });
      expect(first.version).toBe(1);
      await raw.registerSession(); // the table holds one session: a's is evicted
      // a's answer was "lost", and it retries the same write: refused, not applied as new.
      const retry = (await raw
        .put({ key: Buffer.from('evicted/key'), value: Buffer.from('v'), session: { clientId: a.clientId, sequence: 1, ackedSequence: 0 } })
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(retry.code).toBe(grpc.status.ABORTED);
      expect(retry.details).toMatch(/not applied.*not registered/);
      expect((await client.get('evicted/key'))?.version).toBe(1);
    } finally {
      raw.close();
    }
  });

  it('the SDK registers again by itself when its session was evicted before a write was sent: each write applied once', async () => {
    await limitsOnEveryNode((limits) => limits.sessionsMax === 1);
    const one = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    const two = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    try {
      await one.put('shared', 'one-1');
      await two.put('shared', 'two-1'); // registers, evicting one's session
      const again = await one.put('shared', 'one-2'); // refused under the old session, sent under a new one
      expect(again.version).toBe(3);
      const kv = await client.get('shared');
      expect({ value: kv?.value.toString(), version: kv?.version }).toEqual({ value: 'one-2', version: 3 });
    } finally {
      one.close();
      two.close();
    }
  });
});
