/**
 * The backup file `raftkv snapshot save` writes and `snapshot status` / `snapshot restore` read:
 * the keyspace of one node at one revision, as the snapshot stream carries it (chunks of whole
 * records, snapshot-format.ts), framed so that a truncated or damaged file is always detected.
 *
 *   magic    8 bytes "\x89RKVSNAP" (the high byte first, as PNG does: a text tool garbles it)
 *   version  u16: 1, the layout described here
 *   header   u32 length | revision u64 | term u64 | record format u32 | created at (unix ms) u64
 *            | member id (u8 length + UTF-8) | cluster id (u8 length + UTF-8)
 *   chunk    'D' | u32 length | records (snapshot-format.ts; keys and the auth state (users,
 *            roles), never client sessions; files from before auth hold keys only)
 *            ... any number of chunks
 *   trailer  'T' | chunks u64 | bytes u64 (of chunk data) | keys u64 | SHA-256 (32 bytes)
 *
 * and nothing after it. The SHA-256 covers every byte before it, header included, so a damaged
 * revision is caught like a damaged value. The revision is the log index the keyspace was read
 * at (and its term the term of that entry). Pure: the file I/O is in backup-file.ts.
 */
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { RaftKvError } from '../shared/errors.js';
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import { decodeSnapshotChunk, snapshotRecordFormat, type SnapshotRecord } from './snapshot-format.js';

/** What is wrong with a backup file; the CLI names it. */
export type BackupFileProblem =
  | 'not-found'
  | 'unreadable'
  /** The file (or its `.part`) cannot be written. */
  | 'unwritable'
  /** The first bytes are not a raftkv backup's. */
  | 'magic'
  /** A layout (or record format) this version does not read. */
  | 'version'
  /** The file ends before its trailer, or inside a frame. */
  | 'truncated'
  /** The SHA-256 in the trailer does not match the content. */
  | 'checksum'
  /** The trailer's counts disagree with the content. */
  | 'counts'
  /** A frame or record that cannot be what this layout says. */
  | 'malformed';

/** A backup file that cannot be used; `problem` says why, the message names the file and the spot. */
export class BackupFileError extends RaftKvError {
  override readonly name = 'BackupFileError';
  readonly code = 'INVALID_BACKUP';

