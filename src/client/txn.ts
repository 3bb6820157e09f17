/** The SDK's transactions (kv.proto Txn): their types, a small builder, and the wire conversions. */
import { InvalidArgumentError } from './errors.js';
import type { Bytes, KeyValue } from './key-value.js';
import { rangeOptionsToWire, type RangeOptions } from './range-options.js';

/** What a compare looks at: the value, or a number (version, create or mod revision, lease id; 0 for an absent key). */
export type TxnCompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease';
export type TxnCompareResult = 'equal' | 'not_equal' | 'less' | 'greater';

/**
 * One compare: the key's `target` compared to `value` by `result`. An absent key has version,
 * create and mod revision 0; a value compare on an absent key never holds.
 */
export type TxnCompare =
  | { readonly key: Bytes; readonly target: 'value'; readonly result: TxnCompareResult; readonly value: Bytes }
  | { readonly key: Bytes; readonly target: Exclude<TxnCompareTarget, 'value'>; readonly result: TxnCompareResult; readonly value: number };

/**
 * Keys of a delete or get: `key` alone; with `prefix: true` every key starting with it (an
 * empty key: every key); with `rangeEnd`, [key, rangeEnd) (rangeEnd "\0": to the end).
 */
export interface TxnKeys {
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  readonly prefix?: boolean;
}

/** One operation of a branch; each sees the writes of those before it. */
export type TxnOp =
  /** `lease`: attach the key to it (absent: none); a lease that does not exist fails the transaction (LeaseNotFoundError). */
  | { readonly put: { readonly key: Bytes; readonly value: Bytes; readonly lease?: number } }
  | { readonly delete: TxnKeys }
  /** `limit` 0 or absent: the server's maximum; the range options as client.range's. */
  | { readonly get: TxnKeys & RangeOptions & { readonly limit?: number } };

export interface TxnRequest {
  readonly compare?: readonly TxnCompare[];
  readonly success?: readonly TxnOp[];
  readonly failure?: readonly TxnOp[];
}

/** The result of one operation of the branch that ran, in order. */
export type TxnOpResult =
  | { readonly put: { readonly revision: number; readonly version: number } }
  | { readonly delete: { readonly deleted: number } }
  /** `count`: the keys that matched, whatever the limit (0 from a server older than counts). */
  | { readonly get: { readonly kvs: readonly KeyValue[]; readonly more: boolean; readonly count: number } };

export interface TxnResult {
  /** Every compare held: `success` ran (else `failure`). */
  readonly succeeded: boolean;
  /** The transaction's log index: the mod revision of each of its writes. */
  readonly revision: number;
  readonly responses: readonly TxnOpResult[];
}

/** Shorthands for compares and operations: `txnCompare.version('a', 'equal', 3)`, `txnOp.put('a', '1')`. */
export const txnCompare = {
  value: (key: Bytes, result: TxnCompareResult, value: Bytes): TxnCompare => ({ key, target: 'value', result, value }),
  version: (key: Bytes, result: TxnCompareResult, value: number): TxnCompare => ({ key, target: 'version', result, value }),
  create: (key: Bytes, result: TxnCompareResult, value: number): TxnCompare => ({ key, target: 'create', result, value }),
  mod: (key: Bytes, result: TxnCompareResult, value: number): TxnCompare => ({ key, target: 'mod', result, value }),
  lease: (key: Bytes, result: TxnCompareResult, value: number): TxnCompare => ({ key, target: 'lease', result, value }),
} as const;

export const txnOp = {
  put: (key: Bytes, value: Bytes, options: { lease?: number } = {}): TxnOp => ({ put: { key, value, ...(options.lease === undefined ? {} : { lease: options.lease }) } }),
  delete: (key: Bytes, options: { rangeEnd?: Bytes; prefix?: boolean } = {}): TxnOp => ({ delete: { key, ...options } }),
  get: (key: Bytes, options: RangeOptions & { rangeEnd?: Bytes; prefix?: boolean; limit?: number } = {}): TxnOp => ({ get: { key, ...options } }),
} as const;

