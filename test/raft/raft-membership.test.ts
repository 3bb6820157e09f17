import { describe, expect, it } from 'vitest';
import {
  decodeConfChange,
  describeEntries,
  describeReady,
  isJoint,
  sameMembership,
  type ConfChangeOp,
  type ConfChangeResult,
  type Entry,
  type Membership,
  type NodeId,
} from '../../src/raft/index.js';
import { Cluster, bytes, n1, n2, n3, n4, n5, n6, noMembership, ofType, text } from './helpers.js';

const electionTicks = 10;

function confChange(cluster: Cluster, leader: NodeId, ...ops: ConfChangeOp[]): ConfChangeResult {
  return cluster.core(leader).proposeConfChange({ ops, context: bytes(ops.map((o) => `${o.type}:${o.node}`).join(' ')) });
}

/** Proposes a change on `leader`, expects it accepted, and stabilizes. */
function change(cluster: Cluster, leader: NodeId, ...ops: ConfChangeOp[]): number {
  const result = confChange(cluster, leader, ...ops);
  if (!result.ok) throw new Error(`${leader}: conf change refused: ${result.reason} (${result.detail})`);
  cluster.stabilize();
  return result.index;
}

const addLearner = (node: NodeId, autoPromote = false): ConfChangeOp => ({ type: 'add-learner', node, autoPromote });
const promote = (node: NodeId): ConfChangeOp => ({ type: 'promote', node });
const remove = (node: NodeId): ConfChangeOp => ({ type: 'remove', node });

function membershipOf(cluster: Cluster, id: NodeId): Membership {
  return cluster.core(id).status().membership;
}

function confEntries(cluster: Cluster, id: NodeId): Entry[] {
  return (cluster.applied.get(id) ?? []).filter((e) => e.type === 'conf-change');
}

/** Compares members and roles; the context (the caller's bytes, rule 7) is checked where a test is about it. */
function expectMembership(actual: Membership, expected: Membership): void {
  const { context: _context, ...members } = actual;
  expect(sameMembership(members, expected), `${JSON.stringify(members)} vs ${JSON.stringify(expected)}`).toBe(true);
}

