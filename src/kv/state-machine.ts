import { createHash } from 'node:crypto';
import { applyCommand } from './apply-command.js';
import { applyTxn, selectorContains, type TxnKeyspace } from './apply-txn.js';
import { txnKeys, txnWrites, type KeySelector, type TxnResult } from './txn-command.js';
import { decodeCommand, isKeyCommand, type Command, type CommandResult, type CommandSession, type CompactCommand, type CompactResult, type LeaseCommand, type PermissionDeniedResult, type TxnCommand } from './commands.js';
import { CompactedError, CorruptCommittedEntryError, FutureRevisionError, InvalidArgumentError, StateMachineFailedError } from './errors.js';
import type { KvEvent, StateChange } from './kv-event.js';
import { decodeHistKey, decodeRevsKey, histKey, histSelectorRange, histVersionsRange, historyMetaKey, historyPhysicalKey, revsFromRange, revsKey } from './history-keys.js';
import { decodeHistoryMeta, decodePhysicalRevision, encodeHistoryMeta, encodePhysicalRevision, type HistoryMeta } from './history-meta.js';
import { compactHistoryPage } from './history-compaction.js';
import { decodeKeyRecord, encodeKeyRecord, leaseOf, type KeyRecord, type KeyValue } from './key-record.js';
import { txnSucceeds } from './apply-txn.js';
import { RangeCollector, type RangeAnswer } from './range-collector.js';
import { hasRangeFilters, validateRangeOptions, type RangeOptions } from './range-options.js';
import { LeaseTable, type LeaseInfo } from './lease-table.js';
import { KeyCache } from './key-cache.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { InvalidSnapshotError, SnapshotBusyError } from '../shared/errors.js';
import type { SnapshotReader, SnapshotWriter } from '../shared/snapshot-stream.js';
import { GenerationReaders } from './generation-readers.js';
import { AuthView } from './auth-permissions.js';
import { keyCommandDenial, leaseRevokeDenial, needsRecheck, rootDenial, txnDenial } from './auth-recheck.js';
import { applyAuthOp, decodeAuthState, emptyAuthState, encodeAuthState, type AuthState } from './auth-state.js';
import { loadSessionLimits, loadSessions, sessionOperations } from './session-store.js';
import type { SessionLimits } from './session-limits.js';
import { SessionTable } from './sessions.js';
import { SnapshotChunker, decodeSnapshotChunk, defaultSnapshotChunkBytes, type SnapshotRecord } from './snapshot-format.js';
import { InvariantError, assertNever, invariant, type Entry, type Index, type LogPosition, type SnapshotMeta, type Term } from '../raft/index.js';
import {
  authStateKey,
  decodeLogPosition,
  decodeStored,
  describeKey,
  encodeLogPosition,
  StorageCorruptError,
  generationSublevelNames,
  prefixRange,
  smMetaKeys,
  sublevelNames,
  type GenerationSublevels,
  type KeyRange,
  type NodeStore,
  type StoreOperation,
  type StoreSnapshot,
} from '../storage/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';

/**
 * Tunables of the state machine: local only. The session limits are not here: they are
 * replicated semantics, set through the log (session-limits.ts).
 */
export interface KvStateMachineOptions {
  /** Bytes of recently used key records kept in memory. */
  readonly cacheBytesMax: number;
}

export const defaultKvStateMachineOptions: KvStateMachineOptions = { cacheBytesMax: 64 * 1024 * 1024 };

/** One snapshot install, split around the atomic write it joins. */
export interface SnapshotInstall {
  /** Writes that switch the state machine to the snapshot, to be made part of the Raft log's snapshot write. */
  readonly operations: readonly StoreOperation[];
  /** Call once those writes are durable: switches reads and applies to the new state. */
  complete(): Promise<void>;
}

/** What applying one committed entry produced, for the proposal waiting on it. */
export type ApplyOutcome =
  /** The leader's empty entry at the start of its term: it only advances the applied index. */
  | { readonly kind: 'no-op'; readonly index: Index; readonly term: Term }
  | {
      readonly kind: 'command';
      readonly index: Index;
      readonly term: Term;
      readonly result: CommandResult;
      /** True when a session had already applied this write and its first result is returned. */
      readonly replayed: boolean;
    };

/** Which keys a range read covers. */
export type RangeQuery =
  /** Every key starting with `prefix` (empty: every key). */
  | { readonly kind: 'prefix'; readonly prefix: Uint8Array }
  /** Keys in [start, end); an empty `end` means to the end of the keyspace. */
  | { readonly kind: 'interval'; readonly start: Uint8Array; readonly end: Uint8Array };

/** Where a read looks: at the applied index (the default) or at a past revision. */
export interface ReadOptions {
  /**
   * The revision to read at; 0 or absent: the applied index. Below compactRevision: throws
   * CompactedError; above the applied index: FutureRevisionError.
   */
  readonly revision?: Index;
}

/** A page of the history's events (KvStateMachine.readEvents). */
export interface EventsPage {
  readonly events: KvEvent[];
  /** Events of the selector may follow the last one returned, up to `revision`: read on from the next revision. */
  readonly more: boolean;
  /** The applied index when the read started: every event up to it was considered. */
  readonly revision: Index;
}

/** A range read's answer (range-collector.ts RangeAnswer). */
export interface RangeResult {
  /** In the order asked: key order by default. */
  readonly kvs: readonly KeyValue[];
  /** More keys matched than were returned (the limit or rangeBytesMax cut the answer). */
  readonly more: boolean;
  /** The keys that matched, before the limit. */
  readonly count: number;
}

/** The most keys one range read returns; a limit of 0 means this. */
export const rangeKeysMax = 10_000;
/** The most key and value bytes one range read returns (at least one key is always returned). */
export const rangeBytesMax = 4 * 1024 * 1024;
/** How many versions a page of events reads from `hist` at a time (readEvents' byte bound is checked between them). */
const eventValuesPerRead = 32;

/**
 * The replicated key-value state machine over a node's `sm-meta` sublevel and the sublevels of
 * its current state generation (`kv-g<N>`, `sessions-g<N>`; see storage/keys.ts), which a
 * snapshot install replaces atomically.
 *
 * Contract: `apply` is given every committed entry exactly once, in log order, from
 * `appliedIndex + 1`, one call at a time; it is deterministic, so replicas that apply the same
 * entries hold the same keyspace (compare them with `keyspaceHash`). Each call writes its
 * mutations, the touched sessions and the new applied position in one atomic batch, so after a
 * crash the state is exactly "applied through appliedIndex" and re-applying the entries after it
 * never applies one twice. Reads see applied batches only, never half of one.
 */
export class KvStateMachine {
  private applying = false;
  /** Set when an apply failed after changing in-memory session state that did not reach the disk. */
  private failure: unknown = undefined;
  private readonly readers = new GenerationReaders();
  /** Clearing the generation a snapshot replaced; the next snapshot waits for it (keys.ts). */
  private retiring: Promise<void> = Promise.resolve();
  /** The snapshot being received or waiting for its install; at most one. */
  private staging: { readonly generation: number; state: 'receiving' | 'staged' } | null = null;

  /** Told of every batch as it becomes visible, and of snapshot installs (onChange). */
  private readonly listeners = new Set<(change: StateChange) => void>();

  private constructor(
    private readonly store: NodeStore,
    private current: GenerationSublevels,
    private sessions: SessionTable,
    private appliedPosition: LogPosition,
    private readonly cache: KeyCache,
    private authView: AuthView,
    /** The current generation's history metadata, as of the applied index. */
    private history: HistoryMeta,
    private leaseTable: LeaseTable,
  ) {}

  /** The apply batch's write while it is on its way to LevelDB (see `apply`'s onVisible). */
  private writing: Promise<void> | null = null;

  /** For each getMany of cache misses under way, the keys applies wrote since it started. */
  private readonly readsInFlight = new Set<Set<string>>();

  /** Cache misses waiting for the next getMany, by key. */
  private readonly pendingReads = new Map<string, { readonly key: Uint8Array; readonly result: Deferred<KeyRecord | null> }>();

