import {
  allMembers,
  decodeConfChange,
  defaultRaftTunables,
  describeConfChange,
  describeMessage,
  describeReady,
  isJoint,
  nodeId,
  type ConfChangeOp,
  type Membership,
  type Message,
  type NodeId,
  type RaftCore,
  type RaftConfig,
  type Role,
  type Snapshot,
  type Term,
} from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { SafetyChecker, type Violation } from './sim-invariants.js';
import { SimNetwork } from './sim-network.js';
import { SimNode, type CrashPoint } from './sim-node.js';
import { applyEntry, decodeStateMachine, encodeStateMachine } from './sim-state-machine.js';

export interface SimOptions {
  readonly seed: number;
  readonly steps: number;
  readonly nodes: number;
  /** Keep the whole event transcript (for replaying one seed) instead of the last few hundred lines. */
  readonly fullTranscript?: boolean;
  /** Membership changes on or off; by default on in half the seeds (drawn from the seed). */
  readonly membershipChanges?: boolean;
}

export interface SimStats {
  leaderTerms: number;
  proposalsAccepted: number;
  highestCommit: number;
  readsReleased: number;
  crashes: number;
  crashesInReady: number;
  partitions: number;
  transfers: number;
  compactions: number;
  snapshotsSent: number;
  messagesDelivered: number;
  messagesDropped: number;
  livenessTicks: number;
  /** Conf changes the nemesis proposed that a leader accepted, and that it refused. */
  confChanges: number;
  confChangesRefused: number;
  /** Accepted changes that moved more than one voter (joint consensus). */
  jointChanges: number;
  /** Accepted changes that removed the leader itself. */
  leaderRemovals: number;
  /** Brand-new nodes started empty and added as learners. */
  nodesAdded: number;
  /** Conf-change entries applied that the leader made itself: leaving joint, auto-promotion. */
  leaveJointsApplied: number;
  autoPromotionsApplied: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly violations: readonly Violation[];
  readonly stats: SimStats;
  /** The events leading up to the end of the run, in the canonical describe() text. */
  readonly transcript: readonly string[];
}

/** Simulated time: the network counts steps, Raft counts ticks; a tick every few steps. */
const stepsPerTick = 3;
/** After healing, the cluster must elect a leader and commit fresh proposals within this many ticks. */
const livenessTicksMax = 300;
const livenessProposals = 3;
const transcriptLinesKept = 400;
const drainRoundsMax = 10_000;
/** Bounds on the membership nemesis: members at once beyond the initial ones, and nodes ever created. */
const extraMembersMax = 3;
const extraNodesMax = 12;
/** Small, so promotion is sometimes refused and sometimes waits for a learner to catch up. */
const promoteLagEntriesMax = 8;

/**
 * Runs one seeded simulation: N nodes, a faulty network, crashes at any point of Ready handling,
 * restarts, partitions, compaction and snapshots, leadership transfers, client proposals and
 * reads. Safety is checked after every step and liveness after the faults heal. The same seed
 * always produces the same run.
 */
export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

class Simulation {
  private readonly rng: SeededRng;
  /** Every node ever created: the initial ones, then brand-new ones the membership nemesis adds. */
  private readonly ids: NodeId[];
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly network: SimNetwork;
  private readonly checker = new SafetyChecker();
  private readonly transcript: string[] = [];
  private readonly pendingReads = new Map<string, { commitAtInvoke: number }>();
  private readonly lastRole = new Map<NodeId, { role: Role; term: Term }>();
  private readonly stats: SimStats = {
    leaderTerms: 0,
    proposalsAccepted: 0,
    highestCommit: 0,
    readsReleased: 0,
    crashes: 0,
    crashesInReady: 0,
    partitions: 0,
    transfers: 0,
    compactions: 0,
    snapshotsSent: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    livenessTicks: 0,
    confChanges: 0,
    confChangesRefused: 0,
    jointChanges: 0,
    leaderRemovals: 0,
    nodesAdded: 0,
    leaveJointsApplied: 0,
    autoPromotionsApplied: 0,
  };
  private readonly makeConfig: (id: NodeId, rng: SeededRng) => RaftConfig;
  private readonly membershipChanges: boolean;
  /** The highest commit each leader has been checked at, by node and term. */
  private readonly checkedCommit = new Map<NodeId, { term: Term; commit: number }>();
  private now = 0;
  /** Off in the liveness phase: faults have healed and must stay healed. */
  private faultsEnabled = true;
  private proposalSeq = 0;
  private readSeq = 0;

