/**
 * The per-entry form of a Raft log entry, as storage format 3 stored it (the value under its
 * big-endian index key); format 4 stores chunks (log-chunk-codec.ts), and this is read only to
 * upgrade a format 3 directory (log-format-upgrade.ts):
 *
 *   term: u64 | type: u8 (0 = normal, 1 = conf-change) | data: the rest
 *
 * A conf-change entry's data is the core's own encoding (src/raft/conf-change-codec.ts), stored
 * as is.
 *
 * The index is the key, so it is not repeated. The chunk form uses the same type bytes. New entry types take new type bytes; an
 * unknown byte is corruption (or data from a newer raftkv), never guessed at.
 */
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import { assertNever, type Entry, type EntryType, type Index } from '../raft/index.js';

const entryHeaderBytes = 9;

/** The value stored for `entry`: for a LevelDB write only (in Node's shared buffer pool). */
export function encodeEntry(entry: Entry): Uint8Array {
  return new ByteWriter(entryHeaderBytes + entry.data.byteLength, 'pooled')
    .u64(entry.term)
    .u8(entryTypeByte(entry.type))
    .raw(entry.data)
    .finish();
}

/** The entry at `index` from its stored value; throws BinaryDecodeError if malformed. */
export function decodeEntry(index: Index, value: Uint8Array): Entry {
  const reader = new ByteReader(value);
  const term = reader.u64('entry term');
  const type = entryTypeOfByte(reader.u8('entry type'));
  return { index, term, type, data: reader.rest('entry data') };
}

/** The stored byte of an entry type (in both the per-entry and the chunk form). */
export function entryTypeByte(type: EntryType): number {
  switch (type) {
    case 'normal':
      return 0;
    case 'conf-change':
      return 1;
    default:
      return assertNever(type, 'entry type');
  }
}

/** The entry type of a stored byte; an unknown byte is a BinaryDecodeError. */
export function entryTypeOfByte(byte: number, field = 'entry type'): EntryType {
  if (byte === 0) return 'normal';
  if (byte === 1) return 'conf-change';
  throw new BinaryDecodeError(`${field}: unknown type byte ${byte}`);
}
