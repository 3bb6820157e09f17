import { decodeStored } from './decode-stored.js';
import { StorageCorruptError } from './errors.js';
import { describeKey, indexOfLogKey, logKey, raftMetaKeys, sublevelNames } from './keys.js';
import { chunkBytesMax, decodeChunk, encodeChunk, splitIntoChunks } from './log-chunk-codec.js';
import { LogChunkDirectory, type ChunkSpan } from './log-chunk-directory.js';
import type { NodeStore, StoreOperation } from './node-store.js';
import {
  decodeHardState,
  decodeLogPosition,
  decodeMembership,
  decodeSnapshotMeta,
  encodeHardState,
  encodeLogPosition,
  encodeMembership,
  encodeSnapshotMeta,
} from './raft-meta-codec.js';
import {
  emptyHardState,
  invariant,
  type Entry,
  type HardState,
  type Index,
  type LogPosition,
  type Membership,
  type SnapshotMeta,
  type Term,
} from '../raft/index.js';

/** What the Raft log store holds: RestoredState without `applied` (the state machine's). */
export interface PersistedRaftState {
  readonly hardState: HardState;
  /** The last entry dropped by compaction or replaced by a snapshot; index 0, term 0 if none. */
  readonly compactedTo: LogPosition;
  /** The log, contiguous from compactedTo.index + 1. */
  readonly entries: readonly Entry[];
  readonly snapshotMeta: SnapshotMeta | null;
  /** The membership saved by saveMembership or the last snapshot installed; null if never saved. */
  readonly membership: Membership | null;
}

/** Step 1 of the Ready contract (src/raft/ready.ts): what to make durable, in one write. */
export interface RaftLogUpdate {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshotMeta: SnapshotMeta | null;
}

/** How a RaftLogStore lays out its chunks. */
export interface RaftLogStoreOptions {
  /** A save of more encoded bytes than this is split into several chunks; default chunkBytesMax (4 MiB). */
  readonly chunkBytesMax?: number;
}

/** The positions the store tracks in memory to know which keys a write must delete. */
interface LogBounds {
  readonly hardState: HardState;
  readonly compactedTo: LogPosition;
  // Invariant: compactedTo.index <= lastIndex, and the entries (compactedTo.index, lastIndex]
  // are on disk, in the chunks of the store's directory.
  readonly lastIndex: Index;
  /** The term of the entry at lastIndex (compactedTo.term if the log is empty). */
  readonly lastTerm: Term;
  readonly snapshotMeta: SnapshotMeta | null;
}

/**
 * The durable Raft log and its metadata, in the `raft-log` and `raft-meta` sublevels. The log is
 * stored in chunks, one record per save holding the entries it wrote (log-chunk-codec.ts), keyed
 * by its first index: one record per save instead of one per entry, and compaction deletes a
 * chunk with one record instead of one per entry.
 *
 * Contract: call `load()` once before anything else. Every write is one atomic batch with
 * `sync: true` and resolves only once it is on disk; writes run one at a time, in call order.
 * Validation on load makes corrupt data a StorageCorruptError naming the key; a caller breaking
 * a contract (a gap in the entries, a commit beyond the log) gets an InvariantError.
 */
export class RaftLogStore {
  private bounds: LogBounds | null = null;
  /**
   * The chunks that hold the log (compactedTo.index, lastIndex]: the first may also hold entries
   * at or below the compaction point, which load() ignores. Chunks wholly below it are not here
   * (they are being purged).
   */
  private readonly chunks = new LogChunkDirectory();
  /** The last queued operation; the next one starts after it settles. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Deleting entries below the compaction point, in the background (see `compact`). */
  private purging: Promise<void> = Promise.resolve();
  /** Set if a purge failed: the database is broken, and the next write must say so. */
  private purgeFailure: unknown = undefined;

  private readonly chunkBytesMax: number;

  constructor(
    private readonly store: NodeStore,
    options: RaftLogStoreOptions = {},
  ) {
    this.chunkBytesMax = options.chunkBytesMax ?? chunkBytesMax;
    if (!Number.isSafeInteger(this.chunkBytesMax) || this.chunkBytesMax < 1) {
      throw new RangeError(`chunkBytesMax must be a positive integer, got ${this.chunkBytesMax}`);
    }
  }