  constructor(private readonly options: SimOptions) {
    this.rng = new SeededRng(options.seed);
    this.ids = Array.from({ length: options.nodes }, (_, i) => nodeId(`n${i + 1}`));
    // Vary the configuration by seed so both the common and the stripped-down setups are covered.
    const preVote = this.rng.chance(4, 5);
    const checkQuorum = this.rng.chance(4, 5);
    // Lease reads rely on CheckQuorum and on clocks ticking at one rate, which the simulator keeps.
    const readMode = checkQuorum && this.rng.chance(1, 4) ? 'lease' : 'read-index';
    this.membershipChanges = options.membershipChanges ?? this.rng.chance(1, 2);
    this.makeConfig = (id: NodeId, rng: SeededRng): RaftConfig => ({
      ...defaultRaftTunables,
      id,
      rng,
      electionTicks: 10,
      heartbeatTicks: 2,
      preVote,
      checkQuorum,
      readMode,
      // Small limits so that batching, flow control and back-pressure are exercised.
      messageBytesMax: 64,
      inflightMessagesMax: 4,
      inflightBytesMax: 512,
      uncommittedBytesMax: 2048,
      applyBytesMax: 256,
      promoteLagEntriesMax,
    });
    const membership = { voters: [...this.ids], learners: [] };
    this.ids.forEach((id, i) => this.nodes.set(id, new SimNode(id, this.makeConfig, options.seed * 31 + i, membership)));
    this.network = new SimNetwork(this.rng, { dropPerMille: 10, duplicatePerMille: 10, delayStepsMax: 6 });
    this.note(
      () => `config nodes=${options.nodes} preVote=${preVote} checkQuorum=${checkQuorum} readMode=${readMode} membershipChanges=${this.membershipChanges}`,
    );
  }

  run(): SimResult {
    for (this.now = 1; this.now <= this.options.steps && this.checker.violations.length === 0; this.now++) {
      this.checker.step = this.now;
      this.deliverDue();
      if (this.now % stepsPerTick === 0) this.tickAll();
      this.drain();
      this.injectEvents();
      this.drain();
    }
    if (this.checker.violations.length === 0) this.checkLiveness();
    this.stats.highestCommit = this.checker.highestCommit;
    return {
      seed: this.options.seed,
      nodes: this.options.nodes,
      steps: this.options.steps,
      violations: this.checker.violations,
      stats: this.stats,
      transcript: this.transcript,
    };
  }

  // ---------------------------------------------------------------------------------------
  // The world

  private note(line: () => string): void {
    this.transcript.push(`${this.now} ${line()}`);
    if (!this.options.fullTranscript && this.transcript.length > transcriptLinesKept * 2) {
      this.transcript.splice(0, this.transcript.length - transcriptLinesKept);
    }
  }

  private node(id: NodeId): SimNode {
    return this.nodes.get(id) as SimNode;
  }

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private leaders(): SimNode[] {
    return this.liveNodes().filter((n) => n.core?.status().role === 'leader');
  }

  private tickAll(): void {
    for (const node of this.liveNodes()) node.core?.tick();
  }

  private deliverDue(): void {
    for (const message of this.network.takeDue(this.now)) this.deliver(message);
  }

  private deliver(message: Message): void {
    const target = this.node(message.to);
    const sender = this.node(message.from);
    if (target.core === null || this.network.isCut(message.from, message.to)) {
      this.stats.messagesDropped++;
      // What a real transport would notice: the stream broke or the peer refused the connection.
      if (message.type === 'snapshot') sender.core?.reportSnapshot(message.to, false);
      if (target.core === null) sender.core?.reportUnreachable(message.to);
      return;
    }
    this.stats.messagesDelivered++;
    this.note(() => `deliver ${describeMessage(message)}`);
    target.core.step(message);
    if (message.type === 'snapshot') sender.core?.reportSnapshot(message.to, true);
  }