  /**
   * Loads the applied position, the generation in force and its sessions; a new database starts
   * at index 0 in generation 0. Clears what a crash left of a snapshot being received or of a
   * replaced generation being cleared.
   */
  static async open(store: NodeStore, options: KvStateMachineOptions = defaultKvStateMachineOptions): Promise<KvStateMachine> {
    const [appliedBytes, generationBytes] = await store.sublevels.smMeta.getMany([smMetaKeys.applied, smMetaKeys.generation]);
    const applied =
      appliedBytes === undefined
        ? { index: 0, term: 0 }
        : decodeStored(sublevelNames.smMeta, smMetaKeys.applied, () => decodeLogPosition(appliedBytes));
    const generation =
      generationBytes === undefined ? 0 : decodeStored(sublevelNames.smMeta, smMetaKeys.generation, () => decodeGeneration(generationBytes));
    if (generation > 0) await clearGeneration(store, store.generation(generation - 1));
    await clearGeneration(store, store.generation(generation + 1));
    const current = store.generation(generation);
    const sessions = new SessionTable(await loadSessions(current), await loadSessionLimits(current));
    const history = await loadHistoryMeta(store, current, applied.index);
    const machine = new KvStateMachine(store, current, sessions, applied, new KeyCache(options.cacheBytesMax), new AuthView(await loadAuthState(current)), history, await loadLeases(current));
    // A crash may have interrupted the physical deletion of a compaction: it resumes.
    machine.maybeCompactPhysically();
    return machine;
  }

  /** The physical deletion under way (history-compaction.ts), if any. */
  private compacting: Promise<void> | null = null;

  /**
   * Resolves once the physical deletion of the history below `revision` (a compact revision in
   * force) is done: what etcd's `--physical` waits for. Rejects if it failed (the node must stop).
   */
  async compactedPhysically(revision: Index): Promise<void> {
    // A compaction's outcome is answered before its batch is in LevelDB; its deletion starts once it is.
    await this.writeLanded();
    while (this.history.physicalRevision < revision && this.compacting !== null) await this.compacting;
    if (this.failure !== undefined) throw new StateMachineFailedError({ cause: this.failure });
  }

  /** Starts the physical deletion below the compact revision unless it is done or running. */
  private maybeCompactPhysically(): void {
    if (this.compacting !== null || this.failure !== undefined || this.history.physicalRevision >= this.history.compactRevision) return;
    const generation = this.current;
    const run = async (): Promise<void> => {
      // Each page in its own read of the generation, so that a snapshot install that replaces it
      // clears it only after the page; the run stops there (the new state has its own history).
      while (this.current === generation && this.failure === undefined) {
        const target = this.history.compactRevision;
        const more = await this.reading(generation, async () => {
          await this.writeLanded();
          return this.current === generation && (await compactHistoryPage(this.store, generation, target));
        });
        if (more) continue;
        if (this.current !== generation) return;
        await this.store.write([{ type: 'put', sublevel: generation.revs, key: historyPhysicalKey, value: encodePhysicalRevision(target) }], { sync: false });
        if (this.current !== generation) return;
        this.history = { ...this.history, physicalRevision: Math.max(this.history.physicalRevision, target) };
        if (this.history.compactRevision === target) return;
      }
    };
    this.compacting = run()
      .catch((error: unknown) => {
        // The database is broken (a write failed): the next apply must fail, not build on it.
        this.failure ??= error;
      })
      .finally(() => {
        this.compacting = null;
        this.maybeCompactPhysically();
      });
  }

  /** The oldest revision held: reads at it and above are answered, below it CompactedError. */
  get compactRevision(): Index {
    return this.history.compactRevision;
  }

  /**
   * Subscribes `listener` to the state's changes, told synchronously and in apply order: each
   * apply batch's events as the batch becomes visible to reads (with the applied index after
   * it), and a reset after a snapshot install. The listener must not throw. Returns the
   * unsubscribe function.
   */
  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The state generation in force (keys.ts). */
  get generation(): number {
    return this.current.generation;
  }

  /** The index and term of the last applied entry (0, 0 before any). */
  get applied(): LogPosition {
    return this.appliedPosition;
  }

  get appliedIndex(): Index {
    return this.appliedPosition.index;
  }

  /** How many client sessions are held. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The session limits in force (as of the applied index). */
  get sessionLimits(): SessionLimits {
    return this.sessions.limits;
  }

  /**
   * Users, roles and permissions as of the applied index, ready for checks. Immutable: a change
   * replaces it, so a caller may cache what it derives from it by identity.
   */
  get auth(): AuthView {
    return this.authView;
  }

  /** The leases as of the applied index, in id order (lease-table.ts). */
  leases(): LeaseInfo[] {
    return this.leaseTable.list();
  }

  /** Lease `id` as of the applied index, or undefined when it does not exist (never granted, revoked or expired). */
  lease(id: number): LeaseInfo | undefined {
    return this.leaseTable.get(id);
  }

  /** Whether the log has set the session limits; until it does, the defaults hold. */
  get sessionLimitsRecorded(): boolean {
    return this.sessions.limitsRecorded;
  }

