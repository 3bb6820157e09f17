import { readFileSync } from 'node:fs';
import { join } from 'node:path';
/**
 * The chaos suite on the docker backend (`npm run test:chaos`): every scenario the chaos issue
 * names, 5 clients on 3 nodes for 30 s each, one run on 5 nodes, and the two canaries that a
 * harness able to see anything must catch. Each run checks linearizability, lost writes, the
 * minimum of operations, that every fault was confirmed in effect and healed, and that the
 * nodes converged (runChaos's guards). Progress goes to the console; each run's history, logs
 * and report stay under suiteOutDir (see scenario.ts).
 */
import { describe, expect, it } from 'vitest';
import { faultKinds as allKinds, type FaultKind } from '../../chaos/nemesis.js';
import { expectFaultsConfirmed, expectPassed, injectedKinds, leaderFaults, runScenario } from './scenario.js';

const seconds = 1000;
/** The kinds the two runs of `all` injected, checked together once both have run. */
const coveredByAll = new Set<FaultKind>();

describe('docker chaos scenarios (3 nodes, 5 clients, 30 s)', () => {
  it('partition-leader: the isolated leader steps down, the majority goes on', async () => {
    const result = await runScenario({ name: 'partition-leader', config: { nemesis: ['partition-leader'], nemesisText: 'partition-leader', durationMs: 30 * seconds, seed: 1 } });
    expectPassed(result);
    expect(leaderFaults(result, 'partition-leader').length).toBe(result.faultsInjected);
  });

  it('partition-half: majority | minority', async () => {
    const result = await runScenario({ name: 'partition-half', config: { nemesis: ['partition-half'], nemesisText: 'partition-half', durationMs: 30 * seconds, seed: 1 } });
    expectPassed(result);
  });

  it('partition-bridge: two sides that share one node', async () => {
    const result = await runScenario({ name: 'partition-bridge', config: { nemesis: ['partition-bridge'], nemesisText: 'partition-bridge', durationMs: 30 * seconds, seed: 1 } });
    expectPassed(result);
  });

  it('kill: kill -9 of the leader (and of other nodes), restarted on its data', async () => {
    const result = await runScenario({ name: 'kill', config: { nemesis: ['kill'], nemesisText: 'kill', durationMs: 30 * seconds, seed: 1 } });
    expectPassed(result);
    // Seed 1 plans "kill leader" first; the report must show the leader was the one killed.
    expect(result.plan.some((planned) => planned.fault.kind === 'kill' && planned.fault.target.kind === 'leader')).toBe(true);
    expect(leaderFaults(result, 'kill').length, 'leader kills').toBeGreaterThanOrEqual(1);
  });

  it('pause: docker pause of the leader (and of other nodes), then unpause', async () => {
    const result = await runScenario({ name: 'pause', config: { nemesis: ['pause'], nemesisText: 'pause', durationMs: 30 * seconds, seed: 1 } });
    expectPassed(result);
    expect(leaderFaults(result, 'pause').length, 'leader pauses').toBeGreaterThanOrEqual(1);
  });

  it('membership: members replaced (the leader too) and learners promoted under load; every remaining node converges', async () => {
    const result = await runScenario({ name: 'membership', config: { nemesis: ['membership'], nemesisText: 'membership', durationMs: 30 * seconds, seed: 1 } });
    expectPassed(result);
    expect(result.membership.changes.length, 'membership changes').toBeGreaterThanOrEqual(2);
    expect(result.membership.changes.every((change) => change.confirmed), 'every change confirmed by the member list').toBe(true);
    // Nodes were replaced: the final members are not the initial ones, and all hold the same keyspace.
    expect(result.membership.finalNodes).not.toEqual(['n1', 'n2', 'n3']);
    expect(result.membership.finalNodes).toHaveLength(3);
    expect(result.convergence?.nodes.map((node) => node.id)).toEqual(result.membership.finalNodes);
  });

  // 30 s leave room for 3 or 4 faults of the 8 kinds; seed 62 deals partition-bridge,
  // partition-ring, kill and partition-leader here, and the 5-node run's seed deals pause,
  // partition-leader, membership, kill-majority, partition-half and partition-ring, so the two
  // runs of `all` cover every kind, even if each run's last fault finds no time left.
  it('all: every fault kind in turn', async () => {
    const result = await runScenario({ name: 'all-3', config: { nemesis: allKinds, nemesisText: 'all', durationMs: 30 * seconds, seed: 62 } });
    expectPassed(result);
    for (const kind of injectedKinds(result)) coveredByAll.add(kind);
    expect(injectedKinds(result), 'the one-way ring of 3 nodes').toContain('partition-ring');
  });

  // Every fault kind once more with mutual TLS between members (member ids checked against the
  // certificates), client certificates required, and auth on: the workload calls as a user
  // with readwrite on its keys only (tokens renewed across leader changes), the harness as
  // root, and a node added by the membership fault joins with --join-user root. Reconnects
  // after cuts and kills, and a joining node's first calls, all go through TLS handshakes.
  it('all, with TLS between members and to clients, and auth on', async () => {
    const result = await runScenario({ name: 'all-tls-auth', config: { nemesis: allKinds, nemesisText: 'all', durationMs: 30 * seconds, seed: 7, tls: true, auth: true } });
    expectPassed(result);
    expect(readFileSync(result.nodes[0]?.log as string, 'utf8')).toContain('"peerVerifyId":true');
    expect(readFileSync(join(result.outDir, 'run.log'), 'utf8')).toContain('auth enforced: an anonymous write and a write outside the role were refused');
  });
});

