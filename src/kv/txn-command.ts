/**
 * Multi-key transactions (etcd's Txn): compares on several keys, then one list of operations if
 * every compare holds, else another, all applied at the entry's log index. Their types, limits
 * and the part of the command encoding they own (commands.ts frames it). A get with no option
 * (range-options.ts isPlainRange) is written as op 3, so logs without options decode as before:
 *
 *   txn (kind 6), after the session:
 *     compare count u16 | per compare: key u16 length + bytes | target u8 (1 value, 2 version,
 *       3 create, 4 mod, 5 lease) | result u8 (1 equal, 2 not-equal, 3 less, 4 greater) |
 *       value target: u32 length + bytes, others: u64
 *     success count u16 | ops, failure count u16 | ops
 *     op: kind u8, then put (1): key u16 length + bytes | value u32 length + bytes
 *                       put with a lease (4): as put (1) | lease u64 (not 0)
 *                       delete (2): selector
 *                       get (3): selector | limit u32 (0: rangeKeysMax)
 *                       get with options (5): as get (3) | sort target u8 (1 key, 2 version,
 *                         3 create, 4 mod, 5 value) | sort order u8 (1 none, 2 ascend,
 *                         3 descend) | flags u8 (1 keys only, 2 count only) | min mod u64 |
 *                         max mod u64 | min create u64 | max create u64 (0: no bound)
 *     selector: kind u8, then key (1): u16 length + bytes | prefix (2): u16 length + bytes
 *                             interval (3): start u16 length + bytes | end u16 length + bytes
 */
import type { Index } from '../raft/index.js';
import { assertNever } from '../raft/index.js';
import { BinaryDecodeError, type ByteReader, type ByteWriter } from '../shared/binary-codec.js';
import { InvalidArgumentError } from './errors.js';
import type { KeyValue } from './key-record.js';
import { isPlainRange, validateRangeOptions, type RangeOptions, type RangeSortOrder, type RangeSortTarget } from './range-options.js';

/** What a compare looks at. A key without a lease has lease 0. */
export type TxnCompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease';
export type TxnCompareResult = 'equal' | 'not-equal' | 'less' | 'greater';

/**
 * One compare of a transaction. An absent key has version, create and mod revision 0 and lease
 * 0; a compare on the value of an absent key never holds (etcd).
 */
export type TxnCompare =
  | { readonly key: Uint8Array; readonly target: 'value'; readonly result: TxnCompareResult; readonly value: Uint8Array }
  | { readonly key: Uint8Array; readonly target: Exclude<TxnCompareTarget, 'value'>; readonly result: TxnCompareResult; readonly number: number };

/** Which keys a delete or get inside a transaction covers. */
export type KeySelector =
  | { readonly kind: 'key'; readonly key: Uint8Array }
  /** Every key starting with `prefix` (empty: every key). */
  | { readonly kind: 'prefix'; readonly prefix: Uint8Array }
  /** Keys in [start, end); an empty `end` means to the end of the keyspace. */
  | { readonly kind: 'interval'; readonly start: Uint8Array; readonly end: Uint8Array };

/** One operation of a transaction's branch; each sees the writes of those before it. */
export type TxnOp =
  /** `lease`: attach the key to it (absent or 0: none, which detaches it from its old one). */
  | { readonly kind: 'put'; readonly key: Uint8Array; readonly value: Uint8Array; readonly lease?: number }
  | { readonly kind: 'delete'; readonly keys: KeySelector }
  /** `limit` 0 means rangeKeysMax; `options` absent: none (key order, every key, values). */
  | { readonly kind: 'get'; readonly keys: KeySelector; readonly limit: number; readonly options?: RangeOptions };

/** A transaction without its session (commands.ts's TxnCommand adds it). */
export interface TxnBody {
  readonly kind: 'txn';
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

/** The result of one operation, in the order of the branch that ran. */
export type TxnOpResult =
  /** As a put's result (commands.ts PutResult). */
  | { readonly kind: 'put'; readonly version: number; readonly modRevision: Index }
  | { readonly kind: 'delete-range'; readonly deleted: number }
  /** `count`: the keys that matched, before the limit (range-collector.ts RangeAnswer). */
  | { readonly kind: 'get'; readonly kvs: readonly KeyValue[]; readonly more: boolean; readonly count: number };

export interface TxnResult {
  readonly kind: 'txn';
  /** Whether every compare held (the success branch ran). */
  readonly succeeded: boolean;
  /** The entry's log index: the mod revision of every write of the transaction. */
  readonly revision: Index;
  readonly responses: readonly TxnOpResult[];
}

/** etcd's --max-txn-ops default: compares, and operations of each branch, per transaction. */
export const defaultTxnOpsMax = 128;
/** The most compares or operations of one branch the encoding carries (a u16 count). */
export const txnOpsFormatMax = 0xffff;
/** The most keys a get inside a transaction returns; the same as a Range's (state-machine.ts rangeKeysMax). */
export const txnGetKeysMax = 10_000;

/** Limits `validateTxn` checks. */
export interface TxnLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  /** Compares, and operations per branch; `--max-txn-ops` on the server. */
  readonly txnOpsMax: number;
}

