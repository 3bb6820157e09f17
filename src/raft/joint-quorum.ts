import { quorumMatchIndex, quorumSize, voteResult, type VoteOutcome } from './election.js';
import { isJoint, outgoingVotersOf } from './membership.js';
import type { Index, Membership, NodeId } from './types.js';

/**
 * Quorum decisions over a membership that may be joint (thesis §4.3, as etcd's quorum/joint.go):
 * while C_old,new is in force, every decision (commit, election, CheckQuorum, ReadIndex and
 * lease acknowledgements) needs a majority of C_new AND a majority of C_old, so neither
 * configuration can decide alone. Outside joint consensus these are the plain majority rules.
 * Learners never count: only the voter sets are consulted. A voter set with no voters never
 * agrees (a node that knows no configuration decides nothing).
 */

/** The voter sets that must each agree: one, or two while joint. */
export function voterSets(membership: Membership): (readonly NodeId[])[] {
  return isJoint(membership) ? [membership.voters, outgoingVotersOf(membership)] : [membership.voters];
}

/** §5.3 under §4.3: the highest index a majority of every voter set has matched, given each voter's match index. */
export function jointMatchIndex(membership: Membership, matchOf: (id: NodeId) => Index): Index {
  let result = Infinity;
  for (const voters of voterSets(membership)) {
    if (voters.length === 0) return 0;
    result = Math.min(result, quorumMatchIndex(voters.map(matchOf)));
  }
  return result;
}

/**
 * §5.2 under §4.3: an election is won with a majority of every voter set, lost once any voter
 * set can no longer give one, and open otherwise. Votes from non-voters are ignored.
 */
export function jointVoteResult(membership: Membership, votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const outcomes = voterSets(membership).map((voters) => (voters.length === 0 ? 'lost' : voteResult(voters, votes)));
  if (outcomes.includes('lost')) return 'lost';
  if (outcomes.every((o) => o === 'won')) return 'won';
  return 'pending';
}

/** Whether the voters for which `agrees` holds form a majority of every voter set. */
export function hasJointQuorum(membership: Membership, agrees: (id: NodeId) => boolean): boolean {
  return voterSets(membership).every((voters) => voters.length > 0 && voters.filter(agrees).length >= quorumSize(voters.length));
}

/**
 * Thesis §6.4.1 under §4.3: the newest tick t such that a majority of every voter set
 * acknowledged a heartbeat sent at t or later, given each voter's newest acknowledged send tick.
 */
export function jointQuorumAckTick(membership: Membership, ackTickOf: (id: NodeId) => number): number {
  let result = Infinity;
  for (const voters of voterSets(membership)) {
    if (voters.length === 0) return -Infinity;
    const ticks = voters.map(ackTickOf).sort((a, b) => b - a);
    result = Math.min(result, ticks[quorumSize(ticks.length) - 1] ?? -Infinity);
  }
  return result;
}
