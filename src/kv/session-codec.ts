/**
 * Stored forms of sessions in `sessions-g<N>` (keys in src/storage/keys.ts):
 *
 *   session: header (u32 length + bytes) | result count u32 | per result: sequence u64 | result (u32 length + bytes)
 *   header:  v1 | lastUsedIndex u64 | ackedSequence u64 | evictedThrough u64
 *   limits:  v1 | one u64 per limit, in sessionLimitNames order (key `session-limits`)
 *   result:  v1 | kind u8, then
 *              put (1):    version u64 | modRevision u64
 *              delete (2): deleted u8
 *              cas (3):    succeeded u8 | modRevision u64 | has-previous u8 | [KeyRecord, u32 length + bytes]
 *              txn (4):    succeeded u8 | revision u64 | response count u32 | per response: kind u8, then
 *                            put (1): version u64 | modRevision u64;  delete-range (2): deleted u64;
 *                            get (3): more u8 | kv count u32 | per kv: key u16 length + bytes | KeyRecord, u32 length + bytes
 *                            get with a count (4): more u8 | count u64 | then as get (3) from kv count
 *                          A get whose count is its kvs' (every match returned) is written as (3), as
 *                          before counts existed. One written before then with more set decodes
 *                          with count kvs + 1: a lower bound, only ever seen by a replay.
 *              lease-grant (5): id u64 | ttlSeconds u64;  lease-revoke (6): deleted u64
 *              lease-not-found (7): id u64;  lease-exists (8): id u64
 *              permission-denied (9): user u8 length + UTF-8 | need u8, then
 *                key (1): access u8 (1 read, 2 write) | key u16 length + bytes
 *                range (2): access u8 | start u16 length + bytes | has-end u8 | [end u16 length + bytes]
 *                root (3): what u16 length + UTF-8
 *              (added with format 3 commands, auth-recheck.ts: older sessions never hold it)
 */
import type { AppliedResult, PermissionDeniedResult } from './commands.js';
import type { PermissionDenial } from './auth-permissions.js';
import { decodeKeyRecord, encodeKeyRecord, keyRecordBytes, type KeyRecord, type KeyValue } from './key-record.js';
import type { TxnOpResult, TxnResult } from './txn-command.js';
import { sessionLimitNames, validateSessionLimits, type SessionLimits } from './session-limits.js';
import type { SessionHeader, SessionState } from './sessions.js';
import { assertNever } from '../raft/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';

const formatVersion = 1;
const keyRecordBytesMax = 0xffff_ffff;

const sessionHeaderBytes = 25;

export function encodeSessionHeader(header: SessionHeader): Uint8Array {
  return writeSessionHeader(new ByteWriter(sessionHeaderBytes), header).finish();
}

function writeSessionHeader(writer: ByteWriter, header: SessionHeader): ByteWriter {
  return writer.u8(formatVersion).u64(header.lastUsedIndex).u64(header.ackedSequence).u64(header.evictedThrough);
}

export function decodeSessionHeader(clientId: string, bytes: Uint8Array): SessionHeader {
  const reader = versioned(bytes, 'session header');
  const header = {
    clientId,
    lastUsedIndex: reader.u64('session lastUsedIndex'),
    ackedSequence: reader.u64('session ackedSequence'),
    evictedThrough: reader.u64('session evictedThrough'),
  };
  reader.end('session header');
  return header;
}

/**
 * A whole session, header and remembered results, as one record: a batch rewrites each session
 * it touched once, instead of writing and later deleting a record per result.
 */
