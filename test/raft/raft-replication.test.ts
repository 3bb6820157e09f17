import { describe, expect, it } from 'vitest';
import type { AppendRequest, Message, RestoredState } from '../../src/raft/index.js';
import { Cluster, bytes, entries, n1, n2, n3, n4, n5, ofType, text } from './helpers.js';

const electionTicks = 10;

/** Append messages from `from` to `to` that carry entries. */
function appendsWithEntries(messages: readonly Message[], from: string, to: string): AppendRequest[] {
  return ofType(messages, 'append').filter((m) => m.from === from && m.to === to && m.entries.length > 0);
}

/** Whether `id` holds entry 2 of term 2: term-4 appends it could accept are dropped, the ones it must reject are not. */
function holds2t2(cluster: Cluster, id: Message['to']): boolean {
  return cluster.core(id).termAt(2) === 2;
}

function restoredWith(fresh: RestoredState, term: number, log: ReturnType<typeof entries>, commit: number): RestoredState {
  return { ...fresh, hardState: { term, vote: null, commit }, entries: log };
}

describe('log replication (§5.3)', () => {
  it('§5.3 a follower with conflicting uncommitted entries is repaired to match the leader', () => {
    const cluster = new Cluster({
      size: 3,
      restored: (id, fresh) =>
        id === n1
          ? restoredWith(fresh, 3, [...entries(1, 3, 1), ...entries(4, 6, 3)], 3)
          : id === n2
            ? restoredWith(fresh, 2, [...entries(1, 3, 1), ...entries(4, 8, 2)], 3) // 4..8/t2 never committed
            : restoredWith(fresh, 1, entries(1, 3, 1), 3),
    });
    cluster.elect(n1);
    const expected = [...entries(1, 3, 1), ...entries(4, 6, 3)].map((e) => `${e.index}/t${e.term}`).concat('7/t4');
    for (const id of cluster.ids) expect(cluster.log(id)).toEqual(expected);
    for (const id of cluster.ids) expect(cluster.core(id).status().commit).toBe(7);
    // What n2 applied is the leader's history, not its own conflicting suffix.
    expect(cluster.applied.get(n2)!.map((e) => text(e.data))).toEqual(['1/t1', '2/t1', '3/t1', '4/t3', '5/t3', '6/t3', '']);
  });

  it('§5.3 fast back-off: a follower with a long divergent suffix of one old term is repaired in few round trips', () => {
    const divergent = 100;
    const cluster = new Cluster({
      size: 3,
      restored: (id, fresh) =>
        id === n2
          ? restoredWith(fresh, 2, [...entries(1, 5, 1), ...entries(6, 5 + divergent, 2)], 5)
          : restoredWith(fresh, 3, [...entries(1, 5, 1), ...entries(6, 55, 3)], 5),
    });
    cluster.elect(n1);
    const rejections = ofType(cluster.sent, 'append-response').filter((m) => m.from === n2 && !m.success);
    expect(rejections.length).toBeGreaterThan(0); // there was a conflict to resolve
    expect(rejections.length).toBeLessThanOrEqual(2); // one per conflicting term, not one per entry
    expect(cluster.log(n2)).toEqual(cluster.log(n1));
    expect(cluster.core(n2).status().lastIndex).toBe(56);
  });

  it('§5.3 fast back-off: a follower missing many entries is found in one round trip', () => {
    const cluster = new Cluster({
      size: 3,
      restored: (id, fresh) =>
        id === n2 ? restoredWith(fresh, 1, entries(1, 5, 1), 5) : restoredWith(fresh, 3, [...entries(1, 5, 1), ...entries(6, 105, 3)], 5),
    });
    cluster.elect(n1);
    const rejections = ofType(cluster.sent, 'append-response').filter((m) => m.from === n2 && !m.success);
    expect(rejections.length).toBeLessThanOrEqual(1);
    expect(cluster.log(n2)).toEqual(cluster.log(n1));
  });

  it('§5.3 pipelining: with inflightMessagesMax = 2 at most 2 appends with entries are unacknowledged per follower', () => {
    const cluster = new Cluster({ size: 3, tunables: { inflightMessagesMax: 2 } });
    cluster.elect(n1);
    cluster.network = [];
    const leader = cluster.core(n1);
    // Ten proposals, each in its own Ready, and no follower answers anything.
    for (let i = 0; i < 10; i++) {
      expect(leader.propose(bytes(`p${i}`)).ok).toBe(true);
      cluster.drain(n1);
    }
    expect(appendsWithEntries(cluster.network, n1, n2)).toHaveLength(2);
    expect(appendsWithEntries(cluster.network, n1, n3)).toHaveLength(2);

    // One acknowledgement from n2 opens one slot: exactly one more append goes to n2.
    const [first] = appendsWithEntries(cluster.network, n1, n2);
    cluster.deliver((m) => m === first);
    cluster.drain(n2);
    cluster.deliver((m) => m.type === 'append-response' && m.from === n2);
    const sentBefore = cluster.network.length;
    cluster.drain(n1);
    const newlySent = cluster.network.slice(sentBefore);
    expect(appendsWithEntries(newlySent, n1, n2)).toHaveLength(1);
    expect(appendsWithEntries(newlySent, n1, n3)).toHaveLength(0);

    // Letting everything through replicates and commits all ten.
    cluster.stabilize();
    for (const id of cluster.ids) expect(cluster.core(id).status().commit).toBe(11);
  });

  it('§5.3 pipelining: appends whose acknowledgements are lost are resent, the window does not jam', () => {
    // If every append filling the window is lost, the leader must still reach the follower again
    // (etcd: a heartbeat response lets one append through a full window), or it never catches up.
    const cluster = new Cluster({ size: 3, tunables: { inflightMessagesMax: 2 } });
    cluster.elect(n1);
    cluster.dropIf = (m) => m.type === 'append' && m.to === n2; // heartbeats still get through
    for (let i = 0; i < 5; i++) cluster.propose(n1, `p${i}`);
    // Two appends with entries went out to n2 and were lost; the window is full.
    expect(appendsWithEntries(cluster.sent, n1, n2)).toHaveLength(2 + 1); // + the no-op's
    expect(cluster.core(n1).status().commit).toBe(6); // committed with n3
    expect(cluster.core(n2).status().lastIndex).toBe(1);
    cluster.heal();
    cluster.tick(3 * electionTicks);
    expect(cluster.core(n2).status().lastIndex).toBe(6);
    expect(cluster.log(n2)).toEqual(cluster.log(n1));
  });

  it('§5.3 messageBytesMax limits the entries per append, but a larger entry is still sent alone', () => {
    const messageBytesMax = 100; // an entry counts its data plus 16 bytes: two 30-byte entries fit
    const cluster = new Cluster({ size: 3, tunables: { messageBytesMax } });
    cluster.elect(n1);
    const leader = cluster.core(n1);
    for (let i = 0; i < 6; i++) leader.propose(bytes('x'.repeat(30)));
    leader.propose(bytes('y'.repeat(500)));
    cluster.stabilize();
    const appends = appendsWithEntries(cluster.sent, n1, n2);
    expect(appends.length).toBeGreaterThanOrEqual(4); // 6 small entries in pairs, then the big one
    for (const m of appends) {
      const size = m.entries.reduce((sum, e) => sum + e.data.byteLength + 16, 0);
      expect(m.entries.length === 1 || size <= messageBytesMax).toBe(true);
    }
    expect(appends.some((m) => m.entries.length === 2)).toBe(true);
    expect(appends.some((m) => m.entries.length === 1 && m.entries[0]!.data.byteLength === 500)).toBe(true);
    expect(cluster.core(n2).status().commit).toBe(8);
  });
});

