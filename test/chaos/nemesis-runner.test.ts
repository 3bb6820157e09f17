/**
 * The nemesis runner's membership fault against an in-memory cluster: a fake backend (slots,
 * spares, node states), a fake member list behind the SDK's membership calls (which refuses
 * the first attempts as a real leader would: a change pending, a learner not caught up), and a
 * fake observer. No process, no socket, no real waiting beyond the runner's retry interval.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterBackend, Link, NodeState, UnexpectedExit } from '../../chaos/backend.js';
import type { LeaderClaim, SettledCluster } from '../../chaos/cluster-observer.js';
import type { MemberListView, MemberView } from '../../chaos/membership-change.js';
import { faultProblems, NemesisRunner, type FaultRecord, type MembershipSession, type RunnerObserver } from '../../chaos/nemesis-runner.js';
import type { Fault, PlannedFault } from '../../chaos/nemesis.js';
import { NodeRoster } from '../../chaos/node-roster.js';
import { membershipChanges } from '../../chaos/report.js';

class MembershipChangeError extends Error {
  override readonly name = 'MembershipChangeError';
  constructor(readonly reason: string) {
    super(`membership change refused: ${reason}`);
  }
}

/** The cluster's configuration as its leader would report it. */
class FakeCluster {
  readonly members = new Map<string, { role: 'voter' | 'learner'; autoPromote: boolean }>();
  leaderId: string;
  term = 1;
  /** Refusals to hand out before the next change of each kind goes through. */
  refusals: { remove: string[]; promote: string[]; add: string[] } = { remove: ['change-pending'], promote: ['learner-not-caught-up'], add: [] };
  readonly calls: string[] = [];

  constructor(ids: readonly string[]) {
    for (const id of ids) this.members.set(id, { role: 'voter', autoPromote: false });
    this.leaderId = ids[0] as string;
  }

  list(): MemberListView {
    // An auto-promoted learner is caught up by the time anyone looks twice.
    for (const [id, member] of this.members) if (member.role === 'learner' && member.autoPromote) this.members.set(id, { role: 'voter', autoPromote: false });
    const members: MemberView[] = [...this.members].map(([id, member]) => ({
      id,
      peerAddress: `10.0.0.${id.slice(1)}:7001`,
      clientAddress: `10.0.0.${id.slice(1)}:8001`,
      role: member.role,
      autoPromote: member.autoPromote,
      leader: id === this.leaderId,
      matchIndex: null,
      lag: member.role === 'learner' ? 3 : 0,
    }));
    return { members, leaderId: this.leaderId, joint: false };
  }

  session(): MembershipSession {
    return {
      members: () => Promise.resolve(this.list()),
      addMember: (member) => {
        this.calls.push(`add ${member.id}${member.learner === true ? ' learner' : ''}`);
        const refusal = this.refusals.add.shift();
        if (refusal !== undefined) return Promise.reject(new MembershipChangeError(refusal));
        if (this.members.has(member.id)) return Promise.reject(new MembershipChangeError('member-exists'));
        this.members.set(member.id, { role: 'learner', autoPromote: member.learner !== true || member.autoPromote === true });
        return Promise.resolve(this.list());
      },
      promoteMember: (id) => {
        this.calls.push(`promote ${id}`);
        const refusal = this.refusals.promote.shift();
        if (refusal !== undefined) return Promise.reject(new MembershipChangeError(refusal));
        this.members.set(id, { role: 'voter', autoPromote: false });
        return Promise.resolve(this.list());
      },
      removeMember: (id) => {
        this.calls.push(`remove ${id}`);
        const refusal = this.refusals.remove.shift();
        if (refusal !== undefined) return Promise.reject(new MembershipChangeError(refusal));
        if (!this.members.delete(id)) return Promise.reject(new MembershipChangeError('unknown-member'));
        if (id === this.leaderId) {
          // A removed leader hands over to another voter.
          this.leaderId = [...this.members].find(([, member]) => member.role === 'voter')?.[0] ?? '';
          this.term++;
        }
        return Promise.resolve(this.list());
      },
      close: () => {},
    };
  }

  /** A node started with --join adds itself as a learner the leader promotes, unless it is a member already. */
  join(id: string): void {
    if (!this.members.has(id)) this.members.set(id, { role: 'learner', autoPromote: true });
  }
}

class FakeBackend implements ClusterBackend {
  readonly clientTls = undefined;
  readonly kind = 'process';
  private readonly roster: NodeRoster;
  private readonly states = new Map<string, NodeState>();
  private readonly cluster: FakeCluster;
  readonly joins: { id: string; join: readonly string[] }[] = [];

