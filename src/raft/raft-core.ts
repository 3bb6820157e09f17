import { assertNever, invariant, InvariantError } from './assert.js';
import { leaveJoint, planConfChange, type ConfChange, type ConfChangeRecord, type ConfChangeResult } from './conf-change.js';
import { encodeConfChange } from './conf-change-codec.js';
import { ConfigHistory } from './config-history.js';
import { validateRaftConfig, type RaftConfig, type RestoredState } from './config.js';
import { committedIndex, isLogUpToDate } from './election.js';
import { hasJointQuorum, jointMatchIndex, jointQuorumAckTick, jointVoteResult } from './joint-quorum.js';
import { allMembers, autoPromoteOf, isJoint, isMemberOf, isVoterIn, sameMembership } from './membership.js';
import { isLeaderMessage, type AppendRequest, type AppendResponse, type Heartbeat, type Message, type SnapshotRequest, type VoteRequest } from './message.js';
import { Progress } from './progress.js';
import { RaftLog, entryBytes } from './raft-log.js';
import { ReadIndexQueue, type PendingRead } from './read-index.js';
import type { Ready, SoftState } from './ready.js';
import type {
  Entry,
  HardState,
  Index,
  LogPosition,
  Membership,
  NodeId,
  ReadState,
  Role,
  Snapshot,
  Term,
} from './types.js';

const emptyData = new Uint8Array(0);

/** Why a proposal was not appended. The caller may retry elsewhere or later. */
export type ProposeRefusal = 'not-leader' | 'transferring-leadership' | 'too-many-uncommitted';
export type ProposeResult =
  | { readonly ok: true; readonly index: Index; readonly term: Term }
  | { readonly ok: false; readonly reason: ProposeRefusal; readonly leader: NodeId | null };

export type ReadIndexRefusal = 'no-leader' | 'too-many-pending-reads';
export type ReadIndexResult = { readonly ok: true } | { readonly ok: false; readonly reason: ReadIndexRefusal; readonly leader: NodeId | null };

/** 'not-a-voter': the target is a learner, an outgoing voter or no member at all. */
export type TransferRefusal = 'not-leader' | 'already-leader' | 'not-a-voter';
export type TransferResult = { readonly ok: true } | { readonly ok: false; readonly reason: TransferRefusal; readonly leader: NodeId | null };

/** A read-only picture of one node, for status endpoints, logs and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  readonly compactedTo: LogPosition;
  /** The bytes of the entries held after compactedTo. */
  readonly logBytes: number;
  readonly snapshotIndex: Index;
  /** The configuration in force: the newest one in this node's log (conf-change.ts rule 2). */
  readonly membership: Membership;
  /** The index of the conf-change entry that made `membership` while it is not yet applied, else 0. */
  readonly pendingConfIndex: Index;
  /**
   * This node was a member and the configuration in force (the newest in its log) leaves it
   * out. The leader keeps replicating to a node being removed until it holds the removal entry
   * and tells it once that entry commits; if the entry is overwritten instead (it never
   * committed), this goes back to false. A driver that retires removed nodes should wait until
   * the removal is also applied here (`pendingConfIndex` is 0). A node restarted from a
   * snapshot that predates its own addition also reads true until the entry adding it arrives.
   */
  readonly removed: boolean;
  readonly transferee: NodeId | null;
  /** Leader only: every other member's replication, with its lag behind the leader's last index. */
  readonly progress: ReadonlyMap<NodeId, MemberProgress>;
}

/** The leader's view of one member, for `member list`. */
export interface MemberProgress {
  readonly match: Index;
  readonly next: Index;
  readonly state: string;
  /** Entries the member is behind the leader's last index. */
  readonly lag: number;
  readonly voter: boolean;
}

type CampaignKind = 'pre-election' | 'election' | 'transfer';

/**
 * One Raft node as a pure, synchronous state machine (the model is etcd's RawNode).
 *
 * Inputs: `tick`, `step`, `propose`, `proposeConfChange`, `readIndex`, `transferLeadership`,
 * `compact`, `reportSnapshot`, `reportUnreachable`. Output: `ready()`, whose contract is on
 * `Ready`; call `advance(ready)` once it is done, before asking for the next one. Inputs may
 * arrive between `ready()` and `advance()`. Membership changes follow the rules written in
 * conf-change.ts (a configuration takes effect when appended; joint consensus; learners). Nothing here does I/O, reads a clock or draws randomness
 * except through the injected Rng, so a seed replays a run exactly.
 */
export class RaftCore {
  readonly id: NodeId;
  private readonly config: RaftConfig;
  private readonly log: RaftLog;

  private term: Term;
  private vote: NodeId | null;
  private leader: NodeId | null = null;
  private role: Role = 'follower';
  /** The configurations in this node's log; the newest is in force (conf-change.ts rule 2). */
  private readonly configs: ConfigHistory;
  /** Whether this node has been a member (or ran before this restart); see RaftStatus.removed. */
  private everMember: boolean;
  /** The newest snapshot this node holds, sent to followers whose next entry was compacted away. */
  private snapshot: Snapshot | null;

  /** Ticks since this core was created: the leader's clock for lease reads. */
  private ticksTotal = 0;
  /** In lease mode, a node restarted from a used log may have acknowledged a lease before it crashed. */
  private readonly restartedWithLeases: boolean;
  /** Leader only: set once TimeoutNow went out, since the target's election ignores follower leases. */
  private leaseRevoked = false;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;