  /**
   * Applies committed entries (contiguous, starting right after the applied index) in one batch
   * and returns one outcome per entry, in order. An entry with empty data is the leader's no-op.
   * An entry that is not a valid command throws CorruptCommittedEntryError before anything is
   * applied; it is never skipped.
   *
   * `onVisible`, if given, is called with the outcomes as soon as every read of this machine
   * sees the batch, while its write is still on its way to LevelDB: the entries are committed
   * (in the Raft log of a majority), so a client may be answered then. Reads that need LevelDB
   * (cache misses, ranges, the keyspace hash) wait for that write; the cache already has it.
   */
  async apply(entries: readonly Entry[], onVisible?: (outcomes: ApplyOutcome[]) => void): Promise<ApplyOutcome[]> {
    if (this.failure !== undefined) throw new StateMachineFailedError({ cause: this.failure });
    invariant(!this.applying, 'apply() called while another apply() is running');
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    entries.forEach((entry, i) =>
      invariant(entry.index === this.appliedPosition.index + 1 + i, () => `apply of ${entry.index}, expected ${this.appliedPosition.index + 1 + i}`),
    );
    this.applying = true;
    try {
      const commands = entries.map(decodeCommitted);
      // Each key's id (viewKey) is computed once per command, for the view and the cache.
      const ids = commands.map((command) => (command !== null && isKeyCommand(command) ? viewKey(command.key) : ''));
      const view = this.readKeys(commands, ids);
      let outcomes: ApplyOutcome[];
      let operations: StoreOperation[];
      const auth: BatchAuth = { state: this.authView.state, changed: false, view: this.authView };
      const history = { meta: this.history, changed: false };
      try {
        outcomes = [];
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i] as Entry;
          const command = commands[i] ?? null;
          // Only a transaction may wait (to iterate a key range); the rest apply synchronously.
          outcomes.push(command?.kind === 'txn' ? await this.applyTxnEntry(entry, command, view, auth) : this.applyEntry(entry, command, ids[i] ?? '', view, auth, history));
        }
        const encoded = new Map<KeyRecord, Uint8Array>();
        operations = [
          ...this.historyOperations(view, encoded),
          ...this.keyOperations(view, encoded),
          ...this.leaseTable.takeOperations(this.current.lease),
          ...sessionOperations(this.current, this.sessions.takeChanges(), this.sessions),
        ];
        if (auth.changed) operations.push({ type: 'put', sublevel: this.current.auth, key: authStateKey, value: encodeAuthState(auth.state) });
        if (history.changed) operations.push({ type: 'put', sublevel: this.current.revs, key: historyMetaKey, value: encodeHistoryMeta(history.meta) });
        operations.push({ type: 'put', sublevel: this.store.sublevels.smMeta, key: smMetaKeys.applied, value: encodeLogPosition(last) });
        // sync: false is safe, and avoids an fsync per apply: every entry here is already in the
        // Raft log, written with sync: true; data and applied index land in this one atomic
        // batch, so losing it in a machine crash only means re-applying these entries on restart,
        // never applying one twice; and the database has one write-ahead log, so the next synced
        // write (the next log save, or a compaction that relies on this state) makes it durable.
        const written = this.store.write(operations, { sync: false });
        this.writing = written;
        for (const { id, record } of view.written()) {
          this.cache.set(id, record);
          for (const writtenMeanwhile of this.readsInFlight) writtenMeanwhile.add(id);
        }
        // Calls answered from here on are checked against the batch's users and roles.
        if (auth.changed) this.authView = batchAuthView(auth);
        // Reads below the new compact revision are refused from here on (pastRead).
        if (history.changed) this.history = { ...history.meta, physicalRevision: this.history.physicalRevision };
        this.appliedPosition = { index: last.index, term: last.term };
        if (this.listeners.size > 0) this.tell({ kind: 'events', events: view.events(), revision: last.index });
        onVisible?.(outcomes);
        await written;
        if (history.changed) this.maybeCompactPhysically();
      } catch (error) {
        this.failure = error;
        throw error;
      }
      return outcomes;
    } finally {
      this.writing = null;
      this.applying = false;
    }
  }

  /**
   * Resolves once the apply write in flight (if any) is in LevelDB: what a LevelDB read waits
   * for, so that it never misses a batch whose outcomes were already answered. Throws
   * StateMachineFailedError once an apply has failed: clients may have been answered for a batch
   * that never reached the disk, so the disk's state must not be served as current (the node
   * stops; a restart re-applies the batch from the log).
   */
  private async writeLanded(): Promise<void> {
    const writing = this.writing;
    if (writing !== null) await writing.catch((error: unknown) => Promise.reject(new StateMachineFailedError({ cause: error })));
    if (this.failure !== undefined) throw new StateMachineFailedError({ cause: this.failure });
  }

  /**
   * The record of `key`, or null if it is absent, at the applied index or at `options.revision`
   * (the record as it was then: value, version, create and mod revision).
   */
  async get(key: Uint8Array, options: ReadOptions = {}): Promise<KeyRecord | null> {
    if (options.revision !== undefined && options.revision !== 0) {
      this.checkRevision(options.revision);
      if (options.revision < this.appliedPosition.index) return this.pastRead(options.revision, (view) => this.getAt(key, options.revision as Index, view));
    }
    const id = viewKey(key);
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached;
    // Reads that miss the cache in one turn of the event loop share one getMany: one trip to
    // LevelDB's thread pool instead of one each.
    let waiting = this.pendingReads.get(id);
    if (waiting === undefined) {
      waiting = { key, result: deferred<KeyRecord | null>() };
      this.pendingReads.set(id, waiting);
      if (this.pendingReads.size === 1) queueMicrotask(() => void this.readPending());
    }
    return waiting.result.promise;
  }

  private async readPending(): Promise<void> {
    const batch = [...this.pendingReads];
    this.pendingReads.clear();
    const generation = this.current;
    const writtenMeanwhile = new Set<string>();
    this.readsInFlight.add(writtenMeanwhile);
    let values: (Uint8Array | undefined)[];
    try {
      values = await this.reading(generation, async () => {
        await this.writeLanded();
        return generation.kv.getMany(batch.map(([, read]) => read.key));
      });
    } catch (error) {
      for (const [, read] of batch) read.result.reject(error);
      return;
    } finally {
      this.readsInFlight.delete(writtenMeanwhile);
    }
    // Cached unless a snapshot replaced the state or an apply wrote the key meanwhile (the read
    // may predate that write), and never over what the cache holds: applies keep it current.
    // It used to cache nothing read while any apply ran, which under load was every read: the
    // warm-up read of each write was wasted and its apply read the key again.
    const cacheable = this.current === generation;
    const name = generationSublevelNames(generation.generation).kv;
    batch.forEach(([id, read], i) => {
      try {
        const value = values[i];
        const record = value === undefined ? null : decodeStored(name, read.key, () => decodeKeyRecord(value));
        if (cacheable && !writtenMeanwhile.has(id) && !this.cache.has(id)) this.cache.set(id, record);
        read.result.resolve(record);
      } catch (error) {
        read.result.reject(error);
      }
    });
  }

  /**
   * The keys of `query` as `options` asks (range-options.ts: filters, then order, then limit;
   * key order by default), at most `limit` (0: rangeKeysMax) and about rangeBytesMax bytes of
   * keys and values, with `count` of every match. Reads the whole range to count it (as etcd);
   * memory stays within the answer's limits whatever the order. Throws InvalidArgumentError for
   * a limit outside 0..rangeKeysMax or invalid options.
   */
  async range(query: RangeQuery, limit: number, options: ReadOptions & RangeOptions = {}): Promise<RangeResult> {
    if (!Number.isInteger(limit) || limit < 0 || limit > rangeKeysMax) {
      throw new InvalidArgumentError('limit', `0..${rangeKeysMax}`, `got ${limit}`);
    }
    validateRangeOptions(options);
    const collector = new RangeCollector(options, limit === 0 ? rangeKeysMax : limit, rangeBytesMax);
    if (options.revision !== undefined && options.revision !== 0) {
      this.checkRevision(options.revision);
      const revision = options.revision;
      if (revision < this.appliedPosition.index) return this.pastRead(revision, (view) => this.rangeAt(query, collector, revision, view));
    }
    const generation = this.current;
    const name = generationSublevelNames(generation.generation).kv;
    const filtered = hasRangeFilters(options);
    return this.reading(generation, async () => {
      await this.writeLanded();
      // One LevelDB snapshot for the keys and the count of the rest, so both see one applied state.
      const view = this.store.snapshot();
      try {
        const bounds = rangeBounds(query);
        /** Where counting without values starts: the range's start, or after the last key added. */
        let rest: { readonly gte?: Uint8Array; readonly gt?: Uint8Array; readonly lt?: Uint8Array } | null = bounds;
        if (collector.collecting || filtered) {
          rest = null;
          for await (const [key, value] of generation.kv.iterator({ ...bounds, snapshot: view })) {
            collector.add({ key: new Uint8Array(key), ...decodeStored(name, key, () => decodeKeyRecord(value)) });
            // Only counting is left and nothing filters: count the rest without reading values.
            if (!collector.collecting && !filtered) {
              rest = { gt: key, ...(bounds.lt === undefined ? {} : { lt: bounds.lt }) };
              break;
            }
          }
        }
        if (rest !== null) for await (const _ of generation.kv.keys({ ...rest, snapshot: view })) collector.addUncollected();
        return collector.finish();
      } finally {
        await view.close();
      }
    });
  }

  /**
   * A SHA-256 (hex) over every key and its record (value, version, revisions) in key order.
   * Equal on two replicas exactly when their keyspaces are equal. Reads the whole keyspace.
   */
  async keyspaceHash(): Promise<string> {
    const generation = this.current;
    return this.reading(generation, async () => {
      await this.writeLanded();
      const hash = createHash('sha256');
      for await (const [key, value] of generation.kv.iterator()) {
        hash.update(new ByteWriter(8).u32(key.byteLength).finish()).update(key);
        hash.update(new ByteWriter(8).u32(value.byteLength).finish()).update(value);
      }
      return hash.digest('hex');
    });
  }

  // -----------------------------------------------------------------------------------------
  // Snapshots (DESIGN "Snapshots"; the state generations of storage/keys.ts)

  /**
   * A snapshot of the state as of now, read from a LevelDB snapshot: the node keeps applying and
   * serving while it is read out, and what it reads never changes. Sessions come first, then
   * every key, in chunks of about `chunkBytes`. A backup leaves the sessions out
   * (`includeSessions: false`): they belong to this cluster's history, not to its keyspace.
   */
  async openSnapshot(chunkBytes: number = defaultSnapshotChunkBytes, options: { readonly includeSessions: boolean } = { includeSessions: true }): Promise<SnapshotReader> {
    const view = this.store.snapshot();
    try {
      // The applied position and the generation are read through the view too, so they describe
      // exactly the state the chunks hold, whatever is applied or installed meanwhile.
      const [appliedBytes, generationBytes] = await this.store.sublevels.smMeta.getMany([smMetaKeys.applied, smMetaKeys.generation], { snapshot: view });
      const applied =
        appliedBytes === undefined ? { index: 0, term: 0 } : decodeStored(sublevelNames.smMeta, smMetaKeys.applied, () => decodeLogPosition(appliedBytes));
      const generation = this.store.generation(
        generationBytes === undefined ? 0 : decodeStored(sublevelNames.smMeta, smMetaKeys.generation, () => decodeGeneration(generationBytes)),
      );
      return new LevelSnapshotReader(view, generation, applied, chunkBytes, options.includeSessions);
    } catch (error) {
      await view.close();
      throw error;
    }
  }

  /**
   * Starts receiving a snapshot into the next generation, beside the current state, which stays
   * in force until `prepareInstall`. One at a time: throws SnapshotBusyError while another is
   * being received or waits for its install.
   */
  async receiveSnapshot(): Promise<SnapshotWriter> {
    if (this.staging !== null) throw new SnapshotBusyError(`a snapshot into generation ${this.staging.generation} is already ${this.staging.state}`);
    const staging: { readonly generation: number; state: 'receiving' | 'staged' } = { generation: this.current.generation + 1, state: 'receiving' };
    this.staging = staging;
    const target = this.store.generation(staging.generation);
    let aborted = false;
    try {
      // The generation before this one must be gone first: at most N-1, N and N+1 hold data.
      await this.retiring;
      await clearGeneration(this.store, target);
    } catch (error) {
      this.staging = null;
      throw error;
    }
    const abort = async (): Promise<void> => {
      if (aborted) return;
      aborted = true;
      if (this.staging === staging) {
        await clearGeneration(this.store, target);
        this.staging = null;
      }
    };
    return {
      write: async (chunk) => {
        invariant(!aborted && staging.state === 'receiving', 'snapshot chunk written after finish() or abort()');
        let records;
        try {
          records = decodeSnapshotChunk(chunk);
        } catch (error) {
          if (error instanceof BinaryDecodeError) throw new InvalidSnapshotError(`snapshot chunk refused: ${error.message}`, { cause: error });
          throw error;
        }
        await this.store.write(
          records.map((record) => ({ type: 'put', sublevel: recordSublevel(target, record.kind), key: record.key, value: record.value })),
          // The install's synced write makes these durable: LevelDB has one ordered log.
          { sync: false },
        );
      },
      finish: () => {
        invariant(!aborted && staging.state === 'receiving', 'snapshot finish() after finish() or abort()');
        staging.state = 'staged';
        return encodeGeneration(staging.generation);
      },
      abort,
    };
  }

  /**
   * Installs the received snapshot that `token` names (from `finish`) at `meta`: returns the
   * writes that switch to it, which the caller makes part of the same atomic write as the Raft
   * log's snapshot record, and `complete`, to call once that write is durable.
   */
  prepareInstall(token: Uint8Array, meta: SnapshotMeta): SnapshotInstall {
    const generation = decodeGeneration(token);
    const staging = this.staging;
    invariant(staging !== null && staging.state === 'staged' && staging.generation === generation, () => `install of snapshot generation ${generation}, but ${staging === null ? 'none' : `${staging.generation} (${staging.state})`} is staged`);
    invariant(!this.applying, 'snapshot install during an apply');
    const target = this.store.generation(generation);
    const operations: StoreOperation[] = [
      { type: 'put', sublevel: this.store.sublevels.smMeta, key: smMetaKeys.generation, value: encodeGeneration(generation) },
      { type: 'put', sublevel: this.store.sublevels.smMeta, key: smMetaKeys.applied, value: encodeLogPosition(meta) },
    ];
    const complete = async (): Promise<void> => {
      const sessions = new SessionTable(await loadSessions(target), await loadSessionLimits(target));
      const auth = new AuthView(await loadAuthState(target));
      const history = await loadHistoryMeta(this.store, target, meta.index);
      const leases = await loadLeases(target);
      const replaced = this.current;
      this.current = target;
      this.sessions = sessions;
      this.authView = auth;
      this.history = history;
      this.leaseTable = leases;
      this.appliedPosition = { index: meta.index, term: meta.term };
      this.cache.clear();
      this.staging = null;
      this.retiring = this.retire(replaced);
      this.tell({ kind: 'reset', revision: meta.index });
      this.maybeCompactPhysically();
    };
    return { operations, complete };
  }

  /** Drops a received snapshot that Raft did not install (it was stale by the time it arrived). */
  async discardStaged(): Promise<void> {
    const staging = this.staging;
    if (staging === null || staging.state !== 'staged') return;
    await clearGeneration(this.store, this.store.generation(staging.generation));
    this.staging = null;
  }

  /** Whether a received snapshot waits for its install. */
  get hasStagedSnapshot(): boolean {
    return this.staging?.state === 'staged';
  }

  /** Resolves once the generation replaced by the last install is cleared (for tests and shutdown). */
  retired(): Promise<void> {
    return this.retiring;
  }

  private async retire(replaced: GenerationSublevels): Promise<void> {
    try {
      await this.readers.drained(replaced.generation);
      await clearGeneration(this.store, replaced);
    } catch (error) {
      // The database is broken (clear failed): the next apply must fail, not build on it.
      this.failure ??= error;
    }
  }

  private async reading<T>(generation: GenerationSublevels, read: () => Promise<T>): Promise<T> {
    this.readers.enter(generation.generation);
    try {
      return await read();
    } finally {
      this.readers.leave(generation.generation);
    }
  }

  private applyEntry(
    entry: Entry,
    command: Exclude<Command, TxnCommand> | null,
    id: string,
    view: KeyView,
    auth: BatchAuth,
    history: { meta: HistoryMeta; changed: boolean },
  ): ApplyOutcome {
    this.sessions.expire(entry.index);
    if (command === null) return { kind: 'no-op', index: entry.index, term: entry.term };
    const base = { kind: 'command', index: entry.index, term: entry.term } as const;
    if ((command.kind === 'compact' || command.kind === 'auth' || command.kind === 'set-session-limits') && needsRecheck(command, auth.state)) {
      const denial = rootDenial(batchAuthView(auth), command.user, command);
      if (denial !== null) return { ...base, result: permissionDenied(command.user, denial), replayed: false };
    }
    if (command.kind === 'compact') {
      const result = compactResult(history.meta, command, entry.index);
      if (result.outcome === 'compacted') {
        history.meta = { ...history.meta, compactRevision: result.compactRevision };
        history.changed = true;
      }
      return { ...base, result, replayed: false };
    }
    if (command.kind === 'lease-checkpoint') {
      let recorded = 0;
      for (const { id, remainingSeconds } of command.checkpoints) if (this.leaseTable.checkpoint(id, remainingSeconds)) recorded++;
      return { ...base, result: { kind: 'lease-checkpoint', recorded }, replayed: false };
    }
    if (command.kind === 'auth') {
      const applied = applyAuthOp(auth.state, command.op, entry.index);
      if (applied.result.ok) {
        auth.state = applied.state;
        auth.changed = true;
        auth.view = null;
      }
      return { ...base, result: applied.result, replayed: false };
    }
    if (command.kind === 'register-session') {
      const clientId = this.sessions.register(entry.index);
      return { ...base, result: { kind: 'session-registered', clientId, limits: this.sessions.limits }, replayed: false };
    }
    if (command.kind === 'set-session-limits') {
      const changed = this.sessions.setLimits(command.limits, command.onlyIfUnset, entry.index);
      return { ...base, result: { kind: 'session-limits', limits: this.sessions.limits, changed }, replayed: false };
    }
    const refused = this.admitSession(entry, command.session);
    if (refused !== null) return refused;
    // Auth changed since the node checked this write: check it again against the state in force
    // here (auth-recheck.ts). A refusal changes nothing and is remembered like any result, so a
    // retry is answered the same.
    if (command.kind !== 'lease-grant' && needsRecheck(command, auth.state)) {
      const denial =
        command.kind === 'lease-revoke'
          ? leaseRevokeDenial(batchAuthView(auth), command.user, this.leaseTable.get(command.id)?.keys.values() ?? [])
          : keyCommandDenial(batchAuthView(auth), command.user, command);
      if (denial !== null) {
        const result = permissionDenied(command.user, denial);
        if (command.session !== undefined) this.sessions.record(command.session, result);
        return { ...base, result, replayed: false };
      }
    }
    if (command.kind === 'lease-grant' || command.kind === 'lease-revoke') {
      const result = this.applyLease(command, entry.index, view);
      if (command.session !== undefined) this.sessions.record(command.session, result);
      return { ...base, result, replayed: false };
    }
    const lease = command.kind === 'put' ? (command.lease ?? 0) : 0;
    if (lease !== 0 && !this.leaseTable.has(lease)) {
      const result = { kind: 'lease-not-found', id: lease } as const;
      if (command.session !== undefined) this.sessions.record(command.session, result);
      return { ...base, result, replayed: false };
    }
    const effect = applyCommand(view.read(id), command, entry.index);
    if (effect.changed) view.write(id, effect.next, entry.index);
    if (command.session !== undefined) this.sessions.record(command.session, effect.result);
    // Built whole, not spread from `base`: this is the outcome of every put and delete.
    return { kind: 'command', index: entry.index, term: entry.term, result: effect.result, replayed: false };
  }

  /**
   * A grant, or a revoke, which deletes every attached key through the batch's view (so the
   * deletions are ordinary key writes of this entry) and then the lease.
   */
  private applyLease(command: LeaseCommand, index: Index, view: KeyView): CommandResult & { kind: 'lease-grant' | 'lease-revoke' | 'lease-exists' | 'lease-not-found' } {
    switch (command.kind) {
      case 'lease-grant': {
        if (command.id !== 0 && this.leaseTable.has(command.id)) return { kind: 'lease-exists', id: command.id };
        const id = command.id === 0 ? this.leaseTable.pickId(index) : command.id;
        this.leaseTable.grant(id, command.ttlSeconds);
        return { kind: 'lease-grant', id, ttlSeconds: command.ttlSeconds };
      }
      case 'lease-revoke': {
        const lease = this.leaseTable.get(command.id);
        if (lease === undefined) return { kind: 'lease-not-found', id: command.id };
        const keys = [...lease.keys.values()];
        for (const key of keys) view.writeKey(key, null, index);
        this.leaseTable.remove(command.id);
        return { kind: 'lease-revoke', deleted: keys.length };
      }
      default:
        return assertNever(command, 'lease command');
    }
  }

  /** A transaction, with its session like any write; its ranges merge LevelDB with the batch's writes. */
  private async applyTxnEntry(entry: Entry, command: TxnCommand, view: KeyView, auth: BatchAuth): Promise<ApplyOutcome> {
    this.sessions.expire(entry.index);
    const refused = this.admitSession(entry, command.session);
    if (refused !== null) return refused;
    const succeeded = txnSucceeds(command, (key) => view.read(viewKey(key)));
    // Auth changed since the node checked it: the compares and the branch that runs, again.
    if (needsRecheck(command, auth.state)) {
      const denial = txnDenial(batchAuthView(auth), command.user, command, succeeded);
      if (denial !== null) {
        const result = permissionDenied(command.user, denial);
        if (command.session !== undefined) this.sessions.record(command.session, result);
        return { kind: 'command', index: entry.index, term: entry.term, result, replayed: false };
      }
    }
    // A put of the branch that runs naming a lease that does not exist refuses the whole
    // transaction, changing nothing (etcd checks the branch taken, as here).
    const branch = succeeded ? command.success : command.failure;
    for (const op of branch) {
      const lease = op.kind === 'put' ? (op.lease ?? 0) : 0;
      if (lease !== 0 && !this.leaseTable.has(lease)) {
        const result = { kind: 'lease-not-found', id: lease } as const;
        if (command.session !== undefined) this.sessions.record(command.session, result);
        return { kind: 'command', index: entry.index, term: entry.term, result, replayed: false };
      }
    }
    const keyspace: TxnKeyspace = {
      read: (key) => view.read(viewKey(key)),
      write: (key, record) => view.writeKey(key, record, entry.index),
      range: (keys, collector) => this.rangeInBatch(keys, collector, view),
      // The records too, not only the keys: the history records what each delete removed.
      rangeKeys: async (keys) => {
        const { kvs } = await this.rangeInBatch(keys, new RangeCollector({}, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY), view);
        for (const { key, ...record } of kvs) view.loadIfAbsent(key, record);
        return kvs.map((kv) => kv.key);
      },
    };
    const result = await applyTxn(command, entry.index, keyspace);
    if (command.session !== undefined) this.sessions.record(command.session, result);
    return { kind: 'command', index: entry.index, term: entry.term, result, replayed: false };
  }

  /**
   * A read-only transaction (txnWrites false) evaluated without a log entry, as etcd serves one:
   * every compare and get reads one LevelDB snapshot of the applied state, so it sees one
   * applied index (the result's revision) and never half of an apply batch. For a linearizable
   * answer, call it after a ReadIndex barrier (the snapshot is taken after it). Throws
   * InvalidArgumentError for a transaction that writes.
   */
  async readTxn(command: TxnCommand): Promise<TxnResult> {
    if (txnWrites(command)) throw new InvalidArgumentError('txn', 'read-only (no put or delete)', 'it writes');
    // The snapshot must hold every batch whose outcomes were answered (see `apply`'s onVisible).
    await this.writeLanded();
    const view = this.store.snapshot();
    try {
      const [appliedBytes, generationBytes] = await this.store.sublevels.smMeta.getMany([smMetaKeys.applied, smMetaKeys.generation], { snapshot: view });
      const applied = appliedBytes === undefined ? 0 : decodeStored(sublevelNames.smMeta, smMetaKeys.applied, () => decodeLogPosition(appliedBytes)).index;
      const generation = this.store.generation(
        generationBytes === undefined ? 0 : decodeStored(sublevelNames.smMeta, smMetaKeys.generation, () => decodeGeneration(generationBytes)),
      );
      return await this.reading(generation, async () => {
        const records = new KeyView();
        const keys = txnKeys(command);
        const stored = keys.length === 0 ? [] : await generation.kv.getMany(keys, { snapshot: view });
        const name = generationSublevelNames(generation.generation).kv;
        keys.forEach((key, i) => {
          const value = stored[i];
          records.load(viewKey(key), key, value === undefined ? null : decodeStored(name, key, () => decodeKeyRecord(value)));
        });
        const keyspace: TxnKeyspace = {
          read: (key) => records.read(viewKey(key)),
          write: () => invariant(false, 'a read-only transaction wrote'),
          range: (selector, collector) => this.rangeInBatch(selector, collector, records, generation, view),
          rangeKeys: () => {
            throw new InvariantError('a read-only transaction deleted');
          },
        };
        return applyTxn(command, applied, keyspace);
      });
    } finally {
      await view.close();
    }
  }

  /** The outcome of a write its session refuses or replays, or null when it is to be applied. */
  private admitSession(entry: Entry, session: CommandSession | undefined): ApplyOutcome | null {
    if (session === undefined) return null;
    const base = { kind: 'command', index: entry.index, term: entry.term } as const;
    const admission = this.sessions.admit(session, entry.index);
    switch (admission.kind) {
      case 'apply':
        return null;
      case 'replay':
        return { ...base, result: admission.result, replayed: true };
      case 'stale':
        return { ...base, result: admission.result, replayed: false };
      default:
        return assertNever(admission, 'session admission');
    }
  }

  /**
   * A range read in the middle of an apply: LevelDB holds the state before this batch (nothing
   * else writes the generation during an apply), and the view holds the batch's writes so far;
   * the two are merged in key order, a written key taking the view's record (null: deleted).
   * Keys read here that a later op writes are loaded into the view by that write.
   */
  private async rangeInBatch(
    keys: KeySelector,
    collector: RangeCollector,
    view: KeyView,
    generation: GenerationSublevels = this.current,
    snapshot?: StoreSnapshot,
  ): Promise<RangeAnswer> {
    const overlay = view.writtenIn(keys);
    const name = generationSublevelNames(generation.generation).kv;
    let next = 0;
    const query: RangeQuery = keys.kind === 'prefix' ? keys : keys.kind === 'interval' ? keys : { kind: 'interval', start: keys.key, end: keyAfter(keys.key) };
    /** Gives the overlay's keys below `key` (all of them when null) to the collector. */
    const takeOverlayBelow = (key: Uint8Array | null): void => {
      for (let slot = overlay[next]; slot !== undefined && (key === null || Buffer.compare(slot.key, key) < 0); slot = overlay[++next]) {
        if (slot.record !== null) collector.add({ key: slot.key, ...slot.record });
      }
    };
    // The whole range, for the count (as etcd's); the collector keeps what the answer needs.
    const bounds = rangeBounds(query);
    const atSnapshot = snapshot === undefined ? {} : { snapshot };
    const filtered = hasRangeFilters(collector.options);
    /** Once only counting is left and nothing filters: the rest of the range, counted from its keys alone. */
    let rest: { readonly gt: Uint8Array; readonly lt?: Uint8Array } | null = null;
    for await (const [storedKey, value] of generation.kv.iterator({ ...bounds, ...atSnapshot })) {
      const key = new Uint8Array(storedKey);
      takeOverlayBelow(key);
      const slot = overlay[next];
      if (slot !== undefined && Buffer.compare(slot.key, key) === 0) {
        next++;
        if (slot.record !== null) collector.add({ key: slot.key, ...slot.record });
      } else {
        collector.add({ key, ...decodeStored(name, key, () => decodeKeyRecord(value)) });
      }
      if (!collector.collecting && !filtered) {
        rest = { gt: key, ...(bounds.lt === undefined ? {} : { lt: bounds.lt }) };
        break;
      }
    }
    if (rest !== null) {
      for await (const storedKey of generation.kv.keys({ ...rest, ...atSnapshot })) {
        const key = new Uint8Array(storedKey);
        takeOverlayBelow(key);
        const slot = overlay[next];
        if (slot !== undefined && Buffer.compare(slot.key, key) === 0) {
          next++;
          if (slot.record !== null) collector.addUncollected();
        } else {
          collector.addUncollected();
        }
      }
    }
    takeOverlayBelow(null);
    return collector.finish();
  }

  /**
   * Reads every key the commands touch into a view later writes update: from the cache, else
   * from LevelDB synchronously (getSync). No write is in flight during an apply (the last one
   * landed before it began), so LevelDB holds the applied state; a read of the memtable or a
   * cached block costs a few microseconds, where a getMany's trip through libuv's pool cost
   * several times that in CPU and tens of microseconds of latency on every write's path.
   */
  private readKeys(commands: readonly (Command | null)[], ids: readonly string[]): KeyView {
    // Every key write of the batch keeps the lease index in step with the key's record.
    const view = new KeyView((id, key, record) => this.leaseTable.setKeyLease(id, key, leaseOf(record)));
    const generation = this.current;
    const want = (id: string, key: Uint8Array): void => {
      if (view.has(id)) return;
      const cached = this.cache.get(id);
      view.load(id, key, cached === undefined ? this.readStored(generation, key) : cached);
    };
    commands.forEach((command, i) => {
      if (command === null) return;
      if (command.kind === 'txn') for (const key of txnKeys(command)) want(viewKey(key), key);
      else if (isKeyCommand(command)) want(ids[i] ?? '', command.key);
      // The keys a revoke deletes, as attached now (one attached later in the batch is written
      // without its previous record: KeyView.writeKey).
      else if (command.kind === 'lease-revoke') for (const [id, key] of this.leaseTable.get(command.id)?.keys ?? []) want(id, key);
    });
    return view;
  }

  /** `key`'s record as LevelDB holds it now, read synchronously: only while no apply write is in flight. */
  private readStored(generation: GenerationSublevels, key: Uint8Array): KeyRecord | null {
    const value = generation.kv.getSync(key);
    return value === undefined ? null : decodeStored(generationSublevelNames(generation.generation).kv, key, () => decodeKeyRecord(value));
  }

  private keyOperations(view: KeyView, encoded: ReadonlyMap<KeyRecord, Uint8Array>): StoreOperation[] {
    const sublevel = this.current.kv;
    return view.written().map(({ key, record }) =>
      record === null ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value: encoded.get(record) ?? encodeKeyRecord(record) },
    );
  }

  /**
   * Every write of the batch at its own revision, into `hist` and `revs` (history-keys.ts); the
   * records it encodes go into `encoded`, so `kv` reuses them. A key last written at or before
   * the history's base revision gets the version it had recorded too, at its mod revision, the
   * first time it changes: from then on its history is complete (HistoryMeta.baseRevision).
   */
  private historyOperations(view: KeyView, encoded: Map<KeyRecord, Uint8Array>): StoreOperation[] {
    const { hist, revs } = this.current;
    const base = this.history.baseRevision;
    const operations: StoreOperation[] = [];
    for (const change of view.changes) {
      const { key, record, prev, revision, sub } = change;
      if (prev !== null && prev.modRevision <= base) {
        operations.push({ type: 'put', sublevel: hist, key: histKey(key, prev.modRevision, 0), value: encodeKeyRecord(prev) });
      }
      let value: Uint8Array = tombstone;
      if (record !== null) {
        value = encodeKeyRecord(record);
        encoded.set(record, value);
      }
      operations.push({ type: 'put', sublevel: hist, key: histKey(key, revision, sub), value });
      operations.push({ type: 'put', sublevel: revs, key: revsKey(revision, sub), value: key });
    }
    return operations;
  }

  private tell(change: StateChange): void {
    for (const listener of this.listeners) listener(change);
  }

  /** Throws CompactedError or FutureRevisionError for a revision outside what is held. */
  private checkRevision(revision: Index): void {
    if (!Number.isSafeInteger(revision) || revision < 0) throw new InvalidArgumentError('revision', 'a non-negative integer', `got ${revision}`);
    if (revision < this.history.compactRevision) throw new CompactedError(revision, this.history.compactRevision);
    if (revision > this.appliedPosition.index) throw new FutureRevisionError(revision, this.appliedPosition.index);
  }

  /**
   * Runs a read of the history on one LevelDB snapshot, taken once the applied batches are in
   * LevelDB and the revision was checked against the compact revision: the physical deletion of
   * versions below it never removes what the read needs (history-compaction.ts).
   */
  private async pastRead<T>(revision: Index, read: (view: StoreSnapshot) => Promise<T>): Promise<T> {
    const generation = this.current;
    return this.reading(generation, async () => {
      await this.writeLanded();
      // Again, now: a compaction may have been applied meanwhile, and its deletion may run.
      if (revision < this.history.compactRevision) throw new CompactedError(revision, this.history.compactRevision);
      const view = this.store.snapshot();
      try {
        return await read(view);
      } finally {
        await view.close();
      }
    });
  }

  /** `key`'s record at `revision` (held, below the applied index), read through `view`. */
  private async getAt(key: Uint8Array, revision: Index, view: StoreSnapshot): Promise<KeyRecord | null> {
    const generation = this.current;
    const names = generationSublevelNames(generation.generation);
    const versions = histVersionsRange(key);
    for await (const [storedKey, value] of generation.hist.iterator({ gte: versions.gte, lt: histKey(key, revision + 1, 0), reverse: true, limit: 1, snapshot: view })) {
      return value.byteLength === 0 ? null : decodeStored(names.hist, storedKey, () => decodeKeyRecord(value));
    }
    // No version at or before `revision`: absent then, unless the key has no history at all and
    // was last written before the history began (its record in `kv` is as it was at `revision`).
    if (this.history.baseRevision === 0) return null;
    for await (const _ of generation.hist.keys({ ...versions, limit: 1, snapshot: view })) return null;
    const [stored] = await generation.kv.getMany([key], { snapshot: view });
    if (stored === undefined) return null;
    const record = decodeStored(names.kv, key, () => decodeKeyRecord(stored));
    return record.modRevision <= revision ? record : null;
  }

  /** The keys of `query` at `revision` (held, below the applied index), read through `view`, into `collector`. */
  private async rangeAt(query: RangeQuery, collector: RangeCollector, revision: Index, view: StoreSnapshot): Promise<RangeResult> {
    const atRevision = this.keysAtRevision(query, revision, view);
    const beforeHistory = this.history.baseRevision === 0 ? emptyKeys() : this.keysBeforeHistory(query, view);
    let fromHistory = await atRevision.next();
    let fromKv = await beforeHistory.next();
    try {
      while (fromHistory.done !== true || fromKv.done !== true) {
        let next: KeyValue | null;
        const order = fromHistory.done === true ? 1 : fromKv.done === true ? -1 : Buffer.compare(fromHistory.value.key, fromKv.value.key);
        if (order <= 0 && fromHistory.done !== true) {
          next = fromHistory.value.kv;
          // A key with history: its history decides, whatever `kv` holds.
          if (order === 0) fromKv = await beforeHistory.next();
          fromHistory = await atRevision.next();
        } else {
          next = (fromKv.value as KeyValue | undefined) ?? null;
          fromKv = await beforeHistory.next();
        }
        if (next !== null) collector.add(next);
      }
      return collector.finish();
    } finally {
      await atRevision.return(undefined);
      await beforeHistory.return(undefined);
    }
  }

  /** Each key of `query` with history, in key order, with its version at `revision` (null: absent then). */
  private async *keysAtRevision(query: RangeQuery, revision: Index, view: StoreSnapshot): AsyncGenerator<{ key: Uint8Array; kv: KeyValue | null }> {
    const generation = this.current;
    const name = generationSublevelNames(generation.generation).hist;
    let key: Uint8Array | null = null;
    let atRevision: KeyValue | null = null;
    for await (const [storedKey, value] of generation.hist.iterator({ ...histSelectorRange(query), snapshot: view })) {
      const version = decodeStored(name, storedKey, () => decodeHistKey(storedKey));
      if (key === null || Buffer.compare(key, version.key) !== 0) {
        if (key !== null) yield { key, kv: atRevision };
        key = version.key;
        atRevision = null;
      }
      if (version.revision <= revision) {
        const versionKey = key;
        atRevision = value.byteLength === 0 ? null : { key: versionKey, ...decodeStored(name, storedKey, () => decodeKeyRecord(value)) };
      }
    }
    if (key !== null) yield { key, kv: atRevision };
  }

  /** The keys of `query` in `kv` last written at or before the history's base revision. */
  private async *keysBeforeHistory(query: RangeQuery, view: StoreSnapshot): AsyncGenerator<KeyValue> {
    const generation = this.current;
    const name = generationSublevelNames(generation.generation).kv;
    for await (const [storedKey, value] of generation.kv.iterator({ ...rangeBounds(query), snapshot: view })) {
      const record = decodeStored(name, storedKey, () => decodeKeyRecord(value));
      if (record.modRevision <= this.history.baseRevision) yield { key: new Uint8Array(storedKey), ...record };
    }
  }

  /**
   * The events from revision `from` on, in revision order with prevKv filled, of the keys
   * `selector` covers, up to the applied index when the read starts (the page's `revision`). At
   * most `limit` events, and once their keys and values (prevKv included) reach `bytesMax`, no
   * more; but a revision's events are never split: a page ends between two revisions (or holds
   * one whole revision beyond either bound). Throws CompactedError when `from` is below the
   * compact revision.
   */
  async readEvents(from: Index, selector: KeySelector, limit: number, bytesMax = Number.POSITIVE_INFINITY): Promise<EventsPage> {
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidArgumentError('from', 'a non-negative integer', `got ${from}`);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidArgumentError('limit', 'a positive integer', `got ${limit}`);
    if (!(bytesMax > 0)) throw new InvalidArgumentError('bytesMax', 'a positive number', `got ${bytesMax}`);
    const generation = this.current;
    return this.reading(generation, async () => {
      await this.writeLanded();
      if (from < this.history.compactRevision) throw new CompactedError(from, this.history.compactRevision);
      const revision = this.appliedPosition.index;
      const view = this.store.snapshot();
      try {
        return await this.eventsIn(generation, view, from, revision, selector, limit, bytesMax);
      } finally {
        await view.close();
      }
    });
  }

  private async eventsIn(generation: GenerationSublevels, view: StoreSnapshot, from: Index, revision: Index, selector: KeySelector, limit: number, bytesMax: number): Promise<EventsPage> {
    const names = generationSublevelNames(generation.generation);
    const found: { key: Uint8Array; revision: Index; sub: number }[] = [];
    let more = false;
    if (from <= revision) {
      for await (const [storedKey, key] of generation.revs.iterator({ ...revsFromRange(Math.max(from, 1)), snapshot: view })) {
        const at = decodeStored(names.revs, storedKey, () => decodeRevsKey(storedKey));
        if (at.revision > revision) break;
        if (!selectorContains(selector, key)) continue;
        const lastRevision = found[found.length - 1]?.revision;
        if (found.length >= limit && at.revision !== lastRevision) {
          more = true;
          break;
        }
        found.push({ key: new Uint8Array(key), ...at });
      }
    }
    /** Each key's version before the next event of it, as the page goes on. */
    const latest = new Map<string, KeyValue | null>();
    const events: KvEvent[] = [];
    let bytes = 0;
    // The versions are read a few at a time, so that a page of large values stops at bytesMax
    // without having read them all.
    pages: for (let start = 0; start < found.length; start += eventValuesPerRead) {
      const slice = found.slice(start, start + eventValuesPerRead);
      const values = await generation.hist.getMany(slice.map((f) => histKey(f.key, f.revision, f.sub)), { snapshot: view });
      for (const [j, f] of slice.entries()) {
        const previous = found[start + j - 1];
        if (bytes >= bytesMax && previous !== undefined && previous.revision !== f.revision) {
          more = true;
          break pages;
        }
        const id = viewKey(f.key);
        let prevKv = latest.get(id);
        if (prevKv === undefined) prevKv = await this.versionBefore(generation, view, f.key, f.revision, f.sub);
        const stored = values[j];
        if (stored === undefined) throw new StorageCorruptError(describeKey(names.hist, histKey(f.key, f.revision, f.sub)), 'a revision names a key version that is missing');
        bytes += f.key.byteLength + stored.byteLength + (prevKv === null ? 0 : prevKv.value.byteLength);
        if (stored.byteLength === 0) {
          if (prevKv === null) throw new StorageCorruptError(describeKey(names.hist, histKey(f.key, f.revision, f.sub)), 'a delete of a key that was absent');
          events.push({ type: 'delete', revision: f.revision, key: f.key, prevKv });
          latest.set(id, null);
        } else {
          const kv = { key: f.key, ...decodeStored(names.hist, histKey(f.key, f.revision, f.sub), () => decodeKeyRecord(stored)) };
          events.push({ type: 'put', revision: f.revision, kv, prevKv });
          latest.set(id, kv);
        }
      }
    }
    return { events, more, revision };
  }

  /** `key`'s version just before (revision, sub), null when it was absent. */
  private async versionBefore(generation: GenerationSublevels, view: StoreSnapshot, key: Uint8Array, revision: Index, sub: number): Promise<KeyValue | null> {
    const name = generationSublevelNames(generation.generation).hist;
    const versions = histVersionsRange(key);
    for await (const [storedKey, value] of generation.hist.iterator({ gte: versions.gte, lt: histKey(key, revision, sub), reverse: true, limit: 1, snapshot: view })) {
      return value.byteLength === 0 ? null : { key, ...decodeStored(name, storedKey, () => decodeKeyRecord(value)) };
    }
    return null;
  }
}

