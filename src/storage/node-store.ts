import { performance } from 'node:perf_hooks';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AbstractSnapshot } from 'abstract-level';
import { Level } from 'level';
import { invariant } from '../raft/index.js';
import { ByteReader, ByteWriter } from '../shared/binary-codec.js';
import { decodeStored } from './decode-stored.js';
import { StorageError } from './errors.js';
import { logChunkUpgradeWrites } from './log-format-upgrade.js';
import {
  openGenerationSublevels,
  openSublevels,
  raftMetaKeys,
  smMetaKeys,
  storageFormat,
  sublevelNames,
  type BinaryDb,
  type BinarySublevel,
  type GenerationSublevels,
  type Sublevels,
} from './keys.js';

/** A consistent read-only view of the whole database at one moment (LevelDB's snapshot). Close it when done. */
export type StoreSnapshot = AbstractSnapshot;

/**
 * abstract-level's implementer API for chained batches (what `db.batch()` with no arguments
 * builds on once it has encoded and prefixed): classic-level hands each `_put`/`_del` straight
 * to its binding, one call with two buffers. The array form (`_batch`) makes the binding read
 * `type`, `key` and `value` by name from every operation object, about three times the main
 * thread's time per record here (bench/leveldb-writes.ts).
 */
interface RawChainedBatch {
  _put(key: Uint8Array, value: Uint8Array): void;
  _del(key: Uint8Array): void;
  _write(options: { readonly sync: boolean }): Promise<void>;
  /** Detaches the batch from the database (it was attached as an open resource). */
  close(): Promise<void>;
}

interface RawBatchDb {
  _chainedBatch(): RawChainedBatch;
}

/** How to open a node's data directory. */
export interface NodeStoreOptions {
  /** Create the directory and the database if absent; false for a node that must already exist. */
  readonly createIfMissing: boolean;
  /**
   * Bytes of LevelDB's block cache: uncompressed blocks of the table files, shared by every
   * sublevel. Reads of keys outside it pay a block read and decompression. Default
   * defaultBlockCacheBytes.
   */
  readonly blockCacheBytes?: number;
}

/**
 * LevelDB's memtable (its default is 4 MiB). Every put writes three records (the key, its
 * history version and the revision index), so a small memtable turns into many level-0 files and
 * compactions: at 256 puts in flight, 32 MiB took the servers' CPU per put from about 240 to
 * about 165 µs here (bench/vs-etcd.sh). Costs up to twice this in memory per node.
 */
export const writeBufferBytes = 32 * 1024 * 1024;

/** LevelDB's own default is 8 MiB; see NodeStoreOptions.blockCacheBytes. */
export const defaultBlockCacheBytes = 8 * 1024 * 1024;

/** One write of an atomic batch, addressed to a sublevel. */
export type StoreOperation =
  | { readonly type: 'put'; readonly sublevel: BinarySublevel; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly sublevel: BinarySublevel; readonly key: Uint8Array };

/**
 * Durability of a batch, always chosen at the call site (LevelDB defaults to false).
 * `sync: true` fsyncs LevelDB's write-ahead log before resolving, which also makes every batch
 * written before it durable: the database has one log, appended in order.
 */
export interface StoreWriteOptions {
  readonly sync: boolean;
}

/**
 * The one LevelDB of a node, at `${dataDir}/db`, split into sublevels (keys.ts). Everything that
 * must change together is written with `write()` as one atomic batch, across sublevels.
 *
 * Contract: after a failed write, what reached the disk is unknown and in-memory state built on
 * it may be wrong, so every later write throws StorageError STORAGE_WRITE; the node must restart
 * and reload. Reads stay possible. Only one NodeStore may hold a directory at a time (LevelDB's
 * LOCK file): a second open fails with STORAGE_LOCKED, whichever process holds it.
 */
export class NodeStore {
  /** Set by the first failed write; every later write fails with it as the cause. */
  private writeFailure: unknown = undefined;
  private closed = false;
  private writeObserver: ((seconds: number, operations: number, synced: boolean) => void) | undefined;
  private readonly generations = new Map<number, GenerationSublevels>();
  /** Each sublevel's key prefix, as bytes (a WeakMap: retired generations' sublevels go away). */
  private readonly prefixes = new WeakMap<BinarySublevel, Uint8Array>();

  private constructor(
    /** The absolute path of the database directory, for messages. */
    readonly path: string,
    private readonly db: BinaryDb,
    readonly sublevels: Sublevels,
  ) {}