  /** The index of the last persisted entry (the compaction point if the log is empty). */
  get lastIndex(): Index {
    return this.requireLoaded().lastIndex;
  }

  /** The last entry dropped by compaction or replaced by a snapshot. */
  get compactedTo(): LogPosition {
    return this.requireLoaded().compactedTo;
  }

  /** Reads and validates everything persisted; an empty database yields the state of a new node. */
  load(): Promise<PersistedRaftState> {
    return this.serialize(async () => {
      const { meta, chunks } = await this.read();
      const compactedIndex = meta.compactedTo.index;
      // Entries at or below the compaction point are garbage a crash left before its purge (or
      // the older part of a chunk that straddles the point). Whole chunks of them are purged.
      const live = chunks.filter((chunk) => chunk.last > compactedIndex);
      const entries = live.flatMap((chunk) => chunk.entries.filter((entry) => entry.index > compactedIndex));
      const state: PersistedRaftState = { ...meta, entries };
      validatePersistedState(state, live);
      this.chunks.removeAll();
      for (const chunk of live) this.chunks.append({ first: chunk.first, last: chunk.last });
      if (live.length < chunks.length) this.purgeBelow(this.purgeBound(compactedIndex));
      const last = state.entries[state.entries.length - 1] ?? state.compactedTo;
      this.bounds = {
        hardState: state.hardState,
        compactedTo: state.compactedTo,
        lastIndex: last.index,
        lastTerm: last.term,
        snapshotMeta: state.snapshotMeta,
      };
      return state;
    });
  }

