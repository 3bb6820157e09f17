/**
 * The state machine's apply and the Raft log's save alone, in one process, on a fresh
 * LevelDB: µs of CPU (process.cpuUsage, every thread) per put, in batches as a node under load
 * makes them (256 puts of 256-byte values over 10,000 keys, each with a session, as the SDK
 * sends them). Not a test; a figure for comparing changes to the write path.
 *
 *   npx tsx bench/apply-path.ts [--dir /tmp] [--batches 200] [--batch 256]
 *
 * RAFTKV_SRC=/path/to/other/checkout/src times another checkout's code (an A/B against a
 * baseline, in alternating runs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Entry } from '../src/raft/index.js';

const src = process.env.RAFTKV_SRC ?? '../src';
const { KvStateMachine, encodeCommand } = (await import(`${src}/kv/index.js`)) as typeof import('../src/kv/index.js');
const { NodeStore, RaftLogStore } = (await import(`${src}/storage/index.js`)) as typeof import('../src/storage/index.js');

const { values: flags } = parseArgs({ options: { dir: { type: 'string', default: tmpdir() }, batches: { type: 'string', default: '200' }, batch: { type: 'string', default: '256' } } });
const batches = Number(flags.batches);
const batchSize = Number(flags.batch);
const dir = mkdtempSync(join(flags.dir, 'raftkv-apply-path-'));
const store = await NodeStore.open(dir, { createIfMissing: true });
const log = new RaftLogStore(store);
await log.load();
const machine = await KvStateMachine.open(store);
const value = new Uint8Array(256).map((_, i) => (i * 7919) % 251);
let index = 0;
let sequence = 0;
const entry = (data: Uint8Array): Entry => ({ index: ++index, term: 1, type: 'normal', data });
const register = entry(encodeCommand({ kind: 'register-session' }));
await log.save({ hardState: { term: 1, vote: null, commit: 1 }, entries: [register], snapshotMeta: null });
await machine.apply([register]);
const clientId = String(register.index);
const make = (): Entry[] =>
  Array.from({ length: batchSize }, () => {
    sequence++;
    const key = new TextEncoder().encode(`key-${Math.floor(Math.random() * 10_000)}`);
    return entry(encodeCommand({ kind: 'put', key, value, session: { clientId, sequence, ackedSequence: Math.max(0, sequence - batchSize) } }));
  });
const timed = { save: 0, apply: 0 };
for (let b = 0; b < batches; b++) {
  const entries = make();
  let before = process.cpuUsage();
  await log.save({ hardState: { term: 1, vote: null, commit: index }, entries, snapshotMeta: null });
  let used = process.cpuUsage(before);
  timed.save += used.user + used.system;
  before = process.cpuUsage();
  await machine.apply(entries);
  used = process.cpuUsage(before);
  timed.apply += used.user + used.system;
}
const puts = batches * batchSize;
console.log(`${puts} puts in batches of ${batchSize}: log save ${(timed.save / puts).toFixed(1)} µs of CPU per put, apply ${(timed.apply / puts).toFixed(1)} µs`);
await store.close();
rmSync(dir, { recursive: true, force: true });
