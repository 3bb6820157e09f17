/**
 * A key's state in the `kv` sublevel, and its stored form:
 *
 *   v1 | version u64 | createRevision u64 | modRevision u64 | value: the rest
 */
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import type { Index } from '../raft/index.js';

/** A present key (an absent key has no record). Revisions are log indexes. */
export interface KeyRecord {
  readonly value: Uint8Array;
  /** 1 when the key is created, +1 on every write. */
  readonly version: number;
  /** The index of the write that created the key since it was last absent. */
  readonly createRevision: Index;
  /** The index of the last write to the key. */
  readonly modRevision: Index;
}

/** A record with its key, as reads return it (proto KeyValue). */
export interface KeyValue extends KeyRecord {
  readonly key: Uint8Array;
}

const formatVersion = 1;
const headerBytes = 25;

/** How many bytes encodeKeyRecord writes for `record`. */
export function keyRecordBytes(record: KeyRecord): number {
  return headerBytes + record.value.byteLength;
}

/** The stored form of `record`, to be written or copied, not kept (in Node's shared buffer pool). */
export function encodeKeyRecord(record: KeyRecord): Uint8Array {
  return new ByteWriter(headerBytes + record.value.byteLength, 'pooled')
    .u8(formatVersion)
    .u64(record.version)
    .u64(record.createRevision)
    .u64(record.modRevision)
    .raw(record.value)
    .finish();
}

/**
 * Checks what decodeKeyRecord checks without copying the value (a snapshot validates every
 * record it receives; copies of large values would only be garbage). Throws BinaryDecodeError.
 */
export function checkKeyRecord(bytes: Uint8Array): void {
  decodeKeyRecord(bytes.subarray(0, Math.min(bytes.byteLength, keyRecordHeaderBytes)));
}

/** Format byte and three u64 fields, before the value. */
const keyRecordHeaderBytes = 25;

/** Throws BinaryDecodeError on bytes that encodeKeyRecord cannot have written. */
export function decodeKeyRecord(bytes: Uint8Array): KeyRecord {
  const reader = new ByteReader(bytes);
  const version = reader.u8('key record format version');
  if (version !== formatVersion) throw new BinaryDecodeError(`key record: unknown format version ${version}`);
  const record = {
    version: reader.u64('key record version'),
    createRevision: reader.u64('key record createRevision'),
    modRevision: reader.u64('key record modRevision'),
    value: reader.rest('key record value'),
  };
  if (record.version < 1 || record.createRevision < 1 || record.modRevision < record.createRevision) {
    throw new BinaryDecodeError(
      `key record: inconsistent version ${record.version}, createRevision ${record.createRevision}, modRevision ${record.modRevision}`,
    );
  }
  return record;
}