  /**
   * Opens (or, with createIfMissing, creates) the database of `dataDir`. Throws StorageError
   * STORAGE_OPEN naming the path when the directory is missing or unusable, STORAGE_LOCKED when
   * another process or NodeStore has it open.
   */
  static async open(dataDir: string, options: NodeStoreOptions): Promise<NodeStore> {
    const directory = resolve(dataDir);
    await prepareDirectory(directory, options.createIfMissing);
    const path = join(directory, 'db');
    const db: BinaryDb = new Level<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      createIfMissing: options.createIfMissing,
      errorIfExists: false,
      cacheSize: options.blockCacheBytes ?? defaultBlockCacheBytes,
      writeBufferSize: writeBufferBytes,
    });
    try {
      await db.open();
    } catch (error) {
      if (isLockedError(error)) {
        throw new StorageError('STORAGE_LOCKED', path, `cannot open ${path}: it is locked by another process (LevelDB LOCK); is another node running on this data directory?`, { cause: error });
      }
      throw new StorageError('STORAGE_OPEN', path, `cannot open the database at ${path}: ${causeMessage(error)}`, { cause: error });
    }
    const store = new NodeStore(path, db, openSublevels(db));
    try {
      await store.checkFormat();
    } catch (error) {
      await db.close();
      throw error;
    }
    return store;
  }

  /** Called after every write with its duration, its operations and whether it was synced (metrics). */
  observeWrites(observer: (seconds: number, operations: number, synced: boolean) => void): void {
    this.writeObserver = observer;
  }

  /** Reads one small record (the storage format): resolves if the database answers reads (health checks). */
  async probe(): Promise<void> {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', this.path, `the database at ${this.path} is closed`);
    await this.sublevels.smMeta.get(smMetaKeys.format);
  }

  /** The sublevels of state generation `generation` (keys.ts). */
  generation(generation: number): GenerationSublevels {
    let sublevels = this.generations.get(generation);
    if (sublevels === undefined) {
      sublevels = openGenerationSublevels(this.db, generation);
      this.generations.set(generation, sublevels);
    }
    return sublevels;
  }

  /**
   * A consistent view of every sublevel as of now: reads given `{ snapshot }` see no later write.
   * LevelDB keeps what the view needs until it is closed, so close it promptly.
   */
  snapshot(): StoreSnapshot {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', this.path, `the database at ${this.path} is closed`);
    return this.db.snapshot();
  }

  /**
   * Deletes every key of `sublevel` (or those below `range.lt`), in many small batches inside
   * LevelDB, off the event loop: not atomic, so only for data that nothing reads any more (a
   * retired or abandoned state generation, log chunks below the compaction point).
   */
  async clear(sublevel: BinarySublevel, range: { readonly lt?: Uint8Array } = {}): Promise<void> {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', this.path, `the database at ${this.path} is closed`);
    if (this.writeFailure !== undefined) {
      throw new StorageError('STORAGE_WRITE', this.path, `an earlier write to ${this.path} failed; restart the node`, { cause: this.writeFailure });
    }
    try {
      await sublevel.clear(range);
    } catch (error) {
      this.writeFailure = error;
      throw new StorageError('STORAGE_WRITE', this.path, `clearing ${sublevel.prefix} in ${this.path} failed: ${causeMessage(error)}`, { cause: error });
    }
  }

  /**
   * A new database gets the current layout version; an existing one must have it. A database
   * written before state generations (format 1) has Raft state but no version: refused, naming
   * what to do, rather than started with its keyspace silently missing. Formats 2 (before
   * sessions were registered through the log) and 3 (the log one record per entry) are upgraded
   * to 4 in place.
   */
  private async checkFormat(): Promise<void> {
    const stored = await this.sublevels.smMeta.get(smMetaKeys.format);
    if (stored === undefined) {
      const hardState = await this.sublevels.raftMeta.get(raftMetaKeys.hardState);
      if (hardState !== undefined) {
        throw new StorageError('STORAGE_OPEN', this.path, `${this.path} was written by an older raftkv (storage format 1, before snapshots); this version reads format ${storageFormat}. Start the node on an empty data directory: it catches up from the cluster`);
      }
      await this.write([{ type: 'put', sublevel: this.sublevels.smMeta, key: smMetaKeys.format, value: new ByteWriter(4).u32(storageFormat).finish() }], { sync: true });
      return;
    }
    const format = decodeStored(sublevelNames.smMeta, smMetaKeys.format, () => {
      const reader = new ByteReader(stored);
      const value = reader.u32('storage format');
      reader.end('storage format');
      return value;
    });
    if (format === 2 || format === 3) {
      // Format 3 only added a record and command format 2, and still applies the format 1
      // commands a format 2 log may hold as they were applied before (kv/commands.ts). Format 4
      // stores the log in chunks: the per-entry records are rewritten as chunks in the same
      // atomic synced batch that records the new format, so a crash before it leaves the old
      // format (upgraded again at the next open) and one after it leaves chunks, never a mix.
      // Older raftkv versions then refuse the directory, naming format 4.
      const { raftLog } = this.sublevels;
      const operations: StoreOperation[] = (await logChunkUpgradeWrites(this.sublevels)).map(({ key, value }) =>
        value === null ? { type: 'del', sublevel: raftLog, key } : { type: 'put', sublevel: raftLog, key, value },
      );
      operations.push({ type: 'put', sublevel: this.sublevels.smMeta, key: smMetaKeys.format, value: new ByteWriter(4).u32(storageFormat).finish() });
      await this.write(operations, { sync: true });
      return;
    }
    if (format !== storageFormat) {
      throw new StorageError('STORAGE_OPEN', this.path, `${this.path} has storage format ${format}; this raftkv reads format ${storageFormat}`);
    }
  }

  /** Writes `operations` as one atomic batch. `options.sync` is required: see StoreWriteOptions. */
  async write(operations: readonly StoreOperation[], options: StoreWriteOptions): Promise<void> {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', this.path, `the database at ${this.path} is closed`);
    if (this.writeFailure !== undefined) {
      throw new StorageError('STORAGE_WRITE', this.path, `an earlier write to ${this.path} failed; restart the node`, { cause: this.writeFailure });
    }
    if (operations.length === 0) return;
    const startedAt = this.writeObserver === undefined ? 0 : performance.now();
    try {
      if (this.db.status !== 'open') throw new StorageError('STORAGE_CLOSED', this.path, `the database at ${this.path} is ${this.db.status}`);
      // Straight to the binding through abstract-level's implementer API, with the keys prefixed
      // here: db.batch clones every operation twice, looks up its encodings and prefixes its key
      // through the sublevel, which showed among the top frames of a CPU profile under write
      // load. Same keys, same values, same atomic batch, same `sync`.
      const batch = (this.db as unknown as RawBatchDb)._chainedBatch();
      try {
        for (const operation of operations) {
          if (operation.type === 'put') batch._put(this.prefixed(operation.sublevel, operation.key), operation.value);
          else batch._del(this.prefixed(operation.sublevel, operation.key));
        }
        await batch._write({ sync: options.sync });
      } finally {
        await batch.close();
      }
      this.writeObserver?.((performance.now() - startedAt) / 1000, operations.length, options.sync);
    } catch (error) {
      this.writeFailure = error;
      throw new StorageError('STORAGE_WRITE', this.path, `write to ${this.path} failed: ${causeMessage(error)}`, { cause: error });
    }
  }

  /** `key` under `sublevel`'s prefix, as the sublevel itself would store it. */
  private prefixed(sublevel: BinarySublevel, key: Uint8Array): Uint8Array {
    let prefix = this.prefixes.get(sublevel);
    if (prefix === undefined) {
      invariant(sublevel.db === this.db, () => `sublevel ${sublevel.prefix} is not of the database at ${this.path}`);
      prefix = Buffer.from(sublevel.prefix, 'utf8');
      this.prefixes.set(sublevel, prefix);
    }
    const full = Buffer.allocUnsafe(prefix.byteLength + key.byteLength);
    full.set(prefix, 0);
    full.set(key, prefix.byteLength);
    return full;
  }

  /** Closes the database and releases its lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}

async function prepareDirectory(directory: string, createIfMissing: boolean): Promise<void> {
  try {
    if (createIfMissing) await mkdir(directory, { recursive: true });
    const stats = await stat(directory);
    if (!stats.isDirectory()) {
      throw new StorageError('STORAGE_OPEN', directory, `the data directory ${directory} is not a directory`);
    }
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageError('STORAGE_OPEN', directory, `the data directory ${directory} is unusable: ${causeMessage(error)}`, { cause: error });
  }
}

/** abstract-level wraps the binding's error: LEVEL_DATABASE_NOT_OPEN with LEVEL_LOCKED as its cause. */
function isLockedError(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    if ((current as { code?: unknown }).code === 'LEVEL_LOCKED') return true;
  }
  return false;
}

function causeMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}
