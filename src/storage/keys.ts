/**
 * The layout of a node's one LevelDB. Keys and values are bytes throughout ('view' encoding).
 *
 * | sublevel    | key                                          | value                         |
 * |-------------|----------------------------------------------|-------------------------------|
 * | `raft-log`  | index, 8 bytes big-endian                    | log entry (entry-codec.ts)    |
 * | `raft-meta` | `hard-state`                                 | term, vote, commit            |
 * |             | `compacted-to`                               | the last compacted index/term |
 * |             | `snapshot-meta`                              | the newest snapshot's meta    |
 * |             | `membership`                                 | the membership in force       |
 * | `kv`        | the user key                                 | KeyRecord (src/kv)            |
 * | `sm-meta`   | `applied`                                    | applied index and term        |
 * |             | `session:` + client id                       | a client session's header     |
 * |             | `result:` + u8 id length + id + u64 sequence | one remembered result         |
 *
 * Big-endian indexes sort lexicographically in numeric order, so iterating `raft-log` yields
 * the log in order. Session keys are prefixed by the id's length so that one client's
 * results never share a prefix with another's ("a" vs "ab").
 */
import type { AbstractSublevel } from 'abstract-level';
import type { Level } from 'level';
import { BinaryDecodeError, ByteReader, ByteWriter, decodeUtf8, utf8Bytes } from './binary-codec.js';
import type { Index } from '../raft/index.js';

/** The node's database: byte keys, byte values. */
export type BinaryDb = Level<Uint8Array, Uint8Array>;

/** One sublevel of the node's database. */
export type BinarySublevel = AbstractSublevel<BinaryDb, string | Buffer | Uint8Array, Uint8Array, Uint8Array>;

/** The sublevels by role. */
export interface Sublevels {
  readonly raftLog: BinarySublevel;
  readonly raftMeta: BinarySublevel;
  readonly kv: BinarySublevel;
  readonly smMeta: BinarySublevel;
}

/** Sublevel names as they appear in the database (and in StorageCorruptError locations). */
export const sublevelNames = {
  raftLog: 'raft-log',
  raftMeta: 'raft-meta',
  kv: 'kv',
  smMeta: 'sm-meta',
} as const satisfies Record<keyof Sublevels, string>;

/** Opens the sublevels of `db` with byte encodings. */
export function openSublevels(db: BinaryDb): Sublevels {
  const open = (name: string): BinarySublevel =>
    db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' });
  return {
    raftLog: open(sublevelNames.raftLog),
    raftMeta: open(sublevelNames.raftMeta),
    kv: open(sublevelNames.kv),
    smMeta: open(sublevelNames.smMeta),
  };
}

/** Keys of `raft-meta`. */
export const raftMetaKeys = {
  hardState: utf8Bytes('hard-state'),
  compactedTo: utf8Bytes('compacted-to'),
  snapshotMeta: utf8Bytes('snapshot-meta'),
  membership: utf8Bytes('membership'),
} as const;

/** Keys of `sm-meta` that are not per session. */
export const smMetaKeys = {
  applied: utf8Bytes('applied'),
} as const;

const indexKeyBytes = 8;

/** The `raft-log` key of `index`. */
export function logKey(index: Index): Uint8Array {
  return new ByteWriter(indexKeyBytes).u64(index).finish();
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

/** The `sm-meta` key of a session (its header and remembered results, one record). */
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

/** The key range [gte, lt) of every session header in `sm-meta`. */
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