  /** Leader only: replication state of every other member. */
  private readonly progress = new Map<NodeId, Progress>();
  /** Candidate and pre-candidate only: the answers received in this campaign. */
  private votes = new Map<NodeId, boolean>();
  /** Leader only: the node leadership is being handed to (thesis §3.10). */
  private transferee: NodeId | null = null;
  /** Leader only: bytes of its own entries not yet committed, bounded by uncommittedBytesMax. */
  private uncommittedBytes = 0;

  private readonly readQueue = new ReadIndexQueue();
  /** Leader only: reads that arrived before it committed an entry of its own term (thesis §6.4 step 1). */
  private readsAwaitingTermCommit: { context: string; requester: NodeId }[] = [];

  private messages: Message[] = [];
  private readStates: ReadState[] = [];
  /** Deferred so that many proposals or reads between two Readys share one round of messages. */
  private broadcastAppendPending = false;
  private broadcastHeartbeatPending = false;
  /**
   * Leader only: the newest ReadIndex context a heartbeat broadcast carried that is not yet
   * confirmed, or null. While it is, new requests wait for the next broadcast (see startRead).
   */
  private readRoundContext: string | null = null;

  private lastHardState: HardState;
  private lastSoftState: SoftState;
  private lastMembership: Membership;
  private readyOutstanding = false;

  constructor(config: RaftConfig, restored: RestoredState) {
    validateRaftConfig(config);
    this.id = config.id;
    this.config = config;
    this.term = restored.hardState.term;
    this.vote = restored.hardState.vote;
    this.snapshot = restored.snapshot;
    const committed = Math.max(restored.hardState.commit, restored.applied, restored.compactedTo.index);
    this.log = new RaftLog(restored.compactedTo, restored.entries, committed, restored.applied);
    // Rule 1: the base configuration (the snapshot's, else the bootstrap one), then the log's.
    const baseIndex = restored.snapshot?.meta.index ?? restored.compactedTo.index;
    this.configs = new ConfigHistory(baseIndex, restored.snapshot?.meta.membership ?? restored.membership);
    this.configs.append(restored.entries.filter((e) => e.index > baseIndex));
    // A node that has run before and finds itself in no configuration was removed (see RaftStatus.removed).
    this.everMember = restored.hardState.term > 0 || isMemberOf(this.membership, this.id);
    this.restartedWithLeases = config.readMode === 'lease' && restored.hardState.term > 0;
    this.lastHardState = this.hardState();
    this.lastSoftState = this.softState();
    this.lastMembership = this.membership;
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------------------------------
  // Inputs

  /** Advances logical time by one tick. */
  tick(): void {
    this.ticksTotal++;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Hands the core a message from a peer. Messages addressed elsewhere are ignored. */
  step(message: Message): void {
    if (message.to !== this.id || message.from === this.id) return;

    if (message.term > this.term) {
      if (message.type === 'vote-request' && !message.transfer && this.inLeaderLease()) {
        // Thesis §4.2.3: a node that heard from a leader within the minimum election timeout
        // ignores votes, so a removed or partitioned node cannot disrupt a healthy cluster.
        return;
      }
      const isPreVoteTraffic =
        (message.type === 'vote-request' && message.preVote) ||
        (message.type === 'vote-response' && message.preVote && message.granted);
      // A PreVote is about a term nobody has entered yet; it must not move ours (thesis §9.6).
      if (!isPreVoteTraffic) this.becomeFollower(message.term, isLeaderMessage(message) ? message.from : null);
    } else if (message.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && isLeaderMessage(message)) {
        // Tell a deposed leader our term so it steps down; with PreVote it might never learn it
        // otherwise, because we will not campaign against it.
        this.send({ type: 'append-response', to: message.from, success: false, index: 0, rejectHintIndex: 0, rejectHintTerm: 0 });
      } else if (message.type === 'vote-request' && message.preVote) {
        this.send({ type: 'vote-response', to: message.from, preVote: true, granted: false });
      }
      return;
    }

    if (message.type === 'vote-request') {
      this.handleVoteRequest(message);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(message);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(message);
        return;
      case 'follower':
        this.stepFollower(message);
        return;
      default:
        assertNever(this.role, 'role');
    }
  }

  /** Appends a command to the log if this node is the leader (§5.3). It is replicated with the next Ready. */
  propose(data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (this.transferee !== null) return { ok: false, reason: 'transferring-leadership', leader: this.leader };
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.byteLength > this.config.uncommittedBytesMax) {
      return { ok: false, reason: 'too-many-uncommitted', leader: this.leader };
    }
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type: 'normal', data };
    this.log.append([entry]);
    this.uncommittedBytes += data.byteLength;
    this.broadcastAppendPending = true;
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Asks for a linearizable read point (thesis §6.4). When confirmed, a ReadState with this
   * `context` (unique per request, cluster-wide) comes out of a Ready; the read may be served
   * once the state machine has applied its index. An unconfirmed request is dropped when
   * leadership changes: the caller times out and asks again.
   */
  readIndex(context: string): ReadIndexResult {
    if (this.role === 'leader') {
      if (!this.handleReadIndex(context, this.id)) return { ok: false, reason: 'too-many-pending-reads', leader: this.id };
      return { ok: true };
    }
    if (this.leader === null) return { ok: false, reason: 'no-leader', leader: null };
    this.send({ type: 'read-index', to: this.leader, context });
    return { ok: true };
  }

