/**
 * The stored form of a log chunk: the entries of one save, under the key of its first index
 * (keys.ts, `raft-log`). The value:
 *
 *   count: u32 | count × (term: u64 | type: u8 (entry-codec.ts) | data length: u32 | data)
 *
 * Indexes are not stored: the i-th entry has index first + i. There is no checksum (LevelDB
 * checksums its blocks), but every length is checked against what is left, so a malformed
 * chunk is a BinaryDecodeError naming the entry and byte offset, never a misread log.
 */
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import type { Entry, Index } from '../raft/index.js';
import { entryTypeByte, entryTypeOfByte } from './entry-codec.js';

const countBytes = 4;
/** term u64, type u8, data length u32. */
const entryHeaderBytes = 13;

/**
 * A chunk's size bound: a save of more bytes is split into several chunks, so that no record is
 * huge (LevelDB copies a record whole into its memtable and table files). An entry larger than
 * this is a chunk of its own.
 */
export const chunkBytesMax = 4 * 1024 * 1024;

/** The bytes `entry` adds to a chunk. */
export function chunkEntryBytes(entry: Entry): number {
  return entryHeaderBytes + entry.data.byteLength;
}

/**
 * Splits contiguous `entries` into runs of at most `bytesMax` encoded bytes each (an entry
 * alone above it stays alone).
 */
export function splitIntoChunks(entries: readonly Entry[], bytesMax: number = chunkBytesMax): Entry[][] {
  const chunks: Entry[][] = [];
  let current: Entry[] = [];
  let bytes = countBytes;
  for (const entry of entries) {
    const size = chunkEntryBytes(entry);
    if (current.length > 0 && bytes + size > bytesMax) {
      chunks.push(current);
      current = [];
      bytes = countBytes;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The value stored for a chunk of contiguous `entries` (at least one): for a LevelDB write only (pooled). */
export function encodeChunk(entries: readonly Entry[]): Uint8Array {
  let total = countBytes;
  for (const entry of entries) total += chunkEntryBytes(entry);
  const writer = new ByteWriter(total, 'pooled').u32(entries.length);
  for (const entry of entries) {
    writer.u64(entry.term).u8(entryTypeByte(entry.type)).u32(entry.data.byteLength).raw(entry.data);
  }
  return writer.finish();
}

/**
 * The entries of the chunk whose first index is `first`, from its stored value. Throws
 * BinaryDecodeError naming the entry and offset when the value is malformed: an empty chunk, a
 * length beyond the value, trailing bytes, an unknown type byte.
 */
export function decodeChunk(first: Index, value: Uint8Array): Entry[] {
  const reader = new ByteReader(value);
  const count = reader.u32('chunk entry count');
  if (count === 0) throw new BinaryDecodeError('chunk entry count: 0 (a chunk holds at least one entry)');
  // Each entry takes at least its header: a count the value cannot hold is corruption, caught
  // before an array of that size is made.
  if (count * entryHeaderBytes > reader.remainingBytes) {
    throw new BinaryDecodeError(`chunk entry count: ${count} entries need at least ${count * entryHeaderBytes} bytes, ${reader.remainingBytes} left`);
  }
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const offset = value.byteLength - reader.remainingBytes;
    const field = `chunk entry ${i} (index ${first + i}) at offset ${offset}`;
    const term = reader.u64(`${field} term`);
    const type = entryTypeOfByte(reader.u8(`${field} type`), `${field} type`);
    const length = reader.u32(`${field} data length`);
    if (length > reader.remainingBytes) {
      throw new BinaryDecodeError(`${field} data length: ${length} bytes, ${reader.remainingBytes} left`);
    }
    entries.push({ index: first + i, term, type, data: reader.raw(length, `${field} data`) });
  }
  reader.end(`chunk at ${first} of ${count} entries`);
  return entries;
}