export function encodeSessionState(state: SessionState): Uint8Array {
  // Sized exactly and written in one pass, into Node's pool (the record goes to LevelDB and is
  // dropped): a batch rewrites every session it touched, results and all, so a buffer per
  // result and the regrowth of the writer showed in CPU profiles under write load.
  let bytes = 4 + sessionHeaderBytes + 4;
  for (const result of state.results.values()) bytes += 8 + 4 + appliedResultBytes(result);
  const writer = new ByteWriter(bytes, 'pooled').u32(sessionHeaderBytes);
  writeSessionHeader(writer, state).u32(state.results.size);
  for (const [sequence, result] of state.results) writeAppliedResult(writer.u64(sequence).u32(appliedResultBytes(result)), result);
  return writer.finish();
}

export function decodeSessionState(clientId: string, bytes: Uint8Array): SessionState {
  const reader = new ByteReader(bytes);
  const header = decodeSessionHeader(clientId, reader.bytes('u32', bytes.byteLength, 'session header'));
  const count = reader.u32('session result count');
  const results = new Map<number, AppliedResult>();
  for (let i = 0; i < count; i++) {
    const sequence = reader.u64('result sequence');
    results.set(sequence, decodeAppliedResult(reader.bytes('u32', bytes.byteLength, 'result')));
  }
  reader.end('session');
  return { ...header, results };
}

/** The session limits the log set, as stored beside the sessions (and carried in snapshots). */
export function encodeSessionLimits(limits: SessionLimits): Uint8Array {
  const writer = new ByteWriter(1 + 8 * sessionLimitNames.length).u8(formatVersion);
  for (const name of sessionLimitNames) writer.u64(limits[name]);
  return writer.finish();
}

export function decodeSessionLimits(bytes: Uint8Array): SessionLimits {
  const reader = versioned(bytes, 'session limits');
  const limits = {} as { -readonly [K in keyof SessionLimits]: number };
  for (const name of sessionLimitNames) limits[name] = reader.u64(`session limits ${name}`);
  reader.end('session limits');
  try {
    validateSessionLimits(limits);
  } catch (error) {
    throw new BinaryDecodeError(`session limits: ${(error as Error).message}`);
  }
  return limits;
}

export function encodeAppliedResult(result: AppliedResult): Uint8Array {
  return writeAppliedResult(new ByteWriter(appliedResultBytes(result)), result).finish();
}

/** How many bytes encodeAppliedResult writes for `result`. */
function appliedResultBytes(result: AppliedResult): number {
  switch (result.kind) {
    case 'put':
      return 18;
    case 'delete':
      return 3;
    case 'cas':
      return 12 + (result.previous === null ? 0 : 4 + keyRecordBytes(result.previous));
    case 'txn':
      return 2 + txnResultBytes(result);
    case 'lease-grant':
      return 18;
    case 'lease-revoke':
    case 'lease-not-found':
    case 'lease-exists':
      return 10;
    case 'permission-denied':
      return 2 + permissionDeniedBytes(result);
    default:
      return assertNever(result, 'applied result');
  }
}

function writeAppliedResult(writer: ByteWriter, result: AppliedResult): ByteWriter {
  writer.u8(formatVersion);
  switch (result.kind) {
    case 'put':
      return writer.u8(1).u64(result.version).u64(result.modRevision);
    case 'delete':
      return writer.u8(2).u8(result.deleted ? 1 : 0);
    case 'cas':
      writer.u8(3).u8(result.succeeded ? 1 : 0).u64(result.modRevision).u8(result.previous === null ? 0 : 1);
      return result.previous === null ? writer : writer.bytes(encodeKeyRecord(result.previous), 'u32');
    case 'txn':
      writeTxnResult(writer.u8(4), result);
      return writer;
    case 'lease-grant':
      return writer.u8(5).u64(result.id).u64(result.ttlSeconds);
    case 'lease-revoke':
      return writer.u8(6).u64(result.deleted);
    case 'lease-not-found':
      return writer.u8(7).u64(result.id);
    case 'lease-exists':
      return writer.u8(8).u64(result.id);
    case 'permission-denied':
      writePermissionDenied(writer.u8(9), result);
      return writer;
    default:
      return assertNever(result, 'applied result');
  }
}

