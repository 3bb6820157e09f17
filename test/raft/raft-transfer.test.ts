import { describe, expect, it } from 'vitest';
import { Cluster, bytes, n1, n2, n3, n4, ofType } from './helpers.js';

const electionTicks = 10;

describe('leadership transfer (thesis §3.10)', () => {
  it('thesis §3.10 the target of a transfer becomes leader in the next term', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    const term = cluster.core(n1).status().term;
    expect(cluster.core(n1).transferLeadership(n2)).toEqual({ ok: true });
    cluster.stabilize();
    expect(ofType(cluster.sent, 'timeout-now')).toMatchObject([{ from: n1, to: n2, term }]);
    expect(cluster.leaders()).toEqual([n2]);
    for (const id of cluster.ids) expect(cluster.core(id).status()).toMatchObject({ term: term + 1, leader: n2 });
    // The campaign skipped PreVote and was marked as a transfer, so followers in the lease voted.
    const requests = ofType(cluster.sent, 'vote-request').filter((m) => m.from === n2);
    expect(requests.every((m) => m.transfer && !m.preVote)).toBe(true);
    expect(cluster.propose(n2, 'b')).toBe(4);
  });

  it("thesis §3.10 proposals are refused with 'transferring-leadership' while a transfer is under way", () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    expect(cluster.core(n1).transferLeadership(n2)).toEqual({ ok: true });
    expect(cluster.core(n1).propose(bytes('x'))).toEqual({ ok: false, reason: 'transferring-leadership', leader: n1 });
  });

  it('thesis §3.10 a transfer to a lagging follower first catches it up, then sends TimeoutNow', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.isolate(n3);
    for (let i = 0; i < 5; i++) cluster.propose(n1, `p${i}`);
    const lastIndex = cluster.core(n1).status().lastIndex;
    expect(cluster.core(n3).status().lastIndex).toBeLessThan(lastIndex);
    cluster.heal();

    const sentBefore = cluster.sent.length;
    expect(cluster.core(n1).transferLeadership(n3)).toEqual({ ok: true });
    const [first] = cluster.drain(n1);
    expect(ofType(first!.messages, 'timeout-now')).toEqual([]); // not yet: n3 would lose the election
    cluster.stabilize();

    const after = cluster.sent.slice(sentBefore);
    const timeoutNow = after.findIndex((m) => m.type === 'timeout-now');
    const caughtUp = after.findIndex((m) => m.type === 'append-response' && m.from === n3 && m.success && m.index === lastIndex);
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    expect(cluster.leaders()).toEqual([n3]);
    expect(cluster.log(n3).slice(0, lastIndex)).toEqual(cluster.log(n1).slice(0, lastIndex));
  });

  it('thesis §3.10 a transfer that cannot complete is abandoned after an election timeout, and proposals are accepted again', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.isolate(n3);
    const leader = cluster.core(n1);
    expect(leader.transferLeadership(n3)).toEqual({ ok: true });
    expect(leader.status().transferee).toBe(n3);
    const ticks = cluster.tickUntil(() => leader.propose(bytes('x')).ok, 3 * electionTicks, [n1, n2]);
    expect(ticks).toBeLessThanOrEqual(electionTicks);
    expect(ticks).toBeGreaterThan(1); // not abandoned at once
    expect(leader.status()).toMatchObject({ role: 'leader', transferee: null });
    cluster.stabilize();
    expect(leader.status().commit).toBe(2);
  });

  it('thesis §3.10 a transfer is refused on a follower, to the leader itself, and to a non-member', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    expect(cluster.core(n2).transferLeadership(n3)).toEqual({ ok: false, reason: 'not-leader', leader: n1 });
    expect(cluster.core(n1).transferLeadership(n1)).toEqual({ ok: false, reason: 'already-leader', leader: n1 });
    expect(cluster.core(n1).transferLeadership(n4)).toEqual({ ok: false, reason: 'not-a-voter', leader: n1 });
    expect(cluster.core(n1).propose(bytes('x')).ok).toBe(true); // none of them started a transfer
  });
});