describe('deposed leaders (§5.3, §5.4)', () => {
  it("§5.3 a deposed leader's uncommitted entries are discarded when it rejoins, and never applied", () => {
    const cluster = new Cluster({ size: 3, tunables: { checkQuorum: false } });
    cluster.elect(n1);
    cluster.isolate(n1);
    for (const data of ['lost1', 'lost2', 'lost3']) expect(cluster.core(n1).propose(bytes(data)).ok).toBe(true);
    cluster.stabilize();
    expect(cluster.core(n1).status().lastIndex).toBe(4);
    cluster.tickUntil(() => cluster.leaders().some((id) => id !== n1), 10 * electionTicks, [n2, n3]);
    const leader = cluster.leaders().find((id) => id !== n1)!;
    cluster.propose(leader, 'kept');
    cluster.heal();
    cluster.tick(3);
    expect(cluster.leaders()).toEqual([leader]);
    expect(cluster.log(n1)).toEqual(cluster.log(leader));
    const applied = cluster.applied.get(n1)!.map((e) => text(e.data));
    expect(applied).toContain('kept');
    expect(applied.filter((d) => d.startsWith('lost'))).toEqual([]);
  });
});

describe('commitment (§5.4.2, §8)', () => {
  it('§8 a new leader appends an empty entry of its term and commits it', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    cluster.isolate(n1);
    cluster.tickUntil(() => cluster.leaders().some((id) => id !== n1), 10 * electionTicks, [n2, n3]);
    const leader = cluster.leaders().find((id) => id !== n1)!;
    const { term, lastIndex, commit } = cluster.core(leader).status();
    expect(term).toBeGreaterThan(1);
    const noop = cluster.core(leader).entryAt(lastIndex)!;
    expect(noop).toMatchObject({ index: 3, term, type: 'normal' });
    expect(noop.data.byteLength).toBe(0);
    expect(commit).toBe(3);
    expect(cluster.applied.get(leader)!.map((e) => text(e.data))).toEqual(['', 'a', '']);
  });

  it('§5.4.2 Figure 8: a leader does not commit an older-term entry by counting replicas', () => {
    // Figure 8 (b): S1 led term 2 and put 2/t2 on S2; S5 led term 3 and wrote 2/t3 only locally.
    const log = { s1: [...entries(1, 1, 1), ...entries(2, 2, 2)], s5: [...entries(1, 1, 1), ...entries(2, 2, 3)] };
    const cluster = new Cluster({
      size: 5,
      // One entry per append, so a follower can hold 2/t2 without the new leader's 3/t4; no
      // lease, so S5 may win once S1 is gone without waiting for the followers' timers.
      tunables: { messageBytesMax: 1, checkQuorum: false },
      restored: (id, fresh) => {
        if (id === n1 || id === n2) return restoredWith(fresh, 3, log.s1, 1);
        if (id === n5) return { ...fresh, hardState: { term: 3, vote: n5, commit: 1 }, entries: log.s5 };
        return { ...fresh, hardState: { term: 3, vote: n5, commit: 1 }, entries: entries(1, 1, 1) };
      },
    });

    // Figure 8 (c): S5 is down; S1 wins term 4 and replicates 2/t2 to S3 and S4 (a majority with
    // itself), but none of its own term-4 entries get through.
    cluster.isolate(n5);
    cluster.dropIf = (m) => m.type === 'append' && m.entries.some((e) => e.term === 4) && holds2t2(cluster, m.to);
    cluster.elect(n1);
    expect(cluster.core(n1).status().term).toBe(4);
    cluster.tick(3, [n1]);
    for (const id of [n1, n2, n3, n4]) expect(cluster.core(id).termAt(2)).toBe(2);
    expect(cluster.core(n1).status().progress.get(n3)!.match).toBe(2);
    expect(cluster.core(n1).status().progress.get(n4)!.match).toBe(2);
    // 2/t2 is on S1, S2(unknown to S1), S3, S4: a majority, yet it must not be committed.
    for (const id of [n1, n2, n3, n4]) expect(cluster.core(id).status().commit).toBe(1);

    // Figure 8 (d): S1 crashes; S5 wins term 5 (its last term 3 beats 2) and overwrites index 2.
    // Had S1 counted replicas, a committed entry would now be gone.
    cluster.heal();
    cluster.isolate(n1);
    cluster.elect(n5);
    expect(cluster.core(n5).status().term).toBe(5);
    for (const id of [n2, n3, n4, n5]) {
      expect(cluster.core(id).termAt(2)).toBe(3);
      expect(cluster.core(id).status().commit).toBe(3);
    }
  });

  it('§5.4.2 Figure 8 (e): once an entry of the current term is on a majority, the older entry commits with it', () => {
    const log = [...entries(1, 1, 1), ...entries(2, 2, 2)];
    const cluster = new Cluster({
      size: 5,
      tunables: { messageBytesMax: 1 },
      restored: (id, fresh) => restoredWith(fresh, 3, id === n1 || id === n2 ? log : entries(1, 1, 1), 1),
    });
    cluster.isolate(n5);
    cluster.dropIf = (m) => m.type === 'append' && m.entries.some((e) => e.term === 4) && holds2t2(cluster, m.to);
    cluster.elect(n1);
    cluster.tick(3, [n1]);
    expect(cluster.core(n1).status().commit).toBe(1);
    cluster.heal();
    cluster.isolate(n5);
    cluster.tick(2, [n1]);
    expect(cluster.core(n1).status().commit).toBe(3);
    expect(cluster.core(n1).termAt(3)).toBe(4);
    for (const id of [n2, n3, n4]) expect(cluster.core(id).status().commit).toBe(3);
  });
});