describe('docker chaos on 5 nodes', () => {
  it('all: every fault kind in turn, 5 clients, 50 s', async () => {
    // Seed 49 deals pause, partition-leader, membership, kill-majority, partition-half, partition-ring.
    const result = await runScenario({ name: 'all-5', config: { nodes: 5, nemesis: allKinds, nemesisText: 'all', durationMs: 50 * seconds, seed: 49 } });
    expectPassed(result);
    for (const kind of injectedKinds(result)) coveredByAll.add(kind);
    expect(injectedKinds(result), 'a majority killed and restarted').toContain('kill-majority');
    expect(injectedKinds(result), 'a member replaced on 5 nodes').toContain('membership');
  });

  it('the two runs of `all` injected every fault kind between them', () => {
    expect([...coveredByAll].sort()).toEqual([...allKinds].sort());
  });
});

describe('docker chaos with the watch and lease workloads (3 nodes, 5 clients, 30 s)', () => {
  // Watch (issue 15): writers under 3 prefixes while SDK watchers watch them from before the first
  // write and resume through every fault; each watcher must see every acknowledged put once, in
  // revision order, with no gap and no phantom (chaos/checker/watch.ts, a guard of the run).
  it('watch: watchers resume through every fault kind and miss nothing', async () => {
    const result = await runScenario({ name: 'watch', config: { nemesis: allKinds, nemesisText: 'all', durationMs: 30 * seconds, seed: 3, workload: 'watch' } });
    expectPassed(result);
    expect(result.watch?.problems, 'watch checker').toEqual([]);
    expect(result.watch?.eventsChecked ?? 0, 'events checked').toBeGreaterThan(0);
  });

  // Leases (issue 15): keys kept alive never vanish, revoked ones never come back, expired ones
  // go within their bound, across every fault kind (chaos/checker/lease-check.ts).
  it('lease: keys of kept-alive leases survive every fault kind; revoked and expired ones go', async () => {
    const result = await runScenario({ name: 'lease', config: { nemesis: allKinds, nemesisText: 'all', durationMs: 30 * seconds, seed: 3, workload: 'lease' } });
    expectPassed(result);
    expect(result.leaseCheck?.violations, 'lease checker').toEqual([]);
    expect(result.leaseCheck?.readsChecked ?? 0, 'lease reads checked').toBeGreaterThan(0);
  });
});

// A harness that cannot catch a broken node proves nothing: these nodes break linearizability
// on purpose (RAFTKV_ENABLE_UNSAFE=1 is passed into their containers), and the run must see it.
describe('docker chaos canaries (must be caught)', () => {
  it('--unsafe-stale-reads under partition-leader,partition-half: linearizable=no', async () => {
    const result = await runScenario({
      name: 'canary-stale-reads',
      config: { nemesis: ['partition-leader', 'partition-half'], nemesisText: 'partition-leader,partition-half', durationMs: 30 * seconds, seed: 11, unsafe: ['stale-reads'] },
    });
    expectFaultsConfirmed(result);
    expect(result.linearizable === 'no' || result.lost > 0, `caught (linearizable=${result.linearizable}, lost=${result.lost})`).toBe(true);
    expect(result.passed).toBe(false);
  });

  it('--unsafe-ack-before-commit, append workload, under partition-leader,kill: linearizable=no or lost>0', async () => {
    const result = await runScenario({
      name: 'canary-ack-before-commit',
      config: { nemesis: ['partition-leader', 'kill'], nemesisText: 'partition-leader,kill', workload: 'append', durationMs: 30 * seconds, seed: 11, unsafe: ['ack-before-commit'] },
    });
    expectFaultsConfirmed(result);
    expect(result.linearizable === 'no' || result.lost > 0, `caught (linearizable=${result.linearizable}, lost=${result.lost})`).toBe(true);
    expect(result.passed).toBe(false);
  });
});
