import { describe, expect, it } from 'vitest';
import type { SnapshotRequest } from '../../src/raft/index.js';
import { Cluster, bytes, entries, n1, n2, n3, ofType, text } from './helpers.js';

const electionTicks = 10;

/** A 3-node cluster led by n1 in which n3 missed `count` entries that n1 then compacted away. */
function clusterWithCompactedLeader(count: number, retainEntries = 0): Cluster {
  const cluster = new Cluster({ size: 3 });
  cluster.elect(n1);
  cluster.isolate(n3);
  for (let i = 0; i < count; i++) cluster.propose(n1, `p${i}`);
  cluster.compact(n1, retainEntries);
  return cluster;
}

describe('snapshots (§7)', () => {
  it('§7 a follower whose next entry was compacted away gets InstallSnapshot, installs it, and replication continues', () => {
    const cluster = clusterWithCompactedLeader(10);
    const leader = cluster.core(n1);
    expect(leader.status()).toMatchObject({ compactedTo: { index: 11, term: 1 }, snapshotIndex: 11, lastIndex: 11 });
    cluster.heal();
    cluster.tickUntil(() => cluster.core(n3).status().commit === 11, 3 * electionTicks);

    const snapshots = ofType(cluster.sent, 'snapshot');
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toMatchObject({ from: n1, to: n3, snapshot: { meta: { index: 11, term: 1 } } });
    const installed = cluster.readys.get(n3)!.filter((r) => r.snapshot !== null);
    expect(installed).toHaveLength(1);
    expect(installed[0]!.snapshot!.meta.index).toBe(11);
    expect(text(installed[0]!.snapshot!.data)).toBe('applied=11');
    // Its log restarts after the snapshot: nothing before 12 is held in memory.
    const follower = cluster.core(n3);
    expect(follower.status()).toMatchObject({ compactedTo: { index: 11, term: 1 }, lastIndex: 11, applied: 11, snapshotIndex: 11 });
    expect(follower.entryAt(5)).toBeUndefined();

    // Replication carries on with ordinary appends after the snapshot.
    cluster.propose(n1, 'after');
    expect(follower.status()).toMatchObject({ lastIndex: 12, commit: 12 });
    expect(text(follower.entryAt(12)!.data)).toBe('after');
    expect(cluster.applied.get(n3)!.map((e) => text(e.data))).toEqual(['after']);
    expect(ofType(cluster.sent, 'snapshot')).toHaveLength(1);
  });

  it('§7 compact keeps retainEntries entries before the snapshot, and a follower needing only those gets appends', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    for (let i = 0; i < 5; i++) cluster.propose(n1, `p${i}`); // n3 has 1..6
    cluster.isolate(n3);
    for (let i = 5; i < 10; i++) cluster.propose(n1, `p${i}`); // n3 misses 7..11
    cluster.compact(n1, 6);
    expect(cluster.core(n1).status()).toMatchObject({ compactedTo: { index: 5 }, snapshotIndex: 11 });
    cluster.heal();
    cluster.tickUntil(() => cluster.core(n3).status().commit === 11, 3 * electionTicks);
    expect(ofType(cluster.sent, 'snapshot')).toEqual([]);
    // n3 kept its whole log (1..11); the leader holds 6..11 of it.
    expect(cluster.core(n3).status().compactedTo.index).toBe(0);
    expect(cluster.log(n3)).toHaveLength(11);
    expect(cluster.log(n3).slice(5)).toEqual(cluster.log(n1));
  });

  it('§7 a follower ignores a stale snapshot (index at or below its commit) and keeps its log', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    for (let i = 0; i < 5; i++) cluster.propose(n1, `p${i}`);
    const follower = cluster.core(n2);
    const before = cluster.log(n2);
    const { term, commit, membership } = follower.status();
    expect(commit).toBe(6);
    const stale: SnapshotRequest = {
      type: 'snapshot',
      from: n1,
      to: n2,
      term,
      snapshot: { meta: { index: 4, term, membership }, data: bytes('stale') },
    };
    follower.step(stale);
    const readys = cluster.drain(n2);
    expect(readys.every((r) => r.snapshot === null)).toBe(true);
    expect(cluster.log(n2)).toEqual(before);
    expect(follower.status()).toMatchObject({ commit: 6, applied: 6, compactedTo: { index: 0 } });
    // It tells the leader how far it really is, so the leader does not resend older state.
    expect(ofType(readys.flatMap((r) => r.messages), 'append-response')).toMatchObject([{ to: n1, success: true, index: 6 }]);
  });

  it('§7 without a report the leader waits; reportSnapshot(to, false) makes it send the snapshot again', () => {
    const cluster = clusterWithCompactedLeader(10);
    cluster.heal();
    cluster.dropIf = (m) => m.type === 'snapshot'; // the stream to n3 fails
    cluster.tickUntil(() => ofType(cluster.sent, 'snapshot').length > 0, 3 * electionTicks);
    cluster.tick(3 * electionTicks);
    expect(ofType(cluster.sent, 'snapshot')).toHaveLength(1); // paused while the snapshot is "in flight"
    expect(cluster.core(n1).status().progress.get(n3)!.state).toBe('snapshot');

    cluster.core(n1).reportSnapshot(n3, false);
    cluster.dropIf = () => false;
    cluster.tickUntil(() => cluster.core(n3).status().commit === 11, 3 * electionTicks);
    expect(ofType(cluster.sent, 'snapshot')).toHaveLength(2);
    expect(cluster.core(n1).status().progress.get(n3)).toMatchObject({ match: 11, state: 'replicate' });
  });

  it('§7 reportSnapshot(to, true) after the follower acknowledged leaves it replicating', () => {
    const cluster = clusterWithCompactedLeader(10);
    cluster.heal();
    cluster.tickUntil(() => cluster.core(n3).status().commit === 11, 3 * electionTicks);
    cluster.core(n1).reportSnapshot(n3, true);
    cluster.propose(n1, 'after');
    expect(cluster.core(n3).status().commit).toBe(12);
    expect(ofType(cluster.sent, 'snapshot')).toHaveLength(1);
  });

  it('§7 a follower restarted after installing a snapshot restores from it', () => {
    const cluster = clusterWithCompactedLeader(10);
    cluster.heal();
    cluster.tickUntil(() => cluster.core(n3).status().commit === 11, 3 * electionTicks);
    cluster.propose(n1, 'after');
    const restarted = cluster.restart(n3);
    expect(restarted.status()).toMatchObject({ compactedTo: { index: 11 }, snapshotIndex: 11, lastIndex: 12, applied: 11 });
    cluster.stabilize();
    expect(cluster.applied.get(n3)!.map((e) => text(e.data))).toEqual(['after']);
  });

  /** n2 holds 1..6 of term 1 with only 2 committed; n1 sends it a snapshot at `index`/t`term`. */
  function followerGetsSnapshot(index: number, term: number): Cluster {
    const cluster = new Cluster({
      size: 3,
      restored: (id, fresh) => (id === n2 ? { ...fresh, hardState: { term: 2, vote: null, commit: 2 }, entries: entries(1, 6, 1) } : fresh),
    });
    cluster.drain(n2);
    const request: SnapshotRequest = {
      type: 'snapshot',
      from: n1,
      to: n2,
      term: 2,
      snapshot: { meta: { index, term, membership: { voters: cluster.ids, learners: [] } }, data: bytes('s') },
    };
    cluster.core(n2).step(request);
    return cluster;
  }

  it('§7 receiver rule 6: a follower that already holds the snapshot\'s last entry keeps the entries after it', () => {
    const cluster = followerGetsSnapshot(4, 1);
    const readys = cluster.drain(n2);
    expect(readys.every((r) => r.snapshot === null)).toBe(true);
    expect(cluster.log(n2)).toEqual(['1/t1', '2/t1', '3/t1', '4/t1', '5/t1', '6/t1']);
    expect(cluster.core(n2).status()).toMatchObject({ commit: 4, leader: n1 });
    expect(ofType(readys.flatMap((r) => r.messages), 'append-response')).toMatchObject([{ to: n1, success: true, index: 4 }]);
  });

  it('§7 receiver rules 7-8: a follower whose log conflicts with the snapshot discards it all and installs the snapshot', () => {
    const cluster = followerGetsSnapshot(4, 2);
    const readys = cluster.drain(n2);
    const installed = readys.filter((r) => r.snapshot !== null);
    expect(installed).toHaveLength(1);
    expect(installed[0]!.snapshot!.meta).toMatchObject({ index: 4, term: 2 });
    // The conflicting 5..6 of term 1 are gone too: the log restarts after the snapshot.
    expect(cluster.core(n2).status()).toMatchObject({ compactedTo: { index: 4, term: 2 }, lastIndex: 4, commit: 4, applied: 4 });
    expect(cluster.disks.get(n2)).toMatchObject({ entries: [], compactedTo: { index: 4, term: 2 } });
    expect(ofType(readys.flatMap((r) => r.messages), 'append-response')).toMatchObject([{ to: n1, success: true, index: 4 }]);
  });
});
