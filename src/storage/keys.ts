/**
 * The layout of a node's one LevelDB. Keys and values are bytes throughout ('view' encoding).
 *
 * | sublevel    | key                                          | value                         |
 * |-------------|----------------------------------------------|-------------------------------|
 * | `raft-log`  | first index of a chunk, 8 bytes big-endian   | the entries of one save (log-chunk-codec.ts) |
 * | `raft-meta` | `hard-state`                                 | term, vote, commit            |
 * |             | `compacted-to`                               | the last compacted index/term |
 * |             | `snapshot-meta`                              | the newest snapshot's meta    |
 * |             | `membership`                                 | the membership in force       |
 * | `sm-meta`   | `format`                                     | the layout version (u32, 4)   |
 * |             | `applied`                                    | applied index and term        |
 * |             | `generation`                                 | the state generation in force |
 * | `kv-g<N>`   | the user key                                 | KeyRecord (src/kv)            |
 * | `sessions-g<N>` | `session:` + client id                   | a session with its results    |
 * |             | `session-limits`                             | the session limits the log set |
 * | `auth-g<N>` | `state`                                      | users, roles, the auth flag (src/kv/auth-state.ts) |
 * | `hist-g<N>` | escaped user key, 00 00, revision u64, sub u32 | KeyRecord, or empty for a delete (src/kv/history-keys.ts) |
 * | `revs-g<N>` | revision u64, sub u32                        | the user key changed          |
 * |             | FF `history-meta`, FF `history-physical`     | compact and base revision; deletion progress (src/kv/history-meta.ts) |
 * | `lease-g<N>` | `l` + lease id u64                          | the lease's granted TTL (src/kv/lease-table.ts) |
 * |             | `k` + lease id u64 + user key                | empty: the key is attached to the lease |
 *
 * Big-endian indexes sort lexicographically in numeric order, so iterating `raft-log` yields
 * the log's chunks in order. A chunk holds the contiguous entries one save wrote (several chunks
 * if it wrote more than a few MiB); an overwrite rewrites the chunk it starts in and deletes the
 * later ones, a compaction deletes whole chunks below its point, and a chunk straddling the
 * point keeps its older entries until a later compaction passes its end (load ignores them).
 *
 * The state machine's data lives in a generation: the sublevels `kv-g<N>`, `sessions-g<N>` and
 * `auth-g<N>` (absent in directories written before auth: an empty one means no users). `sm-meta/generation` names the one in force. Installing a snapshot writes the
 * next generation beside the current one, then switches `generation` (with `applied` and the
 * Raft log's snapshot metadata) in one atomic batch, and only then clears the old one. So a
 * crash at any point leaves either the old state or the new one, never a mix. Only the
 * generations N-1 (being cleared) and N+1 (being received) can hold data besides N.
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { BinaryDecodeError, ByteReader, ByteWriter, decodeUtf8, utf8Bytes } from '../shared/binary-codec.js';
import type { Index } from '../raft/index.js';

/** The node's database: byte keys, byte values. */
export type BinaryDb = Level<Uint8Array, Uint8Array>;

/** One sublevel of the node's database. */
export type BinarySublevel = AbstractSublevel<BinaryDb, string | Buffer | Uint8Array, Uint8Array, Uint8Array>;

/** The sublevels that exist once per database, by role. */
export interface Sublevels {
  readonly raftLog: BinarySublevel;
  readonly raftMeta: BinarySublevel;
  readonly smMeta: BinarySublevel;
}

/** The sublevels of one state generation (see the table above). */
export interface GenerationSublevels {
  readonly generation: number;
  readonly kv: BinarySublevel;
  readonly sessions: BinarySublevel;
  readonly auth: BinarySublevel;
  /** Every version of every key since the compact revision, by key then revision. */
  readonly hist: BinarySublevel;
  /** The keys each revision changed, by revision: what a watch catching up reads. */
  readonly revs: BinarySublevel;
  /** Leases and their keys (absent in directories written before leases: empty means none). */
  readonly lease: BinarySublevel;
}

/** Sublevel names as they appear in the database (and in StorageCorruptError locations). */
export const sublevelNames = {
  raftLog: 'raft-log',
  raftMeta: 'raft-meta',
  smMeta: 'sm-meta',
} as const satisfies Record<keyof Sublevels, string>;

/** The names of generation `generation`'s sublevels. */
export function generationSublevelNames(generation: number): {
  readonly kv: string;
  readonly sessions: string;
  readonly auth: string;
  readonly hist: string;
  readonly revs: string;
  readonly lease: string;
} {
  return {
    kv: `kv-g${generation}`,
    sessions: `sessions-g${generation}`,
    auth: `auth-g${generation}`,
    hist: `hist-g${generation}`,
    revs: `revs-g${generation}`,
    lease: `lease-g${generation}`,
  };
}

function openSublevel(db: BinaryDb, name: string): BinarySublevel {
  return db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' });
}

