/**
 * Cost as the data grows (README "Benchmarks"): for each shape (keys x value bytes), a fresh
 * 3-node cluster under --out, preloaded, then puts, linearizable and serializable gets at 64 in
 * flight over the whole key space, each node's RSS, one follower's restart time, the time of
 * `raftkv snapshot save`, and one follower's catch-up by InstallSnapshot. Prints a Markdown table.
 *
 *   bench/data-growth.sh --out /tmp/growth [--shapes 10000x100,1000000x100] [--duration 10]
 *       [--base-port 30000] [--node-flags "--storage-cache-mb 64"] [--key-cache-mb 0]
 *
 * Definitions:
 * - restart: from spawning a stopped follower until it answers Status with a known leader and
 *   applied = commit (its own commit: what it learned from the leader since it came back).
 * - snapshot save: the wall time of `raftkv snapshot save` of the whole key space to a file.
 * - catch-up: a follower stopped while 30,000 puts are written (8,000 of 16 KiB or more: past
 *   the leader's snapshot and log retention, so its log position is compacted away), then restarted: from spawn
 *   until applied = the leader's commit at restart, with its snapshot index moved (it was sent a
 *   snapshot).
 * The key cache is off (--key-cache-mb 0 by default) so every get reads LevelDB: the gets are
 * "keys not in the cache" whatever the shape.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RaftKvClient, type ClusterStatus } from '../src/client/index.js';
import { benchKey, randomValues } from '../cli/bench-preload.js';

interface Shape {
  readonly keys: number;
  readonly valueBytes: number;
}

interface Flags {
  readonly out: string;
  readonly shapes: Shape[];
  readonly durationS: number;
  readonly basePort: number;
  readonly nodeFlags: string[];
}

const defaultShapes = '10000x100,10000x4096,10000x65536,1000000x100,1000000x4096,1000000x65536,10000000x100';
const cli = resolve(import.meta.dirname, '../dist/cli/raftkv.js');
/**
 * Puts written while a follower is down, so that the leader compacts its log past it: a snapshot
 * comes every 10,000 entries or 64 MiB of log and 5,000 entries are kept below it.
 */
function catchUpPuts(shape: Shape): number {
  return shape.valueBytes >= 16 * 1024 ? 8000 : 30_000;
}

function parseFlags(argv: string[]): Flags {
  const named = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const value = argv[i + 1];
    if (name === undefined || !name.startsWith('--') || value === undefined) fail(`expected --flag value pairs, got ${JSON.stringify(argv.slice(i))}`);
    named.set(name.slice(2), value);
  }
  for (const name of named.keys()) {
    if (!['out', 'shapes', 'duration', 'base-port', 'node-flags', 'key-cache-mb'].includes(name)) fail(`unknown flag --${name}`);
  }
  const out = named.get('out') ?? fail('--out <dir> is required');
  const shapes = (named.get('shapes') ?? defaultShapes).split(',').map((text) => {
    const match = /^(\d+)x(\d+)$/.exec(text.trim());
    if (match === null) fail(`--shapes: "${text}" is not <keys>x<valueBytes>`);
    return { keys: Number(match[1]), valueBytes: Number(match[2]) };
  });
  const durationS = Number(named.get('duration') ?? '10');
  const basePort = Number(named.get('base-port') ?? '30000');
  if (!Number.isInteger(durationS) || durationS < 1) fail('--duration: must be a whole number of seconds');
  if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65000) fail('--base-port: must be a port below 65000');
  const nodeFlags = ['--key-cache-mb', named.get('key-cache-mb') ?? '0', ...(named.get('node-flags') ?? '').split(' ').filter(Boolean)];
  return { out: resolve(out), shapes, durationS, basePort, nodeFlags };
}

function fail(message: string): never {
  process.stderr.write(`data-growth: ${message}\n`);
  process.exit(2);
}

/** One 3-node cluster of `raftkv start` processes on loopback. */
class Cluster {
  readonly children = new Map<string, ChildProcess>();

  constructor(
    private readonly dir: string,
    private readonly basePort: number,
    private readonly nodeFlags: readonly string[],
  ) {}

  readonly ids = ['n1', 'n2', 'n3'];

  peerAddress(id: string): string {
    return `127.0.0.1:${this.basePort + this.ids.indexOf(id) + 1}`;
  }

  clientAddress(id: string): string {
    return `127.0.0.1:${this.basePort + 100 + this.ids.indexOf(id) + 1}`;
  }

  get endpoints(): string[] {
    return this.ids.map((id) => this.clientAddress(id));
  }

