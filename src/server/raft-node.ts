import {
  describeReady,
  isJoint,
  type ConfChange,
  type ConfChangeRefusal,
  type Entry,
  type HardState,
  type Index,
  type LogPosition,
  type Membership,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftCore,
  type RaftStatus,
  type Ready,
  type SnapshotMeta,
  type SoftState,
} from '../raft/index.js';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../shared/logger.js';
import { MembershipChangeRefusedError, NotLeaderError, OverloadedError, ProposalDroppedError, ShuttingDownError, TimeoutError } from '../shared/errors.js';
import { failpoint } from '../shared/failpoints.js';
import { stageTraceOn, traceProposed, traceSettled, traceStage } from '../shared/stage-trace.js';
import type { StoreOperation } from '../storage/index.js';
import type { Transport } from '../transport/transport.js';
import { handOffTarget } from './hand-off-target.js';
import { AppendInbox } from './append-inbox.js';
import { LoopDelayMonitor, emptyDriveWork, type DriveWork, type LoopDelayOptions, type LoopDelayStats } from './loop-delay-monitor.js';
import { ProposalTracker } from './proposals.js';
import { ReadWaits } from './read-waits.js';
import { chunkEntries, defaultTurnLimits, validateTurnLimits, type TurnLimits } from './turn-limits.js';

function isLeaderTraffic(message: Message): boolean {
  return message.type === 'append' || message.type === 'heartbeat';
}

/** Stage tracing: AppendEntries (their last entry) and acknowledgements as they arrive. */
function traceReceived(messages: readonly Message[]): void {
  for (const message of messages) {
    const last = message.type === 'append' ? message.entries.at(-1) : undefined;
    if (last !== undefined) traceStage('follower-receive', last.index);
    if (message.type === 'append-response' && message.success) traceStage('leader-ack-in', message.index);
  }
}

function carriesEntries(message: Message): boolean {
  return message.type === 'append' && message.entries.length > 0;
}

function sameTermAndVote(hardState: HardState | null, persisted: { term: number; vote: NodeId | null }): boolean {
  return hardState === null || (hardState.term === persisted.term && hardState.vote === persisted.vote);
}

/** The durable Raft log as the driver uses it. */
export interface DurableLog {
  /** Persists one Ready's snapshot meta, entries and hard state, with `alsoWrite`, in one synced batch. */
  save(update: { hardState: HardState | null; entries: readonly Entry[]; snapshotMeta: SnapshotMeta | null }, alsoWrite?: readonly StoreOperation[]): Promise<void>;
  /** Drops the entries up to `to` and records `snapshotMeta`, in one synced batch. */
  compact(to: LogPosition, snapshotMeta: SnapshotMeta): Promise<void>;
}

/** The replicated state machine as the driver uses it. */
export interface AppliedStateMachine<Outcome> {
  /**
   * Applies committed entries in order, atomically with the new applied index; one outcome per
   * entry. May call `onVisible` with the outcomes once every read on this node sees them, before
   * they are on disk (the entries are committed: a crash re-applies them from the log).
   */
  apply(entries: readonly Entry[], onVisible?: (outcomes: Outcome[]) => void): Promise<Outcome[]>;
  readonly appliedIndex: Index;
  /** The index and term of the last applied entry. */
  readonly applied: LogPosition;
  /** The writes that install the received snapshot `token` names, and what to do once they are durable. */
  prepareInstall(token: Uint8Array, meta: SnapshotMeta): { readonly operations: readonly StoreOperation[]; complete(): Promise<void> };
  /** Drops a received snapshot that Raft did not install. */
  discardStaged(): Promise<void>;
}

/** What `handOffLeadership` did. */
export type HandOff =
  | { readonly kind: 'not-leader' }
  | { readonly kind: 'no-target' }
  | { readonly kind: 'transferred'; readonly to: NodeId; readonly leader: NodeId }
  | { readonly kind: 'timed-out'; readonly to: NodeId };