describe('learners (thesis §4.2.1)', () => {
  it('a learner added to a running cluster starts empty, receives the whole log, and applies it', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    const index = change(cluster, n1, addLearner(n4));
    cluster.propose(n1, 'b');
    for (const id of cluster.ids) expectMembership(membershipOf(cluster, id), { voters: [n1, n2, n3], learners: [n4] });
    const learner = cluster.core(n4).status();
    expect(learner).toMatchObject({ role: 'follower', leader: n1, removed: false, commit: cluster.core(n1).status().commit });
    expect(cluster.log(n4)).toEqual(cluster.log(n1));
    // The committed conf-change entry comes back to the driver with the caller's context.
    const [entry] = confEntries(cluster, n1);
    expect(entry?.index).toBe(index);
    expect(text(decodeConfChange(entry!.data).context)).toBe('add-learner:n4');
    expect(cluster.core(n1).status().progress.get(n4)).toMatchObject({ voter: false, lag: 0 });
  });

  it('§4.2.1 a learner never counts toward commit', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    cluster.isolate(n2);
    cluster.isolate(n3);
    const before = cluster.core(n1).status().commit;
    const result = cluster.core(n1).propose(bytes('x'));
    cluster.stabilize();
    expect(result.ok).toBe(true);
    expect(cluster.core(n4).status().lastIndex).toBe(cluster.core(n1).status().lastIndex); // it has the entry
    expect(cluster.core(n1).status().commit).toBe(before); // and still nothing commits
  });

  it('§4.2.1 a learner never campaigns, even when the leader is gone or sends it TimeoutNow', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    cluster.isolate(n1);
    cluster.tick(5 * electionTicks, [n4]);
    expect(ofType(cluster.sent, 'vote-request').filter((m) => m.from === n4)).toEqual([]);
    expect(cluster.core(n4).status().role).toBe('follower');
    cluster.heal();
    expect(cluster.core(n1).transferLeadership(n4)).toEqual({ ok: false, reason: 'not-a-voter', leader: n1 });
  });

  it('thesis §6.2 a learner does not count toward CheckQuorum: a leader that hears only from it steps down', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    cluster.isolate(n2);
    cluster.isolate(n3);
    cluster.tickUntil(() => cluster.core(n1).status().role !== 'leader', 3 * electionTicks, [n1, n4]);
    expect(ofType(cluster.sent, 'heartbeat-response').some((m) => m.from === n4 && m.to === n1)).toBe(true);
  });

  it('thesis §6.4 a learner serves ReadIndex reads through the leader, and its ack does not confirm one', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    expect(cluster.core(n4).readIndex('r1')).toEqual({ ok: true });
    cluster.stabilize();
    expect(cluster.readStates.get(n4)).toEqual([{ context: 'r1', index: cluster.core(n1).status().commit }]);

    cluster.isolate(n2);
    cluster.isolate(n3);
    expect(cluster.core(n4).readIndex('r2')).toEqual({ ok: true });
    cluster.stabilize();
    expect(ofType(cluster.sent, 'heartbeat-response').some((m) => m.from === n4 && m.readContext === 'r2')).toBe(true);
    expect(cluster.readStates.get(n4)?.map((r) => r.context)).toEqual(['r1']); // the leader and the learner are no quorum
  });

  it('§4.2.1 promotion is refused until the learner is caught up, then makes it a voter', () => {
    const cluster = new Cluster({ size: 3, joining: 1, tunables: { promoteLagEntriesMax: 2 } });
    cluster.elect(n1);
    cluster.isolate(n4);
    change(cluster, n1, addLearner(n4));
    for (let i = 0; i < 5; i++) cluster.propose(n1, `p${i}`);
    expect(confChange(cluster, n1, promote(n4))).toMatchObject({ ok: false, reason: 'learner-not-caught-up', leader: n1 });
    expect(cluster.core(n1).status().progress.get(n4)?.lag).toBeGreaterThan(2);
    cluster.heal();
    cluster.tick(2);
    const index = change(cluster, n1, promote(n4));
    for (const id of cluster.ids) expectMembership(membershipOf(cluster, id), { voters: [n1, n2, n3, n4], learners: [] });
    expect(cluster.core(n1).status().commit).toBeGreaterThanOrEqual(index);
    expect(isJoint(membershipOf(cluster, n1))).toBe(false); // one voter apart: no joint phase
  });

  it('an auto-promote learner is promoted by the leader once caught up, and a new leader carries on', () => {
    const cluster = new Cluster({ size: 3, joining: 1, tunables: { promoteLagEntriesMax: 0 } });
    cluster.elect(n1);
    cluster.isolate(n4);
    change(cluster, n1, addLearner(n4, true));
    expectMembership(membershipOf(cluster, n2), { voters: [n1, n2, n3], learners: [n4], autoPromote: [n4] });
    // The leader that added it goes away before n4 catches up; n2 takes over.
    cluster.isolate(n1);
    cluster.tick(3 * electionTicks, [n2, n3]);
    const [leader] = cluster.leaders().filter((id) => id !== n1);
    expect(leader).toBeDefined();
    cluster.heal();
    cluster.isolate(n1);
    cluster.tick(3, [leader!, n4]);
    const promoted = confEntries(cluster, leader!).map((e) => decodeConfChange(e.data)).find((r) => r.kind === 'auto-promote');
    expect(promoted?.ops).toEqual([promote(n4)]);
    expectMembership(membershipOf(cluster, n4), { voters: [n1, n2, n3, n4], learners: [] });
  });
});