/** Whether the transaction writes anything in either branch. */
export function txnWrites(command: TxnBody): boolean {
  return [...command.success, ...command.failure].some((op) => op.kind !== 'get');
}

/** Every single key the transaction names (compares, puts, single-key deletes and gets), for the apply's prefetch. */
export function txnKeys(command: TxnBody): Uint8Array[] {
  const keys = command.compare.map((compare) => compare.key);
  for (const op of [...command.success, ...command.failure]) {
    if (op.kind === 'put') keys.push(op.key);
    else if (op.keys.kind === 'key') keys.push(op.keys.key);
  }
  return keys;
}

/** Throws InvalidArgumentError naming the first field that breaks `limits` or a rule. */
export function validateTxn(command: TxnBody, limits: TxnLimits): void {
  for (const [field, list] of [['compare', command.compare], ['success', command.success], ['failure', command.failure]] as const) {
    if (list.length > limits.txnOpsMax) {
      throw new InvalidArgumentError(field, `at most ${limits.txnOpsMax} per transaction (max-txn-ops)`, `${list.length} given`);
    }
  }
  command.compare.forEach((compare, i) => {
    const field = `compare[${i}]`;
    checkBytes(`${field}.key`, compare.key, 1, limits.keyBytesMax);
    if (!(compare.result in resultByte)) throw new InvalidArgumentError(`${field}.result`, 'equal, not-equal, less or greater', `got ${String(compare.result)}`);
    switch (compare.target) {
      case 'value':
        checkBytes(`${field}.value`, compare.value, 0, limits.valueBytesMax);
        break;
      case 'version':
      case 'create':
      case 'mod':
      case 'lease':
        checkInteger(`${field}.number`, compare.number, 0, Number.MAX_SAFE_INTEGER);
        break;
      default:
        assertNever(compare, 'txn compare');
    }
  });
  for (const branch of ['success', 'failure'] as const) {
    command[branch].forEach((op, i) => validateOp(`${branch}[${i}]`, op, limits));
  }
}

function validateOp(field: string, op: TxnOp, limits: TxnLimits): void {
  switch (op.kind) {
    case 'put':
      checkBytes(`${field}.key`, op.key, 1, limits.keyBytesMax);
      checkBytes(`${field}.value`, op.value, 0, limits.valueBytesMax);
      if (op.lease !== undefined) checkInteger(`${field}.lease`, op.lease, 0, Number.MAX_SAFE_INTEGER);
      return;
    case 'delete':
      validateSelector(field, op.keys, limits.keyBytesMax);
      return;
    case 'get':
      validateSelector(field, op.keys, limits.keyBytesMax);
      checkInteger(`${field}.limit`, op.limit, 0, txnGetKeysMax);
      if (op.options !== undefined) validateRangeOptions(op.options, `${field}.`);
      return;
    default:
      assertNever(op, 'txn op');
  }
}

function validateSelector(field: string, keys: KeySelector, keyBytesMax: number): void {
  switch (keys.kind) {
    case 'key':
      checkBytes(`${field}.key`, keys.key, 1, keyBytesMax);
      return;
    case 'prefix':
      checkBytes(`${field}.prefix`, keys.prefix, 0, keyBytesMax);
      return;
    case 'interval':
      checkBytes(`${field}.key`, keys.start, 0, keyBytesMax);
      checkBytes(`${field}.rangeEnd`, keys.end, 0, keyBytesMax);
      if (keys.end.byteLength > 0 && Buffer.compare(keys.start, keys.end) >= 0) {
        throw new InvalidArgumentError(`${field}.rangeEnd`, 'must sort after key', 'it does not');
      }
      return;
    default:
      assertNever(keys, 'key selector');
  }
}

/** The bytes of the transaction after the session (see the file comment). */
export function writeTxn(writer: ByteWriter, command: TxnBody): void {
  writer.u16(command.compare.length);
  for (const compare of command.compare) {
    writer.bytes(compare.key, 'u16').u8(targetByte[compare.target]).u8(resultByte[compare.result]);
    if (compare.target === 'value') writer.bytes(compare.value, 'u32');
    else writer.u64(compare.number);
  }
  for (const branch of [command.success, command.failure]) {
    writer.u16(branch.length);
    for (const op of branch) writeOp(writer, op);
  }
}

