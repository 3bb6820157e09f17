import { describe, expect, it } from 'vitest';
import { nodeId } from '../../src/raft/index.js';
import { SafetyChecker } from './sim-invariants.js';
import { runSimulation } from './simulation.js';

describe('the simulator', () => {
  it('replays a seed exactly: same transcript, same statistics', () => {
    const first = runSimulation({ seed: 42, steps: 1500, nodes: 5, fullTranscript: true });
    const second = runSimulation({ seed: 42, steps: 1500, nodes: 5, fullTranscript: true });
    expect(second.transcript).toEqual(first.transcript);
    expect(second.stats).toEqual(first.stats);
    expect(first.transcript.length).toBeGreaterThan(1000);
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

  it('thesis §6.4 Read Safety: flags a read point older than a commit known when the read began', () => {
    const checker = new SafetyChecker();
    checker.checkReadIndex(n1, 'r1', 10, 10);
    expect(checker.violations).toEqual([]);
    checker.checkReadIndex(n1, 'r2', 9, 10);
    expect(checker.violations.map((v) => v.property)).toEqual(['Read Safety']);
  });
});