describe('one change at a time (thesis §4.1, raft-dev 2015)', () => {
  it('a second change is refused while the first is not applied; after it is, one is accepted', () => {
    const cluster = new Cluster({ size: 3, joining: 2 });
    cluster.elect(n1);
    const first = confChange(cluster, n1, addLearner(n4));
    expect(first.ok).toBe(true);
    expect(confChange(cluster, n1, addLearner(n5))).toMatchObject({ ok: false, reason: 'change-pending' });
    expect(cluster.core(n1).status().pendingConfIndex).toBe(first.ok ? first.index : -1);
    cluster.stabilize();
    expect(cluster.core(n1).status().pendingConfIndex).toBe(0);
    expect(confChange(cluster, n1, addLearner(n5)).ok).toBe(true);
  });

  it('no change before the leader has committed an entry of its own term', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.dropIf = (m) => m.type === 'append-response'; // the new leader's no-op cannot commit
    cluster.elect(n1);
    expect(cluster.core(n1).status().commit).toBe(0);
    expect(confChange(cluster, n1, remove(n3))).toMatchObject({ ok: false, reason: 'leader-not-ready', leader: n1 });
    cluster.heal();
    cluster.tick(1, [n1]);
    expect(confChange(cluster, n1, remove(n3)).ok).toBe(true);
  });

  it('refusals: not the leader, transferring, bad input; each changes nothing', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const before = cluster.core(n1).status();
    expect(confChange(cluster, n2, remove(n3))).toMatchObject({ ok: false, reason: 'not-leader', leader: n1 });
    expect(confChange(cluster, n1)).toMatchObject({ ok: false, reason: 'invalid', detail: 'a change needs at least one operation' });
    expect(confChange(cluster, n1, remove(n6))).toMatchObject({ ok: false, reason: 'unknown-member', detail: 'n6 is not a member' });
    expect(confChange(cluster, n1, addLearner(n2))).toMatchObject({ ok: false, reason: 'member-exists' });
    cluster.isolate(n3);
    expect(cluster.core(n1).transferLeadership(n3).ok).toBe(true);
    expect(confChange(cluster, n1, remove(n2))).toMatchObject({ ok: false, reason: 'transferring-leadership' });
    const after = cluster.core(n1).status();
    expect(after.lastIndex).toBe(before.lastIndex);
    expect(after.membership).toEqual(before.membership);
  });
});

