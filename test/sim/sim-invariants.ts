import {
  allMembers,
  decodeConfChange,
  describeMembership,
  isJoint,
  leaveJoint,
  outgoingVotersOf,
  quorumSize,
  sameMembership,
  voterSets,
  votersChanged,
  type Entry,
  type Index,
  type Membership,
  type NodeId,
  type RaftCore,
  type Term,
} from '../../src/raft/index.js';
import type { SimDisk } from './sim-disk.js';
import { dataHash } from './sim-state-machine.js';

/** A broken safety property, with where and when the simulator saw it. */
export interface Violation {
  readonly property: string;
  readonly detail: string;
  readonly step: number;
}

/**
 * The Raft safety properties (§5.2 Figure 3), checked as the simulation runs. Each check is
 * incremental so that thousands of seeds stay cheap: the checker keeps the cluster-wide truth
 * (who led which term, which entry sits at which index and term, what was applied where) and
 * compares every node's new state against it.
 */
export class SafetyChecker {
  readonly violations: Violation[] = [];
  step = 0;

  private readonly leaderOfTerm = new Map<Term, NodeId>();
  /** Log Matching: (index, term) -> the entry's content and the term before it. */
  private readonly entriesByPosition = new Map<number, { prevTerm: Term; dataHash: number }>();
  /** State Machine Safety: the state machine hash after applying each index, first seen. */
  private readonly appliedHashAt: number[] = [];
  /** Leader Completeness: for each committed index, its term and the term of the leader that committed it. */
  private readonly committed: { term: Term; committedInTerm: Term }[] = [];
  /** The highest commit index any node has ever reported (a prefix of `committed` is known). */
  highestCommit: Index = 0;

  private fail(property: string, detail: string): void {
    this.violations.push({ property, detail, step: this.step });
  }

