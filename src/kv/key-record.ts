/**
 * A key's state in the `kv` sublevel, and its stored form:
 *
 *   v1 | version u64 | createRevision u64 | modRevision u64 | value: the rest
 *   v2 | version u64 | createRevision u64 | modRevision u64 | lease u64 (not 0) | value: the rest
 *
 * A key without a lease is still written as v1, so data without leases is byte for byte what it
 * was before leases existed (and hashes the same); v1 decodes as lease 0.
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
  /** The lease the key is attached to (lease-table.ts); absent or 0: none. */
  readonly lease?: number;
}

/** A record with its key, as reads return it (proto KeyValue). */
export interface KeyValue extends KeyRecord {
  readonly key: Uint8Array;
}

const formatVersion = 1;
/** With a lease. */
const leaseFormatVersion = 2;
const headerBytes = 25;

/** How many bytes encodeKeyRecord writes for `record`. */
export function keyRecordBytes(record: KeyRecord): number {
  return headerBytes + (hasLease(record) ? 8 : 0) + record.value.byteLength;
}

/** The stored form of `record`, to be written or copied, not kept (in Node's shared buffer pool). */
export function encodeKeyRecord(record: KeyRecord): Uint8Array {
  const leased = hasLease(record);
  const writer = new ByteWriter(keyRecordBytes(record), 'pooled')
    .u8(leased ? leaseFormatVersion : formatVersion)
    .u64(record.version)
    .u64(record.createRevision)
    .u64(record.modRevision);
  if (leased) writer.u64(record.lease ?? 0);
  return writer.raw(record.value).finish();
}

/** The lease `record` is attached to; 0: none. */
export function leaseOf(record: KeyRecord | null): number {
  return record?.lease ?? 0;
}

function hasLease(record: KeyRecord): boolean {
  return record.lease !== undefined && record.lease !== 0;
}

/**
 * Checks what decodeKeyRecord checks without copying the value (a snapshot validates every
 * record it receives; copies of large values would only be garbage). Throws BinaryDecodeError.
 */
export function checkKeyRecord(bytes: Uint8Array): void {
  decodeKeyRecord(bytes.subarray(0, Math.min(bytes.byteLength, keyRecordHeaderBytes)));
}

/** Format byte and up to four u64 fields, before the value. */
const keyRecordHeaderBytes = 33;

/** Throws BinaryDecodeError on bytes that encodeKeyRecord cannot have written. */
export function decodeKeyRecord(bytes: Uint8Array): KeyRecord {
  const reader = new ByteReader(bytes);
  const version = reader.u8('key record format version');
  if (version !== formatVersion && version !== leaseFormatVersion) throw new BinaryDecodeError(`key record: unknown format version ${version}`);
  const fields = {
    version: reader.u64('key record version'),
    createRevision: reader.u64('key record createRevision'),
    modRevision: reader.u64('key record modRevision'),
  };
  let record: KeyRecord;
  if (version === leaseFormatVersion) {
    const lease = reader.u64('key record lease');
    if (lease === 0) throw new BinaryDecodeError('key record: lease 0 in a format 2 record (written as format 1)');
    record = { ...fields, lease, value: reader.rest('key record value') };
  } else {
    record = { ...fields, value: reader.rest('key record value') };
  }
  if (record.version < 1 || record.createRevision < 1 || record.modRevision < record.createRevision) {
    throw new BinaryDecodeError(
      `key record: inconsistent version ${record.version}, createRevision ${record.createRevision}, modRevision ${record.modRevision}`,
    );
  }
  return record;
}
