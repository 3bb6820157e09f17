/**
 * The keys of a generation's history sublevels (storage/keys.ts):
 *
 *   hist-g<N>: escape(user key) | 00 00 | revision u64 | sub u32  ->  KeyRecord, or empty (a delete)
 *   revs-g<N>: revision u64 | sub u32                              ->  the user key
 *              FF history-meta, FF history-physical                 ->  history-meta.ts
 *
 * A revision is the log index of the write; `sub` orders the writes of one revision (a
 * transaction's writes in op order, 0 for a single write). A user key may hold any byte and be
 * a prefix of another, so `hist` keys escape it: 00 becomes 00 FF and 00 00 ends it. Then
 * escaped keys sort as the user keys do (a key's terminator sorts below any longer key's next
 * byte, 00 FF included), and each key's versions sort by revision, so one reverse seek finds a
 * key's version at a revision and one forward scan reads a key range at a revision.
 */
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import type { Index } from '../raft/index.js';
import { assertNever } from '../raft/index.js';
import type { KeySelector } from './txn-command.js';
import type { KeyRange } from '../storage/index.js';

const revisionBytes = 12;

/** A `hist` key's parts. */
export interface HistKey {
  readonly key: Uint8Array;
  readonly revision: Index;
  readonly sub: number;
}

/** The escaped form of `key`, without its terminator: the prefix of all its `hist` keys but one byte. */
export function escapeKey(key: Uint8Array): Uint8Array {
  let zeros = 0;
  for (const byte of key) if (byte === 0) zeros++;
  if (zeros === 0) return key;
  const escaped = new Uint8Array(key.byteLength + zeros);
  let at = 0;
  for (const byte of key) {
    escaped[at++] = byte;
    if (byte === 0) escaped[at++] = 0xff;
  }
  return escaped;
}

/** The `hist` key of `key`'s version written at (revision, sub), for LevelDB calls (in Node's shared buffer pool). */
export function histKey(key: Uint8Array, revision: Index, sub: number): Uint8Array {
  const escaped = escapeKey(key);
  return new ByteWriter(escaped.byteLength + 2 + revisionBytes, 'pooled').raw(escaped).u8(0).u8(0).u64(revision).u32(sub).finish();
}

/** The `hist` key range holding every version of `key`. */
export function histVersionsRange(key: Uint8Array): { readonly gte: Uint8Array; readonly lt: Uint8Array } {
  const escaped = escapeKey(key);
  const gte = new ByteWriter(escaped.byteLength + 2).raw(escaped).u8(0).u8(0).finish();
  const lt = new ByteWriter(escaped.byteLength + 2).raw(escaped).u8(0).u8(1).finish();
  return { gte, lt };
}

/** Decodes a `hist` key; throws BinaryDecodeError on bytes histKey cannot have written. */
export function decodeHistKey(bytes: Uint8Array): HistKey {
  const end = bytes.byteLength - revisionBytes - 2;
  if (end < 0 || bytes[end] !== 0 || bytes[end + 1] !== 0) throw new BinaryDecodeError('history key: no key terminator');
  let zeros = 0;
  for (let i = 0; i < end; i++) {
    if (bytes[i] === 0) {
      if (bytes[i + 1] !== 0xff) throw new BinaryDecodeError('history key: a 00 byte not escaped');
      zeros++;
      i++;
    }
  }
  const key = new Uint8Array(end - zeros);
  for (let i = 0, at = 0; i < end; i++) {
    key[at++] = bytes[i] as number;
    if (bytes[i] === 0) i++;
  }
  const reader = new ByteReader(bytes.subarray(end + 2));
  return { key, revision: reader.u64('history key revision'), sub: reader.u32('history key sub') };
}

/**
 * The `hist` key range holding every version of the keys `selector` covers. The bounds escape
 * the user bounds: a prefix's escaped form prefixes exactly the escaped keys it prefixes.
 */
export function histSelectorRange(selector: KeySelector): KeyRange {
  switch (selector.kind) {
    case 'key':
      return histVersionsRange(selector.key);
    case 'prefix': {
      const escaped = escapeKey(selector.prefix);
      // The escape maps each byte to a word of a prefix-free code (x, 00 FF, and 00 00 for the
      // end), so a `hist` key starts with escape(prefix) exactly when its user key starts with
      // the prefix; the bound steps the escaped prefix as prefixRange does.
      for (let i = escaped.byteLength - 1; i >= 0; i--) {
        const byte = escaped[i] as number;
        if (byte < 0xff) {
          const lt = Uint8Array.from(escaped.subarray(0, i + 1));
          lt[i] = byte + 1;
          return { gte: escaped, lt };
        }
      }
      return { gte: escaped };
    }
    case 'interval': {
      const gte = histVersionsRange(selector.start).gte;
      return selector.end.byteLength === 0 ? { gte } : { gte, lt: histVersionsRange(selector.end).gte };
    }
    default:
      return assertNever(selector, 'key selector');
  }
}

/** The `revs` key of the write at (revision, sub), for LevelDB calls (in Node's shared buffer pool). */
export function revsKey(revision: Index, sub: number): Uint8Array {
  return new ByteWriter(revisionBytes, 'pooled').u64(revision).u32(sub).finish();
}

/** Decodes a `revs` key; throws BinaryDecodeError on bytes revsKey cannot have written. */
export function decodeRevsKey(bytes: Uint8Array): { readonly revision: Index; readonly sub: number } {
  if (bytes.byteLength !== revisionBytes) throw new BinaryDecodeError(`revision key: expected ${revisionBytes} bytes, got ${bytes.byteLength}`);
  const reader = new ByteReader(bytes);
  return { revision: reader.u64('revision key revision'), sub: reader.u32('revision key sub') };
}

/** The `revs` key range of every write from revision `from` on (the meta key sorts after it). */
export function revsFromRange(from: Index): KeyRange {
  return { gte: revsKey(from, 0), lt: historyMetaKey };
}

/**
 * The `revs` key of the history's metadata (history-meta.ts). Revision keys start with 00 (a
 * revision is below 2^53), so it sorts after every one of them.
 */
export const historyMetaKey = Uint8Array.from([0xff, ...new TextEncoder().encode('history-meta')]);

/** The `revs` key of the physical deletion's progress (history-meta.ts), beside historyMetaKey. */
export const historyPhysicalKey = Uint8Array.from([0xff, ...new TextEncoder().encode('history-physical')]);
