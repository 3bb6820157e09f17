import { describe, expect, it } from 'vitest';
import { RaftCore, freshState, type Message, type VoteRequest } from '../../src/raft/index.js';
import { Cluster, bytes, entries, n1, n2, n3, ofType, raftConfig, text } from './helpers.js';

const electionTicks = 10;

/** A RequestVote from `from` to `to`, as a candidate whose log is `last`. */
function voteRequest(from: VoteRequest['from'], to: VoteRequest['to'], term: number, last: { index: number; term: number }, extra: Partial<VoteRequest> = {}): VoteRequest {
  return { type: 'vote-request', from, to, term, preVote: false, transfer: false, lastLogIndex: last.index, lastLogTerm: last.term, ...extra };
}

function voteResponses(messages: readonly Message[]) {
  return ofType(messages, 'vote-response');
}

describe('election', () => {
  it('§5.2 a single node elects itself after an election timeout and commits a proposal', () => {
    const cluster = new Cluster({ size: 1 });
    const ticks = cluster.tickUntil(() => cluster.core(n1).status().role === 'leader', 2 * electionTicks);
    expect(ticks).toBeGreaterThanOrEqual(electionTicks);
    expect(ticks).toBeLessThan(2 * electionTicks);

    const result = cluster.core(n1).propose(bytes('x=1'));
    expect(result).toEqual({ ok: true, index: 2, term: 1 });
    cluster.stabilize();
    const applied = cluster.applied.get(n1) ?? [];
    expect(applied.map((e) => [e.index, text(e.data)])).toEqual([
      [1, ''], // the leader's no-op (§8)
      [2, 'x=1'],
    ]);
    expect(cluster.core(n1).status().commit).toBe(2);
  });

  it('§5.2 three nodes elect exactly one leader after election timeouts, and it stays leader', () => {
    const cluster = new Cluster({ size: 3, seed: 7 });
    const ticks = cluster.tickUntil(() => cluster.leaders().length > 0, 10 * electionTicks);
    expect(ticks).toBeGreaterThanOrEqual(electionTicks);
    const [leader, ...others] = cluster.leaders();
    expect(others).toEqual([]);
    const term = cluster.core(leader!).status().term;
    for (const id of cluster.ids) {
      expect(cluster.core(id).status()).toMatchObject({ term, leader });
    }
    // With heartbeats flowing, nobody times out: same leader, same term, much later.
    cluster.tick(5 * electionTicks);
    expect(cluster.leaders()).toEqual([leader]);
    expect(cluster.core(leader!).status().term).toBe(term);
  });

  it('§5.2 election timeouts are randomized in [electionTicks, 2 * electionTicks) by the injected RNG', () => {
    /** Ticks a lone node of a 3-node cluster until it starts campaigning. */
    const timeoutOf = (seed: number): number => {
      const core = new RaftCore(raftConfig(n1, seed), freshState({ voters: [n1, n2, n3], learners: [] }));
      for (let ticks = 1; ticks <= 2 * electionTicks; ticks++) {
        core.tick();
        if (core.status().role !== 'follower') return ticks;
      }
      throw new Error('never campaigned');
    };
    const timeouts = Array.from({ length: 20 }, (_, seed) => timeoutOf(seed));
    for (const t of timeouts) {
      expect(t).toBeGreaterThanOrEqual(electionTicks);
      expect(t).toBeLessThan(2 * electionTicks);
    }
    // Different seeds pick different timeouts: 20 seeds spread over the 10 possible values...
    expect(new Set(timeouts).size).toBeGreaterThanOrEqual(4);
    // ...and the same seed replays the same timeout.
    expect(timeouts.map((_, seed) => timeoutOf(seed))).toEqual(timeouts);
  });

  it('§5.2 a node votes at most once per term: a second candidate in the same term is rejected', () => {
    const cluster = new Cluster({ size: 3 });
    const voter = cluster.core(n3);
    voter.step(voteRequest(n2, n3, 1, { index: 0, term: 0 }));
    const first = cluster.drain(n3);
    voter.step(voteRequest(n1, n3, 1, { index: 0, term: 0 }));
    const second = cluster.drain(n3);

    expect(voteResponses(first.flatMap((r) => r.messages))).toMatchObject([{ to: n2, term: 1, granted: true, preVote: false }]);
    expect(voteResponses(second.flatMap((r) => r.messages))).toMatchObject([{ to: n1, term: 1, granted: false }]);
    expect(voter.status()).toMatchObject({ term: 1, vote: n2 });
    // The same candidate asking again (a retried request) gets the same answer.
    voter.step(voteRequest(n2, n3, 1, { index: 0, term: 0 }));
    expect(voteResponses(cluster.drain(n3).flatMap((r) => r.messages))).toMatchObject([{ to: n2, granted: true }]);
  });

  it('§5.2 the vote is in the same Ready as the vote response: persisted before it is sent', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.core(n3).step(voteRequest(n2, n3, 4, { index: 0, term: 0 }));
    const readys = cluster.drain(n3);
    const withGrant = readys.filter((r) => voteResponses(r.messages).some((m) => m.granted));
    expect(withGrant).toHaveLength(1);
    expect(withGrant[0]!.hardState).toEqual({ term: 4, vote: n2, commit: 0 });
  });

  it('§5.2 a candidate persists its own vote and new term in the Ready that carries its vote requests', () => {
    const cluster = new Cluster({ size: 3, tunables: { preVote: false } });
    cluster.isolate(n1); // no answers: it stays a candidate and we look at what it sent
    cluster.tickUntil(() => cluster.core(n1).status().role === 'candidate', 2 * electionTicks, [n1]);
    const ready = cluster.readys.get(n1)!.find((r) => ofType(r.messages, 'vote-request').length > 0);
    expect(ready?.hardState).toEqual({ term: 1, vote: n1, commit: 0 });
    expect(ofType(ready!.messages, 'vote-request')).toMatchObject([
      { to: n2, term: 1, preVote: false },
      { to: n3, term: 1, preVote: false },
    ]);
  });

  it('§5.4.1 a voter rejects a candidate whose log is less up to date, even in a new term', () => {
    const cluster = new Cluster({
      size: 3,
      restored: (id, fresh) => (id === n3 ? { ...fresh, hardState: { term: 2, vote: null, commit: 0 }, entries: entries(1, 3, 2) } : fresh),
    });
    cluster.core(n3).step(voteRequest(n2, n3, 3, { index: 5, term: 1 }));
    const messages = cluster.drain(n3).flatMap((r) => r.messages);
    expect(voteResponses(messages)).toMatchObject([{ to: n2, term: 3, granted: false }]);
    // The term moves (§5.1), the vote does not.
    expect(cluster.core(n3).status()).toMatchObject({ term: 3, vote: null });
  });
});

