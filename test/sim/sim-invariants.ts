import type { Entry, Index, NodeId, RaftCore, Term } from '../../src/raft/index.js';
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

  /** Linearizable reads (thesis §6.4): a read point is at least every commit known when the read began. */
  checkReadIndex(node: NodeId, context: string, readIndex: Index, commitAtInvoke: Index): void {
    if (readIndex < commitAtInvoke) {
      this.fail('Read Safety', `${node} released read ${context} at ${readIndex}, but ${commitAtInvoke} was committed before it began`);
    }
  }
}

function positionKey(index: Index, term: Term): number {
  return index * 0x100000 + term;
}