/** Reads a generation out of a LevelDB snapshot; see `KvStateMachine.openSnapshot`. */
class LevelSnapshotReader implements SnapshotReader {
  private closed = false;

  constructor(
    private readonly view: StoreSnapshot,
    private readonly generation: GenerationSublevels,
    readonly applied: LogPosition,
    private readonly chunkBytes: number,
    private readonly includeSessions: boolean,
  ) {}

  async *chunks(): AsyncGenerator<Uint8Array> {
    invariant(!this.closed, 'snapshot read after close()');
    try {
      const chunker = new SnapshotChunker(this.chunkBytes);
      // Users and roles travel in snapshots and backups alike: a restored cluster keeps its access rules.
      for await (const [key, value] of this.generation.auth.iterator({ snapshot: this.view })) {
        const chunk = chunker.add({ kind: 'auth', key, value });
        if (chunk !== null) yield chunk;
      }
      if (this.includeSessions) {
        for await (const [key, value] of this.generation.sessions.iterator({ snapshot: this.view })) {
          const chunk = chunker.add({ kind: 'session', key, value });
          if (chunk !== null) yield chunk;
        }
      }
      for await (const [key, value] of this.generation.kv.iterator({ snapshot: this.view })) {
        const chunk = chunker.add({ kind: 'kv', key, value });
        if (chunk !== null) yield chunk;
      }
      // The history, so that every member answers reads at a past revision and watches alike.
      // A backup leaves it out: a restored cluster starts its history at the backup's index.
      if (this.includeSessions) {
        for await (const [key, value] of this.generation.hist.iterator({ snapshot: this.view })) {
          const chunk = chunker.add({ kind: 'hist', key, value });
          if (chunk !== null) yield chunk;
        }
        for await (const [key, value] of this.generation.revs.iterator({ snapshot: this.view })) {
          const chunk = chunker.add({ kind: 'revs', key, value });
          if (chunk !== null) yield chunk;
        }
      }
      // Leases travel in backups too: a restored key keeps its lease, and the lease its TTL.
      for await (const [key, value] of this.generation.lease.iterator({ snapshot: this.view })) {
        const chunk = chunker.add({ kind: 'lease', key, value });
        if (chunk !== null) yield chunk;
      }
      const last = chunker.finish();
      if (last !== null) yield last;
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.view.close();
  }
}

/** Deletes every key of a generation (one nothing reads any more). */
async function clearGeneration(store: NodeStore, generation: GenerationSublevels): Promise<void> {
  await store.clear(generation.kv);
  await store.clear(generation.sessions);
  await store.clear(generation.auth);
  await store.clear(generation.hist);
  await store.clear(generation.revs);
  await store.clear(generation.lease);
}

/** The leases of `generation` (none when it has none: a directory or snapshot from before leases). */
async function loadLeases(generation: GenerationSublevels): Promise<LeaseTable> {
  try {
    return await LeaseTable.load(generation.lease, viewKey);
  } catch (error) {
    const name = generationSublevelNames(generation.generation).lease;
    // A stored record LeaseTable cannot have written: reported as corrupt storage, like any other.
    return decodeStored(name, new Uint8Array(0), () => {
      throw error;
    });
  }
}

/** Whether compact(command.revision) applies at `index`, given the history before it (CompactResult). */
function compactResult(meta: HistoryMeta, command: CompactCommand, index: Index): CompactResult {
  const refused = { kind: 'compact', outcome: 'refused', revision: command.revision, compactRevision: meta.compactRevision, currentRevision: index - 1 } as const;
  if (command.revision <= meta.compactRevision) return { ...refused, reason: 'compacted' };
  if (command.revision >= index) return { ...refused, reason: 'future' };
  return { kind: 'compact', outcome: 'compacted', compactRevision: command.revision };
}

/** What `hist` holds for a delete: an empty value (a KeyRecord is never empty). */
const tombstone = new Uint8Array();

/**
 * The history metadata of `generation`. A generation without it (a directory or snapshot from
 * before history) starts its history now: compact and base revision at `applied`, written at
 * once so that a restart after more applies does not move them.
 */
async function loadHistoryMeta(store: NodeStore, generation: GenerationSublevels, applied: Index): Promise<HistoryMeta> {
  const [bytes, physicalBytes] = await generation.revs.getMany([historyMetaKey, historyPhysicalKey]);
  const name = generationSublevelNames(generation.generation).revs;
  if (bytes !== undefined) {
    const meta = decodeStored(name, historyMetaKey, () => decodeHistoryMeta(bytes));
    const physicalRevision = physicalBytes === undefined ? meta.baseRevision : decodeStored(name, historyPhysicalKey, () => decodePhysicalRevision(physicalBytes));
    return { ...meta, physicalRevision };
  }
  const meta = { compactRevision: applied, baseRevision: applied, physicalRevision: applied };
  await store.write([{ type: 'put', sublevel: generation.revs, key: historyMetaKey, value: encodeHistoryMeta(meta) }], { sync: false });
  return meta;
}

async function* emptyKeys(): AsyncGenerator<KeyValue> {}

/** The auth state of `generation` (empty when it has none: a directory or snapshot from before auth). */
async function loadAuthState(generation: GenerationSublevels): Promise<AuthState> {
  const [bytes] = await generation.auth.getMany([authStateKey]);
  if (bytes === undefined) return emptyAuthState;
  return decodeStored(generationSublevelNames(generation.generation).auth, authStateKey, () => decodeAuthState(bytes));
}

function recordSublevel(generation: GenerationSublevels, kind: SnapshotRecord['kind']): GenerationSublevels['kv'] {
  switch (kind) {
    case 'kv':
      return generation.kv;
    case 'session':
      return generation.sessions;
    case 'auth':
      return generation.auth;
    case 'hist':
      return generation.hist;
    case 'revs':
      return generation.revs;
    case 'lease':
      return generation.lease;
    default:
      return assertNever(kind, 'snapshot record kind');
  }
}

function encodeGeneration(generation: number): Uint8Array {
  return new ByteWriter(4).u32(generation).finish();
}

function decodeGeneration(bytes: Uint8Array): number {
  const reader = new ByteReader(bytes);
  const generation = reader.u32('state generation');
  reader.end('state generation');
  return generation;
}

/**
 * The keys of one apply batch: their stored records, overlaid by the batch's own writes, so a
 * command sees what earlier commands of the same batch wrote before any of it is on disk.
 */
class KeyView {
  /** By the key's viewKey id. */
  private readonly records = new Map<string, KeyViewSlot>();
  /** Every write, in apply order: the batch's history. */
  readonly changes: KeyChange[] = [];

