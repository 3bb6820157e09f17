/** kv.proto's TxnRequest and TxnResponse, as proto-loader shapes them, to and from the state machine's transaction. */
import type { KeySelector, KeyValue, TxnCommand, TxnCompare, TxnCompareResult, TxnCompareTarget, TxnOp, TxnOpResult, TxnResult } from '../kv/index.js';
import { isPlainRange } from '../kv/index.js';
import { assertNever } from '../raft/index.js';
import { rangeOptionsFromWire, type WireRangeOptions } from './range-wire.js';
import { InvalidArgumentError } from '../shared/errors.js';

export interface WireCompare {
  key: Buffer;
  target: string;
  result: string;
  value: Buffer;
  number: number;
}

interface WireKeys {
  key: Buffer;
  rangeEnd: Buffer;
  prefix: boolean;
}

export interface WireTxnOp {
  request?: 'put' | 'deleteRange' | 'range';
  put?: { key: Buffer; value: Buffer; lease?: number } | null;
  deleteRange?: WireKeys | null;
  range?: (WireKeys & WireRangeOptions & { limit: number }) | null;
}

export interface WireTxnRequest {
  compare: WireCompare[];
  success: WireTxnOp[];
  failure: WireTxnOp[];
}

const targets: Readonly<Record<string, TxnCompareTarget>> = { VALUE: 'value', VERSION: 'version', CREATE: 'create', MOD: 'mod', LEASE: 'lease' };
const results: Readonly<Record<string, TxnCompareResult>> = { EQUAL: 'equal', NOT_EQUAL: 'not-equal', LESS: 'less', GREATER: 'greater' };

/**
 * The transaction a TxnRequest asks for, without its session. A range's limit of 0, or above
 * `rangeLimitMax`, becomes `rangeLimitMax`: the command carries the limit the apply uses, so
 * every replica applies the same one. Throws InvalidArgumentError naming the field.
 */
export function txnFromWire(request: WireTxnRequest, rangeLimitMax: number): TxnCommand {
  const compare = request.compare.map((wire, i): TxnCompare => {
    const target = targets[wire.target];
    const result = results[wire.result];
    if (target === undefined) throw new InvalidArgumentError(`compare[${i}].target`, `unknown target ${wire.target}`);
    if (result === undefined) throw new InvalidArgumentError(`compare[${i}].result`, `unknown result ${wire.result}`);
    return target === 'value' ? { key: wire.key, target, result, value: wire.value } : { key: wire.key, target, result, number: wire.number };
  });
  const ops = (branch: 'success' | 'failure'): TxnOp[] =>
    request[branch].map((wire, i): TxnOp => {
      const field = `${branch}[${i}]`;
      switch (wire.request) {
        case 'put':
          return { kind: 'put', key: wire.put?.key ?? Buffer.alloc(0), value: wire.put?.value ?? Buffer.alloc(0), ...leaseField(wire.put?.lease ?? 0) };
        case 'deleteRange':
          return { kind: 'delete', keys: selector(wire.deleteRange ?? null, `${field}.delete_range`) };
        case 'range': {
          const limit = wire.range?.limit ?? 0;
          const options = rangeOptionsFromWire(wire.range ?? {}, `${field}.range.`);
          return {
            kind: 'get',
            keys: selector(wire.range ?? null, `${field}.range`),
            limit: limit === 0 ? rangeLimitMax : Math.min(limit, rangeLimitMax),
            ...(isPlainRange(options) ? {} : { options }),
          };
        }
        case undefined:
          throw new InvalidArgumentError(`${field}.request`, 'one of put, delete_range, range is required');
        default:
          return assertNever(wire.request, 'txn op');
      }
    });
  return { kind: 'txn', compare, success: ops('success'), failure: ops('failure') };
}

/** etcd's range_end for "every key from `key` on". */
const toTheEnd = Buffer.from([0]);

function selector(wire: WireKeys | null, field: string): KeySelector {
  const keys = wire ?? { key: Buffer.alloc(0), rangeEnd: Buffer.alloc(0), prefix: false };
  if (keys.prefix) {
    if (keys.rangeEnd.byteLength > 0) throw new InvalidArgumentError(`${field}.range_end`, 'give prefix or range_end, not both');
    return { kind: 'prefix', prefix: keys.key };
  }
  if (keys.rangeEnd.byteLength === 0) {
    if (keys.key.byteLength === 0) throw new InvalidArgumentError(`${field}.key`, 'must not be empty (set prefix for every key)');
    return { kind: 'key', key: keys.key };
  }
  return { kind: 'interval', start: keys.key, end: keys.rangeEnd.equals(toTheEnd) ? Buffer.alloc(0) : keys.rangeEnd };
}

/** The TxnResponse fields of a result (the header is the caller's). */
export function txnResultToWire(result: TxnResult): { succeeded: boolean; revision: number; responses: Record<string, unknown>[] } {
  return { succeeded: result.succeeded, revision: result.revision, responses: result.responses.map(responseToWire) };
}

function responseToWire(response: TxnOpResult): Record<string, unknown> {
  switch (response.kind) {
    case 'put':
      return { put: { version: response.version, modRevision: response.modRevision } };
    case 'delete-range':
      return { deleteRange: { deleted: response.deleted } };
    case 'get':
      return { range: { kvs: response.kvs.map(wireKeyValue), more: response.more, count: response.count } };
    default:
      return assertNever(response, 'txn response');
  }
}

function wireKeyValue(kv: KeyValue): Record<string, unknown> {
  return { key: Buffer.from(kv.key), value: Buffer.from(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease ?? 0 };
}

/** A put's lease field as the command carries it: absent for 0 (none). */
export function leaseField(lease: number): { lease?: number } {
  return lease === 0 ? {} : { lease };
}