  /**
   * Persists a Ready in one synced batch (unsynced when only the commit index changed), in the
   * order of etcd's contract: a snapshot resets the log to its position (every chunk deleted,
   * its meta and membership stored); then entries overwrite the log from their first index: the
   * chunk holding that index is rewritten with only its entries below it, every later chunk is
   * deleted, and the entries are stored as new chunks (one, or several above chunkBytesMax);
   * then the hard state. Entries the compaction point already covers are skipped, as etcd's
   * MemoryStorage.Append does. An empty update writes nothing. Being one atomic batch, a crash
   * leaves either the log before the save or the log after it, never a rewritten chunk without
   * the chunks that follow it.
   *
   * `alsoWrite` joins the same atomic batch: installing a snapshot switches the state machine
   * to the snapshot's state in the very write that drops the log it replaces.
   */
  save(update: RaftLogUpdate, alsoWrite: readonly StoreOperation[] = []): Promise<void> {
    return this.serialize(async () => {
      const before = this.requireLoaded();
      const operations: StoreOperation[] = [];
      let { compactedTo, lastIndex, lastTerm, snapshotMeta } = before;
      // The directory changes only once the batch is written: a refused or failed save leaves it
      // as it was.
      let resetChunks = false;
      let truncateFrom: Index | null = null;
      let shortened: ChunkSpan | null = null;
      const added: ChunkSpan[] = [];

      if (update.snapshotMeta !== null) {
        const meta = update.snapshotMeta;
        invariant(meta.index >= compactedTo.index, () => `snapshot at ${meta.index} is older than the compaction point ${compactedTo.index}`);
        for (const chunk of this.chunks.all()) this.deleteChunk(operations, chunk);
        resetChunks = true;
        compactedTo = { index: meta.index, term: meta.term };
        lastIndex = meta.index;
        lastTerm = meta.term;
        snapshotMeta = meta;
        this.putMeta(operations, raftMetaKeys.compactedTo, encodeLogPosition(compactedTo));
        this.putMeta(operations, raftMetaKeys.snapshotMeta, encodeSnapshotMeta(meta));
        this.putMeta(operations, raftMetaKeys.membership, encodeMembership(meta.membership));
      }

      const floor = compactedTo.index;
      const entries = update.entries.filter((entry) => entry.index > floor);
      const first = entries[0];
      if (first !== undefined) {
        invariant(first.index <= lastIndex + 1, () => `entries from ${first.index} leave a gap after the last index ${lastIndex}`);
        entries.forEach((entry, i) =>
          invariant(entry.index === first.index + i, () => `entries are not contiguous at ${entry.index}`),
        );
        const last = entries[entries.length - 1] as Entry;
        if (!resetChunks && first.index <= lastIndex) {
          // A follower overwriting a conflicting suffix. The deletes come before the puts in the
          // batch, so a new chunk under the key of a deleted one stays.
          truncateFrom = first.index;
          for (const chunk of this.chunks.chunksFrom(first.index)) this.deleteChunk(operations, chunk);
          const holder = this.chunks.find(first.index);
          if (holder !== undefined && holder.first < first.index) {
            const kept = (await this.readChunk(holder)).slice(0, first.index - holder.first);
            shortened = { first: holder.first, last: first.index - 1 };
            this.putChunk(operations, kept);
          }
        }
        for (const chunk of splitIntoChunks(entries, this.chunkBytesMax)) {
          this.putChunk(operations, chunk);
          added.push({ first: (chunk[0] as Entry).index, last: (chunk[chunk.length - 1] as Entry).index });
        }
        lastIndex = last.index;
        lastTerm = last.term;
      }

      // What load() validates, checked before writing: a node must always be able to restart.
      const hardState = update.hardState ?? before.hardState;
      invariant(hardState.commit <= lastIndex, () => `commit ${hardState.commit} beyond the last index ${lastIndex}`);
      invariant(hardState.term >= lastTerm, () => `hard state term ${hardState.term} below the log's last term ${lastTerm}`);
      if (update.hardState !== null) this.putMeta(operations, raftMetaKeys.hardState, encodeHardState(update.hardState));
      operations.push(...alsoWrite);

      if (operations.length === 0) return;
      // sync: true: votes and acknowledgements sent after this promise that it is on disk. The
      // commit index alone is volatile state (Figure 2), so a commit-only change skips the fsync;
      // LevelDB's single ordered log makes it durable with the next synced write anyway.
      const commitOnly =
        update.snapshotMeta === null &&
        alsoWrite.length === 0 &&
        entries.length === 0 &&
        hardState.term === before.hardState.term &&
        hardState.vote === before.hardState.vote;
      await this.store.write(operations, { sync: !commitOnly });
      this.bounds = { hardState, compactedTo, lastIndex, lastTerm, snapshotMeta };
      if (resetChunks) this.chunks.removeAll();
      if (truncateFrom !== null) this.chunks.removeFrom(truncateFrom);
      if (shortened !== null) this.chunks.truncateLast(shortened);
      for (const chunk of added) this.chunks.append(chunk);
    });
  }

  /**
   * Drops the entries up to and including `to` (which must be persisted, with that term):
   * records `to` as the compaction point and `snapshotMeta` as the newest snapshot in one small
   * synced batch, after which the log starts above `to` (load ignores anything below); the
   * chunks wholly at or below `to` are deleted in the background, inside LevelDB, so that
   * compacting never holds up the next write. A chunk that also holds entries above `to` stays
   * until a later compaction passes its end. `snapshotMeta` must cover `to` and be no
   * older than the stored one. Compacting to or below the current point only records the
   * snapshot meta. The membership is left alone: later entries may have changed it since.
   */
  compact(to: LogPosition, snapshotMeta: SnapshotMeta): Promise<void> {
    return this.serialize(async () => {
      const before = this.requireLoaded();
      invariant(snapshotMeta.index >= to.index, () => `snapshot at ${snapshotMeta.index} does not cover compaction to ${to.index}`);
      invariant(
        before.snapshotMeta === null || snapshotMeta.index >= before.snapshotMeta.index,
        () => `snapshot at ${snapshotMeta.index} is older than the stored one at ${before.snapshotMeta?.index}`,
      );
      invariant(to.index <= before.lastIndex, () => `compaction to ${to.index} beyond the last index ${before.lastIndex}`);

      const operations: StoreOperation[] = [];
      let compactedTo = before.compactedTo;
      if (to.index > before.compactedTo.index) {
        const term = await this.termOf(to.index);
        invariant(term === to.term, () => `compaction to ${to.index}@${to.term}, but the entry there has term ${term}`);
        compactedTo = { index: to.index, term: to.term };
        this.putMeta(operations, raftMetaKeys.compactedTo, encodeLogPosition(compactedTo));
      }
      this.putMeta(operations, raftMetaKeys.snapshotMeta, encodeSnapshotMeta(snapshotMeta));
      // sync: true: once a snapshot replaces entries, the entries must never come back without it.
      await this.store.write(operations, { sync: true });
      this.bounds = { ...before, compactedTo, snapshotMeta };
      if (this.chunks.removeThrough(compactedTo.index).length > 0) this.purgeBelow(this.purgeBound(compactedTo.index));
    });
  }