  /** `onWrite`: told of every write (the lease index follows the records). */
  constructor(private readonly onWrite?: (id: string, key: Uint8Array, record: KeyRecord | null) => void) {}

  has(id: string): boolean {
    return this.records.has(id);
  }

  load(id: string, key: Uint8Array, record: KeyRecord | null): void {
    this.records.set(id, { id, key, record, written: false });
  }

  read(id: string): KeyRecord | null {
    const slot = this.records.get(id);
    invariant(slot !== undefined, 'apply read a key it did not load');
    return slot.record;
  }

  /** Writes the key at `revision`: a change of it (a delete of an absent key is none: not called). */
  write(id: string, record: KeyRecord | null, revision: Index): void {
    const slot = this.records.get(id);
    invariant(slot !== undefined, 'apply wrote a key it did not load');
    this.record(slot.key, slot.record, record, revision);
    slot.record = record;
    slot.written = true;
    this.onWrite?.(id, slot.key, record);
  }

  /** Loads a key a transaction's range found (unless the view has it: then the view is newer). */
  loadIfAbsent(key: Uint8Array, record: KeyRecord): void {
    const id = viewKey(key);
    if (!this.records.has(id)) this.load(id, key, record);
  }

  /** A transaction's write, to a key it read or a range found (loadIfAbsent). */
  writeKey(key: Uint8Array, record: KeyRecord | null, revision: Index): void {
    this.write(viewKey(key), record, revision);
  }