describe('PreVote (thesis §9.6)', () => {
  it('thesis §9.6 a partitioned node that keeps timing out does not increase its term', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const term = cluster.core(n1).status().term;
    cluster.isolate(n3);
    cluster.tick(10 * electionTicks);
    expect(cluster.core(n3).status()).toMatchObject({ term, role: 'pre-candidate' });
    // It did campaign: it sent PreVote requests, for the next term, many times.
    const preVotes = ofType(cluster.sent, 'vote-request').filter((m) => m.from === n3);
    expect(preVotes.length).toBeGreaterThan(5);
    expect(preVotes.every((m) => m.preVote && m.term === term + 1)).toBe(true);
  });

  it('thesis §9.6 a partitioned node rejoining does not depose the leader', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const term = cluster.core(n1).status().term;
    cluster.isolate(n3);
    cluster.tick(10 * electionTicks);
    cluster.heal();
    cluster.tick(5 * electionTicks);
    expect(cluster.leaders()).toEqual([n1]);
    for (const id of cluster.ids) expect(cluster.core(id).status()).toMatchObject({ term, leader: n1 });
  });

  it('thesis §9.6 without PreVote the partitioned node does increase its term (what PreVote prevents)', () => {
    const cluster = new Cluster({ size: 3, tunables: { preVote: false } });
    cluster.elect(n1);
    const term = cluster.core(n1).status().term;
    cluster.isolate(n3);
    cluster.tick(10 * electionTicks);
    expect(cluster.core(n3).status().term).toBeGreaterThan(term + 3);
  });
});

describe('CheckQuorum (thesis §6.2)', () => {
  it('thesis §6.2 a leader cut off from all followers steps down within about one election timeout', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.tick(3 * electionTicks); // settle into the steady heartbeat rhythm
    expect(cluster.leaders()).toEqual([n1]);
    cluster.isolate(n1);
    const ticks = cluster.tickUntil(() => cluster.core(n1).status().role !== 'leader', 3 * electionTicks, [n1]);
    // Up to one election timeout to finish the current round, one more to notice the silence.
    expect(ticks).toBeLessThanOrEqual(2 * electionTicks);
    expect(cluster.core(n1).status()).toMatchObject({ role: 'follower', leader: null });
  });

  it('thesis §6.2 a leader that hears from a quorum stays leader', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.isolate(n3); // one follower left is still a quorum of 3
    cluster.tick(10 * electionTicks, [n1, n2]);
    expect(cluster.core(n1).status().role).toBe('leader');
  });

  it('thesis §6.2 without CheckQuorum an isolated leader stays leader (what CheckQuorum fixes)', () => {
    const cluster = new Cluster({ size: 3, tunables: { checkQuorum: false } });
    cluster.elect(n1);
    cluster.isolate(n1);
    cluster.tick(10 * electionTicks, [n1]);
    expect(cluster.core(n1).status().role).toBe('leader');
  });
});

