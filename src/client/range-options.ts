/**
 * The SDK's range options (kv.proto RangeRequest fields 7..14; the same on a transaction's get):
 * an order, revision filters, and the answer's shape. Filters apply first, then the order, then
 * the limit; `count` in the answer is every key that passed the filters (etcd's count).
 */
import type { RangeSortOrder, RangeSortTarget } from '../kv/range-options.js';
import { InvalidArgumentError } from './errors.js';

/** 'none' (the default order): key order, or ascending by a target other than the key (etcd). */
export type { RangeSortOrder, RangeSortTarget };

export interface RangeOptions {
  /** The answer's order; ties by key (reversed when descending). Absent: key order ascending. */
  readonly sort?: { readonly target: RangeSortTarget; readonly order?: RangeSortOrder };
  /** Keys without values (every other field as usual). */
  readonly keysOnly?: boolean;
  /** No keys: only `count` (and `more` false). */
  readonly countOnly?: boolean;
  /** Inclusive bounds on the mod and create revisions of the keys returned and counted; absent or 0: none. */
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

const wireTargets = { key: 'KEY', version: 'VERSION', create: 'CREATE', mod: 'MOD', value: 'VALUE' } as const satisfies Record<RangeSortTarget, string>;
const wireOrders = { none: 'NONE', ascend: 'ASCEND', descend: 'DESCEND' } as const satisfies Record<RangeSortOrder, string>;
const revisionFields = ['minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision'] as const;

/**
 * The wire fields of `options` (for a RangeRequest or a TxnRange); throws InvalidArgumentError
 * naming the option (`${field}` before it) for an unknown target or order, a revision bound that
 * is not an integer from 0 to 2^53-1, or a min above its max.
 */
export function rangeOptionsToWire(options: RangeOptions, field = ''): Record<string, unknown> {
  const target = options.sort === undefined ? 'key' : options.sort.target;
  const order = options.sort?.order ?? 'none';
  if (!Object.hasOwn(wireTargets, target)) throw new InvalidArgumentError(`${field}sort.target`, `expected one of ${Object.keys(wireTargets).join(', ')}, got ${String(target)}`);
  if (!Object.hasOwn(wireOrders, order)) throw new InvalidArgumentError(`${field}sort.order`, `expected one of ${Object.keys(wireOrders).join(', ')}, got ${String(order)}`);
  const bounds: Record<string, number> = {};
  for (const name of revisionFields) {
    const value = options[name] ?? 0;
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${field}${name}`, `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${String(value)}`);
    bounds[name] = value;
  }
  for (const [min, max] of [['minModRevision', 'maxModRevision'], ['minCreateRevision', 'maxCreateRevision']] as const) {
    const low = bounds[min] as number;
    const high = bounds[max] as number;
    if (low !== 0 && high !== 0 && low > high) throw new InvalidArgumentError(`${field}${min}`, `must be at most ${max} (${high}), got ${low}`);
  }
  return { sortTarget: wireTargets[target], sortOrder: wireOrders[order], keysOnly: options.keysOnly === true, countOnly: options.countOnly === true, ...bounds };
}