  /** Resolves once every purge started so far is done (for tests and orderly shutdown). */
  purged(): Promise<void> {
    return this.purging;
  }

  /**
   * Where a purge may delete up to (exclusive), once the chunks up to `compactedIndex` left the
   * directory: the first chunk still in it, or what a next chunk would start at. No later write
   * puts a key below this: entries are only ever saved above the compaction point, and a chunk
   * rewritten by an overwrite keeps its key.
   */
  private purgeBound(compactedIndex: Index): Index {
    return this.chunks.firstChunk?.first ?? compactedIndex + 1;
  }

  /** Deletes, in the background, every chunk keyed below `bound` (none of them in the directory). */
  private purgeBelow(bound: Index): void {
    this.purging = this.purging
      .then(() => this.store.clear(this.store.sublevels.raftLog, { lt: logKey(bound) }))
      .catch((error: unknown) => {
        this.purgeFailure ??= error;
      });
  }

  /** Stores the membership in force, e.g. the initial one when a new cluster is bootstrapped. */
  saveMembership(membership: Membership): Promise<void> {
    return this.serialize(async () => {
      this.requireLoaded();
      const operations: StoreOperation[] = [];
      this.putMeta(operations, raftMetaKeys.membership, encodeMembership(membership));
      // sync: true: a node must not come back from a crash with a membership it already acted on lost.
      await this.store.write(operations, { sync: true });
    });
  }

  private async read(): Promise<{ meta: Omit<PersistedRaftState, 'entries'>; chunks: StoredChunk[] }> {
    const meta = this.store.sublevels.raftMeta;
    const keys = [raftMetaKeys.hardState, raftMetaKeys.compactedTo, raftMetaKeys.snapshotMeta, raftMetaKeys.membership];
    const [hardState, compactedTo, snapshotMeta, membership] = await meta.getMany(keys);
    const chunks: StoredChunk[] = [];
    for await (const [key, value] of this.store.sublevels.raftLog.iterator()) {
      const entries = decodeStored(sublevelNames.raftLog, key, () => decodeChunk(indexOfLogKey(key), value));
      const first = (entries[0] as Entry).index;
      chunks.push({ first, last: first + entries.length - 1, entries });
    }
    return {
      meta: {
        hardState: decodeOptional(raftMetaKeys.hardState, hardState, decodeHardState) ?? emptyHardState,
        compactedTo: decodeOptional(raftMetaKeys.compactedTo, compactedTo, decodeLogPosition) ?? { index: 0, term: 0 },
        snapshotMeta: decodeOptional(raftMetaKeys.snapshotMeta, snapshotMeta, decodeSnapshotMeta),
        membership: decodeOptional(raftMetaKeys.membership, membership, decodeMembership),
      },
      chunks,
    };
  }

  /** The entries of a chunk of the directory, read back from LevelDB. */
  private async readChunk(chunk: ChunkSpan): Promise<Entry[]> {
    const key = logKey(chunk.first);
    const value = await this.store.sublevels.raftLog.get(key);
    const location = describeKey(sublevelNames.raftLog, key);
    if (value === undefined) throw new StorageCorruptError(location, `chunk [${chunk.first}, ${chunk.last}] missing inside the log`);
    const entries = decodeStored(sublevelNames.raftLog, key, () => decodeChunk(chunk.first, value));
    if (entries.length !== chunk.last - chunk.first + 1) {
      throw new StorageCorruptError(location, `chunk holds ${entries.length} entries, expected [${chunk.first}, ${chunk.last}]`);
    }
    return entries;
  }

