import type { Command } from 'commander';
import { RaftKvClient, type ReadPolicy } from '../src/client/index.js';
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
    .option('--value-bytes <n>', 'value size', '100')
    .option('--reads <policy>', 'where reads go: leader, or round-robin over the endpoints (default: round-robin with several endpoints)')
    .option('--json', 'print the results as JSON')
    .action(async (flags: { endpoints?: string; workload: string; concurrency: string; duration: string; keys: string; valueBytes: string; reads?: string; json?: boolean }) => {
      const endpoints = flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean);
      const selected = flags.workload.split(',').map((w) => w.trim()) as Workload[];
      for (const w of selected) if (!workloads.includes(w)) throw new CommandFailure(`--workload: unknown "${w}" (known: ${workloads.join(', ')})`, 2);
      const concurrencies = flags.concurrency.split(',').map((c) => parseIntegerOption(c, '--concurrency', 1, 10_000));
      const durationS = parseIntegerOption(flags.duration, '--duration', 1, 3600);
      const keys = parseIntegerOption(flags.keys, '--keys', 1, 100_000_000);
      const value = Buffer.alloc(parseIntegerOption(flags.valueBytes, '--value-bytes', 0, 64 * 1024 * 1024), 'x');
      const reads = parseReadPolicy(flags.reads);
      const rows: BenchRow[] = [];
      for (const workload of selected) {
        for (const concurrency of concurrencies) {
          rows.push(await runBench({ endpoints, workload, concurrency, durationS, keys, value, reads }));
        }
      }
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      } else {
        process.stdout.write(`\n${'workload'.padEnd(18)}${'conc'.padStart(6)}${'ops'.padStart(10)}${'ops/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'p999 ms'.padStart(9)}${'errors'.padStart(8)}\n`);
        for (const r of rows) {
          process.stdout.write(
            `${r.workload.padEnd(18)}${String(r.concurrency).padStart(6)}${String(r.ops).padStart(10)}${r.opsPerSecond.toFixed(0).padStart(10)}${r.p50Ms.toFixed(2).padStart(9)}${r.p99Ms.toFixed(2).padStart(9)}${r.p999Ms.toFixed(2).padStart(9)}${String(r.errors).padStart(8)}\n`,
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
  value: Buffer;
  reads: ReadPolicy | undefined;
}): Promise<BenchRow> {
  const client = new RaftKvClient({ endpoints: run.endpoints, timeoutMs: 10_000, ...(run.reads === undefined ? {} : { reads: run.reads }) });
  const latenciesMs: number[] = [];
  let errors = 0;
  let lastError = '';
  let ops = 0;
  const started = performance.now();
  const endAt = started + run.durationS * 1000;
  let nextReport = started + 1000;
  let opsAtLastReport = 0;
  const key = (): string => `bench/${Math.floor(Math.random() * run.keys)}`;
  const operation = (): Promise<unknown> => {
    switch (run.workload) {
      case 'put':
        return client.put(key(), run.value);
      case 'get':
        return client.get(key());
      case 'serializable-get':
        return client.get(key(), { consistency: 'serializable' });
      case 'mixed':
        return Math.random() < 0.5 ? client.put(key(), run.value) : client.get(key());
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
  try {
    await Promise.all(Array.from({ length: run.concurrency }, worker));
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
  };
}
