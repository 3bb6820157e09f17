/**
 * The state machine's snapshot as it travels between nodes: a sequence of chunks, each a run of
 * whole records, so a receiver can decode and store every chunk on its own and never needs more
 * than one in memory.
 *
 *   record: kind u8 | key (u32 length + bytes) | value (u32 length + bytes)
 *   kind:   1 = a key of the keyspace (value: KeyRecord), 2 = a record of the sessions sublevel
 *           (a client session, value SessionState; or the session limits, key `session-limits`),
 *           3 = a record of the auth sublevel (key `state`, value the auth state, auth-state.ts);
 *           snapshots from before auth have none, and mean no users and auth disabled;
 *           4 = a record of the history's `hist` sublevel, 5 = of its `revs` sublevel (its
 *           metadata included; history-keys.ts); snapshots from before history have none, and
 *           start the receiver's history at the snapshot's index
 *           6 = a record of the lease sublevel (lease-table.ts); none before leases: no leases
 *
 * The applied index and term, and the membership, travel in the stream's header (the Raft
 * message), the checksum in its trailer (src/transport/snapshot-*.ts). Pure functions.
 */
import { checkKeyRecord } from './key-record.js';
import { decodeSessionLimits, decodeSessionState } from './session-codec.js';
import { decodeAuthState } from './auth-state.js';
import { decodeHistKey, decodeRevsKey, historyMetaKey, historyPhysicalKey } from './history-keys.js';
import { decodeHistoryMeta, decodePhysicalRevision } from './history-meta.js';
import { decodeLeaseRecord } from './lease-table.js';
import { authStateKey, clientIdOfSessionKey, sessionLimitsKey } from '../storage/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter, bytesEqual } from '../shared/binary-codec.js';

export { snapshotRecordFormat } from '../shared/snapshot-stream.js';

/** What a snapshot record is. */
export type SnapshotRecordKind = 'kv' | 'session' | 'auth' | 'hist' | 'revs' | 'lease';

export interface SnapshotRecord {
  readonly kind: SnapshotRecordKind;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

const kindCodes: Record<SnapshotRecordKind, number> = { kv: 1, session: 2, auth: 3, hist: 4, revs: 5, lease: 6 };
/**
 * Keys are at most 64 KiB (the command encoding); anything longer is not a snapshot of ours. A
 * `hist` key is a user key escaped (at most twice as long) plus 14 bytes.
 */
const keyBytesMax = 2 * 0xffff + 14;
/** The largest value a record may carry: a key record (value ≤ 16 MiB) or a session with its results. */
const valueBytesMax = 256 * 1024 * 1024;

/** The default size of a chunk: about 1 MiB of records (a record is never split). */
export const defaultSnapshotChunkBytes = 1024 * 1024;

/**
 * Packs records into chunks of about `chunkBytes`: `add` returns a chunk once the records
 * collected reach that size, `finish` returns what is left (or null if nothing).
 */
export class SnapshotChunker {
  private writer: ByteWriter;
  private size = 0;

  constructor(private readonly chunkBytes: number = defaultSnapshotChunkBytes) {
    if (!Number.isInteger(chunkBytes) || chunkBytes <= 0) throw new RangeError(`snapshot chunk bytes must be a positive integer, got ${chunkBytes}`);
    this.writer = new ByteWriter(chunkBytes + 4096);
  }

  add(record: SnapshotRecord): Uint8Array | null {
    this.writer.u8(kindCodes[record.kind]).bytes(record.key, 'u32').bytes(record.value, 'u32');
    this.size += 9 + record.key.byteLength + record.value.byteLength;
    return this.size >= this.chunkBytes ? this.take() : null;
  }

  finish(): Uint8Array | null {
    return this.size > 0 ? this.take() : null;
  }

  private take(): Uint8Array {
    const chunk = this.writer.finish();
    this.writer = new ByteWriter(this.chunkBytes + 4096);
    this.size = 0;
    return chunk;
  }
}

/**
 * The records of one chunk, each checked: a known kind, lengths within bounds, a session key,
 * and a value that decodes as what its kind says. Throws BinaryDecodeError naming the record, so
 * a garbled or hostile stream is refused before any of it is installed.
 */
export function decodeSnapshotChunk(chunk: Uint8Array): SnapshotRecord[] {
  const reader = new ByteReader(chunk);
  const records: SnapshotRecord[] = [];
  // Keys and values are views into the chunk, not copies: it stays alive while they are stored.
  const view = (length: number, field: string): Uint8Array => {
    const start = chunk.byteLength - reader.remainingBytes;
    reader.skip(length, field);
    return chunk.subarray(start, start + length);
  };
  while (reader.remainingBytes > 0) {
    const at = `snapshot record ${records.length}`;
    const code = reader.u8(`${at} kind`);
    const keyLength = reader.u32(`${at} key length`);
    if (keyLength > keyBytesMax) throw new BinaryDecodeError(`${at} key: ${keyLength} bytes exceeds the limit of ${keyBytesMax}`);
    const key = view(keyLength, `${at} key`);
    const valueLength = reader.u32(`${at} value length`);
    if (valueLength > valueBytesMax) throw new BinaryDecodeError(`${at} value: ${valueLength} bytes exceeds the limit of ${valueBytesMax}`);
    const value = view(valueLength, `${at} value`);
    if (code === kindCodes.kv) {
      if (key.byteLength === 0) throw new BinaryDecodeError(`${at}: empty key`);
      checkKeyRecord(value);
      records.push({ kind: 'kv', key, value });
    } else if (code === kindCodes.session) {
      if (bytesEqual(key, sessionLimitsKey)) decodeSessionLimits(value);
      else decodeSessionState(clientIdOfSessionKey(key), value);
      records.push({ kind: 'session', key, value });
    } else if (code === kindCodes.auth) {
      if (!bytesEqual(key, authStateKey)) throw new BinaryDecodeError(`${at}: an auth record's key must be "state"`);
      try {
        decodeAuthState(value);
      } catch (error) {
        throw new BinaryDecodeError(`${at}: auth state: ${(error as Error).message}`);
      }
      records.push({ kind: 'auth', key, value });
    } else if (code === kindCodes.hist) {
      decodeHistKey(key);
      if (value.byteLength > 0) checkKeyRecord(value);
      records.push({ kind: 'hist', key, value });
    } else if (code === kindCodes.revs) {
      if (bytesEqual(key, historyMetaKey)) decodeHistoryMeta(value);
      else if (bytesEqual(key, historyPhysicalKey)) decodePhysicalRevision(value);
      else if (value.byteLength === 0) throw new BinaryDecodeError(`${at}: a revision's key is empty`);
      else decodeRevsKey(key);
      records.push({ kind: 'revs', key, value });
    } else if (code === kindCodes.lease) {
      try {
        decodeLeaseRecord(key, value);
      } catch (error) {
        throw new BinaryDecodeError(`${at}: lease: ${(error as Error).message}`);
      }
      records.push({ kind: 'lease', key, value });
    } else {
      throw new BinaryDecodeError(`${at}: unknown kind ${code}`);
    }
  }
  return records;
}