describe('joint consensus (thesis §4.3)', () => {
  it('replacing two voters goes through C_old,new, which the leader leaves by itself', () => {
    const cluster = new Cluster({ size: 3, joining: 2 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    change(cluster, n1, addLearner(n5));
    const jointIndex = change(cluster, n1, promote(n4), promote(n5), remove(n2), remove(n3));
    const records = confEntries(cluster, n1).map((e) => ({ index: e.index, record: decodeConfChange(e.data) }));
    const joint = records.find((r) => r.index === jointIndex)!;
    expectMembership(joint.record.membership, { voters: [n1, n4, n5], learners: [], outgoingVoters: [n1, n2, n3] });
    const leave = records.find((r) => r.record.kind === 'leave-joint')!;
    expect(leave.index).toBeGreaterThan(jointIndex);
    for (const id of [n1, n4, n5]) expectMembership(membershipOf(cluster, id), { voters: [n1, n4, n5], learners: [] });
    expect(cluster.core(n2).status().removed).toBe(true);
    expect(cluster.core(n3).status().removed).toBe(true);
    expect(cluster.propose(n1, 'after')).toBeGreaterThan(leave.index);
    expect(cluster.core(n5).status().commit).toBe(cluster.core(n1).status().lastIndex);
  });

  it('§4.3 while joint, a majority of C_old alone commits nothing, nor does one of C_new alone', () => {
    for (const [reachable, unreachable] of [
      [[n2, n3], [n4, n5]], // a majority of C_old only
      [[n4, n5], [n2, n3]], // a majority of C_new (with the leader) and no majority of C_old
    ] as const) {
      const cluster = new Cluster({ size: 3, joining: 2 });
      cluster.elect(n1);
      change(cluster, n1, addLearner(n4));
      change(cluster, n1, addLearner(n5));
      for (const id of unreachable) cluster.isolate(id);
      const result = confChange(cluster, n1, promote(n4), promote(n5), remove(n2), remove(n3));
      expect(result.ok).toBe(true);
      const jointIndex = result.ok ? result.index : 0;
      expect(isJoint(membershipOf(cluster, n1))).toBe(true);
      cluster.tick(3, [n1, ...reachable]);
      for (const id of reachable) expect(cluster.core(id).status().lastIndex).toBe(jointIndex);
      expect(cluster.core(n1).status().commit).toBeLessThan(jointIndex);
      cluster.heal();
      cluster.tick(2, [n1]);
      expect(cluster.core(n1).status().commit).toBeGreaterThan(jointIndex); // the joint entry and the leave
    }
  });

  it('§4.3 while joint, an election needs a majority of both configurations', () => {
    const cluster = new Cluster({ size: 3, joining: 2 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    change(cluster, n1, addLearner(n5));
    // Deliver the joint entry, but not what follows it (the leave), by cutting n1 right after.
    cluster.dropIf = (m) => m.from === n1 && m.type === 'append' && m.entries.some((e) => e.type === 'conf-change' && decodeConfChange(e.data).kind === 'leave-joint');
    change(cluster, n1, promote(n4), promote(n5), remove(n2), remove(n3));
    for (const id of [n2, n3, n4, n5]) expect(isJoint(membershipOf(cluster, id))).toBe(true);
    cluster.heal();
    cluster.isolate(n1);
    cluster.isolate(n4);
    cluster.isolate(n5);
    cluster.tick(5 * electionTicks, [n2, n3]); // a majority of C_old, none of C_new
    expect(cluster.leaders().filter((id) => id !== n1)).toEqual([]);
    cluster.heal();
    cluster.isolate(n1);
    cluster.tickUntil(() => cluster.leaders().some((id) => id !== n1), 10 * electionTicks, [n2, n3, n4, n5]);
    const leader = cluster.leaders().find((id) => id !== n1)!;
    // The new leader finishes the change: it leaves the joint configuration by itself.
    cluster.tick(2, [n2, n3, n4, n5]);
    expectMembership(membershipOf(cluster, leader), { voters: [n1, n4, n5], learners: [] });
  });
});

describe('when a configuration takes effect: on append (conf-change.ts rule 2)', () => {
  it('a follower adopts a configuration as soon as it appends the entry, before commit', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    cluster.elect(n1);
    cluster.dropIf = (m) => m.type === 'append-response'; // nothing commits
    const result = confChange(cluster, n1, addLearner(n4));
    cluster.stabilize();
    expect(result.ok).toBe(true);
    const readys = cluster.readys.get(n2)!;
    const adopted = readys.find((r) => r.membership !== null);
    expect(adopted?.membership?.learners).toEqual([n4]);
    expect(describeReady(adopted!)).toContain('membership=[voters=n1,n2,n3 learners=n4]');
    expect(cluster.core(n2).status().commit).toBeLessThan(result.ok ? result.index : 0);
  });

  it('a configuration whose entry a new leader overwrites is undone', () => {
    const cluster = new Cluster({ size: 5 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    // Only n2 receives the removal of n5; it never commits.
    cluster.dropIf = (m) => m.from === n1 && m.to !== n2;
    const result = confChange(cluster, n1, remove(n5));
    cluster.stabilize();
    expect(result.ok).toBe(true);
    expectMembership(membershipOf(cluster, n2), { voters: [n1, n2, n3, n4], learners: [] });
    cluster.heal();
    cluster.isolate(n1);
    cluster.isolate(n2);
    cluster.tickUntil(() => cluster.leaders().some((id) => id !== n1 && id !== n2), 10 * electionTicks, [n3, n4, n5]);
    const leader = cluster.leaders().find((id) => id !== n1 && id !== n2)!;
    cluster.propose(leader, 'b');
    cluster.heal();
    cluster.tick(2);
    // n2's copy of the entry was overwritten: n5 is a voter again everywhere, the old leader included.
    for (const id of cluster.ids) expectMembership(membershipOf(cluster, id), { voters: [n1, n2, n3, n4, n5], learners: [] });
    expect(cluster.core(n2).termAt(result.ok ? result.index : 0)).toBe(cluster.core(leader).status().term);
  });

  it('a restart in the middle of a joint change rebuilds the same configuration from the restored state and the log', () => {
    const cluster = new Cluster({ size: 3, joining: 2 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    change(cluster, n1, addLearner(n5));
    cluster.dropIf = (m) => m.from === n1 && m.type === 'append' && m.entries.some((e) => e.type === 'conf-change' && decodeConfChange(e.data).kind === 'leave-joint');
    change(cluster, n1, promote(n4), promote(n5), remove(n2), remove(n3));
    for (const id of [n2, n3, n4]) {
      const before = membershipOf(cluster, id);
      expect(isJoint(before)).toBe(true);
      cluster.restart(id);
      expect(membershipOf(cluster, id)).toEqual(before);
    }
    cluster.restart(n1); // the leader had appended the leave
    expectMembership(membershipOf(cluster, n1), { voters: [n1, n4, n5], learners: [] });
    cluster.heal();
    cluster.tickUntil(() => cluster.leaders().length === 1 && !isJoint(membershipOf(cluster, cluster.leaders()[0]!)), 20 * electionTicks);
    cluster.tick(2);
    for (const id of [n1, n4, n5]) expectMembership(membershipOf(cluster, id), { voters: [n1, n4, n5], learners: [] });
  });

  it('a snapshot taken while joint records the joint configuration at its index, and a new member catches up from it', () => {
    const cluster = new Cluster({ size: 3, joining: 3 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n4));
    change(cluster, n1, addLearner(n5));
    cluster.dropIf = (m) => m.from === n1 && m.type === 'append' && m.entries.some((e) => e.type === 'conf-change' && decodeConfChange(e.data).kind === 'leave-joint');
    const jointIndex = change(cluster, n1, promote(n4), promote(n5), remove(n2), remove(n3));
    cluster.tick(1, [n1]); // a heartbeat tells n2 the joint entry is committed; the leave is still held back
    // The leader has already appended the leave, but a snapshot at the joint index must say joint.
    expect(isJoint(membershipOf(cluster, n1))).toBe(false);
    expect(isJoint(cluster.core(n1).membershipAt(jointIndex))).toBe(true);
    expect(cluster.core(n2).status().applied).toBe(jointIndex);
    const snapshot = cluster.compact(n2, 0);
    expect(snapshot.meta.index).toBeGreaterThanOrEqual(jointIndex);
    expect(isJoint(snapshot.meta.membership)).toBe(true);
    cluster.restart(n2);
    expect(isJoint(membershipOf(cluster, n2))).toBe(true);
    cluster.heal();
    // The leader compacts too, then adds n6, which can only catch up from the snapshot.
    cluster.stabilize();
    cluster.tick(2);
    cluster.compact(n1, 0);
    change(cluster, n1, addLearner(n6));
    expect(ofType(cluster.sent, 'snapshot').some((m) => m.to === n6)).toBe(true);
    cluster.tick(2);
    expectMembership(membershipOf(cluster, n6), { voters: [n1, n4, n5], learners: [n6] });
    expect(cluster.log(n6)).toEqual(cluster.log(n1).slice(-cluster.log(n6).length));
    expect(cluster.core(n6).status().commit).toBe(cluster.core(n1).status().commit);
  });
});

describe('removing the leader (thesis §4.2.2)', () => {
  it('the leader commits its removal, hands over with TimeoutNow to the most up-to-date voter, and steps down', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    const term = cluster.core(n1).status().term;
    const index = change(cluster, n1, remove(n1));
    const timeoutNow = ofType(cluster.sent, 'timeout-now').filter((m) => m.from === n1);
    expect(timeoutNow).toHaveLength(1);
    const successor = timeoutNow[0]!.to;
    expect([n2, n3]).toContain(successor);
    expect(cluster.leaders()).toEqual([successor]);
    expect(cluster.core(successor).status()).toMatchObject({ term: term + 1 });
    expect(cluster.core(successor).status().commit).toBeGreaterThanOrEqual(index);
    expect(cluster.core(n1).status()).toMatchObject({ role: 'follower', removed: true });
    expectMembership(membershipOf(cluster, n2), { voters: [n2, n3], learners: [] });
    expect(cluster.propose(successor, 'b')).toBeGreaterThan(index);
  });

  it('a removed node never campaigns and does not disrupt the remaining members (PreVote, CheckQuorum)', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    change(cluster, n1, remove(n3));
    expect(cluster.core(n3).status().removed).toBe(true);
    const term = cluster.core(n1).status().term;
    const sentBefore = cluster.sent.length;
    cluster.tick(10 * electionTicks);
    expect(cluster.sent.slice(sentBefore).filter((m) => m.from === n3 && m.type === 'vote-request')).toEqual([]);
    expect(cluster.leaders()).toEqual([n1]);
    expect(cluster.core(n1).status().term).toBe(term);
    expect(cluster.core(n3).status().role).toBe('follower');
  });

  it('thesis §4.2.2 a node left out of its newest, uncommitted configuration still campaigns when it alone can win', () => {
    const cluster = new Cluster({ size: 2, joining: 1 });
    cluster.elect(n1);
    change(cluster, n1, addLearner(n3));
    // Replace n1 by n3: joint C_old {n1,n2}, C_new {n2,n3}. The leave reaches no one but n1.
    cluster.dropIf = (m) => m.from === n1 && m.type === 'append' && m.entries.some((e) => e.type === 'conf-change' && decodeConfChange(e.data).kind === 'leave-joint');
    const jointIndex = change(cluster, n1, promote(n3), remove(n1));
    expectMembership(membershipOf(cluster, n1), { voters: [n2, n3], learners: [] });
    expect(cluster.core(n1).status().commit).toBeGreaterThanOrEqual(jointIndex);
    // n1 restarts: its log is the longest (it holds the leave), so neither n2 nor n3 can get the
    // vote of C_old's n1; only n1 can win, counting votes under C_new.
    cluster.restart(n1);
    cluster.heal();
    expect(cluster.core(n1).status().removed).toBe(true);
    cluster.tickUntil(() => cluster.leaders().some((id) => id !== n1), 20 * electionTicks);
    const leader = cluster.leaders().find((id) => id !== n1)!;
    expect(ofType(cluster.sent, 'timeout-now').some((m) => m.from === n1 && m.to === leader)).toBe(true); // n1 led, then handed over
    for (const id of [n2, n3]) expectMembership(membershipOf(cluster, id), { voters: [n2, n3], learners: [] });
    expect(cluster.core(n1).status()).toMatchObject({ role: 'follower', removed: true });
  });

  it('thesis §4.2.3 a removed node that never hears its removal committed campaigns in vain: PreVote and leases keep the cluster undisturbed', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.dropIf = (m) => m.to === n3 && m.type === 'heartbeat'; // the word that the removal committed is lost
    const index = change(cluster, n1, remove(n3));
    expect(cluster.core(n3).status()).toMatchObject({ removed: true });
    expect(cluster.core(n3).status().commit).toBeLessThan(index);
    const term = cluster.core(n1).status().term;
    const sentBefore = cluster.sent.length;
    cluster.tick(10 * electionTicks);
    const campaign = cluster.sent.slice(sentBefore).filter((m) => m.from === n3 && m.type === 'vote-request');
    expect(campaign.length).toBeGreaterThan(0);
    expect(campaign.every((m) => m.type === 'vote-request' && m.preVote)).toBe(true);
    expect(cluster.leaders()).toEqual([n1]);
    expect(cluster.core(n1).status().term).toBe(term);
    expect(cluster.core(n2).status().term).toBe(term);
  });

  it('a removed node that restarts still knows it was removed', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    change(cluster, n1, remove(n3));
    cluster.compact(n3, 0);
    cluster.restart(n3);
    expect(cluster.core(n3).status()).toMatchObject({ removed: true });
  });

  it('a member not yet added reads as not removed, with no configuration', () => {
    const cluster = new Cluster({ size: 3, joining: 1 });
    expect(cluster.core(n4).status()).toMatchObject({ removed: false, membership: noMembership });
  });
});

describe('describe', () => {
  it('marks conf-change entries in entry runs', () => {
    const entry = (index: number, type: Entry['type']): Entry => ({ index, term: 2, type, data: new Uint8Array(0) });
    expect(describeEntries([entry(1, 'normal'), entry(2, 'normal'), entry(3, 'conf-change'), entry(4, 'normal')])).toBe('[1..2/t2 3/t2:conf 4/t2]');
  });
});
