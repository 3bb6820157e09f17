import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/raft/index.js';
import { Cluster, bytes, n1, n2, n3, ofType } from './helpers.js';

const electionTicks = 10;
const isHeartbeatTraffic = (m: Message): boolean => m.type === 'heartbeat' || m.type === 'heartbeat-response';

describe('ReadIndex (thesis §6.4)', () => {
  it('thesis §6.4 a leader releases a read only after a quorum of heartbeat responses, at its commit index when asked', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.propose(n1, 'a');
    const leader = cluster.core(n1);
    const commitWhenAsked = leader.status().commit;
    expect(commitWhenAsked).toBe(2);

    expect(leader.readIndex('r1')).toEqual({ ok: true });
    cluster.drain(n1);
    const heartbeats = ofType(cluster.network, 'heartbeat');
    expect(heartbeats.map((m) => [m.to, m.readContext])).toEqual([
      [n2, 'r1'],
      [n3, 'r1'],
    ]);
    // Meanwhile the log moves on: a new entry commits through appends alone.
    expect(leader.propose(bytes('b')).ok).toBe(true);
    cluster.stabilize(isHeartbeatTraffic);
    expect(leader.status().commit).toBe(3);
    expect(cluster.readStates.get(n1)).toEqual([]);

    // n2 answers the heartbeat; with the leader itself that is a quorum of 3.
    cluster.deliver((m) => m.type === 'heartbeat' && m.to === n2);
    cluster.drain(n2);
    expect(cluster.readStates.get(n1)).toEqual([]);
    cluster.deliver((m) => m.type === 'heartbeat-response' && m.from === n2);
    cluster.drain(n1);
    expect(cluster.readStates.get(n1)).toEqual([{ context: 'r1', index: commitWhenAsked }]);
  });

  it('thesis §6.4 a read is not released without a quorum: no heartbeat responses, no read state', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.core(n1).readIndex('r1');
    cluster.stabilize((m) => m.type === 'heartbeat-response');
    expect(cluster.readStates.get(n1)).toEqual([]);
    expect(ofType(cluster.network, 'heartbeat-response')).toHaveLength(2);
  });

  it('thesis §6.4 one heartbeat round confirms every read queued before it', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const leader = cluster.core(n1);
    leader.readIndex('r1');
    leader.readIndex('r2');
    leader.readIndex('r1'); // a duplicate context is the same request
    cluster.stabilize();
    expect(cluster.readStates.get(n1)).toEqual([
      { context: 'r1', index: 1 },
      { context: 'r2', index: 1 },
    ]);
  });

  it('thesis §6.4 a leader keeps one confirmation round in flight: requests arriving meanwhile go together in the next round, never confirmed by the earlier one', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    const leader = cluster.core(n1);
    leader.readIndex('r1');
    cluster.drain(n1);
    expect(ofType(cluster.network, 'heartbeat').map((m) => m.readContext)).toEqual(['r1', 'r1']);
    // r2 (the leader's own) and r3 (a follower's batch) arrive while r1's round is out: no new round.
    leader.readIndex('r2');
    cluster.core(n2).readIndex('r3');
    cluster.drain(n2);
    cluster.deliver((m) => m.type === 'read-index');
    cluster.drain(n1);
    expect(ofType(cluster.network, 'heartbeat')).toHaveLength(2);
    // r1's acks confirm r1 only; the next round, sent at once, carries the newest request.
    cluster.deliver((m) => m.type === 'heartbeat');
    cluster.drain(n2);
    cluster.drain(n3);
    cluster.deliver((m) => m.type === 'heartbeat-response');
    cluster.drain(n1);
    expect(cluster.readStates.get(n1)).toEqual([{ context: 'r1', index: 1 }]);
    expect(ofType(cluster.network, 'heartbeat').map((m) => m.readContext)).toEqual(['r3', 'r3']);
    cluster.stabilize();
    expect(cluster.readStates.get(n1)).toEqual([
      { context: 'r1', index: 1 },
      { context: 'r2', index: 1 },
    ]);
    expect(cluster.readStates.get(n2)).toEqual([{ context: 'r3', index: 1 }]);
    expect(ofType(cluster.sent, 'heartbeat').map((m) => m.readContext).filter((c) => c !== '')).toEqual(['r1', 'r1', 'r3', 'r3']);
  });

  it('thesis §6.4 a read on a new leader waits until it has committed an entry of its term', () => {
    const cluster = new Cluster({ size: 3 });
    // The followers' acknowledgements of the new leader's no-op are lost, so it cannot commit it.
    cluster.dropIf = (m) => m.type === 'append-response';
    cluster.elect(n1);
    const leader = cluster.core(n1);
    expect(leader.status()).toMatchObject({ role: 'leader', commit: 0 });
    expect(leader.readIndex('r1')).toEqual({ ok: true });
    cluster.tick(3, [n1]);
    // Heartbeats went round and were answered, yet the read waits.
    expect(ofType(cluster.sent, 'heartbeat-response').length).toBeGreaterThanOrEqual(4);
    expect(cluster.readStates.get(n1)).toEqual([]);

    cluster.heal();
    cluster.tickUntil(() => (cluster.readStates.get(n1) ?? []).length > 0, 3 * electionTicks, [n1]);
    const { commit, term } = leader.status();
    expect(commit).toBe(1);
    expect(leader.termAt(1)).toBe(term);
    expect(cluster.readStates.get(n1)).toEqual([{ context: 'r1', index: 1 }]);
  });

  it("thesis §6.4 a read on a follower is forwarded and answered with the leader's commit index", () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    // n2 falls behind: it gets heartbeats but no appends, so its commit index lags the leader's.
    cluster.dropIf = (m) => m.type === 'append' && m.to === n2;
    cluster.propose(n1, 'a');
    cluster.propose(n1, 'b');
    expect(cluster.core(n1).status().commit).toBe(3);
    expect(cluster.core(n2).status().commit).toBe(1);

    expect(cluster.core(n2).readIndex('f1')).toEqual({ ok: true });
    cluster.stabilize();
    expect(ofType(cluster.sent, 'read-index')).toMatchObject([{ from: n2, to: n1, context: 'f1' }]);
    expect(ofType(cluster.sent, 'read-index-response')).toMatchObject([{ from: n1, to: n2, context: 'f1', index: 3 }]);
    // n2 may serve the read only once it has applied index 3, which it does not have yet.
    expect(cluster.readStates.get(n2)).toEqual([{ context: 'f1', index: 3 }]);
    expect(cluster.readStates.get(n1)).toEqual([]);
  });

  it('thesis §6.4 a leader cut off from the majority never releases a read', () => {
    // No CheckQuorum, so the deposed-in-all-but-name leader keeps believing it leads.
    const cluster = new Cluster({ size: 3, tunables: { checkQuorum: false } });
    cluster.elect(n1);
    cluster.isolate(n1);
    expect(cluster.core(n1).readIndex('r1')).toEqual({ ok: true });
    cluster.tick(10 * electionTicks, [n1]);
    expect(cluster.core(n1).status().role).toBe('leader');
    expect(cluster.readStates.get(n1)).toEqual([]);
  });

  it('thesis §6.4 with CheckQuorum the cut-off leader steps down and the read is dropped, never served', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.elect(n1);
    cluster.isolate(n1);
    cluster.core(n1).readIndex('r1');
    cluster.tick(10 * electionTicks, [n1]);
    expect(cluster.core(n1).status().role).not.toBe('leader');
    cluster.heal();
    cluster.tick(5 * electionTicks);
    expect(cluster.readStates.get(n1)).toEqual([]);
  });

  it("thesis §6.4.1 readMode 'lease' serves a read at once once a quorum acknowledged a recent heartbeat round", () => {
    const cluster = new Cluster({ size: 3, tunables: { readMode: 'lease' } });
    cluster.elect(n1);
    cluster.tick(1); // one heartbeat round, acknowledged: the lease starts
    cluster.network = [];
    expect(cluster.core(n1).readIndex('r1')).toEqual({ ok: true });
    const [ready] = cluster.drain(n1);
    expect(ready!.readStates).toEqual([{ context: 'r1', index: 1 }]);
    expect(ofType(ready!.messages, 'heartbeat')).toEqual([]);
  });

  it("thesis §6.4.1 a new lease-mode leader has no lease before its first acknowledged heartbeat round", () => {
    const cluster = new Cluster({ size: 3, tunables: { readMode: 'lease' } });
    cluster.elect(n1);
    cluster.network = [];
    expect(cluster.core(n1).readIndex('r1')).toEqual({ ok: true });
    const [ready] = cluster.drain(n1);
    expect(ready!.readStates).toEqual([]);
    expect(ofType(ready!.messages, 'heartbeat').length).toBe(2);
  });

  it("thesis §6.4.1 a lease-mode leader cut off from the quorum stops serving reads before a new leader can commit (no clock drift here)", () => {
    // Thesis §6.4.1: the lease runs from the start of the last heartbeat round a majority
    // acknowledged, for less than an election timeout. The followers stop honouring the old
    // leader after one election timeout without hearing from it (thesis §4.2.3), so a leader
    // that is still serving lease reads later than that can return stale data.
    const cluster = new Cluster({ size: 3, tunables: { readMode: 'lease' } });
    cluster.elect(n1);
    cluster.tick(25);
    cluster.isolate(n1);
    let write: { index: number; committedAtTick: number } | null = null;
    const staleReads: string[] = [];
    for (let tick = 1; tick <= 4 * electionTicks; tick++) {
      cluster.tick(1);
      const newLeader = cluster.leaders().find((id) => id !== n1);
      if (newLeader !== undefined && write === null) write = { index: cluster.propose(newLeader, 'w'), committedAtTick: tick };
      if (cluster.core(n1).status().role !== 'leader') continue;
      cluster.core(n1).readIndex(`r${tick}`);
      cluster.drain(n1);
      const served = cluster.readStates.get(n1)!.find((r) => r.context === `r${tick}`);
      if (served !== undefined && write !== null && served.index < write.index) {
        staleReads.push(`tick ${tick}: read at ${served.index} after index ${write.index} committed at tick ${write.committedAtTick}`);
      }
    }
    expect(write).not.toBeNull(); // the majority side did elect a leader and commit a write
    expect(staleReads).toEqual([]);
  });

  it("thesis §3.10/§6.4.1 a lease-mode leader that has sent TimeoutNow no longer serves reads from its lease", () => {
    // The transfer target's election bypasses the followers' lease (the vote request is marked
    // as a transfer), so the old leader's lease no longer protects anything once it sent TimeoutNow.
    const cluster = new Cluster({ size: 3, tunables: { readMode: 'lease' } });
    cluster.elect(n1);
    expect(cluster.core(n1).transferLeadership(n2)).toEqual({ ok: true });
    cluster.drain(n1);
    expect(ofType(cluster.network, 'timeout-now')).toMatchObject([{ to: n2 }]);
    // The TimeoutNow reaches n2; then n1 is cut off from everyone.
    cluster.deliver((m) => m.type === 'timeout-now');
    cluster.isolate(n1);
    cluster.stabilize();
    expect(cluster.leaders()).toContain(n2);
    const write = cluster.propose(n2, 'w');
    expect(cluster.core(n2).status().commit).toBe(write);

    expect(cluster.core(n1).status().role).toBe('leader'); // it has not heard of term 2
    cluster.core(n1).readIndex('r1');
    cluster.drain(n1);
    const served = cluster.readStates.get(n1)!.filter((r) => r.index < write);
    expect(served).toEqual([]);
  });

  it('thesis §6.4 a read repeated with the same context while the leader awaits its first commit yields one read state', () => {
    const cluster = new Cluster({ size: 3 });
    cluster.dropIf = (m) => m.type === 'append-response';
    cluster.elect(n1);
    const leader = cluster.core(n1);
    leader.readIndex('r1');
    leader.readIndex('r1'); // a client retry with the same context
    cluster.heal();
    cluster.tick(3, [n1]);
    // As when the duplicate arrives after the first commit (see 'one heartbeat round confirms
    // every read queued before it'): one request, one read state.
    expect(cluster.readStates.get(n1)).toEqual([{ context: 'r1', index: 1 }]);
  });

  it('thesis §6.4 a single-voter leader serves reads at once (it is its own quorum)', () => {
    const cluster = new Cluster({ size: 1 });
    cluster.elect(n1);
    cluster.core(n1).readIndex('r1');
    cluster.drain(n1);
    expect(cluster.readStates.get(n1)).toEqual([{ context: 'r1', index: 1 }]);
  });

  it("thesis §6.4 readIndex on a node that knows no leader is refused with 'no-leader'", () => {
    const cluster = new Cluster({ size: 3 });
    expect(cluster.core(n2).readIndex('r1')).toEqual({ ok: false, reason: 'no-leader', leader: null });
    expect(cluster.drain(n2).flatMap((r) => r.messages)).toEqual([]);
  });

  it("a leader refuses reads beyond pendingReadsMax with 'too-many-pending-reads'", () => {
    const cluster = new Cluster({ size: 3, tunables: { pendingReadsMax: 2 } });
    cluster.elect(n1);
    const leader = cluster.core(n1);
    expect(leader.readIndex('r1').ok).toBe(true);
    expect(leader.readIndex('r2').ok).toBe(true);
    expect(leader.readIndex('r3')).toEqual({ ok: false, reason: 'too-many-pending-reads', leader: n1 });
    cluster.stabilize();
    expect(leader.readIndex('r3').ok).toBe(true); // released reads free their slots
  });
});
