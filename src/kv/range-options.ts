/**
 * What a range read may ask beyond its keys and limit, as etcd's RangeRequest: an order
 * (sort_target, sort_order), filters on create and mod revisions, and the answer's shape
 * (keys_only, count_only). One definition for Range, Txn gets and the SDK's server side.
 *
 * Semantics (etcd 3.4's): the filters apply first, then the order, then the limit. `count` is
 * the number of keys that pass the filters, before the limit (etcd 3.4 counts before its
 * revision filters; here the filters count too, so that `count > kvs.length` means exactly that
 * more matched). Key order ascending needs no sort: it is the order keys are read in. Any
 * other order needs every match seen first; `RangeCollector` keeps only the best `keysMax`
 * (and about `bytesMax` bytes) of them while it reads, so memory stays bounded by the answer's
 * own limits however many keys match.
 */
import { assertNever } from '../raft/index.js';
import { InvalidArgumentError } from './errors.js';
import type { KeyValue } from './key-record.js';

export type RangeSortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';
/** 'none': key order ascending, or ascending by the target when it is not the key (etcd). */
export type RangeSortOrder = 'none' | 'ascend' | 'descend';

/** Every field optional; absent (or 0 for a revision bound) means "not asked", as etcd's zero values. */
export interface RangeOptions {
  readonly sortTarget?: RangeSortTarget;
  readonly sortOrder?: RangeSortOrder;
  /** Return keys without values (every other field as usual). */
  readonly keysOnly?: boolean;
  /** Return no keys, only `count`. */
  readonly countOnly?: boolean;
  /** Bounds, inclusive, on the keys returned and counted; 0: no bound. */
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export const rangeSortTargets: readonly RangeSortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
export const rangeSortOrders: readonly RangeSortOrder[] = ['none', 'ascend', 'descend'];

/** The bounds of RangeOptions, in the order validateRangeOptions checks them. */
const revisionBounds = [
  ['minModRevision', 'maxModRevision'],
  ['minCreateRevision', 'maxCreateRevision'],
] as const;

/**
 * Throws InvalidArgumentError naming the first field (`${fieldPrefix}${name}`) that is not a
 * valid option: an unknown target or order, a revision bound that is not a non-negative safe
 * integer, or a min above its max (both set). `names` maps the option to the caller's field name
 * (the wire's snake_case, say); absent, the option's own name is used.
 */
export function validateRangeOptions(options: RangeOptions, fieldPrefix = '', names: Partial<Record<keyof RangeOptions, string>> = {}): void {
  const field = (name: keyof RangeOptions): string => `${fieldPrefix}${names[name] ?? name}`;
  if (options.sortTarget !== undefined && !rangeSortTargets.includes(options.sortTarget)) {
    throw new InvalidArgumentError(field('sortTarget'), `one of ${rangeSortTargets.join(', ')}`, `got ${String(options.sortTarget)}`);
  }
  if (options.sortOrder !== undefined && !rangeSortOrders.includes(options.sortOrder)) {
    throw new InvalidArgumentError(field('sortOrder'), `one of ${rangeSortOrders.join(', ')}`, `got ${String(options.sortOrder)}`);
  }
  for (const [minName, maxName] of revisionBounds) {
    const min = options[minName] ?? 0;
    const max = options[maxName] ?? 0;
    for (const [name, value] of [[minName, min], [maxName, max]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(field(name), `an integer from 0 to ${Number.MAX_SAFE_INTEGER}`, `got ${String(value)}`);
    }
    if (min !== 0 && max !== 0 && min > max) throw new InvalidArgumentError(field(minName), `at most ${field(maxName)} (${max})`, `got ${min}`);
  }
}

/** Whether the options ask for nothing: the answer is the plain key-ordered range. */
export function isPlainRange(options: RangeOptions): boolean {
  return effectiveOrder(options) === null && options.keysOnly !== true && options.countOnly !== true && !hasRangeFilters(options);
}

/** Whether any revision filter is set (else every key of the range matches). */
export function hasRangeFilters(options: RangeOptions): boolean {
  return (options.minModRevision ?? 0) !== 0 || (options.maxModRevision ?? 0) !== 0 || (options.minCreateRevision ?? 0) !== 0 || (options.maxCreateRevision ?? 0) !== 0;
}

/** Whether a key passes the options' revision filters. */
export function passesRangeFilters(kv: KeyValue, options: RangeOptions): boolean {
  const { minModRevision = 0, maxModRevision = 0, minCreateRevision = 0, maxCreateRevision = 0 } = options;
  if (minModRevision !== 0 && kv.modRevision < minModRevision) return false;
  if (maxModRevision !== 0 && kv.modRevision > maxModRevision) return false;
  if (minCreateRevision !== 0 && kv.createRevision < minCreateRevision) return false;
  if (maxCreateRevision !== 0 && kv.createRevision > maxCreateRevision) return false;
  return true;
}

/**
 * The order the answer is sorted in, or null for key order ascending (the order of reading).
 * As etcd: order 'none' with a target other than the key sorts ascending by the target.
 */
export function effectiveOrder(options: RangeOptions): { readonly target: RangeSortTarget; readonly descending: boolean } | null {
  const target = options.sortTarget ?? 'key';
  const order = options.sortOrder ?? 'none';
  if (target === 'key' && order !== 'descend') return null;
  return { target, descending: order === 'descend' };
}

/**
 * A total order on keys for `target`: by the target, then by key, so that every replica (a Txn
 * get runs in the apply) and every read returns ties in the same order. Descending is this
 * order reversed, ties included.
 */
export function compareForSort(target: RangeSortTarget, a: KeyValue, b: KeyValue): number {
  const byKey = (): number => Buffer.compare(a.key, b.key);
  switch (target) {
    case 'key':
      return byKey();
    case 'version':
      return a.version - b.version || byKey();
    case 'create':
      return a.createRevision - b.createRevision || byKey();
    case 'mod':
      return a.modRevision - b.modRevision || byKey();
    case 'value':
      return Buffer.compare(a.value, b.value) || byKey();
    default:
      return assertNever(target, 'sort target');
  }
}