/** The transaction after the session; throws BinaryDecodeError on bytes writeTxn cannot have written. */
export function readTxn(reader: ByteReader, formatLimits: { readonly keyBytesMax: number; readonly valueBytesMax: number }): TxnBody {
  const compare: TxnCompare[] = [];
  const compares = reader.u16('compare count');
  for (let i = 0; i < compares; i++) {
    const key = reader.bytes('u16', formatLimits.keyBytesMax, `compare[${i}].key`);
    const target = decodeEnum(targetByte, reader.u8(`compare[${i}].target`), `compare[${i}].target`);
    const result = decodeEnum(resultByte, reader.u8(`compare[${i}].result`), `compare[${i}].result`);
    compare.push(
      target === 'value'
        ? { key, target, result, value: reader.bytes('u32', formatLimits.valueBytesMax, `compare[${i}].value`) }
        : { key, target, result, number: reader.u64(`compare[${i}].number`) },
    );
  }
  const [success, failure] = (['success', 'failure'] as const).map((branch) => {
    const ops: TxnOp[] = [];
    const count = reader.u16(`${branch} count`);
    for (let i = 0; i < count; i++) ops.push(readOp(reader, `${branch}[${i}]`, formatLimits));
    return ops;
  }) as [TxnOp[], TxnOp[]];
  return { kind: 'txn', compare, success, failure };
}

/** The bytes of the transaction's keys and values, for sizing the encoder's buffer. */
export function txnPayloadBytes(command: TxnBody): number {
  let bytes = 0;
  for (const compare of command.compare) bytes += 16 + compare.key.byteLength + (compare.target === 'value' ? compare.value.byteLength : 0);
  for (const op of [...command.success, ...command.failure]) {
    bytes += 64;
    if (op.kind === 'put') bytes += op.key.byteLength + op.value.byteLength;
    else bytes += selectorBytes(op.keys);
  }
  return bytes;
}

const targetByte = { value: 1, version: 2, create: 3, mod: 4, lease: 5 } as const satisfies Record<TxnCompareTarget, number>;
const resultByte = { equal: 1, 'not-equal': 2, less: 3, greater: 4 } as const satisfies Record<TxnCompareResult, number>;
const opByte = { put: 1, delete: 2, get: 3 } as const satisfies Record<TxnOp['kind'], number>;
const selectorByte = { key: 1, prefix: 2, interval: 3 } as const satisfies Record<KeySelector['kind'], number>;

/** A put that names a lease (one without keeps op 1, so older logs decode as before). */
const leasedPutOpByte = 4;
/** A get with range options (one without keeps op 3). */
const optionedGetOpByte = 5;
const sortTargetByte = { key: 1, version: 2, create: 3, mod: 4, value: 5 } as const satisfies Record<RangeSortTarget, number>;
const sortOrderByte = { none: 1, ascend: 2, descend: 3 } as const satisfies Record<RangeSortOrder, number>;
const keysOnlyFlag = 1;
const countOnlyFlag = 2;

function writeOp(writer: ByteWriter, op: TxnOp): void {
  const leased = op.kind === 'put' && (op.lease ?? 0) !== 0;
  const optioned = op.kind === 'get' && op.options !== undefined && !isPlainRange(op.options);
  writer.u8(leased ? leasedPutOpByte : optioned ? optionedGetOpByte : opByte[op.kind]);
  switch (op.kind) {
    case 'put':
      writer.bytes(op.key, 'u16').bytes(op.value, 'u32');
      if (leased) writer.u64(op.lease ?? 0);
      return;
    case 'delete':
      writeSelector(writer, op.keys);
      return;
    case 'get':
      writeSelector(writer, op.keys);
      writer.u32(op.limit);
      if (optioned) writeRangeOptions(writer, op.options ?? {});
      return;
    default:
      assertNever(op, 'txn op');
  }
}

function writeRangeOptions(writer: ByteWriter, options: RangeOptions): void {
  writer.u8(sortTargetByte[options.sortTarget ?? 'key']).u8(sortOrderByte[options.sortOrder ?? 'none']);
  writer.u8((options.keysOnly === true ? keysOnlyFlag : 0) | (options.countOnly === true ? countOnlyFlag : 0));
  writer.u64(options.minModRevision ?? 0).u64(options.maxModRevision ?? 0).u64(options.minCreateRevision ?? 0).u64(options.maxCreateRevision ?? 0);
}

