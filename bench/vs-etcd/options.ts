import { parseArgs } from 'node:util';
import { ConfigError } from '../../src/shared/errors.js';

/** The systems compared. */
export type SystemName = 'etcd' | 'raftkv';
export const systemNames: readonly SystemName[] = ['etcd', 'raftkv'];

/** One row of the matrix: what the clients do, how many in flight, and which endpoints they are given. */
export interface Workload {
  readonly name: string;
  readonly op: 'put' | 'get' | 'serializable-get';
  readonly concurrency: number;
  /** 'leader': the client is given the leader's address only; 'all': every member's. */
  readonly endpoints: 'leader' | 'all';
}

/** The matrix of issue 11, in the order it runs (puts first, then gets on preloaded keys). */
export const workloads: readonly Workload[] = [
  { name: 'put-1', op: 'put', concurrency: 1, endpoints: 'leader' },
  { name: 'put-64', op: 'put', concurrency: 64, endpoints: 'leader' },
  { name: 'put-256', op: 'put', concurrency: 256, endpoints: 'leader' },
  { name: 'get-64', op: 'get', concurrency: 64, endpoints: 'leader' },
  { name: 'serializable-get-64', op: 'serializable-get', concurrency: 64, endpoints: 'leader' },
  { name: 'get-64-all', op: 'get', concurrency: 64, endpoints: 'all' },
];

export interface BenchOptions {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** Unmeasured seconds of puts at 64 in flight on a fresh cluster, before its first workload. */
  readonly serverWarmupS: number;
  readonly keys: number;
  readonly valueBytes: number;
  readonly preloadConcurrency: number;
  readonly workloads: readonly Workload[];
  readonly systems: readonly SystemName[];
  /** Results, logs and (while a system runs) its data directories; undefined: a new temp directory. */
  readonly outDir: string | undefined;
  /** etcd uses basePort..+5, raftkv basePort+10..+15. */
  readonly basePort: number;
  readonly etcdBinary: string;
  /** The raftkv CLI the nodes run: `node <this> start ...`. */
  readonly raftkvCli: string;
}

export const usage = `usage: bench/vs-etcd.sh [options]

Starts etcd 3.4 and a raftkv cluster (3 nodes each, loopback), one at a time in alternating
rounds, runs the same closed-loop matrix through each system's usual client, and prints a
Markdown table of medians with ratios (raftkv / etcd) and the goals of issue 11.

  --rounds <n>               rounds; etcd goes first in odd rounds, raftkv in even (default 3)
  --duration <s>             seconds per measured run (default 10)
  --warmup <s>               unmeasured seconds before each run (default 1)
  --server-warmup <s>        unmeasured seconds of puts at 64 in flight on each fresh cluster before
                             its first workload (default 10): a long-running server's JIT is warm;
                             without it, the first workload (put-1) measures V8 compiling raftkv
  --keys <n>                 key space; keys are 16 bytes (default 100000)
  --value-bytes <n>          value size (default 256)
  --preload-concurrency <n>  puts in flight while every key is written once before the gets (default 256)
  --workloads <list>         comma-separated, from: ${workloads.map((w) => w.name).join(', ')} (default: all)
  --systems <list>           etcd,raftkv (default both; the ratios need both)
  --out <dir>                results (JSONL, table, node logs) and data directories (default: a new temp dir)
  --base-port <port>         etcd listens on port..port+5, raftkv on port+10..port+15 (default 24000)
  --etcd <path>              the etcd binary (default: etcd)
  --raftkv-cli <path>        the raftkv CLI script (default: dist/cli/raftkv.js)
  --help                     this text
`;

/** Asked for --help instead of a run. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

/** Parses the command line; throws ConfigError naming the option that is wrong, HelpRequested for --help. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
  const v = parsed.values;
  if (v.help === true) throw new HelpRequested(usage);
  if (parsed.positionals.length > 0) throw new ConfigError(`unexpected argument "${parsed.positionals[0]}" (options start with --)`);
  const selected = listOption(v.workloads, '--workloads', workloads.map((w) => w.name)).map((name) => workloads.find((w) => w.name === name) as Workload);
  const systems = listOption(v.systems, '--systems', systemNames) as SystemName[];
  return {
    rounds: integerOption(v.rounds, '--rounds', 3, 1, 100),
    durationS: numberOption(v.duration, '--duration', 10, 0.5, 3600),
    warmupS: numberOption(v.warmup, '--warmup', 1, 0, 600),
    serverWarmupS: numberOption(v['server-warmup'], '--server-warmup', 10, 0, 3600),
    keys: integerOption(v.keys, '--keys', 100_000, 1, 9_999_999_999),
    valueBytes: integerOption(v['value-bytes'], '--value-bytes', 256, 1, 1024 * 1024),
    preloadConcurrency: integerOption(v['preload-concurrency'], '--preload-concurrency', 256, 1, 4096),
    workloads: workloads.filter((w) => selected.includes(w)),
    systems: systemNames.filter((s) => systems.includes(s)),
    outDir: nonEmpty(v.out, '--out'),
    basePort: integerOption(v['base-port'], '--base-port', 24_000, 1024, 65_535 - 15),
    etcdBinary: nonEmpty(v.etcd, '--etcd') ?? 'etcd',
    raftkvCli: nonEmpty(v['raftkv-cli'], '--raftkv-cli') ?? 'dist/cli/raftkv.js',
  };
}

function parseFlags(argv: readonly string[]) {
  const text = { type: 'string' } as const;
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      rounds: text, duration: text, warmup: text, 'server-warmup': text, keys: text, 'value-bytes': text, 'preload-concurrency': text,
      workloads: text, systems: text, out: text, 'base-port': text, etcd: text, 'raftkv-cli': text,
      help: { type: 'boolean' },
    },
  });
}

function integerOption(value: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(`${flag}: must be an integer in ${min}..${max}, got "${value}"`);
  }
  return number;
}

function numberOption(value: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < min || number > max) {
    throw new ConfigError(`${flag}: must be a number of seconds in ${min}..${max}, got "${value}"`);
  }
  return number;
}

function listOption(value: string | undefined, flag: string, known: readonly string[]): string[] {
  if (value === undefined) return [...known];
  const items = value.split(',').map((item) => item.trim());
  for (const item of items) {
    if (!known.includes(item)) throw new ConfigError(`${flag}: unknown "${item}" (known: ${known.join(', ')})`);
  }
  return items;
}

function nonEmpty(value: string | undefined, flag: string): string | undefined {
  if (value !== undefined && value.trim() === '') throw new ConfigError(`${flag}: must not be empty`);
  return value;
}
