/**
 * The servers' CPU per committed put (issue 11), A/B between builds in alternating rounds, so
 * that the load of whatever else runs on the machine falls on both alike. Each round of each
 * build starts 3 fresh nodes, warms them up, then runs `raftkv bench --workload put` (always
 * this checkout's bench, so the client is the same for every build) and reads the utime+stime
 * of the 3 node processes from /proc/PID/stat around it; committed puts are the leader's commit
 * index moved over the run. Not a test (nothing is asserted): a figure for humans.
 *
 * Run (after `npx tsc -p tsconfig.build.json`):
 *   npx tsx test/integration/measure-put-cpu.ts --dist /work/main/dist,dist [--rounds 3]
 *     [--concurrency 256] [--duration 8] [--value-bytes 256] [--base-port 28200]
 *     [--cpu-prof-dir DIR]   (profiles every node with --cpu-prof; read them with cpu-profile-summary.ts)
 *     [--heap-prof-dir DIR]  (every node with --heap-prof, V8's sampling heap profiler: where the
 *                             write path allocates; read them with heap-profile-summary.ts)
 *     [--node-options 'A|B'] (NODE_OPTIONS for each build's nodes, in --dist order: V8 flags A/B,
 *                             e.g. --dist dist,dist --node-options '|--max-semi-space-size=64')
 *     [--warmup 0]           (seconds of puts at 64 in flight before the measured run: V8 compiles
 *                             the hot paths meanwhile; at 1 in flight a cold node spends much of
 *                             its CPU in the compiler for the first tens of seconds)
 *     [--threads]            (also each node's CPU per put by thread: 'n1 main', then the others as
 *                             'n1 +K', K = TID - PID. Node names them all "node"; by creation order
 *                             the first four are V8's helpers (GC), the next four libuv's pool
 *                             (LevelDB reads and writes), the last LevelDB's compaction thread)
 *     [--auth off|on|both]   (on: auth enabled, the bench puts as root with a token; both: each
 *                             build with auth off, then on, in every round)
 *     [--perf-dir DIR]       (Linux perf (Debian's linux-perf) samples every thread of the 3 nodes,
 *                             kernel included, while the bench runs, into DIR/<round>.data, the
 *                             nodes with --perf-basic-prof so JavaScript frames have names; read
 *                             them with perf-summary.ts. Unlike --cpu-prof it sees LevelDB's and
 *                             libuv's threads, GC and system calls, without biasing toward them)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RaftKvClient } from '../../src/client/index.js';
import { processCpuMs as cpuMs, threadCpu } from '../../bench/vs-etcd/proc-stats.js';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const { values: flags } = parseArgs({
  options: {
    dist: { type: 'string', default: join(projectRoot, 'dist') },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '256' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '0' },
    'value-bytes': { type: 'string', default: '256' },
    'base-port': { type: 'string', default: '28200' },
    'cpu-prof-dir': { type: 'string' },
    'heap-prof-dir': { type: 'string' },
    'perf-dir': { type: 'string' },
    'node-options': { type: 'string' },
    auth: { type: 'string', default: 'off' },
    threads: { type: 'boolean', default: false },
  },
});
const dists = (flags.dist ?? '').split(',').map((d) => resolve(d.trim())).filter((d) => d !== '');
const nodeOptions = flags['node-options'] === undefined ? dists.map(() => '') : flags['node-options'].split('|').map((o) => o.trim());
if (nodeOptions.length !== dists.length) throw new Error(`--node-options: give one entry per --dist build (${dists.length}), separated by '|'; got ${nodeOptions.length}`);
/** How a build is named in the output: its directory, and its NODE_OPTIONS if any. */
if (!['off', 'on', 'both'].includes(flags.auth ?? '')) throw new Error(`--auth must be off, on or both, not ${String(flags.auth)}`);
const authModes: boolean[] = flags.auth === 'both' ? [false, true] : [flags.auth === 'on'];
const builds = dists.map((dist, i) => ({ dist, nodeOptions: nodeOptions[i] ?? '', name: nodeOptions[i] ? `${dist} [${nodeOptions[i]}]` : dist }));
const warmupSeconds = Number(flags.warmup);
if (!Number.isSafeInteger(warmupSeconds) || warmupSeconds < 0) throw new Error(`--warmup must be a whole number of seconds, got ${String(flags.warmup)}`);
const numbers = { rounds: Number(flags.rounds), concurrency: Number(flags.concurrency), duration: Number(flags.duration), valueBytes: Number(flags['value-bytes']), basePort: Number(flags['base-port']) };
for (const [name, value] of Object.entries(numbers)) {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${String(value)}`);
}
if (dists.length === 0) throw new Error('--dist: name at least one build directory');
/** The CPU of every thread of the given node processes: 'nN main', or 'nN +K' for TID = PID + K. */
function cpuByThreadRole(pids: readonly number[]): Map<string, number> {
  const byRole = new Map<string, number>();
  for (const [n, pid] of pids.entries()) {
    for (const thread of threadCpu(pid)) {
      const role = thread.tid === pid ? `n${n + 1} main` : `n${n + 1} +${thread.tid - pid}`;
      byRole.set(role, (byRole.get(role) ?? 0) + thread.cpuMs);
    }
  }
  return byRole;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

/** `perf record` of every thread of `pids` (cpu-clock: this machine's hypervisor offers no hardware counters), until stopPerf. */
function startPerf(output: string, pids: readonly number[]): ChildProcess {
  mkdirSync(dirname(output), { recursive: true });
  const perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '999', '-g', '-o', output, '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  perf.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  perf.on('error', (error) => console.error(`perf record could not start (apt-get install linux-perf): ${error.message}`));
  perf.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) console.error(`perf record exited with ${code}: ${stderr.trim()}`);
  });
  return perf;
}

/** Stops `perf record` the way it expects (SIGINT) and waits for it to write its file. */
async function stopPerf(perf: ChildProcess): Promise<void> {
  perf.kill('SIGINT');
  await exited(perf);
}

interface Figure {
  readonly dist: string;
  readonly auth: boolean;
  readonly puts: number;
  readonly cpuMs: number;
  readonly usPerPut: number;
  readonly putsPerSecond: number;
  /** µs of CPU per put by node thread, with --threads. */
  readonly usPerPutByThread: ReadonlyMap<string, number>;
}

async function round(build: (typeof builds)[number], label: string, auth: boolean): Promise<Figure> {
  const dist = build.dist;
  const root = mkdtempSync(join(tmpdir(), 'raftkv-cpu-'));
  const ids = ['n1', 'n2', 'n3'];
  const peer = (i: number): string => `127.0.0.1:${numbers.basePort + 2 * i}`;
  const client = (i: number): string => `127.0.0.1:${numbers.basePort + 2 * i + 1}`;
  const peers = ids.map((id, i) => `${id}=${peer(i)}`).join(',');
  const profile = flags['cpu-prof-dir'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(resolve(flags['cpu-prof-dir']), label)];
  const heapProfile = flags['heap-prof-dir'] === undefined ? [] : ['--heap-prof', '--heap-prof-dir', join(resolve(flags['heap-prof-dir']), label)];
  const perfMap = flags['perf-dir'] === undefined ? [] : ['--perf-basic-prof'];
  const nodes = ids.map((id, i) =>
    spawn(process.execPath, [...profile, ...heapProfile, ...perfMap, join(dist, 'cli', 'raftkv.js'), 'start', '--id', id, '--data', join(root, id), '--listen-peer', peer(i), '--listen-client', client(i), '--peers', peers, '--log-level', 'warn'], {
      stdio: 'ignore',
      env: build.nodeOptions === '' ? process.env : { ...process.env, NODE_OPTIONS: build.nodeOptions },
    }),
  );
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
    if (warmupSeconds > 0) {
      const endpoints = ids.map((_, i) => client(i)).join(',');
      const warming = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'raftkv.js'), 'bench', '--endpoints', endpoints, '--workload', 'put', '--concurrency', '64', '--duration', String(warmupSeconds), '--value-bytes', String(numbers.valueBytes), '--json'], { stdio: 'ignore' });
      await exited(warming);
    }
    if (auth) {
      await sdk.auth.addUser('root', 'bench');
      await sdk.auth.enable();
    }
    const commitIndex = async (): Promise<number> => Math.max(...(await Promise.all(ids.map((_, i) => sdk.status(client(i)).then((s) => s.commitIndex, () => 0)))));
    const pids = nodes.map((n) => n.pid as number);
    const commitBefore = await commitIndex();
    const cpuBefore = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
    const threadsBefore = flags.threads === true ? cpuByThreadRole(pids) : new Map<string, number>();
    const startedAt = performance.now();
    const bench = spawn(
      process.execPath,
      [join(projectRoot, 'dist', 'cli', 'raftkv.js'), 'bench', '--endpoints', ids.map((_, i) => client(i)).join(','), '--workload', 'put', '--concurrency', String(numbers.concurrency), '--duration', String(numbers.duration), '--value-bytes', String(numbers.valueBytes), '--json', ...(auth ? ['--user', 'root:bench'] : [])],
      { stdio: 'ignore' },
    );
    const perf = flags['perf-dir'] === undefined ? null : startPerf(join(resolve(flags['perf-dir']), `${label}.data`), pids);
    await exited(bench);
    if (perf !== null) await stopPerf(perf);
    const seconds = (performance.now() - startedAt) / 1000;
    const cpuAfter = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
    const threadsAfter = flags.threads === true ? cpuByThreadRole(pids) : new Map<string, number>();
    const puts = (await commitIndex()) - commitBefore;
    const usPerPutByThread = new Map([...threadsAfter].map(([role, ms]) => [role, ((ms - (threadsBefore.get(role) ?? 0)) * 1000) / puts] as const));
    sdk.close();
    const used = cpuAfter - cpuBefore;
    return { dist, auth, puts, cpuMs: used, usPerPut: (used * 1000) / puts, putsPerSecond: puts / seconds, usPerPutByThread };
  } finally {
    for (const node of nodes) node.kill('SIGTERM');
    await Promise.all(nodes.map(exited));
    rmSync(root, { recursive: true, force: true });
  }
}

const figures: Figure[] = [];
for (let r = 0; r < numbers.rounds; r++) {
  for (const [d, build] of builds.entries()) for (const auth of authModes) {
    const figure = { ...(await round(build, `round${r + 1}-build${d + 1}${auth ? '-auth' : ''}`, auth)), dist: build.name };
    figures.push(figure);
    console.log(`round ${r + 1} ${build.name}${auth ? ' (auth on)' : ''}: ${figure.puts} puts, ${Math.round(figure.putsPerSecond)} puts/s, ${Math.round(figure.cpuMs)} ms CPU (3 nodes), ${figure.usPerPut.toFixed(0)} µs per put`);
    if (flags.threads === true) {
      const parts = [...figure.usPerPutByThread].filter(([, us]) => us >= 0.5).map(([role, us]) => `${role} ${us.toFixed(1)}`);
      console.log(`  µs per put by thread: ${parts.join(', ')}`);
    }
  }
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
for (const { name } of builds) for (const auth of authModes) {
  const mine = figures.filter((f) => f.dist === name && f.auth === auth);
  console.log(`${name}${auth ? ' (auth on)' : ''}: CPU per put median ${median(mine.map((f) => f.usPerPut)).toFixed(0)} µs (${mine.map((f) => f.usPerPut.toFixed(0)).join(', ')}), puts/s median ${median(mine.map((f) => f.putsPerSecond)).toFixed(0)}`);
}
