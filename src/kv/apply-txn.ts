import { leaseOf, type KeyRecord } from './key-record.js';
import { RangeCollector, type RangeAnswer } from './range-collector.js';
import { written } from './apply-command.js';
import { txnGetKeysMax, type KeySelector, type TxnBody, type TxnCompare, type TxnOp, type TxnOpResult, type TxnResult } from './txn-command.js';
import { assertNever, invariant, type Index } from '../raft/index.js';
import { bytesEqual } from '../shared/binary-codec.js';

/**
 * The keyspace as a transaction sees it in the middle of an apply batch: the stored state
 * overlaid by the batch's earlier writes and the transaction's own.
 */
export interface TxnKeyspace {
  /** A single key's record (null: absent); the key is one of txnKeys(command). */
  read(key: Uint8Array): KeyRecord | null;
  write(key: Uint8Array, record: KeyRecord | null): void;
  /** Gives every present key of `keys`, in key order, to `collector`, and returns its answer. */
  range(keys: KeySelector, collector: RangeCollector): Promise<RangeAnswer>;
  /** Every present key of `keys`, in key order, without their values (what a delete needs). */
  rangeKeys(keys: KeySelector): Promise<readonly Uint8Array[]>;
}

/** The most key and value bytes one get inside a transaction returns (as a Range's rangeBytesMax). */
export const txnGetBytesMax = 4 * 1024 * 1024;

/**
 * Applies a transaction at log index `index`: evaluates every compare, then runs the success
 * branch if all hold, else the failure branch, op by op, each op seeing the writes of those
 * before it. Every write gets mod revision `index`; a key written twice in one transaction gets
 * two versions at the same revision. Deterministic: every replica computes the same result from
 * the same keyspace.
 */
/** Whether every compare of `command` holds, so its success branch runs. */
export function txnSucceeds(command: TxnBody, read: (key: Uint8Array) => KeyRecord | null): boolean {
  return command.compare.every((compare) => txnCompareHolds(read(compare.key), compare));
}

export async function applyTxn(command: TxnBody, index: Index, keyspace: TxnKeyspace): Promise<TxnResult> {
  // 0 only for a read-only transaction read before anything was applied (readTxn).
  invariant(Number.isSafeInteger(index) && index >= 0, () => `txn apply at invalid index ${index}`);
  const succeeded = txnSucceeds(command, (key) => keyspace.read(key));
  const responses: TxnOpResult[] = [];
  for (const op of succeeded ? command.success : command.failure) responses.push(await applyOp(op, index, keyspace));
  return { kind: 'txn', succeeded, revision: index, responses };
}

/**
 * Whether a compare holds for the key's record (null: absent). An absent key has version,
 * create and mod revision 0 and lease 0, as has a key without a lease; a value compare
 * on an absent key never holds, whatever its result (etcd: a compare on a missing key's value
 * fails).
 */
export function txnCompareHolds(record: KeyRecord | null, compare: TxnCompare): boolean {
  if (compare.target === 'value') {
    if (record === null) return false;
    return resultHolds(Buffer.compare(record.value, compare.value), compare.result);
  }
  const actual = numberTarget(record, compare.target);
  return resultHolds(actual < compare.number ? -1 : actual > compare.number ? 1 : 0, compare.result);
}

function numberTarget(record: KeyRecord | null, target: Exclude<TxnCompare['target'], 'value'>): number {
  switch (target) {
    case 'version':
      return record?.version ?? 0;
    case 'create':
      return record?.createRevision ?? 0;
    case 'mod':
      return record?.modRevision ?? 0;
    case 'lease':
      return leaseOf(record);
    default:
      return assertNever(target, 'compare target');
  }
}

function resultHolds(order: number, result: TxnCompare['result']): boolean {
  switch (result) {
    case 'equal':
      return order === 0;
    case 'not-equal':
      return order !== 0;
    case 'less':
      return order < 0;
    case 'greater':
      return order > 0;
    default:
      return assertNever(result, 'compare result');
  }
}

async function applyOp(op: TxnOp, index: Index, keyspace: TxnKeyspace): Promise<TxnOpResult> {
  switch (op.kind) {
    case 'put': {
      const next = written(keyspace.read(op.key), op.value, index, op.lease ?? 0);
      keyspace.write(op.key, next);
      return { kind: 'put', version: next.version, modRevision: index };
    }
    case 'delete': {
      if (op.keys.kind === 'key') {
        const present = keyspace.read(op.keys.key) !== null;
        if (present) keyspace.write(op.keys.key, null);
        return { kind: 'delete-range', deleted: present ? 1 : 0 };
      }
      // Every key of the range, however many: a delete is not cut short (etcd's DeleteRange).
      const keys = await keyspace.rangeKeys(op.keys);
      for (const key of keys) keyspace.write(key, null);
      return { kind: 'delete-range', deleted: keys.length };
    }
    case 'get': {
      const collector = new RangeCollector(op.options ?? {}, op.limit === 0 ? txnGetKeysMax : op.limit, txnGetBytesMax);
      if (op.keys.kind === 'key') {
        const record = keyspace.read(op.keys.key);
        if (record !== null) collector.add({ key: op.keys.key, ...record });
        return { kind: 'get', ...collector.finish() };
      }
      return { kind: 'get', ...(await keyspace.range(op.keys, collector)) };
    }
    default:
      return assertNever(op, 'txn op');
  }
}

/** Whether `key` falls in `keys`. */
export function selectorContains(keys: KeySelector, key: Uint8Array): boolean {
  switch (keys.kind) {
    case 'key':
      return bytesEqual(keys.key, key);
    case 'prefix':
      return key.byteLength >= keys.prefix.byteLength && bytesEqual(key.subarray(0, keys.prefix.byteLength), keys.prefix);
    case 'interval':
      return Buffer.compare(key, keys.start) >= 0 && (keys.end.byteLength === 0 || Buffer.compare(key, keys.end) < 0);
    default:
      return assertNever(keys, 'key selector');
  }
}
