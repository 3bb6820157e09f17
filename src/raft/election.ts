import type { Index, NodeId, Term } from './types.js';

/**
 * §5.4.1: a voter grants its vote only if the candidate's log is at least as up-to-date as its
 * own. The log with the later last term is more up-to-date; with equal last terms, the longer log.
 */
export function isLogUpToDate(
  candidateLastIndex: Index,
  candidateLastTerm: Term,
  voterLastIndex: Index,
  voterLastTerm: Term,
): boolean {
  if (candidateLastTerm !== voterLastTerm) return candidateLastTerm > voterLastTerm;
  return candidateLastIndex >= voterLastIndex;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/**
 * §5.2: a candidate wins with votes from a majority of the voters; it has lost once a majority
 * rejected it; otherwise the outcome is still open. Votes from non-voters are ignored.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const majority = quorumSize(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  if (granted >= majority) return 'won';
  if (rejected > voters.length - majority) return 'lost';
  return 'pending';
}

/** The size of a majority of `voterCount` voters. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * §5.3/§5.4.2: the highest index replicated on a majority of voters, given each voter's match
 * index. The caller must still check that the entry there is of its own term before committing.
 */
export function quorumMatchIndex(matchIndexes: readonly Index[]): Index {
  if (matchIndexes.length === 0) return 0;
  const sorted = [...matchIndexes].sort((a, b) => b - a);
  return sorted[quorumSize(sorted.length) - 1] ?? 0;
}

/**
 * §5.4.2: a leader advances its commit index to the quorum match index only when the entry
 * there is from its current term; entries of earlier terms commit indirectly, never by counting.
 */
export function committedIndex(
  currentCommit: Index,
  quorumIndex: Index,
  termAtQuorumIndex: Term | undefined,
  currentTerm: Term,
): Index {
  if (quorumIndex > currentCommit && termAtQuorumIndex === currentTerm) return quorumIndex;
  return currentCommit;
}
