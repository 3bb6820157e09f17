/**
 * A tiny synchronous harness for unit tests of the Raft core (not the simulator in test/sim/):
 * N cores with seeded RNGs, a drive loop that follows the Ready contract, and a network that
 * delivers queued messages in order, except those to or from an isolated node or matching a
 * test's drop rule.
 */
import {
  RaftCore,
  defaultRaftTunables,
  freshState,
  nodeId,
  type Entry,
  type HardState,
  type LogPosition,
  type Membership,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Ready,
  type RestoredState,
  type Snapshot,
} from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';

export type Tunables = Partial<Omit<RaftConfig, 'id' | 'rng'>>;

/** The configuration of a node that has not been added to any cluster yet. */
export const noMembership: Membership = { voters: [], learners: [] };

export const n1 = nodeId('n1');
export const n2 = nodeId('n2');
export const n3 = nodeId('n3');
export const n4 = nodeId('n4');
export const n5 = nodeId('n5');
export const n6 = nodeId('n6');

/** The ids n1..nN. */
export function nodeIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, i) => nodeId(`n${i + 1}`));
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** Entries `first..last` of one term, with data naming the index and term. */
export function entries(first: number, last: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = first; index <= last; index++) out.push({ index, term, type: 'normal', data: bytes(`${index}/t${term}`) });
  return out;
}

export function raftConfig(id: NodeId, seed: number, tunables: Tunables = {}): RaftConfig {
  return { ...defaultRaftTunables, id, rng: new SeededRng(seed), ...tunables };
}

/** What a node has "persisted": enough to restart it. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  compactedTo: LogPosition;
  /** Contiguous, from compactedTo.index + 1. */
  entries: Entry[];
}

export interface ClusterOptions {
  readonly size: number;
  readonly seed?: number;
  readonly tunables?: Tunables;
  /** Members that do not vote (they are among n1..nN, like the voters). */
  readonly learners?: readonly NodeId[];
  /** A node's state at start, for tests that need particular logs; fresh otherwise. */
  readonly restored?: (id: NodeId, fresh: RestoredState) => RestoredState;
  /**
   * Nodes n(size+1).. that exist but are in no configuration yet: they start empty, with no
   * membership, as a node joining a running cluster does, until a conf change adds them.
   */
  readonly joining?: number;
}

export class Cluster {
  readonly ids: NodeId[];
  readonly cores = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, Disk>();
  /** Entries each node's state machine applied, in order, since its last (re)start or snapshot install. */
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  /** Every Ready each node handed out, in order. */
  readonly readys = new Map<NodeId, Ready[]>();
  /** Every message any node sent, delivered or not, in order. */
  readonly sent: Message[] = [];
  /** Messages sent and not yet delivered (or dropped), in send order. */
  network: Message[] = [];
  /** Extra drop rule, checked at delivery. */
  dropIf: (message: Message) => boolean = () => false;
  private readonly cut = new Set<NodeId>();
  private readonly seed: number;
  private readonly tunables: Tunables;
  private readonly membership: Membership;
  private readonly joiningIds: readonly NodeId[];

  constructor(options: ClusterOptions) {
    const founders = nodeIds(options.size);
    this.joiningIds = nodeIds(options.size + (options.joining ?? 0)).slice(options.size);
    this.ids = [...founders, ...this.joiningIds];
    this.seed = options.seed ?? 1;
    this.tunables = options.tunables ?? {};
    const learners = options.learners ?? [];
    this.membership = { voters: founders.filter((id) => !learners.includes(id)), learners: [...learners] };
    const fresh = freshState(this.membership);
    for (const id of founders) this.start(id, options.restored?.(id, fresh) ?? fresh);
    for (const id of this.joiningIds) this.start(id, freshState(noMembership));
  }

  core(id: NodeId): RaftCore {
    const core = this.cores.get(id);
    if (core === undefined) throw new Error(`no node ${id}`);
    return core;
  }