  constructor(
    readonly problem: BackupFileProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where and when a backup was taken. */
export interface BackupHeader {
  /** The log index the keyspace was read at: every write up to it, none after. */
  readonly revision: number;
  /** The term of the entry at `revision`. */
  readonly term: number;
  /** The layout of the records (the snapshot stream's format). */
  readonly recordFormat: number;
  readonly createdAtMs: number;
  /** The node that streamed it, and its cluster's id. */
  readonly memberId: string;
  readonly clusterId: string;
}

/** What a whole, valid backup holds. */
export interface BackupSummary {
  readonly header: BackupHeader;
  readonly chunks: number;
  /** Bytes of record data (the chunks), as the snapshot stream counted them. */
  readonly bytes: number;
  readonly keys: number;
  /** The trailer's SHA-256, hex. */
  readonly sha256: string;
  /** The size of the whole file. */
  readonly fileBytes: number;
}

/** The layout version written after the magic. */
export const backupFileVersion = 1;
/** The record layout this version writes and reads. */
export const backupRecordFormat = snapshotRecordFormat;

const magic = Buffer.from([0x89, ...Buffer.from('RKVSNAP', 'latin1')]);
const chunkTag = 0x44; // 'D'
const trailerTag = 0x54; // 'T'
const headerBytesMax = 4096;
const shaBytes = 32;
/** Counts of the trailer after its tag: chunks, bytes, keys. */
const trailerCountBytes = 24;
/**
 * The largest chunk accepted: chunks are about --snapshot-chunk-bytes (at most 8 MiB) plus the
 * one record that crosses the line, and a record holds at most a 256 MiB value
 * (snapshot-format.ts). The length is also checked against what the file has left, so a damaged
 * length never makes the reader allocate more than the file holds.
 */
export const backupChunkBytesMax = 300 * 1024 * 1024;

/**
 * Builds a backup file piece by piece: `header`, then `chunk` for each chunk of records as the
 * snapshot stream delivers it (each is checked, and its keys counted, before it is framed), then
 * `trailer`. Each returns the bytes to append to the file, in order.
 */
export class BackupEncoder {
  private readonly hash: Hash = createHash('sha256');
  private chunks = 0;
  private bytes = 0;
  private keys = 0;
  private state: 'header' | 'chunks' | 'done' = 'header';

  header(header: BackupHeader): Uint8Array {
    if (this.state !== 'header') throw new Error('BackupEncoder: header() called twice');
    this.state = 'chunks';
    const body = new ByteWriter(64)
      .u64(header.revision)
      .u64(header.term)
      .u32(header.recordFormat)
      .u64(header.createdAtMs)
      .string(header.memberId, 'u8')
      .string(header.clusterId, 'u8')
      .finish();
    return this.hashed(new ByteWriter(body.byteLength + 14).raw(magic).u16(backupFileVersion).u32(body.byteLength).raw(body).finish());
  }

  /**
   * Frames one chunk of records. Throws BackupFileError ('malformed') for data that is not whole
   * records of the keyspace, so that a garbled stream never becomes a file that looks valid.
   */
  chunk(data: Uint8Array): Uint8Array[] {
    if (this.state !== 'chunks') throw new Error(`BackupEncoder: chunk() in state ${this.state}`);
    this.keys += countKeys(data, `chunk ${this.chunks}`);
    this.chunks += 1;
    this.bytes += data.byteLength;
    const prefix = this.hashed(new ByteWriter(5).u8(chunkTag).u32(data.byteLength).finish());
    this.hash.update(data);
    return [prefix, data];
  }

  /** The trailer: counts and the SHA-256 of everything before it. */
  trailer(): Uint8Array {
    if (this.state !== 'chunks') throw new Error(`BackupEncoder: trailer() in state ${this.state}`);
    this.state = 'done';
    const counts = this.hashed(new ByteWriter(1 + trailerCountBytes).u8(trailerTag).u64(this.chunks).u64(this.bytes).u64(this.keys).finish());
    return Buffer.concat([counts, this.hash.digest()]);
  }

  private hashed(bytes: Uint8Array): Uint8Array {
    this.hash.update(bytes);
    return bytes;
  }
}

/** Sequential reads from a backup: a file, or bytes in memory. */
export interface ByteSource {
  /** Bytes not read yet. */
  readonly remainingBytes: number;
  /** The next `length` bytes (never more than `remainingBytes`: callers check first). */
  read(length: number): Promise<Uint8Array>;
}

/** A ByteSource over bytes in memory. */
export function memorySource(bytes: Uint8Array): ByteSource {
  let offset = 0;
  return {
    get remainingBytes() {
      return bytes.byteLength - offset;
    },
    read(length) {
      const piece = bytes.subarray(offset, offset + length);
      offset += length;
      return Promise.resolve(piece);
    },
  };
}

/** What a reader of a backup is given as it validates: the header, then each chunk's records. */
export interface BackupVisitor {
  header?(header: BackupHeader): Promise<void> | void;
  /** Keys only; the chunk's bytes stay valid while the promise is pending. */
  records?(records: readonly SnapshotRecord[]): Promise<void> | void;
}

/**
 * Reads and checks a whole backup: magic, version, header, every chunk record by record, the
 * trailer's counts and SHA-256, and that nothing follows. Throws BackupFileError naming the
 * problem and where it was found (`name` is the file, for messages). The visitor sees data before
 * the checksum is known: anything it builds must be discarded if this throws.
 */
export async function readBackup(source: ByteSource, name: string, visitor: BackupVisitor = {}): Promise<BackupSummary> {
  const fileBytes = source.remainingBytes;
  const hash = createHash('sha256');
  let offset = 0;
  const fail = (problem: BackupFileProblem, message: string, cause?: unknown): never => {
    throw new BackupFileError(problem, `${name}: ${message}`, cause === undefined ? undefined : { cause });
  };
  const read = async (length: number, what: string): Promise<Uint8Array> => {
    if (source.remainingBytes < length) {
      fail('truncated', `truncated: ${what} at byte ${offset} needs ${length} bytes, the file has ${source.remainingBytes} left (${fileBytes} bytes in all)`);
    }
    const bytes = await source.read(length);
    hash.update(bytes);
    offset += length;
    return bytes;
  };

  const head = await source.read(Math.min(magic.byteLength, source.remainingBytes));
  hash.update(head);
  offset += head.byteLength;
  if (head.byteLength === 0) fail('truncated', 'truncated: the file is empty');
  if (Buffer.compare(Buffer.from(head), magic.subarray(0, head.byteLength)) !== 0) {
    fail('magic', 'not a raftkv snapshot file (wrong magic number in its first bytes)');
  }
  if (head.byteLength < magic.byteLength) fail('truncated', `truncated: the file has only ${fileBytes} bytes`);
  const version = new ByteReader(await read(2, 'the format version')).u16('version');
  if (version !== backupFileVersion) fail('version', `snapshot file format version ${version}; this raftkv reads version ${backupFileVersion}`);
  const headerLength = new ByteReader(await read(4, 'the header length')).u32('header length');
  if (headerLength > headerBytesMax) fail('malformed', `malformed: a header of ${headerLength} bytes (at most ${headerBytesMax})`);
  const header = decodeHeader(await read(headerLength, 'the header'), fail);
  if (header.recordFormat !== backupRecordFormat) fail('version', `records in format ${header.recordFormat}; this raftkv reads format ${backupRecordFormat}`);
  await visitor.header?.(header);

  let chunks = 0;
  let bytes = 0;
  let keys = 0;
  for (;;) {
    if (source.remainingBytes === 0) fail('truncated', `truncated: the file ends after ${chunks} chunks (${fileBytes} bytes) without its trailer`);
    const frameAt = offset;
    const tag = (await read(1, 'a frame tag'))[0];
    if (tag === chunkTag) {
      const length = new ByteReader(await read(4, `chunk ${chunks}'s length`)).u32('chunk length');
      if (length > backupChunkBytesMax) fail('malformed', `malformed: chunk ${chunks} at byte ${frameAt} claims ${length} bytes (at most ${backupChunkBytesMax})`);
      const data = await read(length, `chunk ${chunks}`);
      let records: SnapshotRecord[];
      try {
        records = decodeSnapshotChunk(data);
      } catch (error) {
        if (!(error instanceof BinaryDecodeError)) throw error;
        return fail('malformed', `malformed: chunk ${chunks} at byte ${frameAt}: ${error.message}`, error);
      }
      if (records.some((record) => record.kind === 'session')) fail('malformed', `malformed: chunk ${chunks} at byte ${frameAt} holds a client session; a backup holds only keys and users`);
      if (records.some(isHistoryRecord)) fail('malformed', `malformed: chunk ${chunks} at byte ${frameAt} holds revision history; a backup holds only keys and users`);
      await visitor.records?.(records);
      chunks += 1;
      bytes += length;
      keys += records.filter((record) => record.kind === 'kv').length;
      continue;
    }
    if (tag !== trailerTag) fail('malformed', `malformed: unknown frame tag 0x${(tag ?? 0).toString(16)} at byte ${frameAt} (after ${chunks} chunks)`);
    const countBytes = await read(trailerCountBytes, 'the trailer');
    const digest = hash.digest();
    if (source.remainingBytes < shaBytes) fail('truncated', `truncated: the trailer's SHA-256 needs ${shaBytes} bytes, the file has ${source.remainingBytes} left`);
    const expected = await source.read(shaBytes);
    if (!timingSafeEqual(expected, digest)) {
      fail('checksum', `checksum mismatch: the file's SHA-256 is ${digest.toString('hex')}, its trailer says ${Buffer.from(expected).toString('hex')}; the file is damaged`);
    }
    const said = decodeCounts(countBytes, fail);
    if (said.chunks !== chunks || said.bytes !== bytes || said.keys !== keys) {
      fail('counts', `counts mismatch: the trailer says ${said.chunks} chunks, ${said.bytes} bytes, ${said.keys} keys; the file holds ${chunks}, ${bytes}, ${keys}`);
    }
    if (source.remainingBytes > 0) fail('malformed', `malformed: ${source.remainingBytes} unexpected bytes after the trailer`);
    return { header, chunks, bytes, keys, sha256: digest.toString('hex'), fileBytes };
  }
}

function decodeCounts(bytes: Uint8Array, fail: (problem: BackupFileProblem, message: string, cause?: unknown) => never): { chunks: number; bytes: number; keys: number } {
  try {
    const reader = new ByteReader(bytes);
    return { chunks: reader.u64('trailer chunks'), bytes: reader.u64('trailer bytes'), keys: reader.u64('trailer keys') };
  } catch (error) {
    if (!(error instanceof BinaryDecodeError)) throw error;
    return fail('malformed', `malformed trailer: ${error.message}`, error);
  }
}

function decodeHeader(body: Uint8Array, fail: (problem: BackupFileProblem, message: string, cause?: unknown) => never): BackupHeader {
  try {
    const reader = new ByteReader(body);
    const header: BackupHeader = {
      revision: reader.u64('revision'),
      term: reader.u64('term'),
      recordFormat: reader.u32('record format'),
      createdAtMs: reader.u64('created at'),
      memberId: reader.string('u8', 0xff, 'member id'),
      clusterId: reader.string('u8', 0xff, 'cluster id'),
    };
    reader.end('header');
    if (header.revision > 0 && header.term === 0) throw new BinaryDecodeError(`revision ${header.revision} with term 0`);
    return header;
  } catch (error) {
    if (!(error instanceof BinaryDecodeError)) throw error;
    return fail('malformed', `malformed header: ${error.message}`, error);
  }
}

/** The keys in one chunk; throws BackupFileError for anything but whole key records. */
function countKeys(data: Uint8Array, what: string): number {
  let records: SnapshotRecord[];
  try {
    records = decodeSnapshotChunk(data);
  } catch (error) {
    if (!(error instanceof BinaryDecodeError)) throw error;
    throw new BackupFileError('malformed', `snapshot stream ${what}: ${error.message}`, { cause: error });
  }
  if (records.some((record) => record.kind === 'session')) throw new BackupFileError('malformed', `snapshot stream ${what} holds a client session; a backup holds only keys and users`);
  if (records.some(isHistoryRecord)) throw new BackupFileError('malformed', `snapshot stream ${what} holds revision history; a backup holds only keys and users`);
  return records.filter((record) => record.kind === 'kv').length;
}

/** A record of the revision history: a restored cluster starts its own (README "Revisions and history"). */
function isHistoryRecord(record: SnapshotRecord): boolean {
  return record.kind === 'hist' || record.kind === 'revs';
}
