/**
 * Where a sequential put's time goes (issue 11). Starts 3 real nodes (built code: `dist/`),
 * runs sequential puts through the SDK with stage tracing on (RAFTKV_TRACE_STAGES, see
 * src/shared/stage-trace.ts), and prints the median and p90 of every hop, next to what a bare
 * grpc-js bidi-stream round trip and a bare LevelDB `sync: true` write cost on this machine,
 * measured by this script. Not a test (nothing is asserted): a figure for humans.
 *
 * Clocks: every process stamps `performance.timeOrigin + performance.now()`; on one machine
 * the processes' origins agree to well under 0.1 ms, so hops between processes are comparable.
 *
 * Run (after `npx tsc -p tsconfig.build.json`):
 *   npx tsx test/integration/measure-put-stages.ts [--puts 1000] [--value-bytes 256]
 *     [--dist dist] [--base-port 28100]
 * `--dist /work/main/dist` measures another build (stages only if that build traces them; the
 * client-side latency always).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Level } from 'level';
import { RaftKvClient } from '../../src/client/index.js';
import { stageNowMs } from '../../src/shared/stage-trace.js';

const projectRoot = resolve(import.meta.dirname, '..', '..');
const { values: flags } = parseArgs({
  options: {
    puts: { type: 'string', default: '1000' },
    'value-bytes': { type: 'string', default: '256' },
    dist: { type: 'string', default: join(projectRoot, 'dist') },
    'base-port': { type: 'string', default: '28100' },
  },
});
const puts = Number(flags.puts);
const valueBytes = Number(flags['value-bytes']);
const basePort = Number(flags['base-port']);
const cliPath = join(resolve(flags.dist), 'cli', 'raftkv.js');
for (const [name, value] of [['--puts', puts], ['--value-bytes', valueBytes], ['--base-port', basePort]] as const) {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${String(value)}`);
}

const root = mkdtempSync(join(tmpdir(), 'raftkv-stages-'));
const traceDir = join(root, 'trace');
const ids = ['n1', 'n2', 'n3'];
const peerAddress = (i: number): string => `127.0.0.1:${basePort + 2 * i}`;
const clientAddress = (i: number): string => `127.0.0.1:${basePort + 2 * i + 1}`;
const children: ChildProcess[] = [];

function startNode(i: number): ChildProcess {
  const peers = ids.map((id, j) => `${id}=${peerAddress(j)}`).join(',');
  const child = spawn(
    process.execPath,
    [cliPath, 'start', '--id', ids[i] as string, '--data', join(root, ids[i] as string), '--listen-peer', peerAddress(i), '--listen-client', clientAddress(i), '--peers', peers, '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, RAFTKV_TRACE_STAGES: traceDir } },
  );
  children.push(child);
  return child;
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

const fmt = (ms: number): string => (Number.isNaN(ms) ? '   -' : ms.toFixed(3));

/** A bare grpc-js bidi stream to an echo server in another process: one small frame there and back. */
async function bareGrpcRoundTripMs(rounds: number): Promise<number[]> {
  const port = basePort + 50;
  const serverCode = `
    const grpc = require(${JSON.stringify(fileURLToPath(import.meta.resolve('@grpc/grpc-js')))});
    const id = (b) => b;
    const server = new grpc.Server();
    server.addService({ Echo: { path: '/bench.Echo/Echo', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
      { Echo: (call) => { call.on('data', (b) => call.write(b)); call.on('end', () => call.end()); } });
    server.bindAsync('127.0.0.1:${port}', grpc.ServerCredentials.createInsecure(), () => process.stdout.write('ready\\n'));`;
  const server = spawn(process.execPath, ['-e', serverCode], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.once('exit', (code) => {
    if (code !== 0 && code !== null) console.error(`the echo server exited with ${code}`);
  });
  children.push(server);
  await new Promise<void>((done) => server.stdout?.once('data', () => done()));
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest<Buffer, Buffer>('/bench.Echo/Echo', (b) => b, (b) => b);
  call.on('error', () => undefined);
  const payload = Buffer.alloc(valueBytes + 32, 7);
  const times: number[] = [];
  for (let i = 0; i < rounds + 100; i++) {
    const startedAt = stageNowMs();
    await new Promise<void>((done) => {
      call.once('data', () => done());
      call.write(payload);
    });
    if (i >= 100) times.push(stageNowMs() - startedAt);
  }
  call.cancel();
  client.close();
  server.kill('SIGTERM');
  return times;
}

/** A bare LevelDB put of the same size with `sync: true`. */
async function bareLevelSyncWriteMs(rounds: number): Promise<number[]> {
  const db = new Level<Buffer, Buffer>(join(root, 'bare-level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const value = Buffer.alloc(valueBytes, 7);
  const times: number[] = [];
  for (let i = 0; i < rounds + 50; i++) {
    const key = Buffer.alloc(8);
    key.writeUInt32BE(i, 4);
    const startedAt = stageNowMs();
    await db.batch([{ type: 'put', key, value }], { sync: true });
    if (i >= 50) times.push(stageNowMs() - startedAt);
  }
  await db.close();
  return times;
}

interface Sample {
  readonly sentAt: number;
  readonly answeredAt: number;
}

type Records = Map<string, Map<number, number>>;

/** Each traced process's records: stage -> index -> time. */
function readTraces(): Records[] {
  if (!existsSync(traceDir)) return [];
  const files = readdirSync(traceDir).filter((f) => f.endsWith('.jsonl'));
  return files.map((file) => {
    const byStage: Records = new Map();
    for (const line of readFileSync(join(traceDir, file), 'utf8').split('\n')) {
      if (line === '') continue;
      const { s, i, t } = JSON.parse(line) as { s: string; i: number; t: number };
      let stage = byStage.get(s);
      if (stage === undefined) byStage.set(s, (stage = new Map()));
      // The first time an index reaches a stage (a resend is not the put's own path).
      if (!stage.has(i)) stage.set(i, t);
    }
    return byStage;
  });
}

try {
  for (let i = 0; i < ids.length; i++) startNode(i);
  const client = new RaftKvClient({ endpoints: ids.map((_, i) => clientAddress(i)), timeoutMs: 10_000 });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await client.put('warm-up', 'x', { timeoutMs: 2000 });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((done) => setTimeout(done, 200));
    }
  }
  const value = Buffer.alloc(valueBytes, 'v');
  for (let i = 0; i < 200; i++) await client.put(`warm-${i % 100}`, value);
  const samples: Sample[] = [];
  for (let i = 0; i < puts; i++) {
    const sentAt = stageNowMs();
    await client.put(`key-${i % 1000}`, value);
    samples.push({ sentAt, answeredAt: stageNowMs() });
  }
  client.close();
  console.error('puts done; measuring a bare grpc-js round trip and a bare LevelDB synced write');
  const grpcTimes = await bareGrpcRoundTripMs(Math.min(puts, 2000));
  const levelTimes = await bareLevelSyncWriteMs(Math.min(puts, 2000));
  await Promise.all(
    children.map((child) => (child.exitCode !== null || child.signalCode !== null ? undefined : new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGTERM');
    }))),
  );

  const totals = samples.map((s) => s.answeredAt - s.sentAt);
  console.log(`${puts} sequential puts of ${valueBytes}-byte values, 3 nodes from ${cliPath}`);
  console.log(`client put: p50 ${fmt(quantile(totals, 0.5))} ms, p90 ${fmt(quantile(totals, 0.9))} ms, ${Math.round(puts / (totals.reduce((a, b) => a + b, 0) / 1000))} puts/s`);
  console.log(`bare grpc-js bidi-stream round trip: p50 ${fmt(quantile(grpcTimes, 0.5))} ms, p90 ${fmt(quantile(grpcTimes, 0.9))} ms`);
  console.log(`bare LevelDB sync:true write: p50 ${fmt(quantile(levelTimes, 0.5))} ms, p90 ${fmt(quantile(levelTimes, 0.9))} ms`);

  const traces = readTraces();
  const leader = traces.find((t) => (t.get('leader-propose')?.size ?? 0) > puts / 2);
  if (leader === undefined) {
    console.log('no stage traces (this build does not trace, or leadership moved during the run)');
  } else {
    const followers = traces.filter((t) => t !== leader && t.has('follower-fsynced'));
    const hops: { name: string; values: number[] }[] = [];
    const hop = (name: string, value: number | undefined): void => {
      let entry = hops.find((h) => h.name === name);
      if (entry === undefined) hops.push((entry = { name, values: [] }));
      if (value !== undefined && Number.isFinite(value)) entry.values.push(value);
    };
    const received = [...(leader.get('leader-receive') ?? new Map<number, number>())].sort((a, b) => a[1] - b[1]);
    let next = 0;
    for (const sample of samples) {
      // The put's entry: the one whose arrival at the leader falls within the client's call.
      while (next < received.length && (received[next] as [number, number])[1] < sample.sentAt) next++;
      const found = received[next];
      if (found === undefined || found[1] > sample.answeredAt) continue;
      const [index] = found;
      const at = (t: Records, stage: string): number | undefined => t.get(stage)?.get(index);
      // The follower whose acknowledgement made the commit: the first to send one.
      const follower = followers
        .filter((f) => at(f, 'follower-ack-out') !== undefined)
        .sort((a, b) => (at(a, 'follower-ack-out') as number) - (at(b, 'follower-ack-out') as number))[0];
      const d = (from: number | undefined, to: number | undefined): number | undefined => (from === undefined || to === undefined ? undefined : to - from);
      const f = (stage: string): number | undefined => (follower === undefined ? undefined : at(follower, stage));
      hop('SDK send -> leader receive', d(sample.sentAt, at(leader, 'leader-receive')));
      hop('leader receive -> propose', d(at(leader, 'leader-receive'), at(leader, 'leader-propose')));
      hop('propose -> leader Ready', d(at(leader, 'leader-propose'), at(leader, 'leader-ready')));
      hop('Ready -> AppendEntries written', d(at(leader, 'leader-ready'), at(leader, 'leader-append-out')));
      hop('  (Ready -> leader fsynced)', d(at(leader, 'leader-ready'), at(leader, 'leader-fsynced')));
      hop('AppendEntries -> follower receive', d(at(leader, 'leader-append-out'), f('follower-receive')));
      hop('follower receive -> Ready', d(f('follower-receive'), f('follower-ready')));
      hop('follower Ready -> fsynced', d(f('follower-ready'), f('follower-fsynced')));
      hop('follower fsynced -> ack written', d(f('follower-fsynced'), f('follower-ack-out')));
      hop('ack written -> leader receive', d(f('follower-ack-out'), at(leader, 'leader-ack-in')));
      hop('ack in -> commit (apply starts)', d(at(leader, 'leader-ack-in'), at(leader, 'leader-commit')));
      hop('  (leader fsynced -> commit)', d(at(leader, 'leader-fsynced'), at(leader, 'leader-commit')));
      hop('apply (LevelDB batch)', d(at(leader, 'leader-commit'), at(leader, 'leader-applied')));
      hop('applied -> answer written', d(at(leader, 'leader-applied'), at(leader, 'leader-answer')));
      hop('answer written -> SDK resolves', d(at(leader, 'leader-answer'), sample.answeredAt));
      hop('total', sample.answeredAt - sample.sentAt);
    }
    console.log(`\n${'hop'.padEnd(36)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)}  samples`);
    for (const { name, values } of hops) {
      console.log(`${name.padEnd(36)} ${fmt(quantile(values, 0.5)).padStart(8)} ${fmt(quantile(values, 0.9)).padStart(8)}  ${values.length}`);
    }
    console.log('(indented rows run in parallel with the rows around them)');
  }
} finally {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