  /** (Re)starts `id` from `restored`, with a fresh RNG; the old core, if any, is forgotten. */
  start(id: NodeId, restored: RestoredState): RaftCore {
    const core = new RaftCore(raftConfig(id, this.seed * 100 + this.ids.indexOf(id), this.tunables), restored);
    this.cores.set(id, core);
    const { hardState, snapshot, compactedTo } = restored;
    this.disks.set(id, { hardState, snapshot, compactedTo, entries: [...restored.entries] });
    this.applied.set(id, []);
    this.readStates.set(id, []);
    this.readys.set(id, []);
    return core;
  }

  /** Restarts `id` from what it persisted (a crash loses nothing that was persisted). */
  restart(id: NodeId): RaftCore {
    const disk = this.disks.get(id) as Disk;
    return this.start(id, {
      hardState: disk.hardState,
      snapshot: disk.snapshot,
      compactedTo: disk.compactedTo,
      entries: disk.entries,
      membership: disk.snapshot?.meta.membership ?? (this.joiningIds.includes(id) ? noMembership : this.membership),
      applied: disk.snapshot?.meta.index ?? 0,
    });
  }

  /** Drops every message to or from `id` until `heal`. */
  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
    this.dropIf = () => false;
  }

  /** Follows the Ready contract until `id` has nothing to do: persist, send, apply, advance. */
  drain(id: NodeId): Ready[] {
    const core = this.core(id);
    const handled: Ready[] = [];
    for (let i = 0; core.hasReady(); i++) {
      if (i >= 100) throw new Error(`${id}: ready() never ran dry`);
      const ready = core.ready();
      this.persist(id, ready);
      this.checkPersistedBeforeSend(id, ready.messages);
      this.sent.push(...ready.messages);
      this.network.push(...ready.messages);
      if (ready.snapshot !== null) this.applied.set(id, []);
      (this.applied.get(id) as Entry[]).push(...ready.committedEntries);
      (this.readStates.get(id) as ReadState[]).push(...ready.readStates);
      (this.readys.get(id) as Ready[]).push(ready);
      handled.push(ready);
      core.advance(ready);
    }
    return handled;
  }

  drainAll(): void {
    for (const id of this.ids) this.drain(id);
  }

  /**
   * Steps the queued messages that `select` picks (all by default) into their targets, in order;
   * drops those an isolation or `dropIf` forbids. Others stay queued. Returns how many arrived.
   */
  deliver(select: (message: Message) => boolean = () => true): number {
    const now = this.network.filter(select);
    this.network = this.network.filter((m) => !select(m));
    let delivered = 0;
    for (const message of now) {
      if (this.cut.has(message.from) || this.cut.has(message.to) || this.dropIf(message)) continue;
      this.core(message.to).step(message);
      delivered++;
    }
    return delivered;
  }

  /**
   * Drains and delivers until no node has anything to do and the network holds only messages
   * that `hold` keeps back (none by default); those stay queued, in order, for a later delivery.
   */
  stabilize(hold: (message: Message) => boolean = () => false): void {
    for (let round = 0; ; round++) {
      if (round >= 1000) throw new Error('cluster did not stabilize');
      this.drainAll();
      if (this.deliver((m) => !hold(m)) === 0 && this.network.every(hold)) return;
    }
  }

  /**
   * Ticks the nodes in `who` once per round and stabilizes, until `done()`. Returns the number
   * of ticks it took; throws after `ticksMax` (a liveness failure, reported as such).
   */
  tickUntil(done: () => boolean, ticksMax: number, who: readonly NodeId[] = this.ids): number {
    for (let ticks = 1; ticks <= ticksMax; ticks++) {
      for (const id of who) this.core(id).tick();
      this.stabilize();
      if (done()) return ticks;
    }
    throw new Error(`condition not reached within ${ticksMax} ticks`);
  }

  /** Ticks the nodes in `who` `count` times, stabilizing after each. */
  tick(count: number, who: readonly NodeId[] = this.ids): void {
    for (let i = 0; i < count; i++) {
      for (const id of who) this.core(id).tick();
      this.stabilize();
    }
  }

  leaders(): NodeId[] {
    return this.ids.filter((id) => this.core(id).status().role === 'leader');
  }

  /**
   * Makes `id` the leader by ticking only it until it wins (the others, not ticked, never
   * campaign). Needs the others out of any leader lease: fresh, or their leader gone for long.
   */
  elect(id: NodeId): void {
    this.stabilize();
    this.tickUntil(() => this.core(id).status().role === 'leader', 100, [id]);
  }

  /** Proposes on `id` (which must lead) and stabilizes; returns the entry's index. */
  propose(id: NodeId, data: string): number {
    const result = this.core(id).propose(bytes(data));
    if (!result.ok) throw new Error(`${id}: proposal refused: ${result.reason}`);
    this.stabilize();
    return result.index;
  }

  /**
   * Takes a snapshot of `id`'s state machine at its applied index and compacts its log, keeping
   * `retainEntries` entries before the snapshot; the "disk" drops what the core dropped.
   */
  compact(id: NodeId, retainEntries: number): Snapshot {
    const core = this.core(id);
    const { applied } = core.status();
    const snapshot: Snapshot = {
      meta: { index: applied, term: core.termAt(applied) ?? 0, membership: core.membershipAt(applied) },
      data: bytes(`applied=${applied}`),
    };
    const compactedTo = core.compact(snapshot, retainEntries);
    const disk = this.disks.get(id) as Disk;
    disk.snapshot = snapshot;
    disk.compactedTo = compactedTo;
    disk.entries = disk.entries.filter((e) => e.index > compactedTo.index);
    return snapshot;
  }

  /** The last entries persisted by `id`, as "index/tTERM" strings. */
  log(id: NodeId): string[] {
    const core = this.core(id);
    const out: string[] = [];
    const { compactedTo, lastIndex } = core.status();
    for (let i = compactedTo.index + 1; i <= lastIndex; i++) out.push(`${i}/t${core.termAt(i) ?? '?'}`);
    return out;
  }

  /**
   * The Ready contract (§5.2, §5.3): a vote or an acknowledgement promises what the node has
   * persisted, so by the time the message may be sent, the disk must hold it.
   */
  private checkPersistedBeforeSend(id: NodeId, messages: readonly Message[]): void {
    const disk = this.disks.get(id) as Disk;
    for (const m of messages) {
      if (m.type === 'vote-response' && m.granted && !m.preVote) {
        if (disk.hardState.term !== m.term || disk.hardState.vote !== m.to) {
          throw new Error(`${id}: vote for ${m.to} in t${m.term} sent before it was persisted`);
        }
      }
      if (m.type === 'append-response' && m.success) {
        const term = this.core(id).termAt(m.index);
        const held = m.index <= disk.compactedTo.index || disk.entries.some((e) => e.index === m.index && e.term === term);
        if (!held) throw new Error(`${id}: acknowledged index ${m.index} before persisting it`);
      }
    }
  }

  private persist(id: NodeId, ready: Ready): void {
    const disk = this.disks.get(id) as Disk;
    if (ready.snapshot !== null) {
      disk.snapshot = ready.snapshot;
      disk.compactedTo = { index: ready.snapshot.meta.index, term: ready.snapshot.meta.term };
      disk.entries = [];
    }
    const first = ready.entries[0];
    if (first !== undefined) disk.entries = [...disk.entries.filter((e) => e.index < first.index), ...ready.entries];
    if (ready.hardState !== null) disk.hardState = ready.hardState;
  }
}

/** Messages of one type, narrowed. */
export function ofType<T extends Message['type']>(messages: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return messages.filter((m): m is Extract<Message, { type: T }> => m.type === type);
}
