/**
 * Times LevelDB reads of a stopped node's key space alone, with no Raft, gRPC or key cache:
 * one `get` at a time, 64 concurrent, `getMany` of 64, `getSync`, and KvStateMachine.get at 64
 * in flight (which batches the misses of one turn into one getMany).
 *
 *   UV_THREADPOOL_SIZE=4 npx tsx bench/leveldb-gets.ts <data dir of a stopped node> <keys> [blockCacheMiB] [reads] [keyCacheMiB]
 *
 * With keyCacheMiB > 0, KvStateMachine.get runs with a key cache of that size, filled first by
 * as many reads as the key space has keys, so that it churns as on a node that has run a while.
 *
 * Prints reads/s and CPU microseconds per read (process.cpuUsage: all threads) for each way.
 */
// RAFTKV_SRC=/path/to/src times another checkout's code (an A/B against the baseline).
const src = process.env.RAFTKV_SRC ?? '../src';
const { KvStateMachine } = (await import(`${src}/kv/index.js`)) as typeof import('../src/kv/index.js');
const { NodeStore } = (await import(`${src}/storage/index.js`)) as typeof import('../src/storage/index.js');

const [dataDir, keysText, cacheMiBText = '8', readsText = '20000', keyCacheMiBText = '0'] = process.argv.slice(2);
if (dataDir === undefined || keysText === undefined) {
  process.stderr.write('usage: tsx bench/leveldb-gets.ts <data dir> <keys> [blockCacheMiB] [reads]\n');
  process.exit(2);
}
const keys = Number(keysText);
const reads = Number(readsText);
const store = await NodeStore.open(dataDir, { createIfMissing: false, blockCacheBytes: Number(cacheMiBText) * 1024 * 1024 });
const keyCacheBytes = Number(keyCacheMiBText) * 1024 * 1024;
const machine = await KvStateMachine.open(store, { cacheBytesMax: Math.max(1, keyCacheBytes) });
const kv = store.generation(machine.generation).kv;
const randomKey = (): Uint8Array => Buffer.from(`bench/${Math.floor(Math.random() * keys)}`);

async function measure(name: string, run: (n: number) => Promise<number>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const found = await run(reads);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${name.padEnd(34)} ${(reads / seconds).toFixed(0).padStart(8)} reads/s ${((cpu.user + cpu.system) / reads).toFixed(1).padStart(7)} us CPU/read  found ${found}/${reads}\n`,
  );
}

const inFlight = 64;
const ways: [string, (n: number) => Promise<number>][] = [
  ['get, one at a time', async (n) => {
    let found = 0;
    for (let i = 0; i < n; i++) if ((await kv.get(randomKey())) !== undefined) found++;
    return found;
  }],
  [`get, ${inFlight} in flight`, async (n) => {
    let found = 0;
    let left = n;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (left-- > 0) if ((await kv.get(randomKey())) !== undefined) found++;
    }));
    return found;
  }],
  [`getMany of ${inFlight}, one at a time`, async (n) => {
    let found = 0;
    for (let i = 0; i < n; i += inFlight) {
      const values = await kv.getMany(Array.from({ length: Math.min(inFlight, n - i) }, randomKey));
      found += values.filter((v) => v !== undefined).length;
    }
    return found;
  }],
  [`getMany of 16, 4 in flight`, async (n) => {
    let found = 0;
    let left = n;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (left > 0) {
        const batch = Math.min(16, left);
        left -= batch;
        const values = await kv.getMany(Array.from({ length: batch }, randomKey));
        found += values.filter((v) => v !== undefined).length;
      }
    }));
    return found;
  }],
  ['getSync, one at a time', async (n) => {
    let found = 0;
    for (let i = 0; i < n; i++) if (kv.getSync(randomKey()) !== undefined) found++;
    return found;
  }],
  [`KvStateMachine.get, ${inFlight} in flight`, async (n) => {
    let found = 0;
    let left = n;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (left-- > 0) if ((await machine.get(randomKey())) !== null) found++;
    }));
    return found;
  }],
];

process.stdout.write(`${dataDir}: ${keys} keys, block cache ${cacheMiBText} MiB, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(4)'}\n`);
// Warm the OS page cache and LevelDB's table cache once, then measure.
await ways[4]![1](reads);
if (keyCacheBytes > 0) {
  const machineGet = ways[5]!;
  const fill = performance.now();
  let left = keys;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (left-- > 0) await machine.get(randomKey());
  }));
  process.stdout.write(`key cache of ${keyCacheMiBText} MiB filled by ${keys} reads in ${((performance.now() - fill) / 1000).toFixed(1)} s\n`);
  for (let round = 0; round < 3; round++) await measure(machineGet[0], machineGet[1]);
} else {
  for (const [name, run] of ways) await measure(name, run);
}
await store.close();
