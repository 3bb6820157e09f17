import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient, TimeoutError, UnavailableError } from '../../src/client/index.js';
import { NotLeaderError } from '../../src/shared/errors.js';
import { deferred } from '../../src/shared/deferred.js';
import { FakeNode, closedAfterEach } from '../server/fake-node.js';

const statusOf = (id: string): Record<string, unknown> => ({ id, role: 'follower', term: 1, leaderId: '', leaderAddress: '', members: [] });

/** A client against fake nodes (no Raft): routing, retries and the errors a caller sees. */
describe('RaftKvClient routing and errors', () => {
  const track = closedAfterEach();

  describe('status(endpoint)', () => {
    it('answers with the node\'s status', async () => {
      const node = track(await FakeNode.start({ status: () => statusOf('n1') }));
      const client = track(new RaftKvClient({ endpoints: [node.address] }));
      expect(await client.status(node.address)).toMatchObject({ id: 'n1', role: 'follower' });
    });

    it('rejects with TimeoutError, not a raw gRPC error, when the node does not answer in time', async () => {
      const node = track(await FakeNode.start({ status: () => null }));
      const client = track(new RaftKvClient({ endpoints: [node.address] }));
      const error = await client.status(node.address, { timeoutMs: 200 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toBe(`status: no answer from ${node.address} within 200 ms`);
    });

    it('rejects with UnavailableError naming the endpoint and the cause when nothing listens there', async () => {
      const client = track(new RaftKvClient({ endpoints: ['127.0.0.1:1'] }));
      const error = await client.status('127.0.0.1:1', { timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toMatch(/^status: 127\.0\.0\.1:1 is unavailable \(UNAVAILABLE: .*ECONNREFUSED.*\)$/);
      expect((error as Error).message).not.toContain('Resolution note');
    });

    it('refuses an endpoint that is not host:port', async () => {
      const client = track(new RaftKvClient({ endpoints: ['127.0.0.1:1'] }));
      await expect(client.status('localhost')).rejects.toThrow(InvalidArgumentError);
      await expect(client.status('localhost')).rejects.toThrow('endpoint: "localhost" is not host:port');
    });
  });

  it('says which endpoints it tried and the last cause, in one line, when none answers', async () => {
    const client = track(new RaftKvClient({ endpoints: ['127.0.0.1:1', '127.0.0.1:2'], timeoutMs: 300 }));
    const error = await client.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/^get: no node could serve it within 300 ms \(tried 127\.0\.0\.1:1, 127\.0\.0\.1:2, \d+ failed attempts\); last cause: UNAVAILABLE: .*ECONNREFUSED 127\.0\.0\.1:[12]$/);
  });

  describe('endpoints and leader hints', () => {
    async function followerAndLeader(): Promise<{ follower: FakeNode; leader: FakeNode }> {
      const leader = track(await FakeNode.start({ put: async () => ({ version: 1, modRevision: 5 }), get: async () => ({ found: false }) }));
      const follower = track(
        await FakeNode.start({
          put: () => Promise.reject(new NotLeaderError('n1', leader.address)),
          get: async () => ({ found: true, kv: { key: Buffer.from('k'), value: Buffer.from('from the follower'), version: 1, createRevision: 1, modRevision: 1 } }),
        }),
      );
      return { follower, leader };
    }

    it('follows a leader hint to an address it was not given (endpoint discovery)', async () => {
      const { follower, leader } = await followerAndLeader();
      const client = track(new RaftKvClient({ endpoints: [follower.address] }));
      expect(await client.put('k', 'v')).toEqual({ revision: 5, version: 1 });
      expect(leader.seen.map((op) => op.kind)).toEqual(['put']);
      // Later calls go to the leader directly.
      await client.get('k');
      expect(leader.seen.map((op) => op.kind)).toEqual(['put', 'get']);
    });

    it('with pinned: true, stays on its endpoints: reads from the follower, and a write fails at once naming the leader', async () => {
      const { follower, leader } = await followerAndLeader();
      const client = track(new RaftKvClient({ endpoints: [follower.address], pinned: true, timeoutMs: 10_000 }));
      const startedAt = Date.now();
      const error = await client.put('k', 'v').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toBe(`put: the leader is at ${leader.address}, which is not among this pinned client's endpoints (${follower.address})`);
      expect(Date.now() - startedAt).toBeLessThan(5000); // not the whole 10 s deadline
      expect((await client.get('k'))?.value.toString()).toBe('from the follower');
      expect(leader.seen).toEqual([]);
    });

    it('refuses a pinned option that is not a boolean', () => {
      expect(() => new RaftKvClient({ endpoints: ['127.0.0.1:1'], pinned: 'yes' as unknown as boolean })).toThrow('pinned: must be true or false, not yes');
    });
  });

  it('retries the calls of a stream a stopping node ended on another node, once each, under the same session sequence', async () => {
    const stuck = deferred<unknown>();
    const stopping = track(await FakeNode.start({ put: () => stuck.promise }));
    const healthy = track(await FakeNode.start({ put: async () => ({ version: 1, modRevision: 9 }) }));
    const client = track(new RaftKvClient({ endpoints: [stopping.address, healthy.address], timeoutMs: 10_000 }));
    const puts = Array.from({ length: 10 }, (_, i) => client.put(`k${i}`, 'v'));
    const putsSeen = (node: FakeNode): number => node.seen.filter((operation) => operation.kind === 'put').length;
    await until('every put to reach the first node', () => putsSeen(stopping) === 10);
    const streamsBefore = stopping.opened.streams;
    await stopping.streams.shutdown(0);
    const results = await Promise.all(puts);
    expect(results.every((r) => r.revision === 9)).toBe(true);
    // Ten calls failed together: they all moved on, none rotated back onto the stopping node.
    expect(putsSeen(stopping)).toBe(10);
    expect(stopping.opened.streams).toBe(streamsBefore);
    expect(healthy.putSessions().sort()).toEqual(stopping.putSessions().sort());
  });
});

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