  /**
   * Proposes a membership change (thesis ch. 4; the rules are in conf-change.ts). On success the
   * conf-change entry is appended and its configuration is in force on this leader at once
   * (rule 2); `membership` is that configuration, joint if more than one voter changes. The
   * entry comes back in `Ready.committedEntries` once committed, with `change.context`.
   * Refusals append nothing; `detail` names what is wrong in words.
   */
  proposeConfChange(change: ConfChange): ConfChangeResult {
    const refuse = (reason: Extract<ConfChangeResult, { ok: false }>['reason'], detail: string): ConfChangeResult => ({
      ok: false,
      reason,
      detail,
      leader: this.leader,
    });
    if (this.role !== 'leader') return refuse('not-leader', `${this.id} is not the leader`);
    if (this.transferee !== null) return refuse('transferring-leadership', `leadership is being handed to ${this.transferee}`);
    if (this.log.termAt(this.log.committed) !== this.term) {
      return refuse('leader-not-ready', `the leader has not yet committed an entry of term ${this.term}`);
    }
    if (this.configs.currentIndex() > this.log.applied || isJoint(this.membership)) {
      return refuse('change-pending', `the change at index ${this.configs.currentIndex()} is not finished`);
    }
    const plan = planConfChange(this.membership, change, (id) => this.isCaughtUp(id));
    if (!plan.ok) return refuse(plan.reason, plan.detail);
    const entry = this.appendConfChange({ kind: 'requested', ops: change.ops, context: change.context, membership: plan.membership });
    return { ok: true, index: entry.index, term: entry.term, membership: plan.membership };
  }

  /**
   * The configuration in force at `index` (at or after the log's compaction point): what a
   * snapshot taken at `index` must record, which may be older than `status().membership`.
   */
  membershipAt(index: Index): Membership {
    return this.configs.at(index);
  }

