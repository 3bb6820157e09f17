import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient } from '../../src/client/index.js';
import { NotLeaderError, RemovedNodeError, ShuttingDownError } from '../../src/shared/errors.js';
import { FakeNode, closedAfterEach } from '../server/fake-node.js';

/** Lets the client's round-robin turn (1 ms) end, so the next read goes to the next endpoint. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));

const keyValue = (value: string): Record<string, unknown> => ({
  found: true,
  kv: { key: Buffer.from('k'), value: Buffer.from(value), version: 1, createRevision: 1, modRevision: 1 },
});

/** The SDK's `reads` option against fake nodes (no Raft): where gets and ranges go. */
describe('RaftKvClient read policy', () => {
  const track = closedAfterEach();

  /** A leader and two followers; each serves reads with its own name, followers refuse writes. */
  async function cluster(): Promise<FakeNode[]> {
    const leader = track(
      await FakeNode.start({
        get: async () => keyValue('n1'),
        range: async () => ({ kvs: [], more: false }),
        put: async () => ({ version: 1, modRevision: 7 }),
        registerSession: async () => ({ clientId: 'c1', resultsPerSessionMax: 1000 }),
      }),
    );
    const follower = async (name: string): Promise<FakeNode> =>
      track(
        await FakeNode.start({
          get: async () => keyValue(name),
          range: async () => ({ kvs: [], more: false }),
          put: () => Promise.reject(new NotLeaderError('n1', leader.address)),
          registerSession: () => Promise.reject(new NotLeaderError('n1', leader.address)),
        }),
      );
    return [await follower('n2'), await follower('n3'), leader];
  }
  const count = (node: FakeNode, kind: string): number => node.seen.filter((op) => op.kind === kind).length;

  it('defaults to leader, with one endpoint or several; refuses an unknown policy, naming it', () => {
    expect(track(new RaftKvClient({ endpoints: ['127.0.0.1:1', '127.0.0.1:2'] })).readPolicy).toBe('leader');
    expect(track(new RaftKvClient({ endpoints: ['127.0.0.1:1'] })).readPolicy).toBe('leader');
    expect(track(new RaftKvClient({ endpoints: ['127.0.0.1:1', '127.0.0.1:2'], reads: 'round-robin' })).readPolicy).toBe('round-robin');
    const make = (): RaftKvClient => new RaftKvClient({ endpoints: ['127.0.0.1:1'], reads: 'nearest' as never });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(`reads: must be 'leader' or 'round-robin', not "nearest"`);
  });

  it('round-robin sends each get and range, linearizable or serializable, to the next endpoint in turn (the reads of one turn together)', async () => {
    const nodes = await cluster();
    const client = track(new RaftKvClient({ endpoints: nodes.map((n) => n.address), reads: 'round-robin' }));
    const served: string[] = [];
    for (let i = 0; i < 6; i++) {
      await nextTurn();
      served.push((await client.get('k'))?.value.toString() ?? '');
    }
    for (let i = 0; i < 3; i++) {
      await nextTurn();
      served.push((await client.get('k', { consistency: 'serializable' }))?.value.toString() ?? '');
    }
    expect(served).toEqual(['n2', 'n3', 'n1', 'n2', 'n3', 'n1', 'n2', 'n3', 'n1']);
    for (let i = 0; i < 3; i++) {
      await nextTurn();
      await client.range({ prefix: 'k' });
    }
    expect(nodes.map((n) => count(n, 'range'))).toEqual([1, 1, 1]);
    // Reads issued together (one turn: one stream frame, one ReadIndex batch) go to one node;
    // the next turn's to the next.
    for (let turn = 0; turn < 3; turn++) {
      await nextTurn();
      const before = nodes.map((n) => count(n, 'get'));
      await Promise.all(Array.from({ length: 10 }, () => client.get('k')));
      expect(nodes.map((n, i) => count(n, 'get') - (before[i] as number)).sort()).toEqual([0, 0, 10]);
    }
    expect(nodes.map((n) => count(n, 'get'))).toEqual([13, 13, 13]);
  });

  it('writes still go to the leader (found from hints) while reads keep rotating', async () => {
    const nodes = await cluster();
    const [n2, n3, leader] = nodes as [FakeNode, FakeNode, FakeNode];
    const client = track(new RaftKvClient({ endpoints: [n2.address, n3.address], reads: 'round-robin' }));
    for (let i = 0; i < 4; i++) expect(await client.put(`k${i}`, 'v')).toEqual({ revision: 7, version: 1 });
    expect(count(leader, 'put')).toBe(4);
    expect(count(n2, 'put') + count(n3, 'put')).toBeLessThanOrEqual(1);
    // The leader's address, learned from a hint, joined the rotation.
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      await nextTurn();
      served.add((await client.get('k'))?.value.toString() ?? '');
    }
    expect([...served].sort()).toEqual(['n1', 'n2', 'n3']);
    expect(count(leader, 'put')).toBe(4);
  });

  it('skips a dead endpoint: every read succeeds elsewhere, and the dead one is tried only after its cooldown', async () => {
    const nodes = await cluster();
    const dead = '127.0.0.1:1';
    const client = track(new RaftKvClient({ endpoints: [dead, nodes[0]!.address, nodes[1]!.address], pinned: true, timeoutMs: 5000, reads: 'round-robin' }));
    const served: string[] = [];
    for (let i = 0; i < 20; i++) served.push((await client.get('k'))?.value.toString() ?? '');
    expect(served.every((name) => name === 'n2' || name === 'n3')).toBe(true);
    expect(count(nodes[0]!, 'get') + count(nodes[1]!, 'get')).toBe(20);
    // Pinned: the rotation stays on the endpoints given.
    expect(count(nodes[2]!, 'get')).toBe(0);
  });

  it('a node that is not serving (stopping, no leader known, removed) does not break the rotation', async () => {
    const healthy = track(await FakeNode.start({ get: async () => keyValue('healthy') }));
    const stopping = track(await FakeNode.start({ get: () => Promise.reject(new ShuttingDownError('node n2 is stopping')) }));
    const leaderless = track(await FakeNode.start({ get: () => Promise.reject(new NotLeaderError(null, null)) }));
    const removed = track(await FakeNode.start({ get: () => Promise.reject(new RemovedNodeError('n4', 'n1', healthy.address)) }));
    const client = track(new RaftKvClient({ endpoints: [stopping.address, leaderless.address, removed.address, healthy.address], timeoutMs: 5000, reads: 'round-robin' }));
    for (let i = 0; i < 12; i++) {
      await nextTurn();
      expect((await client.get('k'))?.value.toString()).toBe('healthy');
    }
    // Each refusing node was asked about once, then cooled down (or, removed, forgotten).
    expect(count(stopping, 'get')).toBeLessThanOrEqual(2);
    expect(count(leaderless, 'get')).toBeLessThanOrEqual(2);
    expect(count(removed, 'get')).toBe(1);
  });

  it("'leader' sends reads to the leader, found by asking the first endpoint, not to the first endpoint itself", async () => {
    const [n2, , leader] = (await cluster()) as [FakeNode, FakeNode, FakeNode];
    const follower = track(
      await FakeNode.start({
        get: async () => keyValue('follower'),
        status: () => ({ id: 'n2', role: 'follower', term: 1, leaderId: 'n1', leaderAddress: leader.address, members: [] }),
      }),
    );
    const client = track(new RaftKvClient({ endpoints: [follower.address, n2.address], reads: 'leader' }));
    await client.get('k');
    await expect.poll(async () => (await client.get('k'))?.value.toString(), { timeout: 5000 }).toBe('n1');
    expect(count(n2, 'get')).toBe(0);
  });

  it("'leader' with one endpoint reads from it, as before, without asking who leads (tools read one node's state so)", async () => {
    const asked: string[] = [];
    const follower = track(
      await FakeNode.start({
        get: async () => keyValue('follower'),
        status: () => {
          asked.push('status');
          return { id: 'n2', role: 'follower', term: 1, leaderId: 'n1', leaderAddress: '127.0.0.1:1', members: [] };
        },
      }),
    );
    const client = track(new RaftKvClient({ endpoints: [follower.address] }));
    for (let i = 0; i < 5; i++) expect((await client.get('k'))?.value.toString()).toBe('follower');
    expect(asked).toEqual([]);
  });
});