describe('leader lease (thesis §4.2.3)', () => {
  it('thesis §4.2.3 a follower that heard from the leader recently ignores a higher-term vote request', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const follower = cluster.core(n3);
    const { term, lastIndex, lastTerm } = follower.status();
    follower.step(voteRequest(n2, n3, term + 1, { index: lastIndex, term: lastTerm }));
    const messages = cluster.drain(n3).flatMap((r) => r.messages);
    expect(voteResponses(messages)).toEqual([]);
    expect(follower.status()).toMatchObject({ term, leader: n1, vote: n1 });
  });

  it('thesis §3.10 a vote request from a leadership transfer is not subject to the lease', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const follower = cluster.core(n3);
    const { term, lastIndex, lastTerm } = follower.status();
    follower.step(voteRequest(n2, n3, term + 1, { index: lastIndex, term: lastTerm }, { transfer: true }));
    const messages = cluster.drain(n3).flatMap((r) => r.messages);
    expect(voteResponses(messages)).toMatchObject([{ to: n2, term: term + 1, granted: true }]);
    expect(follower.status()).toMatchObject({ term: term + 1, vote: n2 });
  });

  it('thesis §4.2.3 once the lease has expired (an election timeout without the leader) the follower votes', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.isolate(n1);
    // Tick the follower past the lease but before its own (randomized, >= electionTicks) timeout fires.
    cluster.tick(electionTicks, [n3]);
    const follower = cluster.core(n3);
    expect(follower.status().role).toBe('follower');
    const { term, lastIndex, lastTerm } = follower.status();
    follower.step(voteRequest(n2, n3, term + 1, { index: lastIndex, term: lastTerm }));
    expect(voteResponses(cluster.drain(n3).flatMap((r) => r.messages))).toMatchObject([{ to: n2, granted: true }]);
  });
});

describe('restart', () => {
  it('§5.2/Figure 2 a core restored from its persisted hard state keeps its term and vote and does not vote twice', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.core(n3).step(voteRequest(n2, n3, 5, { index: 0, term: 0 }));
    cluster.drain(n3);
    const restarted = cluster.restart(n3);
    expect(restarted.status()).toMatchObject({ term: 5, vote: n2, role: 'follower' });
    expect(cluster.disks.get(n3)!.hardState).toEqual({ term: 5, vote: n2, commit: 0 });

    restarted.step(voteRequest(n1, n3, 5, { index: 0, term: 0 }));
    expect(voteResponses(cluster.drain(n3).flatMap((r) => r.messages))).toMatchObject([{ to: n1, term: 5, granted: false }]);
    restarted.step(voteRequest(n2, n3, 5, { index: 0, term: 0 }));
    expect(voteResponses(cluster.drain(n3).flatMap((r) => r.messages))).toMatchObject([{ to: n2, term: 5, granted: true }]);
    expect(restarted.status().vote).toBe(n2);
  });

  it('§5.3 a restarted cluster keeps its log, elects a leader and commits new entries after the old ones', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    cluster.propose(n1, 'b');
    const before = cluster.log(n1);
    const term = cluster.core(n1).status().term;
    for (const id of cluster.ids) cluster.restart(id);
    for (const id of cluster.ids) {
      expect(cluster.core(id).status()).toMatchObject({ term, role: 'follower', leader: null });
      expect(cluster.log(id)).toEqual(before);
    }
    cluster.tickUntil(() => cluster.leaders().length > 0, 10 * electionTicks);
    const leader = cluster.leaders()[0]!;
    expect(cluster.core(leader).status().term).toBeGreaterThan(term);
    const index = cluster.propose(leader, 'c');
    expect(index).toBe(before.length + 2); // after the old entries and the new leader's no-op
    const applied = cluster.applied.get(leader)!.map((e) => text(e.data)).filter((d) => d !== '');
    expect(applied).toEqual(['a', 'b', 'c']);
  });
});