  /** Handles every Ready until the cluster is quiet; messages go to the network, not straight to peers. */
  private drain(): void {
    for (let round = 0; round < drainRoundsMax; round++) {
      let busy = false;
      for (const node of this.liveNodes()) {
        if (node.core?.hasReady()) {
          busy = true;
          this.handleReady(node);
        }
      }
      if (!busy) return;
    }
    this.checker.violations.push({ property: 'Quiescence', detail: `Ready never ran dry after ${drainRoundsMax} rounds`, step: this.now });
  }

  private pickCrashPoint(): CrashPoint | null {
    if (!this.faultsEnabled || !this.rng.chance(2, 1000)) return null;
    return this.rng.pick<CrashPoint>(['before-persist', 'after-persist', 'after-send', 'after-apply']);
  }

  private crashNode(node: SimNode, why: string): void {
    node.crash();
    this.stats.crashes++;
    this.note(() => `crash ${node.id} ${why}`);
  }

  private handleReady(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    const ready = core.ready();
    this.note(() => `${node.id} ${describeReady(ready)}`);
    const status = core.status();
    // As the real driver does: a leader's appends and heartbeats leave before its own append is
    // durable (thesis §10.2.1), as long as the Ready keeps the persisted term and vote.
    const disk = node.disk.hardState;
    const sendEarly =
      status.role === 'leader' && (ready.hardState === null || (ready.hardState.term === disk.term && ready.hardState.vote === disk.vote));
    const early = new Set<Message>(sendEarly ? ready.messages.filter((m) => m.type === 'append' || m.type === 'heartbeat') : []);
    this.sendAll(core, [...early]);
    const crashPoint = this.pickCrashPoint();
    if (crashPoint !== null) this.stats.crashesInReady++;
    if (crashPoint === 'before-persist') return this.crashNode(node, crashPoint);

    const previous = this.lastRole.get(node.id);
    this.lastRole.set(node.id, { role: status.role, term: status.term });
    if (status.role === 'leader') {
      const leaderThroughout = previous?.role === 'leader' && previous.term === status.term;
      if (leaderThroughout) this.checker.checkLeaderAppendOnly(node.id, node.disk, ready.entries);
      else {
        this.stats.leaderTerms++;
        this.checker.observeLeader(node.id, status.term);
        this.checker.checkLeaderCompleteness(node.id, core, status.term);
      }
      const own = ready.entries.filter((e) => e.term === status.term);
      this.checker.checkConfChangeAppend(node.id, core, own, status.commit, status.term);
      this.checkCommitQuorum(node, status.commit, status.term, status.lastIndex);
    }

    node.disk.persist(ready);
    this.checker.checkPersistedEntries(node.id, node.disk, ready.entries);
    if (ready.hardState !== null) this.checker.observeCommit(core, ready.hardState.term, ready.hardState.commit);
    if (crashPoint === 'after-persist') return this.crashNode(node, crashPoint);

    this.sendAll(core, ready.messages.filter((m) => !early.has(m)));
    if (crashPoint === 'after-send') return this.crashNode(node, crashPoint);

    let state = node.disk.stateMachine;
    if (ready.snapshot !== null) {
      const restored = decodeStateMachine(ready.snapshot.data);
      this.checker.checkAppliedMonotonic(node.id, state.applied, restored.applied);
      this.checker.checkStateAt(node.id, restored.applied, restored.hash);
      state = restored;
    }
    for (const entry of ready.committedEntries) {
      if (entry.type === 'conf-change') this.noteConfChangeApplied(node, entry.data);
      const next = applyEntry(state, entry);
      this.checker.checkApply(node.id, state.applied, entry, next.hash);
      state = next;
    }
    node.disk.stateMachine = state;
    for (const read of ready.readStates) {
      const pending = this.pendingReads.get(read.context);
      if (pending === undefined) continue; // a duplicate answer: the first one served the read
      this.pendingReads.delete(read.context);
      this.stats.readsReleased++;
      this.checker.checkReadIndex(node.id, read.context, read.index, pending.commitAtInvoke);
    }
    if (crashPoint === 'after-apply') return this.crashNode(node, crashPoint);
    core.advance(ready);
  }

