import { describe, expect, it } from 'vitest';
import { nodeId, type NodeId } from '../../src/raft/index.js';
import { SafetyChecker, jointProblem } from './sim-invariants.js';
import { runSimulation } from './simulation.js';

describe('the simulator', () => {
  it('replays a seed exactly: same transcript, same statistics', () => {
    const first = runSimulation({ seed: 42, steps: 1500, nodes: 5, fullTranscript: true });
    const second = runSimulation({ seed: 42, steps: 1500, nodes: 5, fullTranscript: true });
    expect(second.transcript).toEqual(first.transcript);
    expect(second.stats).toEqual(first.stats);
    expect(first.transcript.length).toBeGreaterThan(1000);
  });

  it('runs membership changes when asked: brand-new nodes, joint changes, leader removals', () => {
    const result = runSimulation({ seed: 7, steps: 2000, nodes: 5, membershipChanges: true });
    expect(result.violations).toEqual([]);
    expect(result.stats.confChanges).toBeGreaterThan(0);
    expect(result.stats.nodesAdded).toBeGreaterThan(0);
    const quiet = runSimulation({ seed: 7, steps: 2000, nodes: 5, membershipChanges: false });
    expect(quiet.stats.confChanges + quiet.stats.confChangesRefused).toBe(0);
  });

  it('runs differently with another seed', () => {
    const a = runSimulation({ seed: 1, steps: 500, nodes: 3, fullTranscript: true });
    const b = runSimulation({ seed: 2, steps: 500, nodes: 3, fullTranscript: true });
    expect(b.transcript).not.toEqual(a.transcript);
  });
});

describe('the safety checker', () => {
  const n1 = nodeId('n1');
  const n2 = nodeId('n2');

  it('§5.2 Election Safety: flags two leaders in one term', () => {
    const checker = new SafetyChecker();
    checker.observeLeader(n1, 3);
    checker.observeLeader(n1, 3);
    expect(checker.violations).toEqual([]);
    checker.observeLeader(n2, 3);
    expect(checker.violations.map((v) => v.property)).toEqual(['Election Safety']);
  });

  it('§5.4.3 State Machine Safety: flags different states at one index and out-of-order applies', () => {
    const checker = new SafetyChecker();
    const entry = { index: 1, term: 1, type: 'normal' as const, data: new Uint8Array([1]) };
    checker.checkApply(n1, 0, entry, 111);
    checker.checkApply(n2, 0, entry, 222);
    checker.checkApply(n2, 5, { ...entry, index: 7 }, 333);
    expect(checker.violations.map((v) => v.property)).toEqual(['State Machine Safety', 'State Machine Safety']);
  });

  it('§4.3 Joint Consensus: flags a multi-voter change without a joint configuration, and a bad leave', () => {
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId, NodeId];
    const old = { voters: [a, b, c], learners: [d, e] };
    expect(jointProblem(old, { voters: [a, b, c, d], learners: [e] })).toBeNull();
    expect(jointProblem(old, { voters: [a, d, e], learners: [] })).toContain('4 voters changed without a joint configuration');
    const joint = { voters: [a, d, e], learners: [], outgoingVoters: [a, b, c] };
    expect(jointProblem(old, joint)).toBeNull();
    expect(jointProblem(old, { ...joint, outgoingVoters: [a, b] })).toContain('C_old');
    expect(jointProblem(joint, { voters: [a, d, e], learners: [] })).toBeNull();
    expect(jointProblem(joint, { voters: [a, b, c], learners: [] })).toContain('C_new');
  });

  it('§4.3 Commit Quorum: flags a commit that no quorum of every voter set holds; learners do not count', () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId];
    const checker = new SafetyChecker();
    const holders = (ids: NodeId[]) => (id: NodeId): boolean => ids.includes(id);
    checker.checkCommitQuorum(a, [{ voters: [a, b, c], learners: [d] }], 5, 2, holders([a, b]));
    expect(checker.violations).toEqual([]);
    checker.checkCommitQuorum(a, [{ voters: [a, b, c], learners: [d] }], 5, 2, holders([a, d]));
    checker.checkCommitQuorum(a, [{ voters: [a, d], learners: [], outgoingVoters: [a, b, c] }], 6, 2, holders([a, d]));
    expect(checker.violations.map((v) => v.property)).toEqual(['Commit Quorum', 'Commit Quorum']);
  });

  it('thesis §6.4 Read Safety: flags a read point older than a commit known when the read began', () => {
    const checker = new SafetyChecker();
    checker.checkReadIndex(n1, 'r1', 10, 10);
    expect(checker.violations).toEqual([]);
    checker.checkReadIndex(n1, 'r2', 9, 10);
    expect(checker.violations.map((v) => v.property)).toEqual(['Read Safety']);
  });
});