export function decodeAppliedResult(bytes: Uint8Array): AppliedResult {
  const reader = versioned(bytes, 'result');
  const kind = reader.u8('result kind');
  let result: AppliedResult;
  switch (kind) {
    case 1:
      result = { kind: 'put', version: reader.u64('put version'), modRevision: reader.u64('put modRevision') };
      break;
    case 2:
      result = { kind: 'delete', deleted: reader.boolean('delete deleted') };
      break;
    case 3: {
      const succeeded = reader.boolean('cas succeeded');
      const modRevision = reader.u64('cas modRevision');
      const previous: KeyRecord | null = reader.boolean('cas has previous')
        ? decodeKeyRecord(reader.bytes('u32', keyRecordBytesMax, 'cas previous'))
        : null;
      result = { kind: 'cas', succeeded, previous, modRevision };
      break;
    }
    case 4:
      result = readTxnResult(reader);
      break;
    case 5:
      result = { kind: 'lease-grant', id: reader.u64('lease-grant id'), ttlSeconds: reader.u64('lease-grant ttlSeconds') };
      break;
    case 6:
      result = { kind: 'lease-revoke', deleted: reader.u64('lease-revoke deleted') };
      break;
    case 7:
      result = { kind: 'lease-not-found', id: reader.u64('lease-not-found id') };
      break;
    case 8:
      result = { kind: 'lease-exists', id: reader.u64('lease-exists id') };
      break;
    case 9:
      result = readPermissionDenied(reader);
      break;
    default:
      throw new BinaryDecodeError(`result kind: unknown kind ${kind}`);
  }
  reader.end('result');
  return result;
}

const accessCodes = { read: 1, write: 2 } as const;

/** How many bytes writePermissionDenied writes for `result`. */
function permissionDeniedBytes(result: PermissionDeniedResult): number {
  const userBytes = 1 + Buffer.byteLength(result.user, 'utf8') + 1;
  const denial = result.denial;
  switch (denial.need) {
    case 'key':
      return userBytes + 1 + 2 + denial.key.byteLength;
    case 'range':
      return userBytes + 1 + 2 + denial.interval.start.byteLength + 1 + (denial.interval.end === null ? 0 : 2 + denial.interval.end.byteLength);
    case 'root':
      return userBytes + 2 + Buffer.byteLength(denial.what, 'utf8');
    default:
      return assertNever(denial, 'permission denial');
  }
}

function writePermissionDenied(writer: ByteWriter, result: PermissionDeniedResult): void {
  writer.string(result.user, 'u8');
  const denial = result.denial;
  switch (denial.need) {
    case 'key':
      writer.u8(1).u8(accessCodes[denial.access]).bytes(denial.key, 'u16');
      return;
    case 'range':
      writer.u8(2).u8(accessCodes[denial.access]).bytes(denial.interval.start, 'u16').u8(denial.interval.end === null ? 0 : 1);
      if (denial.interval.end !== null) writer.bytes(denial.interval.end, 'u16');
      return;
    case 'root':
      writer.u8(3).string(denial.what, 'u16');
      return;
    default:
      assertNever(denial, 'permission denial');
  }
}

function readPermissionDenied(reader: ByteReader): PermissionDeniedResult {
  const user = reader.string('u8', 0xff, 'permission-denied user');
  const need = reader.u8('permission-denied need');
  const access = (): 'read' | 'write' => {
    const code = reader.u8('permission-denied access');
    if (code === accessCodes.read) return 'read';
    if (code === accessCodes.write) return 'write';
    throw new BinaryDecodeError(`permission-denied access: unknown code ${code}`);
  };
  let denial: PermissionDenial;
  if (need === 1) {
    denial = { need: 'key', access: access(), key: reader.bytes('u16', 0xffff, 'permission-denied key') };
  } else if (need === 2) {
    const wanted = access();
    const start = reader.bytes('u16', 0xffff, 'permission-denied start');
    const end = reader.boolean('permission-denied has end') ? reader.bytes('u16', 0xffff, 'permission-denied end') : null;
    denial = { need: 'range', access: wanted, interval: { start, end } };
  } else if (need === 3) {
    denial = { need: 'root', what: reader.string('u16', 0xffff, 'permission-denied what') };
  } else {
    throw new BinaryDecodeError(`permission-denied need: unknown kind ${need}`);
  }
  return { kind: 'permission-denied', user, denial };
}