describe('proposals', () => {
  it('§5.1/§8 a proposal on a follower is refused with the leader id, so the client can redirect', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    expect(cluster.core(n2).propose(bytes('x'))).toEqual({ ok: false, reason: 'not-leader', leader: n1 });
    expect(cluster.core(n2).status().lastIndex).toBe(1);
  });

  it('§5.1 a proposal on a node that knows no leader is refused with leader null', () => {
    const cluster = new Cluster({ size: 3 });
    expect(cluster.core(n1).propose(bytes('x'))).toEqual({ ok: false, reason: 'not-leader', leader: null });
  });

  it('a leader refuses proposals beyond uncommittedBytesMax, and accepts again once they commit', () => {
    const cluster = new Cluster({ size: 3, tunables: { uncommittedBytesMax: 100 } });
    cluster.elect(n1);
    cluster.isolate(n2);
    cluster.isolate(n3);
    const leader = cluster.core(n1);
    expect(leader.propose(bytes('a'.repeat(60))).ok).toBe(true);
    expect(leader.propose(bytes('b'.repeat(60)))).toEqual({ ok: false, reason: 'too-many-uncommitted', leader: n1 });
    expect(leader.propose(bytes('c'.repeat(40))).ok).toBe(true); // exactly at the limit is allowed
    expect(leader.propose(bytes('d')).ok).toBe(false);
    cluster.stabilize();
    cluster.heal();
    cluster.tickUntil(() => leader.status().commit === 3, 3 * electionTicks, [n1, n2, n3]);
    expect(leader.propose(bytes('e'.repeat(60))).ok).toBe(true);
  });

  it('§5.3 proposals batched between two Readys go out in one append per follower', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.network = [];
    for (let i = 0; i < 5; i++) cluster.core(n1).propose(bytes(`p${i}`));
    const [ready] = cluster.drain(n1);
    expect(ready!.entries.map((e) => e.index)).toEqual([2, 3, 4, 5, 6]);
    const appends = ofType(ready!.messages, 'append');
    expect(appends.map((m) => [m.to, m.entries.length])).toEqual([
      [n2, 5],
      [n3, 5],
    ]);
  });
});