  /** Hands leadership to `to` once its log is caught up (thesis §3.10). Proposals are refused meanwhile. */
  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leader: this.leader };
    if (to === this.id) return { ok: false, reason: 'already-leader', leader: this.id };
    if (!this.membership.voters.includes(to)) return { ok: false, reason: 'not-a-voter', leader: this.id };
    if (this.transferee === to) return { ok: true };
    this.transferee = to;
    // The transfer is abandoned if it has not happened within one election timeout.
    this.electionElapsed = 0;
    const progress = this.progressOf(to);
    if (progress.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return { ok: true };
  }

  /**
   * The state machine took `snapshot` (its index must be applied here). The core keeps it to
   * send to followers that fall behind and drops log entries up to `retainEntries` before its
   * index. Returns the new compaction point, which the driver persists with the truncation.
   */
  compact(snapshot: Snapshot, retainEntries: number): LogPosition {
    invariant(snapshot.meta.index <= this.log.applied, () => `snapshot at ${snapshot.meta.index} beyond applied ${this.log.applied}`);
    invariant(retainEntries >= 0, 'retainEntries must not be negative');
    if (this.snapshot === null || snapshot.meta.index > this.snapshot.meta.index) this.snapshot = snapshot;
    invariant(
      sameMembership(snapshot.meta.membership, this.configs.at(snapshot.meta.index)),
      () => `snapshot at ${snapshot.meta.index} records a membership other than membershipAt(${snapshot.meta.index})`,
    );
    const target = Math.min(snapshot.meta.index - retainEntries, this.log.lastStableIndex());
    const compactedTo = this.log.compact(target);
    this.configs.compact(compactedTo.index);
    return compactedTo;
  }

  /** The transport's word on a snapshot sent to `to`: delivered, or failed and to be retried. */
  reportSnapshot(to: NodeId, delivered: boolean): void {
    if (this.role !== 'leader') return;
    const progress = this.progress.get(to);
    if (progress === undefined || progress.state !== 'snapshot') return;
    if (!delivered) progress.pendingSnapshot = 0;
    progress.becomeProbe();
    // Wait for the follower's answer or the next heartbeat response before probing again.
    progress.probeSent = true;
  }

  /** The transport could not reach `to`: stop pipelining to it and probe instead. */
  reportUnreachable(to: NodeId): void {
    if (this.role !== 'leader') return;
    const progress = this.progress.get(to);
    if (progress?.state === 'replicate') progress.becomeProbe();
  }

  // ---------------------------------------------------------------------------------------
  // Output

  /** Whether `ready()` would return anything to do. */
  hasReady(): boolean {
    if (this.broadcastAppendPending || this.broadcastHeartbeatPending) return true;
    if (this.messages.length > 0 || this.readStates.length > 0) return true;
    if (this.log.unstableEntries().length > 0 || this.log.takePendingSnapshot() !== null) return true;
    if (!sameHardState(this.hardState(), this.lastHardState)) return true;
    if (!sameSoftState(this.softState(), this.lastSoftState)) return true;
    if (this.membership !== this.lastMembership) return true;
    return this.log.applied < this.log.committed && this.log.nextCommittedEntries(1).length > 0;
  }

  /** What the driver must do now; see `Ready` for the order. Call `advance` before the next `ready`. */
  ready(): Ready {
    invariant(!this.readyOutstanding, 'ready() called again before advance()');
    this.flushBroadcasts();
    const hardState = this.hardState();
    const softState = this.softState();
    const ready: Ready = {
      hardState: sameHardState(hardState, this.lastHardState) ? null : hardState,
      softState: sameSoftState(softState, this.lastSoftState) ? null : softState,
      membership: this.membership === this.lastMembership ? null : this.membership,
      entries: this.log.unstableEntries(),
      snapshot: this.log.takePendingSnapshot(),
      messages: this.messages,
      committedEntries: this.log.nextCommittedEntries(this.config.applyBytesMax),
      readStates: this.readStates,
    };
    this.lastHardState = hardState;
    this.lastSoftState = softState;
    this.lastMembership = this.membership;
    this.messages = [];
    this.readStates = [];
    this.readyOutstanding = true;
    return ready;
  }

  /** The driver has done everything `ready` asked. */
  advance(ready: Ready): void {
    invariant(this.readyOutstanding, 'advance() without a ready()');
    this.readyOutstanding = false;
    if (ready.snapshot !== null) {
      this.log.snapshotInstalled(ready.snapshot);
      if (this.snapshot === null || ready.snapshot.meta.index > this.snapshot.meta.index) this.snapshot = ready.snapshot;
    }
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) this.log.stableTo({ index: lastEntry.index, term: lastEntry.term });
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index);
    // The leader counts itself toward commit only once its own entries are durable.
    if (this.role === 'leader' && this.maybeCommit()) this.broadcastAppendPending = true;
    this.maybeChangeMembershipItself();
  }

  /** Role, leader and term: the cheap part of `status()`, for per-request checks. */
  leadership(): SoftState {
    return this.softState();
  }

  /**
   * The configuration in force (rule 2: the newest appended), the committed one, and whether
   * this node is removed: the cheap part of `status()` that the driver checks after every Ready.
   */
  configuration(): { readonly inForce: Membership; readonly committed: Membership; readonly removed: boolean } {
    return { inForce: this.membership, committed: this.configs.at(this.log.committed), removed: this.isRemoved() };
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, MemberProgress>();
    const lastIndex = this.log.lastIndex();
    for (const [id, p] of this.progress) {
      progress.set(id, { match: p.match, next: p.next, state: p.state, lag: Math.max(0, lastIndex - p.match), voter: isVoterIn(this.membership, id) });
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      compactedTo: this.log.compactedTo(),
      logBytes: this.log.bytes(),
      snapshotIndex: this.snapshot?.meta.index ?? 0,
      membership: this.membership,
      pendingConfIndex: this.configs.currentIndex() > this.log.applied ? this.configs.currentIndex() : 0,
      removed: this.isRemoved(),
      transferee: this.transferee,
      progress,
    };
  }

  /** The term of the entry at `index` held in memory, for tests and checkers. */
  termAt(index: Index): Term | undefined {
    return this.log.termAt(index);
  }

  /** The entry at `index` held in memory, for tests and checkers. */
  entryAt(index: Index): Entry | undefined {
    return this.log.entryAt(index);
  }

  // ---------------------------------------------------------------------------------------
  // Timers

  private tickElection(): void {
    this.electionElapsed++;
    if (this.mayCampaign() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.campaign(this.config.preVote ? 'pre-election' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        if (!this.quorumActive()) {
          // Thesis §6.2: a leader cut off from a quorum steps down so clients look elsewhere.
          this.becomeFollower(this.term, null);
          return;
        }
        // A removed node that did not answer for a whole round is not waited for any longer.
        const members = this.peers();
        for (const [id, progress] of [...this.progress]) if (!members.includes(id) && !progress.recentActive) this.progress.delete(id);
        for (const progress of this.progress.values()) progress.recentActive = false;
      }
      this.transferee = null;
      // A removed leader whose hand-over target did not catch up in time picks again.
      this.maybeHandOver();
      if (this.role !== 'leader') return;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeatPending = true;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Roles

  private becomeFollower(term: Term, leader: NodeId | null): void {
    if (term > this.term) {
      this.term = term;
      this.vote = null;
    }
    this.role = 'follower';
    this.leader = leader;
    this.resetRoleState();
  }

  private becomePreCandidate(): void {
    this.role = 'pre-candidate';
    this.leader = null;
    this.resetRoleState();
  }

  private becomeCandidate(): void {
    this.term += 1;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = null;
    this.resetRoleState();
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', () => `becomeLeader from ${this.role}`);
    this.role = 'leader';
    this.leader = this.id;
    this.resetRoleState();
    const next = this.log.lastIndex() + 1;
    for (const peer of this.peers()) {
      const progress = new Progress(next, this.config.inflightMessagesMax, this.config.inflightBytesMax);
      // Give every follower a full election timeout before CheckQuorum counts it as silent.
      progress.recentActive = true;
      this.progress.set(peer, progress);
    }
    // §8: a no-op entry of the new term lets the leader commit (and learn the commit index of)
    // everything before it; reads wait for it (thesis §6.4).
    this.log.append([{ term: this.term, index: next, type: 'normal', data: emptyData }]);
    this.broadcastAppendPending = true;
  }

  private resetRoleState(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimer();
    this.progress.clear();
    this.votes = new Map();
    this.transferee = null;
    this.uncommittedBytes = 0;
    this.readQueue.clear();
    this.readRoundContext = null;
    this.readsAwaitingTermCommit = [];
    this.leaseRevoked = false;
    this.broadcastAppendPending = false;
    this.broadcastHeartbeatPending = false;
  }

  private resetElectionTimer(): void {
    // §5.2: randomized timeouts make split votes rare.
    this.randomizedElectionTicks = this.config.electionTicks + this.config.rng.int(this.config.electionTicks);
  }

  private campaign(kind: CampaignKind): void {
    if (!this.mayCampaign()) return;
    if (kind === 'pre-election') this.becomePreCandidate();
    else this.becomeCandidate();
    const preVote = kind === 'pre-election';
    const campaignTerm = preVote ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (jointVoteResult(this.membership, this.votes) === 'won') {
      if (preVote) this.campaign('election');
      else this.becomeLeader();
      return;
    }
    // Thesis §4.3: while joint, the votes of both voter sets are needed.
    for (const voter of allMembers(this.membership).filter((id) => isVoterIn(this.membership, id))) {
      if (voter === this.id) continue;
      this.sendWithTerm(
        {
          type: 'vote-request',
          to: voter,
          preVote,
          lastLogIndex: this.log.lastIndex(),
          lastLogTerm: this.log.lastTerm(),
          transfer: kind === 'transfer',
        },
        campaignTerm,
      );
    }
  }

  // ---------------------------------------------------------------------------------------
  // Message handling

  private handleVoteRequest(request: VoteRequest): void {
    // §5.2 one vote per term, first come first served; a PreVote binds nothing, so it may be
    // granted for a future term to any candidate whose log is up to date.
    const canVote =
      this.vote === request.from ||
      (this.vote === null && this.leader === null) ||
      (request.preVote && request.term > this.term);
    const upToDate = isLogUpToDate(request.lastLogIndex, request.lastLogTerm, this.log.lastIndex(), this.log.lastTerm());
    if (canVote && upToDate) {
      // A granted PreVote answers in the term it asked about, so the candidate counts it.
      this.sendWithTerm({ type: 'vote-response', to: request.from, preVote: request.preVote, granted: true }, request.term);
      if (!request.preVote) {
        this.electionElapsed = 0;
        this.vote = request.from;
      }
    } else {
      this.send({ type: 'vote-response', to: request.from, preVote: request.preVote, granted: false });
    }
  }

  private stepLeader(message: Message): void {
    switch (message.type) {
      case 'append-response':
        this.handleAppendResponse(message);
        return;
      case 'heartbeat-response': {
        const progress = this.progress.get(message.from);
        if (progress === undefined) return;
        progress.recentActive = true;
        progress.probeSent = false;
        progress.leaseAckTick = Math.max(progress.leaseAckTick, message.leaseTick);
        // Acks of a full window may have been lost: let one more message through so the
        // follower's answer (or rejection) restarts the flow.
        if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirst();
        if (progress.match < this.log.lastIndex()) this.sendAppend(message.from, true);
        if (message.readContext !== '') {
          const confirmed = (acks: ReadonlySet<NodeId>): boolean => hasJointQuorum(this.membership, (id) => acks.has(id));
          for (const read of this.readQueue.ack(message.readContext, message.from, confirmed)) {
            this.answerRead(read.context, read.requester, read.index);
          }
          if (this.readRoundContext !== null && !this.readQueue.has(this.readRoundContext)) {
            this.readRoundContext = null;
            if (this.readQueue.size > 0) this.broadcastHeartbeatPending = true;
          }
        }
        return;
      }
      case 'read-index':
        this.handleReadIndex(message.context, message.from);
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        throw new InvariantError(`two leaders in term ${this.term}: ${this.id} and ${message.from}`);
      case 'vote-request':
      case 'vote-response':
      case 'timeout-now':
      case 'read-index-response':
        return;
      default:
        assertNever(message, 'message');
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case 'vote-response': {
        const preVoting = this.role === 'pre-candidate';
        if (message.preVote !== preVoting) return;
        this.votes.set(message.from, message.granted);
        const outcome = jointVoteResult(this.membership, this.votes);
        if (outcome === 'won') {
          if (preVoting) this.campaign('election');
          else this.becomeLeader();
        } else if (outcome === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // §5.2: a candidate that hears from a leader of its term returns to follower.
        this.becomeFollower(this.term, message.from);
        this.stepFollower(message);
        return;
      case 'vote-request':
      case 'append-response':
      case 'heartbeat-response':
      case 'timeout-now':
      case 'read-index':
      case 'read-index-response':
        return;
      default:
        assertNever(message, 'message');
    }
  }

  private stepFollower(message: Message): void {
    switch (message.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = message.from;
        this.handleAppend(message);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = message.from;
        this.handleHeartbeat(message);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = message.from;
        this.handleSnapshot(message);
        return;
      case 'timeout-now':
        this.campaign('transfer');
        return;
      case 'read-index-response':
        this.readStates.push({ context: message.context, index: message.index });
        return;
      case 'vote-request':
      case 'vote-response':
      case 'append-response':
      case 'heartbeat-response':
      case 'read-index':
        return;
      default:
        assertNever(message, 'message');
    }
  }

  private handleAppend(request: AppendRequest): void {
    if (request.prevLogIndex < this.log.committed) {
      // Everything up to our commit index is known to match; say so and let the leader skip ahead.
      this.send({ type: 'append-response', to: request.from, success: true, index: this.log.committed, rejectHintIndex: 0, rejectHintTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(request.prevLogIndex, request.prevLogTerm, request.commit, request.entries);
    if (lastNew !== null) {
      this.followLogConfigs(request.entries);
      this.send({ type: 'append-response', to: request.from, success: true, index: lastNew, rejectHintIndex: 0, rejectHintTerm: 0 });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(request.prevLogIndex, this.log.lastIndex()), request.prevLogTerm);
    this.send({
      type: 'append-response',
      to: request.from,
      success: false,
      index: request.prevLogIndex,
      rejectHintIndex: hint.index,
      rejectHintTerm: hint.term,
    });
  }

  private handleHeartbeat(heartbeat: Heartbeat): void {
    // The leader never sends a commit index beyond what it knows we match.
    this.log.commitTo(Math.min(heartbeat.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeat-response', to: heartbeat.from, readContext: heartbeat.readContext, leaseTick: heartbeat.leaseTick });
  }

  private handleSnapshot(request: SnapshotRequest): void {
    const meta = request.snapshot.meta;
    const reply = (index: Index): void =>
      this.send({ type: 'append-response', to: request.from, success: true, index, rejectHintIndex: 0, rejectHintTerm: 0 });
    if (meta.index <= this.log.committed) {
      reply(this.log.committed);
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // §7 receiver rule 6: we already hold the snapshot's last entry; keep the log after it.
      this.log.commitTo(meta.index);
      reply(meta.index);
      return;
    }
    this.log.restore(request.snapshot);
    const before = this.membership;
    this.configs.reset(meta.index, meta.membership);
    this.membershipChanged(before);
    reply(meta.index);
  }

  private handleAppendResponse(response: AppendResponse): void {
    const progress = this.progress.get(response.from);
    if (progress === undefined) return;
    progress.recentActive = true;

    if (!response.success) {
      // §5.3 fast back-off: skip every entry of a term the follower cannot have.
      let nextProbe = response.rejectHintIndex;
      if (response.rejectHintTerm > 0) nextProbe = this.log.findConflictByTerm(response.rejectHintIndex, response.rejectHintTerm).index;
      if (progress.maybeDecreaseTo(response.index, nextProbe + 1)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.sendAppend(response.from, true);
      }
      return;
    }

    const wasPaused = progress.isPaused();
    if (!progress.maybeUpdate(response.index)) return;
    switch (progress.state) {
      case 'probe':
        progress.becomeReplicate();
        break;
      case 'snapshot':
        if (progress.match + 1 >= this.log.firstIndex()) {
          progress.becomeProbe();
          progress.becomeReplicate();
        }
        break;
      case 'replicate':
        progress.inflights.freeUpTo(response.index);
        break;
      default:
        assertNever(progress.state, 'replication state');
    }
    if (this.maybeCommit()) {
      this.broadcastAppendPending = true;
    } else if (wasPaused) {
      this.sendAppend(response.from, false);
    }
    if (!this.peers().includes(response.from)) {
      // A removed node being retired (see syncProgress): it may hold the removal entry now.
      this.syncProgress();
      this.maybeChangeMembershipItself();
      return;
    }
    // Fill the pipeline as far as the window allows.
    while (this.sendAppend(response.from, false)) {
      /* each call sends one more batch */
    }
    if (response.from === this.transferee && progress.match === this.log.lastIndex()) {
      this.sendTimeoutNow(response.from);
      // Rule 6: a removed leader steps down once its successor has everything.
      if (this.isRemovedLeader()) {
        this.becomeFollower(this.term, null);
        return;
      }
    }
    this.maybeChangeMembershipItself();
  }

  private handleReadIndex(context: string, requester: NodeId): boolean {
    if (this.readQueue.has(context) || this.readsAwaitingTermCommit.some((r) => r.context === context)) return true;
    if (this.readQueue.size + this.readsAwaitingTermCommit.length >= this.config.pendingReadsMax) return false;
    if (this.log.termAt(this.log.committed) !== this.term) {
      // Thesis §6.4 step 1: until an entry of its term commits, the leader may not know the
      // latest commit index.
      this.readsAwaitingTermCommit.push({ context, requester });
      return true;
    }
    this.startRead(context, requester);
    return true;
  }

  private startRead(context: string, requester: NodeId): void {
    const index = this.log.committed;
    if (hasJointQuorum(this.membership, (id) => id === this.id) || (this.config.readMode === 'lease' && this.leaseHolds())) {
      this.answerRead(context, requester, index);
      return;
    }
    const read: PendingRead = { context, requester, index, acks: new Set([this.id]) };
    this.readQueue.add(read);
    // One confirmation round in flight at a time: requests that arrive meanwhile (each node's
    // batch, read-waits.ts) are confirmed together by the next broadcast, sent as soon as this
    // round is answered, or by the next heartbeat tick if it is lost. A round sent before a
    // request arrived never confirms it: its acks prove nothing about later (thesis §6.4).
    if (this.readRoundContext === null) this.broadcastHeartbeatPending = true;
  }

  private answerRead(context: string, requester: NodeId, index: Index): void {
    if (requester === this.id) this.readStates.push({ context, index });
    else this.send({ type: 'read-index-response', to: requester, context, index });
  }

  // ---------------------------------------------------------------------------------------
  // Membership (conf-change.ts)

  /** The configuration in force: the newest one in the log (rule 2). */
  private get membership(): Membership {
    return this.configs.current();
  }

  /** After a successful AppendEntries: drop the configurations of overwritten entries, adopt the new ones (rule 2). */
  private followLogConfigs(entries: readonly Entry[]): void {
    const before = this.membership;
    this.configs.dropUnmatched((index) => this.log.termAt(index));
    const compacted = this.log.compactedTo().index;
    this.configs.append(entries.filter((e) => e.index > compacted && this.log.matchTerm(e.index, e.term)));
    if (this.membership !== before) this.membershipChanged(before);
  }

  /** Leader only: appends a conf-change entry; its configuration is in force at once (rule 2). */
  private appendConfChange(record: ConfChangeRecord): Entry {
    const before = this.membership;
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type: 'conf-change', data: encodeConfChange(record) };
    this.log.append([entry]);
    this.uncommittedBytes += entry.data.byteLength;
    this.configs.append([entry]);
    this.membershipChanged(before);
    this.broadcastAppendPending = true;
    return entry;
  }

  private membershipChanged(before: Membership): void {
    if (isMemberOf(this.membership, this.id)) this.everMember = true;
    if (this.role !== 'leader') return;
    this.syncProgress();
    if (this.transferee !== null && !this.membership.voters.includes(this.transferee)) this.transferee = null;
    if (!sameMembership(before, this.membership)) {
      // The quorum changed: what was not committed under the old one may be now.
      if (this.maybeCommit()) this.broadcastAppendPending = true;
    }
  }

  /**
   * Leader only: a Progress for every peer (learners included). A node the committed
   * configuration removed is retired once it holds the entry removing it: it is told that entry
   * committed (the only way it learns it, so it stops campaigning, see mayCampaign), then gets
   * nothing more. One that never answers is dropped at the next CheckQuorum round.
   */
  private syncProgress(): void {
    const members = this.peers();
    const configIndex = this.configs.currentIndex();
    for (const [id, progress] of [...this.progress]) {
      if (members.includes(id) || configIndex > this.log.committed || progress.match < configIndex) continue;
      this.progress.delete(id);
      this.send({ type: 'heartbeat', to: id, commit: Math.min(progress.match, this.log.committed), readContext: '', leaseTick: this.ticksTotal });
    }
    for (const id of members) {
      if (this.progress.has(id)) continue;
      const progress = new Progress(this.log.lastIndex() + 1, this.config.inflightMessagesMax, this.config.inflightBytesMax);
      // Give a new member a full election timeout before CheckQuorum counts it as silent.
      progress.recentActive = true;
      this.progress.set(id, progress);
    }
  }

  /**
   * Leader only, the changes the leader makes by itself: leave a joint configuration once its
   * entry is committed (rule 3), promote a caught-up auto-promote learner (rule 5), and hand over
   * leadership once a configuration without it is committed (rule 6). One change at a time, and
   * none before an entry of this term is committed (rule 4).
   */
  private maybeChangeMembershipItself(): void {
    if (this.role !== 'leader' || this.transferee !== null) return;
    if (this.log.termAt(this.log.committed) !== this.term) return;
    const current = this.membership;
    const configIndex = this.configs.currentIndex();
    if (isJoint(current)) {
      if (configIndex <= this.log.committed) {
        this.appendConfChange({ kind: 'leave-joint', ops: [], context: emptyData, membership: leaveJoint(current) });
      }
      return;
    }
    if (this.isRemovedLeader()) {
      this.maybeHandOver();
      return;
    }
    if (configIndex > this.log.applied) return;
    const ready = autoPromoteOf(current).find((id) => this.isCaughtUp(id));
    if (ready === undefined) return;
    const change: ConfChange = { ops: [{ type: 'promote', node: ready }], context: emptyData };
    const plan = planConfChange(current, change, (id) => this.isCaughtUp(id));
    invariant(plan.ok, () => `auto-promotion of ${ready} refused: ${plan.ok ? '' : plan.detail}`);
    this.appendConfChange({ kind: 'auto-promote', ops: change.ops, context: emptyData, membership: plan.membership });
  }

  /**
   * Rule 6: once the configuration that leaves this leader out is committed, hand leadership to
   * the most up-to-date remaining voter (TimeoutNow when it holds the whole log) and step down.
   */
  private maybeHandOver(): void {
    if (!this.isRemovedLeader() || this.configs.currentIndex() > this.log.committed) return;
    let target = this.transferee;
    if (target === null) {
      let best = -1;
      for (const voter of this.membership.voters) {
        const match = this.progress.get(voter)?.match ?? 0;
        if (match > best) {
          best = match;
          target = voter;
        }
      }
    }
    if (target === null) return;
    this.transferee = target;
    if (this.progressOf(target).match === this.log.lastIndex()) {
      this.sendTimeoutNow(target);
      this.becomeFollower(this.term, null);
    } else {
      this.sendAppend(target, true);
    }
  }

  /** A leader whose configuration in force gives it no vote (rule 6). */
  private isRemovedLeader(): boolean {
    return this.role === 'leader' && !isVoterIn(this.membership, this.id);
  }

  /** RaftStatus.removed: this node was a member and the configuration in force leaves it out. */
  private isRemoved(): boolean {
    const current = this.membership;
    return this.everMember && current.voters.length > 0 && !isMemberOf(current, this.id);
  }

  /** Rule 5: a learner may be promoted once within promoteLagEntriesMax of the leader's last index. */
  private isCaughtUp(id: NodeId): boolean {
    const progress = this.progress.get(id);
    return progress !== undefined && progress.match + this.config.promoteLagEntriesMax >= this.log.lastIndex();
  }

  // ---------------------------------------------------------------------------------------
  // Replication

  /** Advances the commit index if a quorum now matches a newer entry of this term; returns whether it did. */
  private maybeCommit(): boolean {
    // Thesis §4.3: while joint, a majority of each voter set; a leader the configuration leaves
    // out does not count itself (§4.2.2), which the voter sets already ensure.
    const quorumIndex = jointMatchIndex(this.membership, (voter) =>
      voter === this.id ? this.log.lastStableIndex() : (this.progress.get(voter)?.match ?? 0),
    );
    const before = this.log.committed;
    const after = committedIndex(before, quorumIndex, this.log.termAt(quorumIndex), this.term);
    if (after === before) return false;
    for (let index = before + 1; index <= after; index++) {
      const entry = this.log.entryAt(index);
      if (entry !== undefined && entry.term === this.term) this.uncommittedBytes -= entry.data.byteLength;
    }
    const configCommitted = before < this.configs.currentIndex() && this.configs.currentIndex() <= after;
    this.log.commitTo(after);
    // Nodes the committed configuration removed get nothing more (see peers()).
    if (configCommitted) this.syncProgress();
    if (this.readsAwaitingTermCommit.length > 0) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const read of waiting) this.startRead(read.context, read.requester);
    }
    return true;
  }

  private flushBroadcasts(): void {
    if (this.role !== 'leader') return;
    if (this.broadcastAppendPending) {
      this.broadcastAppendPending = false;
      for (const peer of this.progress.keys()) this.sendAppend(peer, true);
    }
    if (this.broadcastHeartbeatPending) {
      this.broadcastHeartbeatPending = false;
      const readContext = this.readQueue.newestContext();
      if (readContext !== '') this.readRoundContext = readContext;
      for (const [peer, progress] of this.progress) {
        this.send({
          type: 'heartbeat',
          to: peer,
          commit: Math.min(progress.match, this.log.committed),
          readContext,
          leaseTick: this.ticksTotal,
        });
      }
    }
  }

  /**
   * Sends the follower what it is missing, or a snapshot if that was compacted away. With
   * `evenIfEmpty`, an empty AppendEntries still goes out (a probe, or to carry the commit index).
   * Returns whether anything was sent.
   */
  private sendAppend(to: NodeId, evenIfEmpty: boolean): boolean {
    const progress = this.progressOf(to);
    if (progress.isPaused()) return false;
    const prevLogIndex = progress.next - 1;
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) {
      this.sendSnapshot(to, progress);
      return true;
    }
    const entries = this.log.slice(progress.next, this.log.lastIndex() + 1, this.config.messageBytesMax);
    if (entries.length === 0 && !evenIfEmpty) return false;
    this.send({ type: 'append', to, prevLogIndex, prevLogTerm, entries, commit: this.log.committed });
    const last = entries[entries.length - 1];
    if (progress.state === 'replicate') {
      if (last !== undefined) {
        progress.next = last.index + 1;
        progress.inflights.add(last.index, entries.reduce((sum, e) => sum + entryBytes(e), 0));
      }
    } else {
      progress.probeSent = true;
    }
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target's election skips the followers' lease check, so from now on this leader's lease
    // proves nothing; it stays revoked for the rest of the term.
    this.leaseRevoked = true;
    this.send({ type: 'timeout-now', to });
  }

  private sendSnapshot(to: NodeId, progress: Progress): void {
    const snapshot = this.snapshot;
    invariant(snapshot !== null, () => `${this.id}: follower ${to} needs compacted entries but there is no snapshot`);
    this.send({ type: 'snapshot', to, snapshot });
    progress.becomeSnapshot(snapshot.meta.index);
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  private send(message: DistributiveOmit<Message, 'from' | 'term'>): void {
    this.sendWithTerm(message, this.term);
  }

  private sendWithTerm(message: DistributiveOmit<Message, 'from' | 'term'>, term: Term): void {
    this.messages.push({ ...message, from: this.id, term } as Message);
  }

  private progressOf(peer: NodeId): Progress {
    const progress = this.progress.get(peer);
    invariant(progress !== undefined, () => `${this.id}: no progress for ${peer}`);
    return progress;
  }

  /**
   * The nodes a leader replicates to: every member of the configuration in force and of the
   * committed one, so a node being removed still receives the entry that removes it (and learns
   * it was removed) until that entry commits.
   */
  private peers(): NodeId[] {
    const members = allMembers(this.membership);
    for (const id of allMembers(this.configs.at(this.log.committed))) if (!members.includes(id)) members.push(id);
    return members.filter((id) => id !== this.id);
  }

  /**
   * Whether this node may campaign: it votes in its newest configuration, or in the committed one
   * while a newer one that leaves it out is not known to be committed. Thesis §4.2.2: such a node
   * may still be needed, e.g. when it alone holds the entry that removes it and no other voter
   * can win without its vote. Votes are always counted under the newest configuration. Learners,
   * nodes that know no configuration, and nodes whose removal they know committed never campaign.
   */
  private mayCampaign(): boolean {
    return isVoterIn(this.membership, this.id) || isVoterIn(this.configs.at(this.log.committed), this.id);
  }

  private quorumActive(): boolean {
    return hasJointQuorum(this.membership, (voter) => voter === this.id || this.progress.get(voter)?.recentActive === true);
  }

  /**
   * Thesis §6.4.1: a follower that acknowledged a heartbeat sent at tick s votes for no one else
   * until a full election timeout after it received it, so the leader is still the only leader
   * while a quorum acknowledged a round sent less than electionTicks ago. One tick of margin
   * covers where within a tick each side counted. Assumes clocks that tick at the same rate.
   */
  private leaseHolds(): boolean {
    if (this.leaseRevoked || this.transferee !== null) return false;
    const quorumAckTick = jointQuorumAckTick(this.membership, (voter) =>
      voter === this.id ? this.ticksTotal : (this.progress.get(voter)?.leaseAckTick ?? -Infinity),
    );
    return this.ticksTotal - quorumAckTick < this.config.electionTicks - 1;
  }

  /** Whether we heard from a leader within the last election timeout (a leader is always in its own lease). */
  private inLeaderLease(): boolean {
    if (!this.config.checkQuorum) return false;
    // A restarted node has forgotten the leader it acknowledged; with lease reads it must still
    // honour that lease, so it assumes one for its first election timeout.
    if (this.restartedWithLeases && this.ticksTotal < this.config.electionTicks) return true;
    return this.leader !== null && this.electionElapsed < this.config.electionTicks;
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
