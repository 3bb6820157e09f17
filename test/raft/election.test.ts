import { describe, expect, it } from 'vitest';
import { committedIndex, isLogUpToDate, quorumMatchIndex, voteResult, type NodeId } from '../../src/raft/index.js';
import { n1, n2, n3, n4, n5, nodeIds } from './helpers.js';

describe('isLogUpToDate', () => {
  // [name, candidate last index, candidate last term, voter last index, voter last term, expected]
  const table: [string, number, number, number, number, boolean][] = [
    // The bug of ignoring the candidate's last term: comparing lengths alone gets these two wrong.
    ['§5.4.1 a candidate with a later last term is up to date even with a shorter log', 3, 5, 10, 4, true],
    ['§5.4.1 a candidate with an earlier last term is behind even with a longer log', 10, 4, 3, 5, false],
    // The bug of rejecting only when both index and term are behind: these two must be rejected.
    ['§5.4.1 a candidate whose last term is behind is rejected although its index is ahead', 10, 2, 5, 3, false],
    ['§5.4.1 a candidate with the same last term and a shorter log is rejected although its term is not behind', 5, 3, 10, 3, false],
    ['§5.4.1 with equal last terms the longer log is up to date', 10, 3, 5, 3, true],
    ['§5.4.1 identical logs are up to date (a voter may vote for its equal)', 7, 3, 7, 3, true],
    ['§5.4.1 two empty logs are up to date', 0, 0, 0, 0, true],
    ['§5.4.1 an empty candidate log is behind any non-empty voter log', 0, 0, 1, 1, false],
    ['§5.4.1 any non-empty candidate log is up to date against an empty voter log', 1, 1, 0, 0, true],
  ];
  it.each(table)('%s', (_name, candidateIndex, candidateTerm, voterIndex, voterTerm, expected) => {
    expect(isLogUpToDate(candidateIndex, candidateTerm, voterIndex, voterTerm)).toBe(expected);
  });
});

describe('voteResult', () => {
  const three = [n1, n2, n3];
  const five = [n1, n2, n3, n4, n5];
  const votes = (entries: [NodeId, boolean][]): Map<NodeId, boolean> => new Map(entries);
  const [learnerA, learnerB, learnerC] = nodeIds(8).slice(5) as [NodeId, NodeId, NodeId];

  const table: [string, readonly NodeId[], [NodeId, boolean][], 'won' | 'lost' | 'pending'][] = [
    ['§5.2 a single voter wins with its own vote', [n1], [[n1, true]], 'won'],
    ['§5.2 3 voters: the candidate alone is pending', three, [[n1, true]], 'pending'],
    ['§5.2 3 voters: two grants are a majority and win', three, [[n1, true], [n2, true]], 'won'],
    ['§5.2 3 voters: one grant and one rejection leave it pending', three, [[n1, true], [n2, false]], 'pending'],
    ['§5.2 3 voters: two rejections lose', three, [[n1, true], [n2, false], [n3, false]], 'lost'],
    ['§5.2 3 voters: a grant after a rejection still wins', three, [[n1, true], [n2, false], [n3, true]], 'won'],
    ['§5.2 5 voters: two grants are not a majority', five, [[n1, true], [n2, true]], 'pending'],
    ['§5.2 5 voters: three grants win', five, [[n1, true], [n2, true], [n3, true]], 'won'],
    ['§5.2 5 voters: two rejections leave it pending', five, [[n1, true], [n2, false], [n3, false]], 'pending'],
    ['§5.2 5 voters: three rejections lose', five, [[n1, true], [n2, false], [n3, false], [n4, false]], 'lost'],
    ['§5.2 5 voters: two grants and two rejections are still pending', five, [[n1, true], [n2, true], [n3, false], [n4, false]], 'pending'],
    ['§5.2 4 voters: two grants are not a majority of an even cluster', [n1, n2, n3, n4], [[n1, true], [n2, true]], 'pending'],
    ['§5.2 4 voters: two rejections make a majority impossible', [n1, n2, n3, n4], [[n1, true], [n2, false], [n3, false]], 'lost'],
    ['§5.2 votes of non-voters are ignored: learners cannot make a majority', three, [[n1, true], [learnerA, true], [learnerB, true]], 'pending'],
    ['§5.2 rejections of non-voters are ignored: they cannot make a candidate lose', three, [[n1, true], [learnerA, false], [learnerB, false], [learnerC, false]], 'pending'],
    ['§5.2 a vote missing from the map counts as not yet answered', five, [], 'pending'],
  ];
  it.each(table)('%s', (_name, voters, given, expected) => {
    expect(voteResult(voters, votes(given))).toBe(expected);
  });
});

describe('quorumMatchIndex', () => {
  const table: [string, number[], number][] = [
    ['§5.3 no voters match nothing', [], 0],
    ['§5.3 a single voter matches its own index', [5], 5],
    ['§5.3 3 voters: the middle index is on a majority', [5, 3, 1], 3],
    ['§5.3 3 voters: the order of the inputs does not matter', [1, 5, 3], 3],
    ['§5.3 5 voters: an index on only two voters is not on a majority', [9, 9, 2, 2, 2], 2],
    ['§5.3 5 voters: an index on three voters is on a majority', [9, 2, 9, 2, 9], 9],
    ['§5.3 4 voters: a majority is three, so the third highest index', [4, 3, 2, 1], 2],
    ['§5.3 a lagging minority does not hold back the quorum index', [7, 7, 0], 7],
  ];
  it.each(table)('%s', (_name, matches, expected) => {
    expect(quorumMatchIndex(matches)).toBe(expected);
  });
});

describe('committedIndex', () => {
  // [name, current commit, quorum index, term at quorum index, current term, expected]
  const table: [string, number, number, number | undefined, number, number][] = [
    ['§5.4.2 an entry of the current term on a majority is committed', 1, 3, 4, 4, 3],
    // Figure 8 (c): the leader of term 4 has replicated index 2 (term 2) to a majority; it must
    // not commit it, because a leader of term 3 could still overwrite it (Figure 8 (d)).
    ['§5.4.2 Figure 8: an older-term entry on a majority is not committed by counting replicas', 1, 2, 2, 4, 1],
    ['§5.4.2 an older-term entry on a majority is not committed even when nothing is committed yet', 0, 5, 3, 4, 0],
    ['§5.4.2 once a current-term entry is on a majority, everything before it commits with it', 1, 5, 4, 4, 5],
    ['§5.3 the commit index never moves backwards', 5, 3, 4, 4, 5],
    ['§5.3 a quorum index equal to the commit index changes nothing', 5, 5, 4, 4, 5],
    ['§5.4.2 an unknown term at the quorum index (compacted away) commits nothing', 1, 3, undefined, 4, 1],
  ];
  it.each(table)('%s', (_name, commit, quorumIndex, termAtQuorum, currentTerm, expected) => {
    expect(committedIndex(commit, quorumIndex, termAtQuorum, currentTerm)).toBe(expected);
  });
});