/** How many bytes writeTxnResult writes for `result` (a session record's length prefix must be exact). */
function txnResultBytes(result: TxnResult): number {
  let bytes = 1 + 8 + 4;
  for (const response of result.responses) {
    switch (response.kind) {
      case 'put':
        bytes += 17;
        break;
      case 'delete-range':
        bytes += 9;
        break;
      case 'get':
        bytes += countWritten(response) ? 14 : 6;
        for (const kv of response.kvs) bytes += 2 + kv.key.byteLength + 4 + keyRecordBytes(kv);
        break;
      default:
        return assertNever(response, 'txn response');
    }
  }
  return bytes;
}

function writeTxnResult(writer: ByteWriter, result: TxnResult): void {
  writer.u8(result.succeeded ? 1 : 0).u64(result.revision).u32(result.responses.length);
  for (const response of result.responses) {
    switch (response.kind) {
      case 'put':
        writer.u8(1).u64(response.version).u64(response.modRevision);
        break;
      case 'delete-range':
        writer.u8(2).u64(response.deleted);
        break;
      case 'get':
        if (countWritten(response)) writer.u8(4).u8(response.more ? 1 : 0).u64(response.count);
        else writer.u8(3).u8(0);
        writer.u32(response.kvs.length);
        for (const kv of response.kvs) writer.bytes(kv.key, 'u16').bytes(encodeKeyRecord(kv), 'u32');
        break;
      default:
        assertNever(response, 'txn response');
    }
  }
}

/** Whether a get's result needs its count written (4): unless every match was returned, it does. */
function countWritten(response: TxnOpResult & { kind: 'get' }): boolean {
  return response.more || response.count !== response.kvs.length;
}

function readTxnResult(reader: ByteReader): TxnResult {
  const succeeded = reader.boolean('txn succeeded');
  const revision = reader.u64('txn revision');
  const count = reader.u32('txn response count');
  const responses: TxnOpResult[] = [];
  for (let i = 0; i < count; i++) {
    const kind = reader.u8('txn response kind');
    if (kind === 1) responses.push({ kind: 'put', version: reader.u64('txn put version'), modRevision: reader.u64('txn put modRevision') });
    else if (kind === 2) responses.push({ kind: 'delete-range', deleted: reader.u64('txn delete deleted') });
    else if (kind === 3 || kind === 4) {
      const more = reader.boolean('txn get more');
      const matched = kind === 4 ? reader.u64('txn get matched') : null;
      const kvCount = reader.u32('txn get count');
      const kvs: KeyValue[] = [];
      for (let k = 0; k < kvCount; k++) {
        const key = reader.bytes('u16', 0xffff, 'txn get key');
        kvs.push({ key, ...decodeKeyRecord(reader.bytes('u32', keyRecordBytesMax, 'txn get record')) });
      }
      responses.push({ kind: 'get', kvs, more, count: matched ?? kvs.length + (more ? 1 : 0) });
    } else throw new BinaryDecodeError(`txn response kind: unknown kind ${kind}`);
  }
  return { kind: 'txn', succeeded, revision, responses };
}

function versioned(bytes: Uint8Array, what: string): ByteReader {
  const reader = new ByteReader(bytes);
  const version = reader.u8(`${what} version`);
  if (version !== formatVersion) throw new BinaryDecodeError(`${what}: unknown format version ${version}`);
  return reader;
}