  start(id: string): void {
    const peers = this.ids.map((n) => `${n}=${this.peerAddress(n)}`).join(',');
    const log = openSync(join(this.dir, `${id}.log`), 'a');
    try {
      const args = [cli, 'start', '--id', id, '--data', join(this.dir, id), '--listen-peer', this.peerAddress(id), '--listen-client', this.clientAddress(id), '--peers', peers, '--log-level', 'warn', ...this.nodeFlags];
      this.children.set(id, spawn(process.execPath, args, { stdio: ['ignore', log, log] }));
    } finally {
      closeSync(log);
    }
  }

  async stop(id: string): Promise<void> {
    const child = this.children.get(id);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    this.children.delete(id);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((id) => this.stop(id)));
  }
}

async function poll<T>(what: string, deadlineMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${deadlineMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function leaderOf(client: RaftKvClient, cluster: Cluster): Promise<ClusterStatus> {
  return poll('a leader', 60_000, async () => {
    for (const endpoint of cluster.endpoints) {
      const status = await client.status(endpoint, { timeoutMs: 1000 }).catch(() => null);
      if (status?.role === 'leader') return status;
    }
    return null;
  });
}

/** Spawns `id` and waits until it knows a leader and has applied `commitAtLeast` (or its own commit). */
async function timedStart(cluster: Cluster, client: RaftKvClient, id: string, commitAtLeast: number): Promise<{ ms: number; status: ClusterStatus }> {
  const t0 = performance.now();
  cluster.start(id);
  const status = await poll(`${id} to catch up`, 1_800_000, async () => {
    const s = await client.status(cluster.clientAddress(id), { timeoutMs: 1000 });
    return s.leaderId !== '' && s.appliedIndex === s.commitIndex && s.appliedIndex >= commitAtLeast ? s : null;
  });
  return { ms: performance.now() - t0, status };
}

interface BenchRow {
  readonly workload: string;
  readonly opsPerSecond: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly rssBytes: Record<string, number | null>;
}

interface ShapeResult {
  readonly shape: Shape;
  readonly skipped?: string;
  readonly preload?: string;
  readonly rows?: BenchRow[];
  readonly restartMs?: number;
  readonly snapshotSaveMs?: number;
  readonly catchUpMs?: number | string;
  readonly diskBytes?: number;
}

/** Bytes a shape needs per node, roughly: the key space twice (state and log before compaction) plus LevelDB's slack. */
function bytesPerNode(shape: Shape): number {
  return shape.keys * (shape.valueBytes + 64) * 2.5;
}

async function runShape(flags: Flags, shape: Shape): Promise<ShapeResult> {
  const dir = join(flags.out, `${shape.keys}x${shape.valueBytes}`);
  const free = Number(statfsSync(existsSync(flags.out) ? flags.out : '/').bavail) * Number(statfsSync(existsSync(flags.out) ? flags.out : '/').bsize);
  const needed = 3 * bytesPerNode(shape) + shape.keys * (shape.valueBytes + 64) * 1.2; // nodes + backup file
  if (needed > free * 0.8) {
    return { shape, skipped: `needs about ${gib(needed)} GiB (3 nodes + a backup), ${gib(free)} GiB free` };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cluster = new Cluster(dir, flags.basePort, flags.nodeFlags);
  const client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
  try {
    for (const id of cluster.ids) cluster.start(id);
    await leaderOf(client, cluster);
    const bench = spawnSync(
      process.execPath,
      [cli, 'bench', '--endpoints', cluster.endpoints.join(','), '--keys', String(shape.keys), '--value-bytes', String(shape.valueBytes), '--preload', '--workload', 'put,get,serializable-get', '--concurrency', '64', '--duration', String(flags.durationS), '--json'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (bench.status !== 0) throw new Error(`raftkv bench failed (${bench.status}): ${bench.stderr.slice(-2000)}`);
    const preload = /preload: (\d+ keys .*|the .* skipped\))/.exec(bench.stderr)?.[0] ?? '';
    process.stderr.write(`  ${preload}\n`);
    const rows = JSON.parse(bench.stdout) as BenchRow[];

    // Restart of one follower, with nothing written while it was down.
    const leader = await leaderOf(client, cluster);
    const follower = cluster.ids.find((id) => id !== leader.id) as string;
    await cluster.stop(follower);
    const restart = await timedStart(cluster, client, follower, 0);
    process.stderr.write(`  restart of ${follower}: ${(restart.ms / 1000).toFixed(2)} s\n`);

    // Snapshot save of the whole key space.
    const file = join(dir, 'backup.snap');
    const s0 = performance.now();
    const save = spawnSync(process.execPath, [cli, 'snapshot', 'save', file, '--endpoints', cluster.endpoints.join(',')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const snapshotSaveMs = performance.now() - s0;
    rmSync(file, { force: true });
    if (save.status !== 0) throw new Error(`raftkv snapshot save failed: ${save.stderr}`);
    process.stderr.write(`  snapshot save: ${(snapshotSaveMs / 1000).toFixed(2)} s\n`);

    // Catch-up by InstallSnapshot: the follower misses more entries than the leader keeps.
    await cluster.stop(follower);
    const value = randomValues(shape.valueBytes);
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next < catchUpPuts(shape)) {
        const i = next++;
        await client.put(benchKey(Math.floor((i * 7919) % shape.keys)), value());
      }
    }));
    const leaderNow = await leaderOf(client, cluster);
    const catchUp = await timedStart(cluster, client, follower, leaderNow.commitIndex);
    const sentSnapshot = catchUp.status.snapshotIndex > restart.status.snapshotIndex;
    process.stderr.write(`  catch-up of ${follower}: ${(catchUp.ms / 1000).toFixed(2)} s${sentSnapshot ? '' : ' (by log entries, not a snapshot)'}\n`);
    const finalRows = rows.map((row) => row);
    const du = spawnSync('du', ['-sb', join(dir, leader.id)], { encoding: 'utf8' });
    return {
      shape,
      preload,
      rows: finalRows,
      restartMs: restart.ms,
      snapshotSaveMs,
      catchUpMs: sentSnapshot ? catchUp.ms : `${(catchUp.ms / 1000).toFixed(1)} s (log)`,
      diskBytes: Number(du.stdout.split('\t')[0]),
    };
  } finally {
    client.close();
    await cluster.stopAll();
    // The data directories of big shapes would fill the disk before the next shape; the logs stay.
    for (const id of cluster.ids) rmSync(join(dir, id), { recursive: true, force: true });
  }
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(1);
}

function mib(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? '?' : (bytes / 2 ** 20).toFixed(0);
}

function table(results: readonly ShapeResult[]): string {
  const lines = [
    '| keys | value | preload puts/s | puts/s | p99 ms | lin. gets/s | p99 ms | ser. gets/s | p99 ms | RSS per node MiB | restart s | snapshot save s | catch-up s | disk per node |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const keys = r.shape.keys.toLocaleString('en-US');
    const value = r.shape.valueBytes >= 1024 ? `${r.shape.valueBytes / 1024} KiB` : `${r.shape.valueBytes} B`;
    if (r.skipped !== undefined || r.rows === undefined) {
      lines.push(`| ${keys} | ${value} | skipped: ${r.skipped ?? 'failed'} |||||||||||`);
      continue;
    }
    const row = (w: string): BenchRow | undefined => r.rows?.find((x) => x.workload === w);
    const cell = (w: string): string => {
      const x = row(w);
      return x === undefined ? '- | -' : `${x.opsPerSecond.toFixed(0)}${x.errors > 0 ? ` (${x.errors} err)` : ''} | ${x.p99Ms.toFixed(1)}`;
    };
    const last = r.rows[r.rows.length - 1];
    const rss = last === undefined ? '-' : Object.values(last.rssBytes).map(mib).join(' / ');
    const preloadRate = /(\d+) puts\/s/.exec(r.preload ?? '')?.[1] ?? '-';
    const seconds = (ms: number | string | undefined): string => (typeof ms === 'number' ? (ms / 1000).toFixed(1) : ms ?? '-');
    lines.push(
      `| ${keys} | ${value} | ${preloadRate} | ${cell('put')} | ${cell('get')} | ${cell('serializable-get')} | ${rss} | ${seconds(r.restartMs)} | ${seconds(r.snapshotSaveMs)} | ${seconds(r.catchUpMs)} | ${r.diskBytes === undefined ? '-' : `${(r.diskBytes / 2 ** 20).toFixed(0)} MiB`} |`,
    );
  }
  return lines.join('\n');
}

const flags = parseFlags(process.argv.slice(2));
mkdirSync(flags.out, { recursive: true });
const loadBefore = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim();
process.stderr.write(`data-growth: ${new Date().toISOString()}, load ${loadBefore}, node flags ${flags.nodeFlags.join(' ')}\n`);
const results: ShapeResult[] = [];
for (const shape of flags.shapes) {
  process.stderr.write(`shape ${shape.keys} keys x ${shape.valueBytes} B\n`);
  try {
    results.push(await runShape(flags, shape));
  } catch (error) {
    process.stderr.write(`  failed: ${(error as Error).message}\n`);
    results.push({ shape, skipped: `failed: ${(error as Error).message.split('\n')[0]}` });
  }
  if (results[results.length - 1]?.skipped !== undefined) process.stderr.write(`  skipped: ${results[results.length - 1]?.skipped}\n`);
}
const loadAfter = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim();
process.stdout.write(`${table(results)}\n\n${new Date().toISOString()}; load average before ${loadBefore.split(' ').slice(0, 3).join(' ')}, after ${loadAfter.split(' ').slice(0, 3).join(' ')}; node flags: ${flags.nodeFlags.join(' ')}; ${flags.durationS} s per run, 64 in flight.\n`);