function readRangeOptions(reader: ByteReader, field: string): RangeOptions {
  const sortTarget = decodeEnum(sortTargetByte, reader.u8(`${field}.sortTarget`), `${field}.sortTarget`);
  const sortOrder = decodeEnum(sortOrderByte, reader.u8(`${field}.sortOrder`), `${field}.sortOrder`);
  const flags = reader.u8(`${field} flags`);
  if ((flags & ~(keysOnlyFlag | countOnlyFlag)) !== 0) throw new BinaryDecodeError(`${field} flags: unknown bits in ${flags}`);
  return {
    sortTarget,
    sortOrder,
    keysOnly: (flags & keysOnlyFlag) !== 0,
    countOnly: (flags & countOnlyFlag) !== 0,
    minModRevision: reader.u64(`${field}.minModRevision`),
    maxModRevision: reader.u64(`${field}.maxModRevision`),
    minCreateRevision: reader.u64(`${field}.minCreateRevision`),
    maxCreateRevision: reader.u64(`${field}.maxCreateRevision`),
  };
}

function writeSelector(writer: ByteWriter, keys: KeySelector): void {
  writer.u8(selectorByte[keys.kind]);
  switch (keys.kind) {
    case 'key':
      writer.bytes(keys.key, 'u16');
      return;
    case 'prefix':
      writer.bytes(keys.prefix, 'u16');
      return;
    case 'interval':
      writer.bytes(keys.start, 'u16').bytes(keys.end, 'u16');
      return;
    default:
      assertNever(keys, 'key selector');
  }
}

function readOp(reader: ByteReader, field: string, formatLimits: { readonly keyBytesMax: number; readonly valueBytesMax: number }): TxnOp {
  const byte = reader.u8(`${field} kind`);
  if (byte === leasedPutOpByte) {
    const key = reader.bytes('u16', formatLimits.keyBytesMax, `${field}.key`);
    const value = reader.bytes('u32', formatLimits.valueBytesMax, `${field}.value`);
    const lease = reader.u64(`${field}.lease`);
    if (lease === 0) throw new BinaryDecodeError(`${field}.lease: 0 in a put with a lease (written as op 1)`);
    return { kind: 'put', key, value, lease };
  }
  if (byte === optionedGetOpByte) {
    const keys = readSelector(reader, field, formatLimits.keyBytesMax);
    const limit = reader.u32(`${field}.limit`);
    return { kind: 'get', keys, limit, options: readRangeOptions(reader, field) };
  }
  const kind = decodeEnum(opByte, byte, `${field} kind`);
  switch (kind) {
    case 'put':
      return { kind, key: reader.bytes('u16', formatLimits.keyBytesMax, `${field}.key`), value: reader.bytes('u32', formatLimits.valueBytesMax, `${field}.value`) };
    case 'delete':
      return { kind, keys: readSelector(reader, field, formatLimits.keyBytesMax) };
    case 'get':
      return { kind, keys: readSelector(reader, field, formatLimits.keyBytesMax), limit: reader.u32(`${field}.limit`) };
    default:
      return assertNever(kind, 'txn op kind');
  }
}

function readSelector(reader: ByteReader, field: string, keyBytesMax: number): KeySelector {
  const kind = decodeEnum(selectorByte, reader.u8(`${field} selector`), `${field} selector`);
  switch (kind) {
    case 'key':
      return { kind, key: reader.bytes('u16', keyBytesMax, `${field}.key`) };
    case 'prefix':
      return { kind, prefix: reader.bytes('u16', keyBytesMax, `${field}.prefix`) };
    case 'interval':
      return { kind, start: reader.bytes('u16', keyBytesMax, `${field}.key`), end: reader.bytes('u16', keyBytesMax, `${field}.rangeEnd`) };
    default:
      return assertNever(kind, 'key selector kind');
  }
}

function decodeEnum<K extends string>(bytes: Readonly<Record<K, number>>, value: number, field: string): K {
  for (const [name, byte] of Object.entries(bytes) as [K, number][]) if (byte === value) return name;
  throw new BinaryDecodeError(`${field}: unknown value ${value}`);
}

function selectorBytes(keys: KeySelector): number {
  switch (keys.kind) {
    case 'key':
      return keys.key.byteLength;
    case 'prefix':
      return keys.prefix.byteLength;
    case 'interval':
      return keys.start.byteLength + keys.end.byteLength;
    default:
      return assertNever(keys, 'key selector');
  }
}

function checkBytes(field: string, bytes: Uint8Array, min: number, max: number): void {
  if (bytes.byteLength < min || bytes.byteLength > max) {
    throw new InvalidArgumentError(field, `${min}..${max} bytes`, `${bytes.byteLength} bytes`);
  }
}

function checkInteger(field: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `an integer from ${min} to ${max}`, `got ${value}`);
  }
}