/** Opens the sublevels of `db` with byte encodings. */
export function openSublevels(db: BinaryDb): Sublevels {
  return {
    raftLog: openSublevel(db, sublevelNames.raftLog),
    raftMeta: openSublevel(db, sublevelNames.raftMeta),
    smMeta: openSublevel(db, sublevelNames.smMeta),
  };
}

/** Opens the sublevels of state generation `generation` (a non-negative integer). */
export function openGenerationSublevels(db: BinaryDb, generation: number): GenerationSublevels {
  if (!Number.isSafeInteger(generation) || generation < 0) throw new RangeError(`state generation must be a non-negative integer, got ${generation}`);
  const names = generationSublevelNames(generation);
  return {
    generation,
    kv: openSublevel(db, names.kv),
    sessions: openSublevel(db, names.sessions),
    auth: openSublevel(db, names.auth),
    hist: openSublevel(db, names.hist),
    revs: openSublevel(db, names.revs),
    lease: openSublevel(db, names.lease),
  };
}

/** Keys of `raft-meta`. */
export const raftMetaKeys = {
  hardState: utf8Bytes('hard-state'),
  compactedTo: utf8Bytes('compacted-to'),
  snapshotMeta: utf8Bytes('snapshot-meta'),
  membership: utf8Bytes('membership'),
} as const;

/** Keys of `sm-meta`. */
export const smMetaKeys = {
  format: utf8Bytes('format'),
  applied: utf8Bytes('applied'),
  generation: utf8Bytes('generation'),
} as const;

/**
 * The layout version written to `sm-meta/format`: 4 since the Raft log is stored in chunks (3
 * had one `raft-log` record per entry); 3 since sessions are registered through the log (adds
 * `session-limits`); 2 since state generations (1 had one `kv`). Formats 2 and 3 are upgraded
 * in place (node-store.ts).
 */
export const storageFormat = 4;

const indexKeyBytes = 8;

/** The `raft-log` key of the chunk starting at `index`, for LevelDB calls only (in Node's shared buffer pool). */
export function logKey(index: Index): Uint8Array {
  return new ByteWriter(indexKeyBytes, 'pooled').u64(index).finish();
}

/** The index a `raft-log` key holds; throws BinaryDecodeError if it is not 8 bytes. */
export function indexOfLogKey(key: Uint8Array): Index {
  if (key.byteLength !== indexKeyBytes) {
    throw new BinaryDecodeError(`log key: expected ${indexKeyBytes} bytes, got ${key.byteLength}`);
  }
  return new ByteReader(key).u64('log key');
}

const sessionTag = 'session:';
/** The longest client id a session key (and the command encoding) carries. */
export const clientIdBytesMax = 0xff;

/** The `sessions-g<N>` key of a session (its header and remembered results, one record). */
export function sessionKey(clientId: string): Uint8Array {
  return new ByteWriter().raw(utf8Bytes(sessionTag)).raw(utf8Bytes(clientId)).finish();
}

/** The client id in a session header key. */
export function clientIdOfSessionKey(key: Uint8Array): string {
  const reader = new ByteReader(key);
  const tag = reader.raw(sessionTag.length, 'session key tag');
  if (Buffer.compare(tag, utf8Bytes(sessionTag)) !== 0) throw new BinaryDecodeError('session key: wrong tag');
  const id = reader.rest('session key client id');
  if (id.byteLength === 0 || id.byteLength > clientIdBytesMax) {
    throw new BinaryDecodeError(`session key: client id of ${id.byteLength} bytes`);
  }
  return decodeUtf8(id, 'session key client id');
}

/** The `auth-g<N>` key of the auth state (the sublevel's only record). */
export const authStateKey = utf8Bytes('state');

/** The `sessions-g<N>` key of the session limits the log set (outside sessionKeyRange). */
export const sessionLimitsKey = utf8Bytes('session-limits');

/** The key range [gte, lt) of every session in a `sessions-g<N>` sublevel. */
export const sessionKeyRange = prefixRange(utf8Bytes(sessionTag));

/** Iterator bounds: keys from `gte` (inclusive) to `lt` (exclusive; absent: to the end). */
export interface KeyRange {
  readonly gte: Uint8Array;
  readonly lt?: Uint8Array;
}

/**
 * The key range holding exactly the keys that start with `prefix`: [prefix, successor), where
 * the successor increments the last byte below 0xff. No upper bound when none exists (an empty
 * prefix, or one of only 0xff bytes).
 */
export function prefixRange(prefix: Uint8Array): KeyRange {
  for (let i = prefix.byteLength - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      // A copy: on a Buffer, slice() is a view, and the increment would change the prefix too.
      const lt = Uint8Array.from(prefix.subarray(0, i + 1));
      lt[i] = byte + 1;
      return { gte: prefix, lt };
    }
  }
  return { gte: prefix };
}

/** A key as it appears in error messages: hex, shortened. */
export function describeKey(sublevel: string, key: Uint8Array): string {
  const hex = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
  return `${sublevel}/${hex.length > 64 ? `${hex.slice(0, 64)}...` : hex}`;
}
