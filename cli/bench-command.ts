import type { Command } from 'commander';
import { RaftKvClient, type ClientTls, type ClusterStatus, type ReadPolicy } from '../src/client/index.js';
import { clientTlsFromFlags } from './client-tls-flags.js';
import { authFromFlag } from './user-flag.js';
import { benchKey, preloadKeys, randomValues } from './bench-preload.js';
import { CommandFailure } from './client-commands.js';
import { defaultEndpoints } from './local-cluster.js';
import { parseIntegerOption, parseReadPolicy } from './parse.js';

type Workload = 'put' | 'get' | 'serializable-get' | 'mixed';
const workloads: readonly Workload[] = ['put', 'get', 'serializable-get', 'mixed'];

/** One measured run: a workload at a concurrency for a duration. */
export interface BenchRow {
  readonly workload: Workload;
  readonly concurrency: number;
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Each node's resident set size at the end of the run, in bytes (null: it did not answer). */
  readonly rssBytes: Readonly<Record<string, number | null>>;
}

/** `raftkv bench`: closed-loop load through the SDK, reporting throughput and latency percentiles. */
export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure ops/s and p50/p99/p999 latency through the SDK, per workload and concurrency')
    .option('--endpoints <list>', 'client addresses host:port,... (default: the local cluster)')
    .option('--workload <list>', `comma-separated: ${workloads.join(', ')}`, 'put,get')
    .option('--concurrency <list>', 'comma-separated requests in flight', '1,64')
    .option('--duration <seconds>', 'how long each run lasts', '10')
    .option('--keys <n>', 'size of the key space', '10000')
    .option('--value-bytes <n>', 'value size (random bytes, so that storage compression does not shrink them)', '100')
    .option('--preload', 'first write every key of --keys once, at high concurrency (skipped when an earlier --preload of the same shape finished)')
    .option('--reads <policy>', 'where reads go: leader (default), or round-robin over the endpoints')
    .option('--cacert <file>', 'TLS: the CA that signs the nodes\' certificates (default with a local `cluster up --tls`: data/tls/ca.crt)')
    .option('--cert <file>', 'TLS: this client\'s certificate (with --key)')
    .option('--key <file>', 'TLS: this client\'s private key')
    .option('--user <name[:password]>', 'call as this user when auth is enabled')
    .option('--json', 'print the results as JSON')
    .action(async (flags: { user?: string; endpoints?: string; workload: string; concurrency: string; duration: string; keys: string; valueBytes: string; preload?: boolean; reads?: string; cacert?: string; cert?: string; key?: string; json?: boolean }) => {
      const endpoints = flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean);
      const selected = flags.workload.split(',').map((w) => w.trim()) as Workload[];
      for (const w of selected) if (!workloads.includes(w)) throw new CommandFailure(`--workload: unknown "${w}" (known: ${workloads.join(', ')})`, 2);
      const concurrencies = flags.concurrency.split(',').map((c) => parseIntegerOption(c, '--concurrency', 1, 10_000));
      const durationS = parseIntegerOption(flags.duration, '--duration', 1, 3600);
      const keys = parseIntegerOption(flags.keys, '--keys', 1, 100_000_000);
      const valueBytes = parseIntegerOption(flags.valueBytes, '--value-bytes', 0, 64 * 1024 * 1024);
      const value = randomValues(valueBytes);
      const reads = parseReadPolicy(flags.reads);
      const tls = clientTlsFromFlags(flags) ?? undefined;
      const auth = (await authFromFlag(flags.user)) ?? undefined;
      if (flags.preload === true) await runPreload(endpoints, keys, valueBytes, flags.json === true, tls, auth);
      const rows: BenchRow[] = [];
      for (const workload of selected) {
        for (const concurrency of concurrencies) {
          const row = await runBench({ endpoints, workload, concurrency, durationS, keys, value, reads, tls, auth });
          rows.push(row);
          if (!flags.json) process.stderr.write(`  ${workload} c=${concurrency}: rss ${formatRss(row.rssBytes)}\n`);
        }
      }
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else {
        process.stdout.write(`\n${'workload'.padEnd(18)}${'conc'.padStart(6)}${'ops'.padStart(10)}${'ops/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'p999 ms'.padStart(9)}${'errors'.padStart(8)}  rss per node (MiB)\n`);
        for (const r of rows) {
          process.stdout.write(
            `${r.workload.padEnd(18)}${String(r.concurrency).padStart(6)}${String(r.ops).padStart(10)}${r.opsPerSecond.toFixed(0).padStart(10)}${r.p50Ms.toFixed(2).padStart(9)}${r.p99Ms.toFixed(2).padStart(9)}${r.p999Ms.toFixed(2).padStart(9)}${String(r.errors).padStart(8)}  ${formatRss(r.rssBytes)}\n`,
          );
        }
      }
      if (rows.every((r) => r.ops === 0)) throw new CommandFailure('no operation succeeded; is the cluster up?', 1);
    });
}