  private sendAll(core: RaftCore, messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.type === 'snapshot') this.stats.snapshotsSent++;
      if (!this.network.send(message, this.now)) {
        this.stats.messagesDropped++;
        if (message.type === 'snapshot') core.reportSnapshot(message.to, false);
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // What the clients and the nemesis do

  private injectEvents(): void {
    const rng = this.rng;
    if (rng.chance(300, 1000)) this.propose(1 + rng.int(3));
    if (rng.chance(200, 1000)) this.read();
    if (rng.chance(3, 1000)) {
      const live = this.liveNodes();
      if (live.length > 0) this.crashNode(rng.pick(live), 'nemesis');
    }
    for (const node of this.nodes.values()) {
      if (!node.up && rng.chance(20, 1000)) {
        node.restart();
        this.note(() => `restart ${node.id}`);
      }
    }
    if (this.network.cutLinkCount === 0 && rng.chance(4, 1000)) this.partition();
    else if (this.network.cutLinkCount > 0 && rng.chance(10, 1000)) {
      this.network.healAll();
      this.note(() => 'heal');
    }
    if (rng.chance(2, 1000)) this.transfer();
    if (this.membershipChanges && rng.chance(8, 1000)) this.changeMembership();
    if (rng.chance(10, 1000)) this.compact();
    if (rng.chance(5, 1000)) {
      this.network.conditions = {
        dropPerMille: rng.pick([0, 10, 50, 200]),
        duplicatePerMille: rng.pick([0, 10, 50]),
        delayStepsMax: rng.pick([2, 6, 12]),
      };
      this.note(() => `network ${JSON.stringify(this.network.conditions)}`);
    }
  }

  private propose(count: number): void {
    const leaders = this.leaders();
    const live = this.liveNodes();
    const target = leaders.length > 0 ? this.rng.pick(leaders) : live.length > 0 ? this.rng.pick(live) : null;
    if (target?.core == null) return;
    for (let i = 0; i < count; i++) {
      const data = new TextEncoder().encode(`p${++this.proposalSeq}`);
      const result = target.core.propose(data);
      if (result.ok) this.stats.proposalsAccepted++;
    }
  }

  private read(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.rng.pick(live);
    const context = `r${++this.readSeq}`;
    if (node.core?.readIndex(context).ok) {
      this.pendingReads.set(context, { commitAtInvoke: this.checker.highestCommit });
      this.note(() => `read ${context} at ${node.id} (commit known ${this.checker.highestCommit})`);
    }
  }

  private partition(): void {
    const ids = [...this.ids];
    const kind = this.rng.pick(['isolate', 'isolate-leader', 'split', 'one-way', 'bridge'] as const);
    const shuffled = this.rng.shuffled(ids);
    switch (kind) {
      case 'isolate':
      case 'isolate-leader': {
        const leader = this.leaders()[0];
        const victim = kind === 'isolate-leader' && leader !== undefined ? leader.id : (shuffled[0] as NodeId);
        this.network.split([victim], this.ids.filter((id) => id !== victim));
        break;
      }
      case 'split': {
        const minority = shuffled.slice(0, Math.floor(ids.length / 2));
        this.network.split(minority, shuffled.slice(minority.length));
        break;
      }
      case 'one-way':
        this.network.cut(shuffled[0] as NodeId, shuffled[1] as NodeId);
        break;
      case 'bridge': {
        // Two sides that both see one bridge node: each side may think it has a majority.
        const [bridge, ...rest] = shuffled;
        const half = Math.floor(rest.length / 2);
        this.network.split(rest.slice(0, half), rest.slice(half));
        this.note(() => `bridge ${bridge}`);
        break;
      }
    }
    this.stats.partitions++;
    this.note(() => `partition ${kind} (${this.network.cutLinkCount} links cut)`);
  }

  private transfer(): void {
    const leader = this.leaders()[0];
    if (leader?.core == null) return;
    const target = this.rng.pick(this.ids.filter((id) => id !== leader.id));
    if (leader.core.transferLeadership(target).ok) {
      this.stats.transfers++;
      this.note(() => `transfer ${leader.id} -> ${target}`);
    }
  }

  /**
   * The membership nemesis: adds a brand-new empty node as a learner (sometimes auto-promote),
   * promotes a learner, removes a member (sometimes the leader), or replaces several voters at
   * once (joint consensus). Refusals are expected (a change pending, a learner not caught up).
   */
  private changeMembership(): void {
    const leader = this.leaders()[0];
    if (leader?.core == null) return;
    const membership = leader.core.status().membership;
    const others = (ids: readonly NodeId[]): NodeId[] => ids.filter((id) => id !== leader.id);
    let kind = this.rng.pick(['add', 'add', 'promote', 'remove', 'remove-leader', 'replace', 'replace', 'replace'] as const);
    // Learners the leader sees caught up, so a replacement (joint) is usually accepted.
    const progress = leader.core.status().progress;
    const caughtUp = membership.learners.filter((id) => (progress.get(id)?.lag ?? Infinity) <= promoteLagEntriesMax);
    if (kind === 'replace' && caughtUp.length === 0) kind = 'add'; // prepare a later replacement
    let ops: ConfChangeOp[] = [];
    let added: NodeId | null = null;
    switch (kind) {
      case 'add': {
        if (allMembers(membership).length >= this.options.nodes + extraMembersMax || this.ids.length >= this.options.nodes + extraNodesMax) return;
        added = nodeId(`n${this.ids.length + 1}`);
        ops = [{ type: 'add-learner', node: added, autoPromote: this.rng.chance(1, 3) }];
        break;
      }
      case 'promote':
        if (membership.learners.length === 0) return;
        ops = [{ type: 'promote', node: this.rng.pick(membership.learners) }];
        break;
      case 'remove': {
        // Keep at least two voters so the cluster stays a cluster; learners may always go.
        const candidates = [...membership.learners, ...(membership.voters.length > 2 ? others(membership.voters) : [])];
        if (candidates.length === 0) return;
        ops = [{ type: 'remove', node: this.rng.pick(candidates) }];
        break;
      }
      case 'remove-leader':
        if (membership.voters.length <= 2) return;
        ops = [{ type: 'remove', node: leader.id }];
        break;
      case 'replace': {
        const promoted = this.rng.shuffled(caughtUp).slice(0, 1 + this.rng.int(2));
        const removed = this.rng.shuffled([...membership.voters]).slice(0, promoted.length);
        ops = [...promoted.map((node) => ({ type: 'promote' as const, node })), ...removed.map((node) => ({ type: 'remove' as const, node }))];
        break;
      }
    }
    const result = leader.core.proposeConfChange({ ops, context: new TextEncoder().encode(kind) });
    const text = ops.map((op) => `${op.type}(${op.node})`).join(' ');
    if (!result.ok) {
      this.stats.confChangesRefused++;
      this.note(() => `conf change ${kind} ${text} at ${leader.id} refused: ${result.reason} (${result.detail})`);
      return;
    }
    this.stats.confChanges++;
    // Started once accepted: the leader's first message to it goes out with the next Ready.
    if (added !== null) this.startNode(added);
    if (isJoint(result.membership)) this.stats.jointChanges++;
    if (ops.some((op) => op.type === 'remove' && op.node === leader.id)) this.stats.leaderRemovals++;
    this.note(() => `conf change ${kind} ${text} at ${leader.id} index ${result.index}`);
  }

  /** A brand-new node: empty disk, no configuration; it learns one from the leader's log or snapshot. */
  private startNode(id: NodeId): void {
    const noMembership: Membership = { voters: [], learners: [] };
    this.ids.push(id);
    this.nodes.set(id, new SimNode(id, this.makeConfig, this.options.seed * 31 + this.ids.length, noMembership));
    this.stats.nodesAdded++;
    this.note(() => `start ${id} (empty)`);
  }

  private noteConfChangeApplied(node: SimNode, data: Uint8Array): void {
    const record = decodeConfChange(data);
    if (node.core?.status().role === 'leader') {
      if (record.kind === 'leave-joint') this.stats.leaveJointsApplied++;
      if (record.kind === 'auto-promote') this.stats.autoPromotionsApplied++;
    }
    this.note(() => `${node.id} applied conf change ${describeConfChange(record)}`);
  }

  /** Checks a leader's commit index against the disks each time it advances (see SafetyChecker.checkCommitQuorum). */
  private checkCommitQuorum(node: SimNode, commit: number, term: Term, lastIndex: number): void {
    const last = this.checkedCommit.get(node.id);
    this.checkedCommit.set(node.id, { term, commit });
    // A new leader's commit index is what it learned as a follower: another leader committed it,
    // perhaps under a configuration this one does not hold yet. Only its own advances count.
    if (last === undefined || last.term !== term || last.commit >= commit) return;
    const core = node.core;
    if (core === null || commit === 0) return;
    const configurations = [core.membershipAt(commit)];
    for (let i = commit + 1; i <= lastIndex; i++) {
      if (core.entryAt(i)?.type === 'conf-change') configurations.push(core.membershipAt(i));
    }
    this.checker.checkCommitQuorum(node.id, configurations, commit, core.termAt(commit), (id, index, entryTerm) => {
      const disk = this.nodes.get(id)?.disk;
      if (disk === undefined) return false;
      return index <= disk.compactedTo.index || disk.termAt(index) === entryTerm;
    });
  }

  private compact(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.rng.pick(live);
    const core = node.core;
    if (core === null) return;
    const state = node.disk.stateMachine;
    const status = core.status();
    if (state.applied - status.compactedTo.index < 5) return;
    const term = core.termAt(state.applied);
    if (term === undefined) return;
    const snapshot: Snapshot = {
      meta: { index: state.applied, term, membership: core.membershipAt(state.applied) },
      data: encodeStateMachine(state),
    };
    const compactedTo = core.compact(snapshot, this.rng.int(4));
    node.disk.compact(snapshot, compactedTo);
    this.stats.compactions++;
    this.note(() => `compact ${node.id} snapshot=${snapshot.meta.index} compactedTo=${compactedTo.index}`);
  }

  // ---------------------------------------------------------------------------------------
  // Liveness

  /**
   * After every fault heals, a leader must emerge and fresh proposals must be committed and
   * applied on every member of its configuration (voters and learners) within a bounded number
   * of ticks. Removed nodes keep running: they must not get in the way.
   */
  private checkLiveness(): void {
    this.faultsEnabled = false;
    this.now = this.options.steps; // the loop above stopped one past it; nothing is skipped
    this.network.healAll();
    this.network.conditions = { dropPerMille: 0, duplicatePerMille: 0, delayStepsMax: 3 };
    for (const node of this.nodes.values()) node.restart();
    this.note(() => 'liveness: healed, all nodes up, reliable network');
    let target = 0;
    let proposedBy: NodeId | null = null;
    for (let tick = 1; tick <= livenessTicksMax; tick++) {
      for (let s = 0; s < stepsPerTick; s++) {
        this.now++;
        this.checker.step = this.now;
        this.deliverDue();
        this.drain();
      }
      this.tickAll();
      this.drain();
      if (this.checker.violations.length > 0) return;
      const leaders = this.leaders();
      const leader = leaders.length === 1 ? leaders[0] : undefined;
      if (target === 0 && leader?.core != null) {
        for (let i = 0; i < livenessProposals; i++) {
          const result = leader.core.propose(new TextEncoder().encode(`live${i}`));
          if (result.ok) target = Math.max(target, result.index);
        }
        proposedBy = leader.id;
        this.drain();
      }
      if (target > 0 && leader !== undefined && leader.id !== proposedBy) {
        // Leadership moved after the proposals: they may have been dropped; propose afresh.
        target = 0;
      }
      // Every member of the leader's configuration (removed nodes and never-added ones aside).
      const members = leader?.core != null ? allMembers(leader.core.status().membership) : [];
      if (target > 0 && members.length > 0 && members.every((id) => this.node(id).stateMachine.applied >= target)) {
        // State Machine Safety already compared every node's state at every applied index.
        this.stats.livenessTicks = tick;
        return;
      }
    }
    const summary = [...this.nodes.values()]
      .map((n) => `${n.id}:${n.core?.status().role}/t${n.core?.status().term}/applied=${n.stateMachine.applied}`)
      .join(' ');
    this.checker.violations.push({
      property: 'Liveness',
      detail: `no leader committed fresh proposals on every node within ${livenessTicksMax} ticks after healing (target ${target}; ${summary})`,
      step: this.now,
    });
  }
}
