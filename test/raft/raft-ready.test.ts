import { describe, expect, it } from 'vitest';
import { InvariantError } from '../../src/raft/index.js';
import { Cluster, bytes, n1, n2, n3, ofType } from './helpers.js';

const electionTicks = 10;

describe('the Ready contract (etcd RawNode)', () => {
  it('ready() twice without advance(), or advance() without ready(), is a programmer error', () => {
    const cluster = new Cluster({ size: 1 });
    cluster.elect(n1);
    const core = cluster.core(n1);
    expect(() => core.advance(core.ready())).not.toThrow();
    core.ready();
    expect(() => core.ready()).toThrow(InvariantError);
    const other = new Cluster({ size: 1 }).core(n1);
    expect(() => other.advance({ hardState: null, softState: null, membership: null, entries: [], snapshot: null, messages: [], committedEntries: [], readStates: [] })).toThrow(
      InvariantError,
    );
  });

  it('after draining, hasReady() is false and ticks without timeouts produce nothing', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    for (const id of cluster.ids) expect(cluster.core(id).hasReady()).toBe(false);
    cluster.core(n2).tick();
    expect(cluster.core(n2).hasReady()).toBe(false);
  });

  it('inputs that arrive between ready() and advance() come out in the next Ready', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const leader = cluster.core(n1);
    leader.propose(bytes('a'));
    const first = leader.ready();
    expect(first.entries.map((e) => e.index)).toEqual([2]);
    leader.propose(bytes('b')); // while the driver persists the first Ready
    leader.advance(first);
    const second = leader.ready();
    expect(second.entries.map((e) => e.index)).toEqual([3]);
    expect(ofType(second.messages, 'append').length).toBeGreaterThan(0);
    leader.advance(second);
    cluster.network.push(...first.messages, ...second.messages);
    cluster.stabilize();
    for (const id of cluster.ids) expect(cluster.core(id).status().commit).toBe(3);
  });

  it('§5.3 committed entries come out at most applyBytesMax at a time (at least one), in order, each once', () => {
    const cluster = new Cluster({ size: 1, tunables: { applyBytesMax: 40 } });
    cluster.elect(n1);
    for (let i = 0; i < 5; i++) cluster.core(n1).propose(bytes('x'.repeat(10))); // 26 bytes each
    cluster.core(n1).propose(bytes('y'.repeat(100)));
    cluster.stabilize();
    const batches = cluster.readys.get(n1)!.map((r) => r.committedEntries.map((e) => e.index)).filter((b) => b.length > 0);
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(batches.slice(1).every((b) => b.length === 1)).toBe(true); // 2 * 26 > 40
  });

  it('§5.3 a leader counts itself toward commit only once its own entries are persisted', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.isolate(n3);
    const leader = cluster.core(n1);
    leader.propose(bytes('a'));
    const ready = leader.ready(); // entry 2, not yet persisted by n1
    cluster.network.push(...ready.messages);
    cluster.deliver();
    cluster.drain(n2);
    cluster.deliver(); // n2's acknowledgement of 2 arrives before n1 has persisted 2
    // Matches: n1 durable up to 1, n2 at 2, n3 at 1: index 2 is on one voter of three.
    expect(leader.status().commit).toBe(1);
    leader.advance(ready);
    expect(leader.status().commit).toBe(2);
  });
});

describe('non-voting members (learners)', () => {
  it('§5.2 a learner never campaigns, however long it hears nothing', () => {
    const cluster = new Cluster({ size: 3, learners: [n3] });
    cluster.tick(10 * electionTicks, [n3]);
    expect(cluster.core(n3).status()).toMatchObject({ role: 'follower', term: 0 });
    expect(cluster.sent).toEqual([]);
  });

  it('§5.3 a learner receives the log, but its acknowledgements do not count toward commit', () => {
    const cluster = new Cluster({ size: 3, learners: [n3] });
    cluster.elect(n1);
    expect(cluster.core(n3).status().commit).toBe(1);
    cluster.isolate(n2);
    const index = cluster.propose(n1, 'a');
    expect(cluster.core(n3).status().lastIndex).toBe(index);
    expect(cluster.core(n1).status().commit).toBe(1); // n1 + learner n3 is not a majority of {n1, n2}
    cluster.heal();
    cluster.tick(2);
    expect(cluster.core(n1).status().commit).toBe(index);
  });

  it('thesis §6.2 CheckQuorum does not count a learner: a leader with only a learner steps down', () => {
    const cluster = new Cluster({ size: 3, learners: [n3] });
    cluster.elect(n1);
    cluster.isolate(n2);
    cluster.tick(3 * electionTicks, [n1, n3]);
    expect(cluster.core(n1).status().role).not.toBe('leader');
  });
});

describe('reportUnreachable', () => {
  it('§5.3 reportUnreachable stops pipelining to a follower; it is probed and then pipelined again', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const leader = cluster.core(n1);
    expect(leader.status().progress.get(n2)!.state).toBe('replicate');
    leader.reportUnreachable(n2);
    expect(leader.status().progress.get(n2)!.state).toBe('probe');
    cluster.propose(n1, 'a');
    expect(leader.status().progress.get(n2)).toMatchObject({ state: 'replicate', match: 2 });
  });
});