async function runBench(run: {
  endpoints: string[];
  workload: Workload;
  concurrency: number;
  durationS: number;
  keys: number;
  value: () => Uint8Array;
  reads: ReadPolicy | undefined;
  tls: ClientTls | undefined;
  auth: { user: string; password: string } | undefined;
}): Promise<BenchRow> {
  const client = new RaftKvClient({
    endpoints: run.endpoints,
    timeoutMs: 10_000,
    ...(run.reads === undefined ? {} : { reads: run.reads }),
    ...(run.tls === undefined ? {} : { tls: run.tls }),
    ...(run.auth === undefined ? {} : { auth: run.auth }),
  });
  const latenciesMs: number[] = [];
  let errors = 0;
  let lastError = '';
  let ops = 0;
  const started = performance.now();
  const endAt = started + run.durationS * 1000;
  let nextReport = started + 1000;
  let opsAtLastReport = 0;
  const key = (): string => benchKey(Math.floor(Math.random() * run.keys));
  const operation = (): Promise<unknown> => {
    switch (run.workload) {
      case 'put':
        return client.put(key(), run.value());
      case 'get':
        return client.get(key());
      case 'serializable-get':
        return client.get(key(), { consistency: 'serializable' });
      case 'mixed':
        return Math.random() < 0.5 ? client.put(key(), run.value()) : client.get(key());
    }
  };
  const worker = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const t0 = performance.now();
      try {
        await operation();
        latenciesMs.push(performance.now() - t0);
        ops++;
      } catch (error) {
        errors++;
        lastError = (error as Error).message;
      }
      const now = performance.now();
      if (now >= nextReport) {
        process.stderr.write(
          `  ${run.workload} c=${run.concurrency}: ${((now - started) / 1000).toFixed(0)} s, ${ops} ops, ${(ops - opsAtLastReport).toFixed(0)} ops/s now${errors > 0 ? `, ${errors} errors (${lastError})` : ''}\n`,
        );
        opsAtLastReport = ops;
        nextReport += 1000;
      }
    }
  };
  let rssBytes: Record<string, number | null>;
  try {
    await Promise.all(Array.from({ length: run.concurrency }, worker));
    rssBytes = await nodeRss(client, run.endpoints);
  } finally {
    client.close();
  }
  const seconds = (performance.now() - started) / 1000;
  latenciesMs.sort((a, b) => a - b);
  const percentile = (p: number): number => latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(p * latenciesMs.length))] ?? 0;
  return {
    workload: run.workload,
    concurrency: run.concurrency,
    ops,
    errors,
    seconds,
    opsPerSecond: ops / seconds,
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    p999Ms: percentile(0.999),
    rssBytes,
  };
}

async function runPreload(endpoints: string[], keys: number, valueBytes: number, json: boolean, tls: ClientTls | undefined, auth: { user: string; password: string } | undefined): Promise<void> {
  const client = new RaftKvClient({ endpoints, timeoutMs: 30_000, ...(tls === undefined ? {} : { tls }), ...(auth === undefined ? {} : { auth }) });
  try {
    const report = await preloadKeys(client, { keys, valueBytes }, (line) => process.stderr.write(`${line}\n`));
    const text = report.skipped
      ? `preload: the ${keys} keys of ${valueBytes} B are already there (skipped)`
      : `preload: ${report.written} keys of ${valueBytes} B in ${report.seconds.toFixed(1)} s, ${report.putsPerSecond.toFixed(0)} puts/s${report.resumedFrom > 0 ? ` (resumed from key ${report.resumedFrom})` : ''}`;
    // With --json, stdout carries only the rows; the preload's line goes to stderr.
    (json ? process.stderr : process.stdout).write(`${text}\n`);
  } finally {
    client.close();
  }
}

/**
 * The resident set size of every node, by id: each of the endpoints and each member whose client
 * address the first answering node knows (a node learns the others' client addresses from their
 * messages, so a young one may not know them all) reports its own memory.
 */
async function nodeRss(client: RaftKvClient, endpoints: readonly string[]): Promise<Record<string, number | null>> {
  const statusOf = (endpoint: string): Promise<ClusterStatus | null> => client.status(endpoint, { timeoutMs: 5000 }).catch(() => null);
  const answers = await Promise.all(endpoints.map(statusOf));
  const addresses = new Set(endpoints);
  const members = new Map<string, string>();
  for (const status of answers) for (const member of status?.members ?? []) if (member.clientAddress !== '') members.set(member.id, member.clientAddress);
  const extra = await Promise.all([...members.values()].filter((address) => !addresses.has(address)).map(statusOf));
  const rss: Record<string, number | null> = {};
  for (const id of members.keys()) rss[id] = null;
  for (const status of [...answers, ...extra]) if (status !== null) rss[status.id] = status.rssBytes === 0 ? null : status.rssBytes;
  return Object.fromEntries(Object.entries(rss).sort(([a], [b]) => a.localeCompare(b)));
}

function formatRss(rssBytes: Readonly<Record<string, number | null>>): string {
  const parts = Object.entries(rssBytes).map(([id, bytes]) => `${id}=${bytes === null ? '?' : (bytes / (1024 * 1024)).toFixed(0)}`);
  return parts.length === 0 ? '-' : parts.join(' ');
}