  /** Election Safety (§5.2): at most one leader per term. */
  observeLeader(node: NodeId, term: Term): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) this.leaderOfTerm.set(term, node);
    else if (known !== node) this.fail('Election Safety', `${known} and ${node} both led term ${term}`);
  }

  /** Leader Append-Only (§5.3): a leader never overwrites or deletes entries of its own log. */
  checkLeaderAppendOnly(node: NodeId, disk: SimDisk, entries: readonly Entry[]): void {
    const first = entries[0];
    if (first !== undefined && first.index <= disk.lastIndex()) {
      this.fail('Leader Append-Only', `leader ${node} overwrote its log from ${first.index} (last ${disk.lastIndex()})`);
    }
  }

  /**
   * Log Matching (§5.3): entries with the same index and term hold the same command and follow
   * the same previous term. By induction over indexes this makes the logs identical up to there.
   */
  checkPersistedEntries(node: NodeId, disk: SimDisk, entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.index <= disk.compactedTo.index) continue;
      const prevTerm = disk.termAt(entry.index - 1);
      if (prevTerm === undefined) {
        this.fail('Log Matching', `${node} persisted ${entry.index}/t${entry.term} with a gap before it`);
        continue;
      }
      const key = positionKey(entry.index, entry.term);
      const hash = dataHash(entry.data);
      const known = this.entriesByPosition.get(key);
      if (known === undefined) {
        this.entriesByPosition.set(key, { prevTerm, dataHash: hash });
      } else if (known.prevTerm !== prevTerm || known.dataHash !== hash) {
        this.fail(
          'Log Matching',
          `${node} holds ${entry.index}/t${entry.term} after term ${prevTerm} with data ${hash}; another node has it after term ${known.prevTerm} with data ${known.dataHash}`,
        );
      }
    }
  }

  /** State Machine Safety (§5.4.3): no two nodes apply different commands at one index; applies are in order. */
  checkApply(node: NodeId, previousApplied: Index, entry: Entry, hashAfter: number): void {
    if (entry.index !== previousApplied + 1) {
      this.fail('State Machine Safety', `${node} applied ${entry.index} right after ${previousApplied}`);
    }
    this.checkStateAt(node, entry.index, hashAfter);
  }

  /** A snapshot or restart must hold the same state every other node had at that index. */
  checkStateAt(node: NodeId, index: Index, hash: number): void {
    const known = this.appliedHashAt[index];
    if (known === undefined) this.appliedHashAt[index] = hash;
    else if (known !== hash) this.fail('State Machine Safety', `${node} has state ${hash} at ${index}, another node had ${known}`);
  }

  /** Applied indexes never go backwards, across restarts too. */
  checkAppliedMonotonic(node: NodeId, before: Index, after: Index): void {
    if (after < before) this.fail('Applied Monotonic', `${node} went from applied ${before} to ${after}`);
  }

  /** Records a leader's commit index advancing, so Leader Completeness knows what was committed when. */
  observeCommit(core: RaftCore, leaderTerm: Term, commit: Index): void {
    for (let index = this.committed.length + 1; index <= commit; index++) {
      const term = core.termAt(index);
      if (term === undefined) break; // compacted: it was committed earlier and recorded then
      this.committed[index - 1] = { term, committedInTerm: leaderTerm };
    }
    this.highestCommit = Math.max(this.highestCommit, commit);
  }

  /** A follower's commit index also counts toward what reads must observe. */
  observeFollowerCommit(commit: Index): void {
    this.highestCommit = Math.max(this.highestCommit, commit);
  }

  /**
   * Leader Completeness (§5.4): a leader of term T holds every entry committed in an earlier
   * term. Entries committed in T or later may be missing from a stale leader; that is allowed.
   */
  checkLeaderCompleteness(node: NodeId, core: RaftCore, term: Term): void {
    const compacted = core.status().compactedTo.index;
    for (let index = compacted + 1; index <= this.committed.length; index++) {
      const record = this.committed[index - 1];
      if (record === undefined || record.committedInTerm >= term) break;
      const held = core.termAt(index);
      if (held !== record.term) {
        this.fail('Leader Completeness', `${node}, leader of term ${term}, has t${held ?? '-'} at ${index}, committed t${record.term} in term ${record.committedInTerm}`);
        return;
      }
    }
  }

  /**
   * Thesis §4.3 and §4.1: a leader appends a conf-change entry only once the previous one is
   * committed and it has committed an entry of its own term (one change at a time), and a
   * configuration moves more than one voter only through a joint configuration, which it leaves
   * for exactly C_new. Checked on the entries a leader appends, against its own log.
   */
  checkConfChangeAppend(node: NodeId, core: RaftCore, entries: readonly Entry[], commit: Index, term: Term): void {
    for (const entry of entries) {
      if (entry.type !== 'conf-change') continue;
      const previousIndex = previousConfIndex(core, entry.index);
      if (previousIndex > commit) {
        this.fail('One Change At A Time', `leader ${node} appended a conf change at ${entry.index} while the one at ${previousIndex} was uncommitted (commit ${commit})`);
      }
      if (core.termAt(commit) !== term) {
        this.fail('One Change At A Time', `leader ${node} of term ${term} appended a conf change at ${entry.index} before committing an entry of its term`);
      }
      const before = core.membershipAt(entry.index - 1);
      const after = decodeConfChange(entry.data).membership;
      const problem = jointProblem(before, after);
      if (problem !== null) this.fail('Joint Consensus', `leader ${node} at ${entry.index}: ${problem} (${describeMembership(before)} -> ${describeMembership(after)})`);
    }
  }

  /**
   * §5.3 with §4.3: when a leader advances its commit index, the entry there is durable on a
   * majority of every voter set of the configuration it decided under (learners never count).
   * That configuration is one of `configurations` (the one at the commit index and any the
   * leader appended since, before this check ran). Checked against the simulated disks, so a
   * core that counts the wrong acknowledgements is caught at once.
   */
  checkCommitQuorum(
    leader: NodeId,
    configurations: readonly Membership[],
    commit: Index,
    term: Term | undefined,
    holds: (id: NodeId, index: Index, term: Term) => boolean,
  ): void {
    if (term === undefined) return; // compacted on the leader: committed long ago
    const quorumHolds = (membership: Membership): boolean =>
      voterSets(membership).every((voters) => voters.filter((id) => holds(id, commit, term)).length >= quorumSize(voters.length));
    if (configurations.some(quorumHolds)) return;
    const holding = [...new Set(configurations.flatMap((m) => allMembers(m)))].filter((id) => holds(id, commit, term));
    this.fail(
      'Commit Quorum',
      `leader ${leader} committed ${commit}/t${term}, held only by ${holding.join(',') || 'none'}: no quorum of ${configurations.map(describeMembership).join(' or ')}`,
    );
  }

  /** Linearizable reads (thesis §6.4): a read point is at least every commit known when the read began. */
  checkReadIndex(node: NodeId, context: string, readIndex: Index, commitAtInvoke: Index): void {
    if (readIndex < commitAtInvoke) {
      this.fail('Read Safety', `${node} released read ${context} at ${readIndex}, but ${commitAtInvoke} was committed before it began`);
    }
  }
}

/** The index of the newest conf-change entry before `index` in `core`'s log (0 if compacted away or none). */
function previousConfIndex(core: RaftCore, index: Index): Index {
  const compacted = core.status().compactedTo.index;
  for (let i = index - 1; i > compacted; i--) {
    if (core.entryAt(i)?.type === 'conf-change') return i;
  }
  return 0;
}

/** What is wrong with going from configuration `before` to `after` in one entry, or null (thesis §4.1, §4.3). */
export function jointProblem(before: Membership, after: Membership): string | null {
  if (isJoint(before)) {
    return sameMembership(after, leaveJoint(before)) ? null : 'a joint configuration must be left for exactly C_new';
  }
  if (isJoint(after)) {
    const outgoing = outgoingVotersOf(after);
    return votersChanged(before.voters, outgoing) === 0 ? null : 'a joint configuration whose C_old is not the configuration before it';
  }
  const moved = votersChanged(before.voters, after.voters);
  return moved <= 1 ? null : `${moved} voters changed without a joint configuration`;
}

function positionKey(index: Index, term: Term): number {
  return index * 0x100000 + term;
}