/** When a node snapshots its state machine and compacts its log (DESIGN "Snapshots"). */
export interface SnapshotPolicy {
  /** Compact once this many entries were applied since the last snapshot. */
  readonly entries: number;
  /** Or once this many bytes of entries were written since the last snapshot. */
  readonly logBytes: number;
  /** Entries kept below the snapshot, for followers that are only a little behind. */
  readonly retainEntries: number;
  /** And at most this many bytes of them (entry data): large values must not make the kept tail huge. */
  readonly retainBytes: number;
}

export const defaultSnapshotPolicy: SnapshotPolicy = { entries: 10_000, logBytes: 64 * 1024 * 1024, retainEntries: 5_000, retainBytes: 64 * 1024 * 1024 };

export interface RaftNodeOptions<Outcome> {
  readonly core: RaftCore;
  readonly log: DurableLog;
  readonly stateMachine: AppliedStateMachine<Outcome>;
  readonly transport: Transport;
  readonly logger: Logger;
  readonly tickMs: number;
  readonly pendingProposalsMax: number;
  readonly pendingReadsMax: number;
  readonly snapshotPolicy: SnapshotPolicy;
  /** Unique per process start, so read contexts never collide with a previous incarnation's. */
  readonly incarnation: string;
  /** Called once if the drive loop fails (storage broken): the process must stop, not limp on. */
  readonly onFatal: (error: Error) => void;
  /** How the event loop's delays are sampled and when one is logged as a stall. */
  readonly loopDelay?: Partial<LoopDelayOptions>;
  /** How much one Ready may persist and apply at a time (defaultTurnLimits when absent). */
  readonly turnLimits?: Partial<TurnLimits>;
  /**
   * Called with the configuration in force (conf-change.ts rule 2: the newest appended) and the
   * committed one whenever either changes, after the entries or snapshot that made it are
   * persisted and before the messages that follow are sent, and once at start. The node follows
   * them (peer addresses).
   */
  readonly onConfiguration?: (inForce: Membership, committed: Membership) => void;
  /** Called after each snapshot installed from the leader, with how long the install took (metrics) and its position. */
  readonly onSnapshotInstalled?: (seconds: number, position: LogPosition) => void;
  /** Called after each snapshot this node took, with its index and where the log now starts. */
  readonly onSnapshotTaken?: (index: Index, compactedTo: Index) => void;
  /** Called whenever role, leader or term change (the Ready's soft state), before the Ready is persisted. */
  readonly onSoftState?: (state: SoftState) => void;
}

/**
 * The driver (STYLE "The driver"): the only place where the Raft core, storage, transport, the
 * state machine and the clock meet. Handlers only feed the core and wake the loop; the loop
 * handles one Ready at a time: persist, send, apply, answer, advance. Whatever arrives while a
 * Ready is on disk goes into the next one, which is what batches fsyncs (group commit).
 */
export class RaftNode<Outcome> {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly options: RaftNodeOptions<Outcome>;
  private readonly proposals: ProposalTracker<Outcome>;
  private readonly reads: ReadWaits;
  private readonly logger: Logger;

  private ticker: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  private fatal: Error | null = null;
  /**
   * The last apply batch until its state machine write lands: answered and visible already, it
   * need not hold up the next Ready. Awaited before the next apply (writes land in log order),
   * a compaction (whose synced write must follow it) and a snapshot install.
   */
  private applyInFlight: Promise<void> | null = null;
  /** Set when an apply's write failed while nothing waited on it: the loop stops on it. */
  private applyFailure: Error | null = null;
  /** The term and vote last written to disk: early sends are only safe when the Ready keeps them. */
  private persistedTerm: { term: number; vote: NodeId | null };
  /** A received snapshot was handed to the core since the last ready(): install it or drop it. */
  private snapshotStepped = false;
  /** Resolved (and cleared) whenever role or leader changes. */
  private readonly leadershipWaiters = new Set<() => void>();
  /** The index of the last snapshot taken or installed, and entry bytes written since. */
  private lastSnapshotIndex: Index;
  private logBytesSinceSnapshot = 0;
  /** What the loop did since the delay monitor last sampled. */
  private work: DriveWork = emptyDriveWork();
  private readonly loopDelayMonitor: LoopDelayMonitor;
  private readonly turnLimits: TurnLimits;
  /** AppendEntries waiting to be stepped, a bounded amount before each Ready. */
  private readonly inbox: AppendInbox;
  /** Set on the first inbox overflow and cleared when it empties, so an overflow logs once. */
  private inboxOverflowing = false;
  /** The configurations last handed to onConfiguration. */
  private followed: { inForce: Membership; committed: Membership } | null = null;
  /** The configuration in force leaves this node out (RaftStatus.removed); logged when it turns true. */
  private removed = false;
  /** Resolved (and cleared) after every Ready: waits on the configuration settling. */
  private readonly readyWaiters = new Set<() => void>();