  private async termOf(index: Index): Promise<number> {
    const chunk = this.chunks.find(index);
    invariant(chunk !== undefined, () => `no chunk holds ${index}, inside the log`);
    return ((await this.readChunk(chunk))[index - chunk.first] as Entry).term;
  }

  /** Adds the put of a chunk of contiguous `entries` (at least one) to `operations`. */
  private putChunk(operations: StoreOperation[], entries: readonly Entry[]): void {
    const key = logKey((entries[0] as Entry).index);
    operations.push({ type: 'put', sublevel: this.store.sublevels.raftLog, key, value: encodeChunk(entries) });
  }

  private deleteChunk(operations: StoreOperation[], chunk: ChunkSpan): void {
    operations.push({ type: 'del', sublevel: this.store.sublevels.raftLog, key: logKey(chunk.first) });
  }

  private putMeta(operations: StoreOperation[], key: Uint8Array, value: Uint8Array): void {
    operations.push({ type: 'put', sublevel: this.store.sublevels.raftMeta, key, value });
  }

  private requireLoaded(): LogBounds {
    invariant(this.bounds !== null, 'RaftLogStore used before load()');
    return this.bounds;
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(() => {
      if (this.purgeFailure !== undefined) throw this.purgeFailure;
      return operation();
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/**
 * What any state written by RaftLogStore satisfies. Checked on load so that a damaged database
 * stops the node with the offending key named, instead of feeding the core a broken log.
 */
function validatePersistedState(state: PersistedRaftState, chunks: readonly StoredChunk[]): void {
  const { hardState, compactedTo, snapshotMeta } = state;
  let previous: LogPosition = compactedTo;
  for (const chunk of chunks) {
    const location = describeKey(sublevelNames.raftLog, logKey(chunk.first));
    for (const entry of chunk.entries) {
      if (entry.index <= compactedTo.index) continue;
      if (entry.index !== previous.index + 1) {
        throw new StorageCorruptError(location, `entry ${entry.index}: expected index ${previous.index + 1} after ${previous.index} (a gap, or an entry at or below the compaction point)`);
      }
      if (entry.term < previous.term) {
        throw new StorageCorruptError(location, `entry ${entry.index}: term ${entry.term} below the previous term ${previous.term}`);
      }
      previous = entry;
    }
  }
  const hardStateKey = describeKey(sublevelNames.raftMeta, raftMetaKeys.hardState);
  // The commit index is written in the same batch as the entries it covers and committed
  // entries are never overwritten, so it can never exceed the log.
  if (hardState.commit > previous.index) {
    throw new StorageCorruptError(hardStateKey, `commit ${hardState.commit} beyond the last index ${previous.index}`);
  }
  // A node adopts a term before it accepts entries or a snapshot of that term.
  if (previous.term > hardState.term) {
    throw new StorageCorruptError(hardStateKey, `term ${hardState.term} below the log's last term ${previous.term}`);
  }
  const snapshotKey = describeKey(sublevelNames.raftMeta, raftMetaKeys.snapshotMeta);
  if (compactedTo.index > 0 && snapshotMeta === null) {
    throw new StorageCorruptError(snapshotKey, `missing, but the log is compacted to ${compactedTo.index}`);
  }
  if (snapshotMeta !== null && snapshotMeta.index < compactedTo.index) {
    throw new StorageCorruptError(snapshotKey, `snapshot at ${snapshotMeta.index} below the compaction point ${compactedTo.index}`);
  }
}

/** A chunk as load() reads it. */
interface StoredChunk {
  readonly first: Index;
  readonly last: Index;
  readonly entries: readonly Entry[];
}

function decodeOptional<T>(key: Uint8Array, value: Uint8Array | undefined, decode: (value: Uint8Array) => T): T | null {
  if (value === undefined) return null;
  return decodeStored(sublevelNames.raftMeta, key, () => decode(value));
}
