/**
 * The state machine's CPU per applied put (KvStateMachine.apply, batches of 64 puts of 256-byte
 * values over 1000 keys), A/B between builds in alternating rounds: what the revision history
 * adds to the apply path, without Raft, gRPC or the client. Not a test: a figure for humans.
 *
 * Run (after `npx tsc -p tsconfig.build.json` in each checkout):
 *   npx tsx test/integration/measure-apply-cpu.ts --dist /work/main/dist,dist [--rounds 3] [--batches 800]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';

const { values: flags, positionals } = parseArgs({
  options: { dist: { type: 'string', default: 'dist' }, rounds: { type: 'string', default: '3' }, batches: { type: 'string', default: '800' }, child: { type: 'boolean', default: false } },
  allowPositionals: true,
});

async function measure(dist: string, batches: number): Promise<void> {
  const kv = (await import(join(dist, 'src', 'kv', 'index.js'))) as typeof import('../../src/kv/index.js');
  const storage = (await import(join(dist, 'src', 'storage', 'index.js'))) as typeof import('../../src/storage/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-apply-cpu-'));
  const store = await storage.NodeStore.open(dir, { createIfMissing: true });
  try {
    const machine = await kv.KvStateMachine.open(store);
    const value = new Uint8Array(256);
    let index = 0;
    const batch = () =>
      Array.from({ length: 64 }, () => {
        index++;
        return { index, term: 1, type: 'normal' as const, data: kv.encodeCommand({ kind: 'put', key: new TextEncoder().encode(`key-${index % 1000}`), value }) };
      });
    for (let i = 0; i < 100; i++) await machine.apply(batch());
    const start = process.cpuUsage();
    for (let i = 0; i < batches; i++) await machine.apply(batch());
    const cpu = process.cpuUsage(start);
    process.stdout.write(`${((cpu.user + cpu.system) / (batches * 64)).toFixed(1)}\n`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const batches = Number(flags.batches);
if (flags.child) {
  await measure(resolve(positionals[0] as string), batches);
} else {
  const dists = (flags.dist ?? '').split(',').map((d) => resolve(d.trim()));
  const results = new Map<string, number[]>(dists.map((d) => [d, []]));
  for (let round = 1; round <= Number(flags.rounds); round++) {
    for (const dist of dists) {
      // A fresh process per measurement, so that one build's heap and JIT state do not carry over.
      const run = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', '--batches', String(batches), dist], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`measuring ${dist} failed: ${run.stderr}`);
      const microseconds = Number(run.stdout.trim());
      results.get(dist)?.push(microseconds);
      process.stdout.write(`round ${round} ${dist}: ${microseconds} µs CPU per applied put\n`);
    }
  }
  for (const [dist, values] of results) {
    const sorted = [...values].sort((a, b) => a - b);
    process.stdout.write(`${dist}: median ${sorted[Math.floor(sorted.length / 2)]} µs CPU per applied put (${values.join(', ')})\n`);
  }
}
