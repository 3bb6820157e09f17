import { createHash } from 'node:crypto';
import { applyCommand } from './apply-command.js';
import { decodeCommand, type Command, type CommandResult } from './commands.js';
import { CorruptCommittedEntryError, InvalidArgumentError, StateMachineFailedError } from './errors.js';
import { decodeKeyRecord, encodeKeyRecord, type KeyRecord, type KeyValue } from './key-record.js';
import { KeyCache } from './key-cache.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { loadSessions, sessionOperations } from './session-store.js';
import { SessionTable, defaultSessionLimits, type SessionLimits } from './sessions.js';
import { assertNever, invariant, type Entry, type Index, type LogPosition, type Term } from '../raft/index.js';
import {
  ByteWriter,
  decodeLogPosition,
  decodeStored,
  encodeLogPosition,
  prefixRange,
  smMetaKeys,
  sublevelNames,
  type KeyRange,
  type NodeStore,
  type StoreOperation,
} from '../storage/index.js';

/** Tunables of the state machine. */
export interface KvStateMachineOptions {
  /**
   * Part of the replicated semantics: which retries are replayed or refused depends on them, so
   * every replica of a cluster must use the same values, or their answers diverge.
   */
  readonly sessionLimits: SessionLimits;
  /** Bytes of recently used key records kept in memory (local only: not replicated semantics). */
  readonly cacheBytesMax: number;
}

export const defaultKvStateMachineOptions: KvStateMachineOptions = { sessionLimits: defaultSessionLimits, cacheBytesMax: 64 * 1024 * 1024 };

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

export interface RangeResult {
  /** In key order. */
  readonly kvs: readonly KeyValue[];
  /** More keys matched than were returned (the limit or rangeBytesMax stopped the read). */
  readonly more: boolean;
}

/** The most keys one range read returns; a limit of 0 means this. */
export const rangeKeysMax = 10_000;
/** The most key and value bytes one range read returns (at least one key is always returned). */
export const rangeBytesMax = 4 * 1024 * 1024;

