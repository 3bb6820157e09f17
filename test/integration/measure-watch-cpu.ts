/**
 * The servers' CPU per committed put with and without watchers (issue 15), in alternating
 * rounds on the same build, so that the load of whatever else runs on the machine falls on both
 * alike. Each round of each variant starts 3 fresh nodes, warms them up, opens N SDK watches on
 * every key (spread over the nodes, in this process, whose CPU is not counted), runs
 * `raftkv bench --workload put`, and reads the utime+stime of the 3 node processes from
 * /proc/PID/stat around it. Not a test (nothing is asserted): a figure for humans.
 *
 * Run (after `npx tsc -p tsconfig.build.json`):
 *   npx tsx test/integration/measure-watch-cpu.ts [--watchers 0,8] [--rounds 3]
 *     [--concurrency 64] [--duration 8] [--value-bytes 256] [--base-port 25220]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RaftKvClient } from '../../src/client/index.js';
import { processCpuMs } from '../../bench/vs-etcd/proc-stats.js';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const { values: flags } = parseArgs({
  options: {
    watchers: { type: 'string', default: '0,8' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    duration: { type: 'string', default: '8' },
    'value-bytes': { type: 'string', default: '256' },
    'base-port': { type: 'string', default: '25220' },
  },
});
const variants = (flags.watchers ?? '').split(',').map((w) => Number(w.trim()));
if (variants.some((w) => !Number.isSafeInteger(w) || w < 0) || variants.length === 0) throw new Error(`--watchers: a list of counts like 0,8, got ${String(flags.watchers)}`);
const numbers = { rounds: Number(flags.rounds), concurrency: Number(flags.concurrency), duration: Number(flags.duration), valueBytes: Number(flags['value-bytes']), basePort: Number(flags['base-port']) };
for (const [name, value] of Object.entries(numbers)) {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${String(value)}`);
}
const dist = join(projectRoot, 'dist');
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

interface Figure {
  readonly watchers: number;
  readonly puts: number;
  readonly events: number;
  readonly cpuMs: number;
  readonly usPerPut: number;
  readonly putsPerSecond: number;
}

async function round(watcherCount: number): Promise<Figure> {
  const root = mkdtempSync(join(tmpdir(), 'raftkv-watch-cpu-'));
  const ids = ['n1', 'n2', 'n3'];
  const peer = (i: number): string => `127.0.0.1:${numbers.basePort + 2 * i}`;
  const client = (i: number): string => `127.0.0.1:${numbers.basePort + 2 * i + 1}`;
  const peers = ids.map((id, i) => `${id}=${peer(i)}`).join(',');
  const nodes = ids.map((id, i) =>
    spawn(process.execPath, [join(dist, 'cli', 'raftkv.js'), 'start', '--id', id, '--data', join(root, id), '--listen-peer', peer(i), '--listen-client', client(i), '--peers', peers, '--log-level', 'warn'], { stdio: 'ignore' }),
  );
  const watchClients: RaftKvClient[] = [];
  try {
    const sdk = new RaftKvClient({ endpoints: ids.map((_, i) => client(i)), timeoutMs: 10_000 });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await sdk.put('warm-up', 'x', { timeoutMs: 2000 });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((done) => setTimeout(done, 200));
      }
    }
    const value = Buffer.alloc(numbers.valueBytes, 'v');
    await Promise.all(Array.from({ length: 64 }, async (_, w) => {
      for (let i = 0; i < 30; i++) await sdk.put(`warm-${w}-${i}`, value);
    }));
    let events = 0;
    for (let w = 0; w < watcherCount; w++) {
      const first = w % ids.length;
      const watchClient = new RaftKvClient({ endpoints: [client(first)], pinned: true, timeoutMs: 10_000 });
      watchClients.push(watchClient);
      const watcher = watchClient.watch('', { prefix: true });
      void (async () => {
        for await (const batch of watcher) if (batch.kind === 'events') events += batch.events.length;
      })().catch(() => {});
    }
    const commitIndex = async (): Promise<number> => Math.max(...(await Promise.all(ids.map((_, i) => sdk.status(client(i)).then((s) => s.commitIndex, () => 0)))));
    const pids = nodes.map((n) => n.pid as number);
    await new Promise((done) => setTimeout(done, 500));
    const commitBefore = await commitIndex();
    const eventsBefore = events;
    const cpuBefore = pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
    const startedAt = performance.now();
    const bench = spawn(
      process.execPath,
      [join(dist, 'cli', 'raftkv.js'), 'bench', '--endpoints', ids.map((_, i) => client(i)).join(','), '--workload', 'put', '--concurrency', String(numbers.concurrency), '--duration', String(numbers.duration), '--value-bytes', String(numbers.valueBytes), '--json'],
      { stdio: 'ignore' },
    );
    await exited(bench);
    const seconds = (performance.now() - startedAt) / 1000;
    const cpuAfter = pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
    const puts = (await commitIndex()) - commitBefore;
    sdk.close();
    const used = cpuAfter - cpuBefore;
    return { watchers: watcherCount, puts, events: events - eventsBefore, cpuMs: used, usPerPut: (used * 1000) / puts, putsPerSecond: puts / seconds };
  } finally {
    for (const watchClient of watchClients) watchClient.close();
    for (const node of nodes) node.kill('SIGTERM');
    await Promise.all(nodes.map(exited));
    rmSync(root, { recursive: true, force: true });
  }
}

const figures: Figure[] = [];
for (let r = 0; r < numbers.rounds; r++) {
  for (const watchers of variants) {
    const figure = await round(watchers);
    figures.push(figure);
    console.log(`round ${r + 1}, ${watchers} watchers: ${figure.puts} puts, ${figure.events} events delivered, ${Math.round(figure.putsPerSecond)} puts/s, ${Math.round(figure.cpuMs)} ms CPU (3 nodes), ${figure.usPerPut.toFixed(0)} µs per put`);
  }
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
for (const watchers of variants) {
  const mine = figures.filter((f) => f.watchers === watchers);
  console.log(`${watchers} watchers: CPU per put median ${median(mine.map((f) => f.usPerPut)).toFixed(0)} µs (${mine.map((f) => f.usPerPut.toFixed(0)).join(', ')}), puts/s median ${median(mine.map((f) => f.putsPerSecond)).toFixed(0)}`);
}