const wireTargets = { value: 'VALUE', version: 'VERSION', create: 'CREATE', mod: 'MOD', lease: 'LEASE' } as const satisfies Record<TxnCompareTarget, string>;
const wireResults = { equal: 'EQUAL', not_equal: 'NOT_EQUAL', less: 'LESS', greater: 'GREATER' } as const satisfies Record<TxnCompareResult, string>;

/** The TxnRequest fields (without session); throws InvalidArgumentError naming the field on a malformed request. */
export function txnRequestToWire(request: TxnRequest, toBuffer: (value: Bytes) => Buffer): Record<string, unknown> {
  const compare = (request.compare ?? []).map((c, i) => {
    const target = wireTargets[c.target];
    const result = wireResults[c.result];
    if (target === undefined) throw new InvalidArgumentError(`compare[${i}].target`, `expected one of ${Object.keys(wireTargets).join(', ')}`);
    if (result === undefined) throw new InvalidArgumentError(`compare[${i}].result`, `expected one of ${Object.keys(wireResults).join(', ')}`);
    if (c.target === 'value') return { key: toBuffer(c.key), target, result, value: toBuffer(c.value) };
    if (!Number.isSafeInteger(c.value) || c.value < 0) throw new InvalidArgumentError(`compare[${i}].value`, `expected a non-negative integer for target ${c.target}`);
    return { key: toBuffer(c.key), target, result, number: c.value };
  });
  const ops = (branch: 'success' | 'failure'): Record<string, unknown>[] =>
    (request[branch] ?? []).map((op, i) => {
      if ('put' in op) {
        const lease = op.put.lease ?? 0;
        if (!Number.isSafeInteger(lease) || lease < 0) throw new InvalidArgumentError(`${branch}[${i}].put.lease`, `must be a lease id from 0 to ${Number.MAX_SAFE_INTEGER} (2^53-1), got ${String(op.put.lease)}`);
        return { put: { key: toBuffer(op.put.key), value: toBuffer(op.put.value), lease } };
      }
      if ('delete' in op) return { deleteRange: keysToWire(op.delete, toBuffer) };
      if ('get' in op) return { range: { ...keysToWire(op.get, toBuffer), limit: op.get.limit ?? 0, ...rangeOptionsToWire(op.get, `${branch}[${i}].get.`) } };
      throw new InvalidArgumentError(`${branch}[${i}]`, 'expected one of put, delete, get');
    });
  return { compare, success: ops('success'), failure: ops('failure') };
}

function keysToWire(keys: TxnKeys, toBuffer: (value: Bytes) => Buffer): Record<string, unknown> {
  return { key: toBuffer(keys.key), rangeEnd: keys.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(keys.rangeEnd), prefix: keys.prefix === true };
}

/** A TxnResponse as the SDK returns it. */
export function txnResultFromWire(response: Record<string, unknown>, toKeyValue: (raw: unknown) => KeyValue): TxnResult {
  const responses = ((response.responses as Record<string, unknown>[] | undefined) ?? []).map((raw): TxnOpResult => {
    const put = raw.put as { version: number; modRevision: number } | null | undefined;
    const deleted = raw.deleteRange as { deleted: number } | null | undefined;
    const range = raw.range as { kvs: unknown[]; more: boolean; count?: number } | null | undefined;
    if (put) return { put: { revision: put.modRevision, version: put.version } };
    if (deleted) return { delete: { deleted: deleted.deleted } };
    if (range) return { get: { kvs: range.kvs.map(toKeyValue), more: range.more, count: range.count ?? 0 } };
    throw new Error('a txn response without put, delete_range or range');
  });
  return { succeeded: response.succeeded as boolean, revision: response.revision as number, responses };
}
