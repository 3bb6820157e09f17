/**
 * The JSON `raftkv txn` reads, in the shape of etcd's JSON gateway in lower case:
 *
 *   {"compare":[{"key":"k","target":"version","result":"equal","value":3}],
 *    "success":[{"put":{"key":"k","value":"v"}},{"delete":{"key":"p/","prefix":true}},{"get":{"key":"k"}}],
 *    ...a get may take limit, sort_target, sort_order, keys_only, count_only, and
 *    min/max_mod_revision, min/max_create_revision (etcd's RangeRequest fields),
 *    "failure":[...]}
 *
 * Keys and values are UTF-8 strings; version, create, mod and lease compares take a number.
 * Every mistake is reported with its path (`compare[1].target: expected one of ...`).
 */
import type { RangeOptions, RangeSortOrder, RangeSortTarget, TxnCompare, TxnCompareResult, TxnCompareTarget, TxnKeys, TxnOp, TxnRequest } from '../src/client/index.js';

/** JSON that is not a transaction; `path` names the offending field. */
export class TxnJsonError extends Error {
  override readonly name = 'TxnJsonError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path === '' ? message : `${path}: ${message}`);
  }
}

const targets: readonly TxnCompareTarget[] = ['value', 'version', 'create', 'mod', 'lease'];
const results: readonly TxnCompareResult[] = ['equal', 'not_equal', 'less', 'greater'];

/** Parses the text of a transaction; throws TxnJsonError. */
export function parseTxnJson(text: string): TxnRequest {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new TxnJsonError('', `not JSON: ${(error as Error).message}`);
  }
  const root = object(document, '');
  onlyFields(root, '', ['compare', 'success', 'failure']);
  return {
    compare: list(root.compare, 'compare').map((item, i) => parseCompare(item, `compare[${i}]`)),
    success: list(root.success, 'success').map((item, i) => parseOp(item, `success[${i}]`)),
    failure: list(root.failure, 'failure').map((item, i) => parseOp(item, `failure[${i}]`)),
  };
}

function parseCompare(value: unknown, path: string): TxnCompare {
  const compare = object(value, path);
  onlyFields(compare, path, ['key', 'target', 'result', 'value']);
  const key = string(compare.key, `${path}.key`, { nonEmpty: true });
  const target = oneOf(compare.target, `${path}.target`, targets);
  const result = oneOf(compare.result, `${path}.result`, results);
  if (target === 'value') return { key, target, result, value: string(compare.value, `${path}.value`, { nonEmpty: false }) };
  const number = compare.value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
    throw new TxnJsonError(`${path}.value`, `expected a non-negative integer for target "${target}", got ${JSON.stringify(number)}`);
  }
  return { key, target, result, value: number };
}

function parseOp(value: unknown, path: string): TxnOp {
  const op = object(value, path);
  const names = Object.keys(op);
  if (names.length !== 1 || !['put', 'delete', 'get'].includes(names[0] as string)) {
    throw new TxnJsonError(path, `expected exactly one of put, delete, get, got ${names.length === 0 ? 'none' : names.join(', ')}`);
  }
  if (op.put !== undefined) {
    const put = object(op.put, `${path}.put`);
    onlyFields(put, `${path}.put`, ['key', 'value', 'lease']);
    const lease = put.lease;
    if (lease !== undefined && (typeof lease !== 'number' || !Number.isSafeInteger(lease) || lease < 0)) {
      throw new TxnJsonError(`${path}.put.lease`, `expected a lease id from 0 to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(lease)}`);
    }
    const base = { key: string(put.key, `${path}.put.key`, { nonEmpty: true }), value: string(put.value, `${path}.put.value`, { nonEmpty: false }) };
    return { put: lease === undefined || lease === 0 ? base : { ...base, lease } };
  }
  if (op.delete !== undefined) return { delete: parseKeys(op.delete, `${path}.delete`, false) };
  const get = parseKeys(op.get, `${path}.get`, true);
  const fields = object(op.get, `${path}.get`);
  const options: Record<string, unknown> = {};
  for (const [name, option] of [['limit', 'limit'], ...rangeNumberFields] as const) {
    const number = fields[name];
    if (number === undefined) continue;
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
      throw new TxnJsonError(`${path}.get.${name}`, `expected a non-negative integer, got ${JSON.stringify(number)}`);
    }
    options[option] = number;
  }
  for (const [name, option] of [['keys_only', 'keysOnly'], ['count_only', 'countOnly']] as const) {
    const flag = fields[name];
    if (flag === undefined) continue;
    if (typeof flag !== 'boolean') throw new TxnJsonError(`${path}.get.${name}`, `expected true or false, got ${JSON.stringify(flag)}`);
    options[option] = flag;
  }
  if (fields.sort_target !== undefined || fields.sort_order !== undefined) {
    const target = fields.sort_target === undefined ? 'key' : oneOf(fields.sort_target, `${path}.get.sort_target`, sortTargets);
    const order = fields.sort_order === undefined ? 'ascend' : oneOf(fields.sort_order, `${path}.get.sort_order`, sortOrders);
    options.sort = { target, order };
  }
  return { get: { ...get, ...(options as RangeOptions & { limit?: number }) } };
}

const sortTargets: readonly RangeSortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const sortOrders: readonly RangeSortOrder[] = ['none', 'ascend', 'descend'];
/** The get's numeric range options: JSON name, SDK name. */
const rangeNumberFields = [
  ['min_mod_revision', 'minModRevision'],
  ['max_mod_revision', 'maxModRevision'],
  ['min_create_revision', 'minCreateRevision'],
  ['max_create_revision', 'maxCreateRevision'],
] as const;
const getFields = ['key', 'range_end', 'prefix', 'limit', 'sort_target', 'sort_order', 'keys_only', 'count_only', ...rangeNumberFields.map(([name]) => name)];

function parseKeys(value: unknown, path: string, withLimit: boolean): TxnKeys {
  const keys = object(value, path);
  onlyFields(keys, path, withLimit ? getFields : ['key', 'range_end', 'prefix']);
  const prefix = keys.prefix;
  if (prefix !== undefined && typeof prefix !== 'boolean') throw new TxnJsonError(`${path}.prefix`, `expected true or false, got ${JSON.stringify(prefix)}`);
  // An empty key selects every key with `prefix: true`, and nothing otherwise.
  const key = string(keys.key, `${path}.key`, { nonEmpty: prefix !== true });
  if (keys.range_end === undefined) return prefix === true ? { key, prefix } : { key };
  if (prefix === true) throw new TxnJsonError(`${path}.range_end`, 'give prefix or range_end, not both');
  return { key, rangeEnd: string(keys.range_end, `${path}.range_end`, { nonEmpty: true }) };
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TxnJsonError(path, `expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TxnJsonError(path, `expected an array, got ${describe(value)}`);
  return value;
}

function string(value: unknown, path: string, options: { nonEmpty: boolean }): string {
  if (typeof value !== 'string') throw new TxnJsonError(path, `expected a string, got ${describe(value)}`);
  if (options.nonEmpty && value === '') throw new TxnJsonError(path, 'must not be empty');
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TxnJsonError(path, `expected one of ${allowed.join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

function onlyFields(value: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const name of Object.keys(value)) {
    if (!allowed.includes(name)) throw new TxnJsonError(path === '' ? name : `${path}.${name}`, `unknown field (expected ${allowed.join(', ')})`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return JSON.stringify(value) ?? typeof value;
}