/**
 * The replicated key-value state machine over a node's `kv` and `sm-meta` sublevels.
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

  private constructor(
    private readonly store: NodeStore,
    private readonly sessions: SessionTable,
    private appliedPosition: LogPosition,
    private readonly cache: KeyCache,
  ) {}

  /** Cache misses waiting for the next getMany, by key. */
  private readonly pendingReads = new Map<string, { readonly key: Uint8Array; readonly result: Deferred<KeyRecord | null> }>();

  /** Loads the applied position and the sessions; a new database starts at index 0. */
  static async open(store: NodeStore, options: KvStateMachineOptions = defaultKvStateMachineOptions): Promise<KvStateMachine> {
    const appliedBytes = await store.sublevels.smMeta.get(smMetaKeys.applied);
    const applied =
      appliedBytes === undefined
        ? { index: 0, term: 0 }
        : decodeStored(sublevelNames.smMeta, smMetaKeys.applied, () => decodeLogPosition(appliedBytes));
    const sessions = new SessionTable(options.sessionLimits, await loadSessions(store));
    return new KvStateMachine(store, sessions, applied, new KeyCache(options.cacheBytesMax));
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

  /**
   * Applies committed entries (contiguous, starting right after the applied index) in one batch
   * and returns one outcome per entry, in order. An entry with empty data is the leader's no-op.
   * An entry that is not a valid command throws CorruptCommittedEntryError before anything is
   * applied; it is never skipped.
   */
  async apply(entries: readonly Entry[]): Promise<ApplyOutcome[]> {
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
      const view = await this.readKeys(commands);
      let outcomes: ApplyOutcome[];
      let operations: StoreOperation[];
      try {
        outcomes = entries.map((entry, i) => this.applyEntry(entry, commands[i] ?? null, view));
        operations = [...this.keyOperations(view), ...sessionOperations(this.store, this.sessions.takeChanges(), this.sessions)];
        operations.push({ type: 'put', sublevel: this.store.sublevels.smMeta, key: smMetaKeys.applied, value: encodeLogPosition(last) });
        // sync: false is safe, and avoids an fsync per apply: every entry here is already in the
        // Raft log, written with sync: true; data and applied index land in this one atomic
        // batch, so losing it in a machine crash only means re-applying these entries on restart,
        // never applying one twice; and the database has one write-ahead log, so the next synced
        // write (the next log save, or a compaction that relies on this state) makes it durable.
        await this.store.write(operations, { sync: false });
        for (const { key, record } of view.written()) this.cache.set(viewKey(key), record);
      } catch (error) {
        this.failure = error;
        throw error;
      }
      this.appliedPosition = { index: last.index, term: last.term };
      return outcomes;
    } finally {
      this.applying = false;
    }
  }

  /** The record of `key`, or null if it is absent. */
  async get(key: Uint8Array): Promise<KeyRecord | null> {
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
    const applied = this.appliedPosition.index;
    let values: (Uint8Array | undefined)[];
    try {
      values = await this.store.sublevels.kv.getMany(batch.map(([, read]) => read.key));
    } catch (error) {
      for (const [, read] of batch) read.result.reject(error);
      return;
    }
    // Only cache what no apply changed meanwhile.
    const cacheable = this.appliedPosition.index === applied && !this.applying;
    batch.forEach(([id, read], i) => {
      try {
        const value = values[i];
        const record = value === undefined ? null : decodeStored(sublevelNames.kv, read.key, () => decodeKeyRecord(value));
        if (cacheable) this.cache.set(id, record);
        read.result.resolve(record);
      } catch (error) {
        read.result.reject(error);
      }
    });
  }

  /**
   * The keys of `query` in key order, at most `limit` (0: rangeKeysMax) and about rangeBytesMax
   * bytes of keys and values. Throws InvalidArgumentError for a limit outside 0..rangeKeysMax.
   */
  async range(query: RangeQuery, limit: number): Promise<RangeResult> {
    if (!Number.isInteger(limit) || limit < 0 || limit > rangeKeysMax) {
      throw new InvalidArgumentError('limit', `0..${rangeKeysMax}`, `got ${limit}`);
    }
    const keysMax = limit === 0 ? rangeKeysMax : limit;
    const kvs: KeyValue[] = [];
    let bytes = 0;
    // One more than asked, so that `more` is exact.
    for await (const [key, value] of this.store.sublevels.kv.iterator({ ...rangeBounds(query), limit: keysMax + 1 })) {
      bytes += key.byteLength + value.byteLength;
      if (kvs.length === keysMax || (kvs.length > 0 && bytes > rangeBytesMax)) return { kvs, more: true };
      kvs.push({ key: new Uint8Array(key), ...decodeStored(sublevelNames.kv, key, () => decodeKeyRecord(value)) });
    }
    return { kvs, more: false };
  }

  /**
   * A SHA-256 (hex) over every key and its record (value, version, revisions) in key order.
   * Equal on two replicas exactly when their keyspaces are equal. Reads the whole keyspace.
   */
  async keyspaceHash(): Promise<string> {
    const hash = createHash('sha256');
    for await (const [key, value] of this.store.sublevels.kv.iterator()) {
      hash.update(new ByteWriter(8).u32(key.byteLength).finish()).update(key);
      hash.update(new ByteWriter(8).u32(value.byteLength).finish()).update(value);
    }
    return hash.digest('hex');
  }

  private applyEntry(entry: Entry, command: Command | null, view: KeyView): ApplyOutcome {
    this.sessions.expire(entry.index);
    if (command === null) return { kind: 'no-op', index: entry.index, term: entry.term };
    const base = { kind: 'command', index: entry.index, term: entry.term } as const;
    if (command.session !== undefined) {
      const admission = this.sessions.admit(command.session, entry.index);
      switch (admission.kind) {
        case 'apply':
          break;
        case 'replay':
          return { ...base, result: admission.result, replayed: true };
        case 'stale':
          return { ...base, result: admission.result, replayed: false };
        default:
          return assertNever(admission, 'session admission');
      }
    }
    const effect = applyCommand(view.read(command.key), command, entry.index);
    if (effect.changed) view.write(command.key, effect.next);
    if (command.session !== undefined) this.sessions.record(command.session, effect.result);
    return { ...base, result: effect.result, replayed: false };
  }

  /** Reads every key the commands touch in one getMany, into a view later writes update. */
  private async readKeys(commands: readonly (Command | null)[]): Promise<KeyView> {
    const view = new KeyView();
    const misses = new Map<string, Uint8Array>();
    for (const command of commands) {
      if (command === null) continue;
      const id = viewKey(command.key);
      const cached = this.cache.get(id);
      if (cached === undefined) misses.set(id, command.key);
      else view.load(command.key, cached);
    }
    if (misses.size === 0) return view;
    const stored = await this.store.sublevels.kv.getMany([...misses.values()]);
    [...misses.values()].forEach((key, i) => {
      const value = stored[i];
      view.load(key, value === undefined ? null : decodeStored(sublevelNames.kv, key, () => decodeKeyRecord(value)));
    });
    return view;
  }

  private keyOperations(view: KeyView): StoreOperation[] {
    const sublevel = this.store.sublevels.kv;
    return view.written().map(({ key, record }) =>
      record === null ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value: encodeKeyRecord(record) },
    );
  }
}

/**
 * The keys of one apply batch: their stored records, overlaid by the batch's own writes, so a
 * command sees what earlier commands of the same batch wrote before any of it is on disk.
 */
class KeyView {
  private readonly records = new Map<string, { readonly key: Uint8Array; record: KeyRecord | null; written: boolean }>();

  load(key: Uint8Array, record: KeyRecord | null): void {
    this.records.set(viewKey(key), { key, record, written: false });
  }

  read(key: Uint8Array): KeyRecord | null {
    const slot = this.records.get(viewKey(key));
    invariant(slot !== undefined, 'apply read a key it did not load');
    return slot.record;
  }

  write(key: Uint8Array, record: KeyRecord | null): void {
    const slot = this.records.get(viewKey(key));
    invariant(slot !== undefined, 'apply wrote a key it did not load');
    slot.record = record;
    slot.written = true;
  }

  /** The final record of every key written in the batch (null: delete). */
  written(): { readonly key: Uint8Array; readonly record: KeyRecord | null }[] {
    return [...this.records.values()].filter((slot) => slot.written);
  }
}

/** A string that identifies a key's bytes exactly (latin1 maps each byte to one code unit). */
function viewKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function decodeCommitted(entry: Entry): Command | null {
  if (entry.data.byteLength === 0) return null;
  try {
    return decodeCommand(entry.data);
  } catch (error) {
    throw new CorruptCommittedEntryError(entry.index, entry.term, { cause: error });
  }
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