  private record(key: Uint8Array, prev: KeyRecord | null, record: KeyRecord | null, revision: Index): void {
    invariant(prev !== null || record !== null, 'a delete of an absent key was written');
    const last = this.changes[this.changes.length - 1];
    const sub = last !== undefined && last.revision === revision ? last.sub + 1 : 0;
    this.changes.push({ key, record, prev, revision, sub });
  }

  /** The batch's changes as events, in revision order. */
  events(): KvEvent[] {
    return this.changes.map(({ key, record, prev, revision }): KvEvent => {
      const prevKv = prev === null ? null : { key, ...prev };
      if (record !== null) return { type: 'put', revision, kv: { key, ...record }, prevKv };
      invariant(prevKv !== null, 'a delete of an absent key was written');
      return { type: 'delete', revision, key, prevKv };
    });
  }

  /** The batch's writes to keys of `keys` so far, in key order (record null: deleted). */
  writtenIn(keys: KeySelector): KeyViewSlot[] {
    return this.written()
      .filter((slot) => selectorContains(keys, slot.key))
      .sort((a, b) => Buffer.compare(a.key, b.key));
  }

  /** The final record of every key written in the batch (null: delete). */
  written(): KeyViewSlot[] {
    const written: KeyViewSlot[] = [];
    for (const slot of this.records.values()) if (slot.written) written.push(slot);
    return written;
  }
}

/** One write of an apply batch: the key's record before and after it. */
interface KeyChange {
  readonly key: Uint8Array;
  /** Null: deleted. */
  readonly record: KeyRecord | null;
  /** Null: it was absent. */
  readonly prev: KeyRecord | null;
  readonly revision: Index;
  /** Orders the writes of one revision (a transaction's, in op order). */
  readonly sub: number;
}

interface KeyViewSlot {
  readonly id: string;
  readonly key: Uint8Array;
  record: KeyRecord | null;
  written: boolean;
}

/** A string that identifies a key's bytes exactly (latin1 maps each byte to one code unit). */
function viewKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/**
 * The auth state as an apply batch moves it: `state` after the batch's entries so far; `view`,
 * its checkable form, built only when an entry needs it (null since the last change).
 */
interface BatchAuth {
  state: AuthState;
  changed: boolean;
  view: AuthView | null;
}

function batchAuthView(auth: BatchAuth): AuthView {
  auth.view ??= new AuthView(auth.state);
  return auth.view;
}

function permissionDenied(user: string, denial: PermissionDeniedResult['denial']): PermissionDeniedResult {
  return { kind: 'permission-denied', user, denial };
}

function decodeCommitted(entry: Entry): Command | null {
  // A conf-change entry is the Raft core's (src/raft/conf-change.ts): no command for the store.
  if (entry.type === 'conf-change' || entry.data.byteLength === 0) return null;
  try {
    return decodeCommand(entry.data);
  } catch (error) {
    throw new CorruptCommittedEntryError(entry.index, entry.term, { cause: error });
  }
}

/** The smallest key sorting after `key`. */
function keyAfter(key: Uint8Array): Uint8Array {
  const after = new Uint8Array(key.byteLength + 1);
  after.set(key);
  return after;
}

function rangeBounds(query: RangeQuery): KeyRange {
  switch (query.kind) {
    case 'prefix':
      return prefixRange(query.prefix);
    case 'interval':
      return query.end.byteLength === 0 ? { gte: query.start } : { gte: query.start, lt: query.end };
    default:
      return assertNever(query, 'range query');
  }
}