  constructor(cluster: FakeCluster, initial: number, spare: number) {
    this.cluster = cluster;
    this.roster = new NodeRoster(initial, spare);
    for (const id of this.roster.initialIds) this.states.set(id, 'running');
  }

  get nodeIds(): readonly string[] {
    return this.roster.current();
  }

  start(): Promise<void> {
    return Promise.resolve();
  }
  clientEndpoint(id: string): string {
    return `10.0.0.${id.slice(1)}:8001`;
  }
  memberAddresses(id: string): { peer: string; client: string } {
    return { peer: `10.0.0.${id.slice(1)}:7001`, client: this.clientEndpoint(id) };
  }
  spareNodes(): number {
    return this.roster.spareCount();
  }
  nextNodeId(): string | null {
    return this.roster.nextSpare();
  }
  setJoinUser(): void {}
  addNode(join: readonly string[]): Promise<string> {
    const id = this.roster.takeSpare();
    this.states.set(id, 'running');
    this.joins.push({ id, join });
    this.cluster.join(id);
    return Promise.resolve(id);
  }
  removeNode(id: string): Promise<void> {
    this.roster.retire(id);
    this.states.set(id, 'stopped');
    return Promise.resolve();
  }
  nodeState(id: string): NodeState {
    return this.states.get(id) ?? 'stopped';
  }
  describeNode(id: string): string {
    return `${id} (fake)`;
  }
  kill(id: string): Promise<void> {
    this.states.set(id, 'killed');
    return Promise.resolve();
  }
  restart(id: string): Promise<void> {
    this.states.set(id, 'running');
    return Promise.resolve();
  }
  pause(id: string): Promise<void> {
    this.states.set(id, 'paused');
    return Promise.resolve();
  }
  resume(id: string): Promise<void> {
    this.states.set(id, 'running');
    return Promise.resolve();
  }
  cut(): Promise<void> {
    return Promise.resolve();
  }
  heal(): Promise<void> {
    return Promise.resolve();
  }
  healAll(): Promise<void> {
    return Promise.resolve();
  }
  cutLinks(): readonly Link[] {
    return [];
  }
  probe(): Promise<boolean> {
    return Promise.resolve(false);
  }
  logFiles(): ReadonlyMap<string, string> {
    return new Map(this.roster.everMembers().map((id) => [id, `/logs/${id}.log`]));
  }
  unexpectedExits(): readonly UnexpectedExit[] {
    return [];
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  killAllNow(): void {}
}

function fakeObserver(cluster: FakeCluster, backend: FakeBackend): RunnerObserver {
  const claim = (): LeaderClaim => ({ id: cluster.leaderId, term: cluster.term });
  return {
    leader: () => Promise.resolve(claim()),
    waitForLeader: (ids: readonly string[]) =>
      ids.includes(cluster.leaderId) ? Promise.resolve(claim()) : Promise.reject(new Error(`no leader among ${ids.join(',')}`)),
    waitForNoLeader: (ids: readonly string[]) => Promise.resolve(new Map(ids.map((id) => [id, 'follower']))),
    waitForSilence: () => Promise.resolve(true as const),
    waitForSettled: (): Promise<SettledCluster> => {
      if (!backend.nodeIds.includes(cluster.leaderId)) return Promise.reject(new Error('the leader is not a member'));
      return Promise.resolve({ leader: claim(), caughtUpTo: 0 });
    },
  };
}

async function runFaults(faults: readonly Fault[], spare = faults.length): Promise<{ records: FaultRecord[]; backend: FakeBackend; cluster: FakeCluster; log: string[] }> {
  const cluster = new FakeCluster(['n1', 'n2', 'n3']);
  const backend = new FakeBackend(cluster, 3, spare);
  const log: string[] = [];
  const originMs = performance.now();
  const runner = new NemesisRunner({
    backend,
    observer: fakeObserver(cluster, backend),
    membershipClient: () => cluster.session(),
    clock: () => performance.now() - originMs,
    log: (line) => log.push(line),
    signal: new AbortController().signal,
    electionTimeoutMs: 500,
  });
  const plan: PlannedFault[] = faults.map((fault, i) => ({ index: i + 1, fault, startMs: 0, holdMs: 0 }));
  const records = await runner.run(plan, 60_000);
  return { records, backend, cluster, log };
}

const failedChecks = (record: FaultRecord): string[] => [...record.confirmations, ...record.healChecks].filter((check) => !check.ok).map((check) => `${check.what}: ${check.detail}`);

describe('NemesisRunner: membership', () => {
  it('replace: removes the leader through the SDK (retrying a pending change), stops it, and sees a fresh node join and become a voter', async () => {
    const { records, backend, cluster, log } = await runFaults([{ kind: 'membership', variant: 'replace', remove: { kind: 'leader' } }]);
    const [record] = records;
    expect(record?.status, log.join('\n')).toBe('injected');
    expect(failedChecks(record as FaultRecord)).toEqual([]);
    expect(record?.description).toBe('membership replace: remove n1 (leader, term 1), add n4 (--join)');
    expect(record?.removedNodes).toEqual(['n1']);
    expect(record?.addedNodes).toEqual(['n4']);
    expect(backend.nodeIds).toEqual(['n2', 'n3', 'n4']);
    expect(backend.nodeState('n1')).toBe('stopped');
    // Joined through the members left, not the removed one.
    expect(backend.joins).toEqual([{ id: 'n4', join: ['10.0.0.2:8001', '10.0.0.3:8001'] }]);
    expect(cluster.calls).toEqual(['remove n1', 'remove n1']);
    expect([...cluster.members.values()].every((member) => member.role === 'voter')).toBe(true);
    expect(record?.healChecks.map((check) => check.what)).toContain('the configuration is n2,n3,n4, all voters, not joint');
    expect(membershipChanges(records).map(({ action, node, confirmed }) => ({ action, node, confirmed }))).toEqual([
      { action: 'removed', node: 'n1', confirmed: true },
      { action: 'added', node: 'n4', confirmed: true },
    ]);
  });

  it('learner: adds a fresh learner that is not auto-promoted, promotes it once caught up, then removes another member', async () => {
    const { records, backend, cluster, log } = await runFaults([{ kind: 'membership', variant: 'learner', remove: { kind: 'node', id: 'n2' } }]);
    const [record] = records;
    expect(record?.status, log.join('\n')).toBe('injected');
    expect(failedChecks(record as FaultRecord)).toEqual([]);
    expect(cluster.calls).toEqual(['add n4 learner', 'promote n4', 'promote n4', 'remove n2', 'remove n2']);
    const learnerCheck = record?.confirmations.find((check) => check.what.startsWith('n4 added as a learner'));
    expect(learnerCheck?.detail).toContain('n4 learner');
    expect(record?.confirmations.map((check) => check.what)).toEqual([
      'n4 added as a learner (no auto-promotion)',
      'n4 started with --join 10.0.0.1:8001,10.0.0.2:8001,10.0.0.3:8001',
      'n4 caught up (lag <= 20 entries)',
      'n4 promoted to voter',
      'n2 removed from the configuration',
      'n2 stopped',
      '3 voters (n1,n3,n4), not joint',
    ]);
    expect(backend.nodeIds).toEqual(['n1', 'n3', 'n4']);
    expect(record?.removedNodes).toEqual(['n2']);
    expect(record?.addedNodes).toEqual(['n4']);
  });

  it('reads a replaced node as its successor in later faults', async () => {
    const { records } = await runFaults([
      { kind: 'membership', variant: 'replace', remove: { kind: 'node', id: 'n2' } },
      { kind: 'kill', target: { kind: 'node', id: 'n2' } },
      { kind: 'kill-majority', withLeader: false, order: ['n2', 'n3', 'n1'] },
    ]);
    expect(records.map((record) => record.status)).toEqual(['injected', 'injected', 'injected']);
    expect(records[1]?.targets).toEqual(['n4']);
    expect(records[1]?.description).toBe('kill -9 n4');
    expect(records[2]?.targets).toEqual(['n4', 'n3']);
    expect(faultProblems(records)).toEqual([]);
  });

  it('fails the fault, naming the refusal, when the cluster refuses for a reason retrying cannot fix', async () => {
    const cluster = new FakeCluster(['n1', 'n2', 'n3']);
    cluster.refusals.remove = ['would-remove-last-voter'];
    const backend = new FakeBackend(cluster, 3, 1);
    const runner = new NemesisRunner({
      backend,
      observer: fakeObserver(cluster, backend),
      membershipClient: () => cluster.session(),
      clock: () => 0,
      log: () => {},
      signal: new AbortController().signal,
      electionTimeoutMs: 500,
    });
    const [record] = await runner.run([{ index: 1, fault: { kind: 'membership', variant: 'replace', remove: { kind: 'node', id: 'n3' } }, startMs: 0, holdMs: 0 }], 60_000);
    expect(record?.status).toBe('failed');
    expect(record?.error).toMatch(/n3 removed from the configuration: n3 to leave the configuration: membership change refused: would-remove-last-voter/);
    // Nothing was stopped or started after the refusal.
    expect(backend.nodeIds).toEqual(['n1', 'n2', 'n3']);
    expect(faultProblems([record as FaultRecord]).join('\n')).toMatch(/was not injected/);
  });
});
