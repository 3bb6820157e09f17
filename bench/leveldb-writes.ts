/**
 * What LevelDB alone costs a node per put under write load: per put, one Raft log record (an
 * 8-byte index key, ~290 bytes) and one key record (~280 bytes, 10,000 keys), in batches of 256
 * with the log's tail deleted 20,000 entries behind, as compaction does. Prints µs of CPU per
 * put (process.cpuUsage: every thread, LevelDB's own compaction thread included), during the
 * writes and with 3 s after them for the compactions they started.
 *
 *   npx tsx bench/leveldb-writes.ts [--dir /tmp] [--batches 600] [--options '{"compression":false}']
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClassicLevel } from 'classic-level';

const { values: flags } = parseArgs({ options: { dir: { type: 'string', default: tmpdir() }, batches: { type: 'string', default: '600' }, options: { type: 'string', default: '{}' } } });
const batches = Number(flags.batches);
const dir = mkdtempSync(join(flags.dir, 'raftkv-leveldb-writes-'));
const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', ...(JSON.parse(flags.options) as object) });
await db.open();
const logKey = (index: number): Uint8Array => {
  const key = Buffer.alloc(9);
  key[0] = 0x6c;
  key.writeUInt32BE(index, 5);
  return key;
};
// Made before the clock starts (randomBytes alone costs ~5 µs per put): random, so that LevelDB's
// compression has nothing to gain, and varied enough that no block repeats.
const logValues = Array.from({ length: 4096 }, () => randomBytes(290));
const keyValues = Array.from({ length: 4096 }, () => randomBytes(281));
const kvKeys = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`kv!key-${i}`));
const start = process.cpuUsage();
let index = 0;
for (let b = 0; b < batches; b++) {
  const operations: ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array })[] = [];
  for (let i = 0; i < 256; i++) {
    index++;
    operations.push({ type: 'put', key: logKey(index), value: logValues[index % 4096] as Uint8Array });
    operations.push({ type: 'put', key: kvKeys[Math.floor(Math.random() * 10_000)] as Uint8Array, value: keyValues[(index * 7) % 4096] as Uint8Array });
  }
  for (let old = Math.max(1, index - 20_000 - 255); old <= index - 20_000; old++) operations.push({ type: 'del', key: logKey(old) });
  await db.batch(operations, { sync: false });
}
const during = process.cpuUsage(start);
await new Promise((resolve) => setTimeout(resolve, 3000));
const after = process.cpuUsage(start);
const puts = batches * 256;
const perPut = (usage: NodeJS.CpuUsage): string => ((usage.user + usage.system) / puts).toFixed(1);
console.log(`${flags.options}: ${puts} puts, ${perPut(during)} µs of CPU per put during the writes, ${perPut(after)} with 3 s after`);
await db.close();
rmSync(dir, { recursive: true, force: true });
