/** The range options as flags (etcdctl get's): --sort-by, --order, --keys-only, --count-only, and the revision filters. */
import type { Command } from 'commander';
import type { RangeOptions, RangeSortOrder, RangeSortTarget } from '../src/client/index.js';
import { ConfigError } from '../src/shared/errors.js';
import { parseIntegerOption } from './parse.js';

export interface RangeFlags {
  sortBy?: string;
  order?: string;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: string;
  maxModRevision?: string;
  minCreateRevision?: string;
  maxCreateRevision?: string;
}

/** etcdctl's names (MODIFY for the mod revision), case-insensitive. */
const sortTargets: Readonly<Record<string, RangeSortTarget>> = { KEY: 'key', VERSION: 'version', CREATE: 'create', MODIFY: 'mod', VALUE: 'value' };
const sortOrders: Readonly<Record<string, RangeSortOrder>> = { ASCEND: 'ascend', DESCEND: 'descend' };

export function withRangeFlags(command: Command): Command {
  return command
    .option('--sort-by <target>', `sort by ${Object.keys(sortTargets).join('|')} (ties by key; default: key order)`)
    .option('--order <order>', `${Object.keys(sortOrders).join('|')} (default ASCEND)`)
    .option('--keys-only', 'print keys without values')
    .option('--count-only', 'print only how many keys matched')
    .option('--min-mod-revision <n>', 'only keys last written at or after this revision')
    .option('--max-mod-revision <n>', 'only keys last written at or before this revision')
    .option('--min-create-revision <n>', 'only keys created at or after this revision')
    .option('--max-create-revision <n>', 'only keys created at or before this revision');
}

/** Whether any range flag is set. */
export function hasRangeFlags(flags: RangeFlags): boolean {
  return Object.values(pick(flags)).some((value) => value !== undefined && value !== false);
}

/** The SDK's options for the flags; a bad value is a ConfigError naming the flag (exit 2). */
export function rangeOptionsFromFlags(flags: RangeFlags): RangeOptions {
  const target = flags.sortBy === undefined ? undefined : sortTargets[flags.sortBy.toUpperCase()];
  if (flags.sortBy !== undefined && target === undefined) throw new ConfigError(`--sort-by: must be one of ${Object.keys(sortTargets).join(', ')}, got "${flags.sortBy}"`);
  const order = flags.order === undefined ? undefined : sortOrders[flags.order.toUpperCase()];
  if (flags.order !== undefined && order === undefined) throw new ConfigError(`--order: must be one of ${Object.keys(sortOrders).join(', ')}, got "${flags.order}"`);
  const bound = (value: string | undefined, flag: string): number => (value === undefined ? 0 : parseIntegerOption(value, flag, 1, Number.MAX_SAFE_INTEGER));
  const minModRevision = bound(flags.minModRevision, '--min-mod-revision');
  const maxModRevision = bound(flags.maxModRevision, '--max-mod-revision');
  const minCreateRevision = bound(flags.minCreateRevision, '--min-create-revision');
  const maxCreateRevision = bound(flags.maxCreateRevision, '--max-create-revision');
  if (minModRevision !== 0 && maxModRevision !== 0 && minModRevision > maxModRevision) {
    throw new ConfigError(`--min-mod-revision: must be at most --max-mod-revision (${maxModRevision}), got ${minModRevision}`);
  }
  if (minCreateRevision !== 0 && maxCreateRevision !== 0 && minCreateRevision > maxCreateRevision) {
    throw new ConfigError(`--min-create-revision: must be at most --max-create-revision (${maxCreateRevision}), got ${minCreateRevision}`);
  }
  return {
    // As etcdctl: --order alone sorts by key; --sort-by alone ascends.
    ...(target === undefined && order === undefined ? {} : { sort: { target: target ?? 'key', order: order ?? 'ascend' } }),
    ...(flags.keysOnly === true ? { keysOnly: true } : {}),
    ...(flags.countOnly === true ? { countOnly: true } : {}),
    ...(minModRevision === 0 ? {} : { minModRevision }),
    ...(maxModRevision === 0 ? {} : { maxModRevision }),
    ...(minCreateRevision === 0 ? {} : { minCreateRevision }),
    ...(maxCreateRevision === 0 ? {} : { maxCreateRevision }),
  };
}

function pick(flags: RangeFlags): RangeFlags {
  const { sortBy, order, keysOnly, countOnly, minModRevision, maxModRevision, minCreateRevision, maxCreateRevision } = flags;
  return { sortBy, order, keysOnly, countOnly, minModRevision, maxModRevision, minCreateRevision, maxCreateRevision };
}