  constructor(options: RaftNodeOptions<Outcome>) {
    this.options = options;
    this.core = options.core;
    this.id = options.core.id;
    this.logger = options.logger;
    this.proposals = new ProposalTracker<Outcome>(options.pendingProposalsMax);
    this.reads = new ReadWaits(`${this.id}:${options.incarnation}`, options.pendingReadsMax, (context) => {
      const result = this.core.readIndex(context);
      if (result.ok) this.wake();
      return result;
    });
    const status = options.core.status();
    this.persistedTerm = { term: status.term, vote: status.vote };
    this.lastSnapshotIndex = status.snapshotIndex;
    this.turnLimits = { ...defaultTurnLimits, ...options.turnLimits };
    validateTurnLimits(this.turnLimits);
    this.inbox = new AppendInbox(this.turnLimits.inboxMessagesMax);
    this.loopDelayMonitor = new LoopDelayMonitor(options.loopDelay ?? {}, this.logger, () => {
      const work = this.work;
      this.work = emptyDriveWork();
      return work;
    });
  }

  /** Starts the transport, the tick timer and the drive loop. */
  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`RaftNode ${this.id}: start() called when ${this.state}`);
    await this.options.transport.start({
      onMessages: (messages) => {
        if (this.state !== 'running') return;
        this.work.receivedMessages += messages.length;
        if (stageTraceOn) traceReceived(messages);
        for (const message of messages) {
          if (message.type === 'append') {
            this.work.receivedEntries += message.entries.length;
            this.hold(message);
            continue;
          }
          if (message.type === 'snapshot') this.snapshotStepped = true;
          this.core.step(message);
        }
        this.wake();
      },
      onUnreachable: (peer) => {
        this.core.reportUnreachable(peer);
        this.wake();
      },
      onSnapshotStatus: (peer, delivered) => {
        this.core.reportSnapshot(peer, delivered);
        this.wake();
      },
    });
    this.state = 'running';
    this.ticker = setInterval(() => {
      this.core.tick();
      this.wake();
    }, this.options.tickMs);
    this.ticker.unref();
    this.loopDelayMonitor.start();
    this.followConfiguration();
    this.loop = this.driveLoop();
  }

  /**
   * Proposes a membership change (the rules are in conf-change.ts) and resolves with the
   * configuration once its entry is applied here and, for a joint change, once the joint
   * configuration has been left. Rejects with NotLeaderError, MembershipChangeRefusedError
   * (nothing was appended), or TimeoutError (the outcome is unknown: the change may still
   * happen).
   */
  async changeMembership(change: ConfChange, timeoutMs: number): Promise<Membership> {
    this.ensureRunning();
    this.proposals.ensureCapacity();
    const deadline = Date.now() + timeoutMs;
    const result = this.core.proposeConfChange(change);
    if (!result.ok) {
      if (result.reason === 'not-leader') throw new NotLeaderError(result.leader, null);
      // Proposals are refused while leadership moves; the next leader takes the change.
      if (result.reason === 'transferring-leadership') throw new ProposalDroppedError(`${result.detail}; retry`);
      throw new MembershipChangeRefusedError(result.reason as Exclude<ConfChangeRefusal, 'not-leader' | 'transferring-leadership'>, result.detail);
    }
    this.wake();
    await this.proposals.track(result.index, result.term, timeoutMs);
    // Rule 3: a joint configuration is left by the leader itself; the change is done once it is.
    for (;;) {
      const status = this.core.status();
      if (!isJoint(status.membership) && status.pendingConfIndex === 0) return status.membership;
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new TimeoutError(`the change at index ${result.index} is applied but the configuration is not settled within ${timeoutMs} ms`);
      this.ensureRunning();
      await this.nextReady(remainingMs);
    }
  }

  /**
   * Whether this node was a member and the configuration in force leaves it out
   * (RaftStatus.removed, as of the last Ready): it serves no client requests.
   */
  isRemoved(): boolean {
    return this.removed;
  }

  /**
   * Proposes a command and resolves with its outcome once it is committed and applied here.
   * Rejects with NotLeaderError (retry at the leader), OverloadedError, TimeoutError (outcome
   * unknown), or ProposalDroppedError (not applied; safe to retry).
   */
  propose(command: Uint8Array, timeoutMs: number): Promise<Outcome> {
    this.ensureRunning();
    this.proposals.ensureCapacity();
    const result: ProposeResult = this.core.propose(command);
    if (!result.ok) {
      if (result.reason === 'too-many-uncommitted') throw new OverloadedError('too many uncommitted bytes in the log; retry later');
      throw new NotLeaderError(result.leader, null);
    }
    if (stageTraceOn) traceProposed(result.index);
    this.wake();
    return this.proposals.track(result.index, result.term, timeoutMs);
  }

  /**
   * Resolves once local state may be read linearizably (thesis §6.4): a quorum confirmed the
   * leader's commit index and this node has applied up to it. Works on followers too: the
   * core forwards the request to the leader. Reads are batched, one ReadIndex request
   * outstanding per node (read-waits.ts). Rejects with TimeoutError, NotLeaderError (no leader
   * known), OverloadedError or LeaderChangedError; nothing was read, retrying is safe.
   */
  async linearizableBarrier(timeoutMs: number): Promise<void> {
    this.ensureRunning();
    return this.reads.begin(timeoutMs);
  }

  /** Linearizable reads registered and ReadIndex requests this node made for them, since start. */
  readIndexCounts(): { readonly reads: number; readonly requests: number } {
    return { ...this.reads.counts };
  }

  /** Role, leader and term, cheaply (no copy of the replication progress). */
  leadership(): SoftState {
    return this.core.leadership();
  }

  status(): RaftStatus {
    return this.core.status();
  }

  /** How long this process's event loop has been held: worst since start and recently. */
  loopDelay(): LoopDelayStats {
    return this.loopDelayMonitor.stats();
  }

  /** Hands leadership to another voter (thesis §3.10). */
  transferLeadership(target: NodeId): void {
    this.ensureRunning();
    const result = this.core.transferLeadership(target);
    if (!result.ok) {
      if (result.reason === 'not-leader') throw new NotLeaderError(result.leader, null);
      throw new Error(`cannot transfer leadership to ${target}: ${result.reason}`);
    }
    this.wake();
  }

  /**
   * On shutdown: if this node leads, hands leadership to the most caught-up voter and resolves
   * once another node leads (known here), or after `timeoutMs`. The cluster then need not wait
   * an election timeout for a new leader, and clients told to go elsewhere find it at once.
   * Never rejects; proposals are refused while the transfer is under way (the core's rule).
   */
  async handOffLeadership(timeoutMs: number): Promise<HandOff> {
    if (this.state !== 'running' || this.fatal !== null) return { kind: 'not-leader' };
    const to = handOffTarget(this.core.status());
    if (to === null) return { kind: this.core.leadership().role === 'leader' ? 'no-target' : 'not-leader' };
    if (!this.core.transferLeadership(to).ok) return { kind: 'not-leader' };
    this.logger.info({ to }, 'handing leadership over before stopping');
    this.wake();
    const leader = await this.waitForLeadershipToMove(timeoutMs);
    return leader === null ? { kind: 'timed-out', to } : { kind: 'transferred', to, leader };
  }

  /**
   * Hands leadership to voter `target` (thesis §3.10) and resolves with the new leader once
   * another node leads (as known here). Rejects with NotLeaderError, TimeoutError (the transfer
   * is abandoned by the core after an election timeout), or Error for a target that is no voter.
   */
  async transferLeadershipAndWait(target: NodeId, timeoutMs: number): Promise<NodeId> {
    this.transferLeadership(target);
    const leader = await this.waitForLeadershipToMove(timeoutMs);
    if (leader === null) throw new TimeoutError(`leadership did not move to ${target} within ${timeoutMs} ms`);
    return leader;
  }

  /** Resolves with the new leader once this node no longer leads and knows who does, or null after `timeoutMs`. */
  private async waitForLeadershipToMove(timeoutMs: number): Promise<NodeId | null> {
    const movedTo = (): NodeId | null => {
      const { role, leader } = this.core.leadership();
      return role !== 'leader' && leader !== null && leader !== this.id ? leader : null;
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = movedTo();
      if (leader !== null) return leader;
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0 || this.state !== 'running') return null;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.leadershipWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, remainingMs);
        timer.unref();
        this.leadershipWaiters.add(done);
      });
    }
  }

  /** Stops ticking and taking work, fails what is pending, finishes the current Ready, closes the transport. */
  async stop(deadlineMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state === 'stopping') {
      // After a fatal error the loop is gone but the transport still runs: close it.
      if (this.fatal !== null) {
        await this.options.transport.close(deadlineMs);
        this.state = 'stopped';
      }
      return;
    }
    this.state = 'stopping';
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    this.notifyLeadership();
    for (const waiter of [...this.readyWaiters]) waiter();
    const stopping = new ShuttingDownError(`node ${this.id} is shutting down`);
    this.proposals.failAll(stopping);
    this.reads.failAll(stopping);
    this.inbox.clear();
    this.wake();
    await this.loop;
    await this.options.transport.close(deadlineMs);
    this.loopDelayMonitor.stop();
    this.state = 'stopped';
  }

  private ensureRunning(): void {
    if (this.fatal !== null) throw new ShuttingDownError(`node ${this.id} stopped after a fatal error: ${this.fatal.message}`);
    if (this.state !== 'running') throw new ShuttingDownError(`node ${this.id} is ${this.state}`);
  }

  private hold(message: Extract<Message, { readonly type: 'append' }>): void {
    if (this.inbox.push(message)) return;
    // Lost, as on the network: the leader's probe or the follower's reject makes it resend.
    if (!this.inboxOverflowing) {
      this.inboxOverflowing = true;
      this.logger.warn({ inboxMessagesMax: this.turnLimits.inboxMessagesMax, from: message.from }, 'append inbox full: dropping AppendEntries');
    }
  }

  /** Steps the next bounded share of held AppendEntries into the core, for the coming Ready. */
  private stepHeldAppends(): void {
    if (this.inbox.length === 0) return;
    for (const message of this.inbox.take(this.turnLimits.stepEntriesMax, this.turnLimits.stepBytesMax)) this.core.step(message);
    if (this.inbox.length === 0) this.inboxOverflowing = false;
  }

  /** Resolves after the next Ready is handled, or after `timeoutMs`. */
  private nextReady(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.readyWaiters.add(done);
    });
  }

  /** Hands a changed configuration to onConfiguration, and notices this node's removal (logged once). */
  private followConfiguration(): void {
    const { inForce, committed, removed } = this.core.configuration();
    if (this.followed === null || this.followed.inForce !== inForce || this.followed.committed !== committed) {
      this.followed = { inForce, committed };
      this.options.onConfiguration?.(inForce, committed);
    }
    if (removed !== this.removed) {
      this.removed = removed;
      if (removed) this.logger.warn('this node was removed from the cluster: it refuses client requests and may be stopped');
      else this.logger.warn('the entry removing this node was overwritten: it is a member again');
    }
  }

  private notifyLeadership(): void {
    for (const waiter of [...this.leadershipWaiters]) waiter();
  }

  private wake(): void {
    const wakeUp = this.wakeUp;
    if (wakeUp !== null) {
      this.wakeUp = null;
      wakeUp();
    }
  }

  private async driveLoop(): Promise<void> {
    try {
      while (this.state === 'running') {
        if (this.applyFailure !== null) throw this.applyFailure;
        this.stepHeldAppends();
        if (!this.core.hasReady()) {
          if (this.inbox.length > 0) continue;
          await new Promise<void>((resolve) => {
            this.wakeUp = resolve;
          });
          continue;
        }
        const snapshotStepped = this.snapshotStepped;
        this.snapshotStepped = false;
        const startedAt = performance.now();
        const ready = this.core.ready();
        // Counted before it is handled, so a stall while it is handled is reported with it.
        this.countReady(ready);
        await this.handleReady(ready);
        this.work.readyMsMax = Math.max(this.work.readyMsMax, performance.now() - startedAt);
        // A snapshot the core did not take (stale by the time it arrived) is not kept.
        if (snapshotStepped && ready.snapshot === null) await this.options.stateMachine.discardStaged();
        await this.maybeCompact();
      }
      await this.applyLanded();
    } catch (error) {
      this.fatal = error as Error;
      this.logger.fatal({ err: error }, 'drive loop failed; the node must stop');
      const failure = new ShuttingDownError(`node ${this.id} failed: ${(error as Error).message}`, { cause: error });
      this.proposals.failAll(failure);
      this.reads.failAll(failure);
      this.state = 'stopping';
      if (this.ticker !== null) clearInterval(this.ticker);
      this.options.onFatal(error as Error);
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (this.logger.isLevelEnabled('trace')) this.logger.trace(describeReady(ready));
    if (ready.softState !== null) {
      this.logger.info({ role: ready.softState.role, term: ready.softState.term, leader: ready.softState.leader }, 'raft state changed');
      this.options.onSoftState?.(ready.softState);
      this.notifyLeadership();
      this.reads.onLeadershipChange();
    }
    // Persist before send: votes and acknowledgements promise what is on disk (§5.1). A leader's
    // own AppendEntries and heartbeats promise nothing, so they go out while its append is on
    // disk (thesis §10.2.1); the core counts the leader toward commit only after advance().
    const leading = this.core.leadership().role === 'leader';
    const lastEntry = ready.entries.at(-1);
    if (stageTraceOn && lastEntry !== undefined) traceStage(leading ? 'leader-ready' : 'follower-ready', lastEntry.index);
    const early = leading && sameTermAndVote(ready.hardState, this.persistedTerm) ? ready.messages.filter(isLeaderTraffic) : [];
    // A leader's new configuration is its own (it proposed it): its peers may be reached at once.
    const confChanged = ready.snapshot !== null || ready.entries.some((e) => e.type === 'conf-change');
    if (early.length > 0 && confChanged) this.followConfiguration();
    // Of those, AppendEntries carrying entries go at once: they are what followers must persist.
    // In a Ready that only applies (nothing to persist), the rest (commit updates, heartbeats)
    // go once its apply has started, microseconds later: the client's answer waits on that
    // apply, not on encoding them. Never later than that, so no read waits on an fsync for them.
    const applyOnly = ready.committedEntries.length > 0 && ready.entries.length === 0 && ready.snapshot === null;
    const earlyNow = applyOnly ? early.filter(carriesEntries) : early;
    let earlyLater = earlyNow === early ? [] : early.filter((m) => !carriesEntries(m));
    if (earlyNow.length > 0) this.options.transport.send(earlyNow);
    // The commit index alone is volatile state (Figure 2): a Ready that changes only it writes
    // nothing, saving a LevelDB write on the commit path; it reaches disk with the next entries.
    const termOrVoteChanged = ready.hardState !== null && !sameTermAndVote(ready.hardState, this.persistedTerm);
    if (ready.snapshot !== null) {
      await this.installSnapshot(ready);
    } else if (termOrVoteChanged || ready.entries.length > 0) {
      await this.options.log.save({ hardState: ready.hardState, entries: ready.entries, snapshotMeta: null });
    }
    if (stageTraceOn && lastEntry !== undefined) traceStage(leading ? 'leader-fsynced' : 'follower-fsynced', lastEntry.index);
    if (ready.hardState !== null) this.persistedTerm = { term: ready.hardState.term, vote: ready.hardState.vote };
    for (const entry of ready.entries) this.logBytesSinceSnapshot += entry.data.byteLength;
    // The configuration in force follows the log (conf-change.ts rule 2), now persisted. (An
    // overwrite that undoes one without a conf-change entry is followed after advance, below.)
    if (confChanged) this.followConfiguration();
    const late = early.length > 0 ? ready.messages.filter((m) => !isLeaderTraffic(m)) : ready.messages;
    if (late.length > 0) this.options.transport.send(late);
    // In bounded batches: each is atomic with its applied index, and the loop runs between them.
    const { applyEntriesMax, applyBytesMax } = this.turnLimits;
    for (const batch of chunkEntries(ready.committedEntries, applyEntriesMax, applyBytesMax)) {
      const lastApplied = batch.at(-1);
      if (stageTraceOn && leading && lastApplied !== undefined) traceStage('leader-commit', lastApplied.index);
      // Clients are answered once the batch is visible to reads here, not after its LevelDB
      // write: the entries are committed, and that write is one more trip through the thread
      // pool on every write's path (the state machine makes reads that need it wait for it).
      // Nor does the next Ready wait for that write; the next apply does (applyLanded).
      await this.applyLanded();
      let settled = false;
      let markVisible: () => void = () => undefined;
      const visible = new Promise<void>((resolve) => {
        markVisible = resolve;
      });
      const settle = (outcomes: Outcome[]): void => {
        if (settled) return;
        settled = true;
        if (stageTraceOn && leading && lastApplied !== undefined) {
          traceStage('leader-applied', lastApplied.index);
          traceSettled(lastApplied.index);
        }
        this.proposals.settle(batch, outcomes);
        markVisible();
      };
      const applying = this.options.stateMachine.apply(batch, settle);
      if (earlyLater.length > 0) {
        this.options.transport.send(earlyLater);
        earlyLater = [];
      }
      // A state machine that never calls onVisible is settled when its apply resolves.
      const landed = applying.then(settle);
      landed.catch((error: unknown) => {
        this.applyFailure ??= error as Error;
        this.wake();
      });
      this.applyInFlight = landed;
      await Promise.race([visible, landed]);
    }
    if (earlyLater.length > 0) this.options.transport.send(earlyLater);
    this.reads.onReadStates(ready.readStates, this.options.stateMachine.appliedIndex);
    this.core.advance(ready);
    // Commit may have moved: `removed` is about the committed configuration.
    this.followConfiguration();
    for (const waiter of [...this.readyWaiters]) waiter();
  }

  /** Waits for the write of the apply batch in flight, if any; rejects if it failed. */
  private async applyLanded(): Promise<void> {
    const inFlight = this.applyInFlight;
    if (inFlight === null) return;
    await inFlight;
    if (this.applyInFlight === inFlight) this.applyInFlight = null;
  }

  private countReady(ready: Ready): void {
    const work = this.work;
    work.readies += 1;
    work.appendedEntries += ready.entries.length;
    for (const entry of ready.entries) work.appendedBytes += entry.data.byteLength;
    work.sentMessages += ready.messages.length;
    for (const message of ready.messages) {
      if (message.type !== 'append') continue;
      work.sentEntries += message.entries.length;
      for (const entry of message.entries) work.sentBytes += entry.data.byteLength;
    }
    work.appliedEntries += ready.committedEntries.length;
    for (const entry of ready.committedEntries) work.appliedBytes += entry.data.byteLength;
  }

  /**
   * Steps 1 and 3 of the Ready contract at once for a snapshot: the state machine switches to
   * the received state in the same atomic write that replaces the log with the snapshot, so a
   * crash leaves the old log with the old state or the new state with its log, never a mix.
   */
  private async installSnapshot(ready: Ready): Promise<void> {
    const snapshot = ready.snapshot;
    if (snapshot === null) return;
    await this.applyLanded();
    const startedAt = performance.now();
    const install = this.options.stateMachine.prepareInstall(snapshot.data, snapshot.meta);
    failpoint('snapshot-install-before-commit');
    await this.options.log.save({ hardState: ready.hardState, entries: ready.entries, snapshotMeta: snapshot.meta }, install.operations);
    failpoint('snapshot-install-after-commit');
    await install.complete();
    this.lastSnapshotIndex = snapshot.meta.index;
    this.logBytesSinceSnapshot = 0;
    const seconds = (performance.now() - startedAt) / 1000;
    this.logger.info({ index: snapshot.meta.index, term: snapshot.meta.term, ms: Math.round(seconds * 1000) }, 'snapshot installed');
    this.options.onSnapshotInstalled?.(seconds, { index: snapshot.meta.index, term: snapshot.meta.term });
  }

  /**
   * How many entries below `snapshotIndex` to keep: retainEntries, fewer if they hold more than
   * retainBytes of data. (With 64 KiB values, 5,000 kept entries were over 300 MiB in memory
   * and on disk.) The entry at the snapshot's index counts too: it is where the tail ends.
   */
  private entriesToRetain(snapshotIndex: Index): number {
    const { retainEntries, retainBytes } = this.options.snapshotPolicy;
    let bytes = 0;
    for (let kept = 0; kept < retainEntries; kept++) {
      const entry = this.core.entryAt(snapshotIndex - kept);
      if (entry === undefined) return retainEntries; // the log ends here: the core keeps what it has
      bytes += entry.data.byteLength;
      if (bytes > retainBytes) return kept;
    }
    return retainEntries;
  }

  /**
   * Takes a snapshot when the policy says so. The state machine's LevelDB state is itself the
   * snapshot (senders read it through a LevelDB snapshot when a follower needs it), so taking one
   * is recording its position and dropping the log below it, minus a tail kept for followers a
   * little behind. The compaction's synced write also makes every earlier unsynced apply durable
   * (one ordered write-ahead log), so the state it relies on cannot be lost in a crash.
   */
  private async maybeCompact(): Promise<void> {
    const { entries, logBytes } = this.options.snapshotPolicy;
    const applied = this.options.stateMachine.applied;
    if (applied.index - this.lastSnapshotIndex < entries && this.logBytesSinceSnapshot < logBytes) return;
    if (applied.index <= this.lastSnapshotIndex) return;
    // The compaction's synced write makes the applied state durable only if it follows it.
    await this.applyLanded();
    const startedAt = performance.now();
    const { compactedTo: before } = this.core.status();
    // The configuration at the snapshot's index, which a later conf-change entry may have replaced.
    const meta: SnapshotMeta = { index: applied.index, term: applied.term, membership: this.core.membershipAt(applied.index) };
    const compactedTo = this.core.compact({ meta, data: new Uint8Array(0) }, this.entriesToRetain(applied.index));
    failpoint('compact-before-write');
    await this.options.log.compact(compactedTo, meta);
    failpoint('compact-after-write');
    this.lastSnapshotIndex = applied.index;
    this.logBytesSinceSnapshot = 0;
    this.logger.info(
      { index: meta.index, compactedTo: compactedTo.index, dropped: compactedTo.index - before.index, ms: Math.round(performance.now() - startedAt) },
      'snapshot taken, log compacted',
    );
    this.options.onSnapshotTaken?.(meta.index, compactedTo.index);
  }
}
