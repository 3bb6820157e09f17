/** kv.proto's range options (RangeRequest fields 7..14, TxnRange fields 5..12), as proto-loader shapes them, to the state machine's RangeOptions. */
import { validateRangeOptions, type RangeOptions, type RangeSortOrder, type RangeSortTarget } from '../kv/index.js';
import { InvalidArgumentError } from '../shared/errors.js';

/** The fields as decoded: enums by name (a number the .proto does not name stays a number); absent from requests built by hand. */
export interface WireRangeOptions {
  sortOrder?: string | number;
  sortTarget?: string | number;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

const orders: Readonly<Record<string, RangeSortOrder>> = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' };
const targets: Readonly<Record<string, RangeSortTarget>> = { KEY: 'key', VERSION: 'version', CREATE: 'create', MOD: 'mod', VALUE: 'value' };

/** The wire's field names, for errors. */
const fieldNames = {
  sortOrder: 'sort_order',
  sortTarget: 'sort_target',
  minModRevision: 'min_mod_revision',
  maxModRevision: 'max_mod_revision',
  minCreateRevision: 'min_create_revision',
  maxCreateRevision: 'max_create_revision',
} as const;

/**
 * The options a request asks for; `fieldPrefix` goes before each field name in errors
 * ("success[0].range."). Throws InvalidArgumentError naming the field: an enum value the .proto
 * does not name, a revision bound beyond 2^53-1, a min above its max.
 */
export function rangeOptionsFromWire(wire: WireRangeOptions, fieldPrefix = ''): RangeOptions {
  const sortOrder = enumValue(orders, wire.sortOrder, `${fieldPrefix}sort_order`);
  const sortTarget = enumValue(targets, wire.sortTarget, `${fieldPrefix}sort_target`);
  const options: RangeOptions = {
    ...(sortOrder === undefined ? {} : { sortOrder }),
    ...(sortTarget === undefined ? {} : { sortTarget }),
    ...(wire.keysOnly === true ? { keysOnly: true } : {}),
    ...(wire.countOnly === true ? { countOnly: true } : {}),
    ...(wire.minModRevision ? { minModRevision: wire.minModRevision } : {}),
    ...(wire.maxModRevision ? { maxModRevision: wire.maxModRevision } : {}),
    ...(wire.minCreateRevision ? { minCreateRevision: wire.minCreateRevision } : {}),
    ...(wire.maxCreateRevision ? { maxCreateRevision: wire.maxCreateRevision } : {}),
  };
  validateRangeOptions(options, fieldPrefix, fieldNames);
  return options;
}

function enumValue<T extends string>(names: Readonly<Record<string, T>>, value: string | number | undefined, field: string): T | undefined {
  if (value === undefined) return undefined;
  const known = typeof value === 'string' ? names[value] : undefined;
  if (known === undefined) throw new InvalidArgumentError(field, `must be one of ${Object.keys(names).join(', ')}, got ${String(value)}`);
  return known;
}
