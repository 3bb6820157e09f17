/** Backups built in memory, for the tests of the file format, restore, and the CLI's refusals. */
import { createHash } from 'node:crypto';
import { BackupEncoder, SnapshotChunker, type BackupHeader } from '../../src/kv/index.js';
import { encodeKeyRecord } from '../../src/kv/key-record.js';

export const fixtureHeader: BackupHeader = { revision: 500, term: 3, recordFormat: 1, createdAtMs: 1_700_000_000_000, memberId: 'n2', clusterId: 'raftkv' };

/** `keys` keys key-0000.. with values of `valueBytes`, each last written at a revision up to the header's. */
export function fixtureKeys(keys: number, valueBytes = 40): { key: Buffer; value: Buffer; modRevision: number }[] {
  return Array.from({ length: keys }, (_, i) => ({
    key: Buffer.from(`key-${String(i).padStart(4, '0')}`),
    value: Buffer.from(`value-${i}-`.repeat(Math.ceil(valueBytes / 8)).slice(0, valueBytes)),
    modRevision: 1 + (i % fixtureHeader.revision),
  }));
}

/** The bytes of a valid backup of `fixtureKeys(keys)` in chunks of about `chunkBytes`. */
export function backupBytes(keys = 50, options: { chunkBytes?: number; valueBytes?: number; header?: BackupHeader } = {}): Buffer {
  const encoder = new BackupEncoder();
  const pieces: Uint8Array[] = [encoder.header(options.header ?? fixtureHeader)];
  const chunker = new SnapshotChunker(options.chunkBytes ?? 512);
  for (const { key, value, modRevision } of fixtureKeys(keys, options.valueBytes)) {
    const chunk = chunker.add({ kind: 'kv', key, value: encodeKeyRecord({ value, version: 1, createRevision: modRevision, modRevision }) });
    if (chunk !== null) pieces.push(...encoder.chunk(chunk));
  }
  const last = chunker.finish();
  if (last !== null) pieces.push(...encoder.chunk(last));
  pieces.push(encoder.trailer());
  return Buffer.concat(pieces);
}

/** `bytes` with the trailer's SHA-256 recomputed: for damage the checksum must not be what catches. */
export function withValidChecksum(bytes: Buffer): Buffer {
  const body = bytes.subarray(0, bytes.byteLength - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** The offset of the trailer's tag: 1 + 24 count bytes + 32 hash bytes before the end. */
export function trailerOffset(bytes: Buffer): number {
  return bytes.byteLength - 57;
}
