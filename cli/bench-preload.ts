import { randomBytes, randomInt } from 'node:crypto';
import type { RaftKvClient } from '../src/client/index.js';

/**
 * Puts in flight while preloading: enough to fill the leader's batches, and at most about 4 MiB
 * of values: 256 puts of 64 KiB in flight held the nodes' event loops long enough to lose the
 * leader again and again (a put gave up after 30 s of "not the leader").
 */
export function preloadConcurrency(valueBytes: number): number {
  return Math.max(8, Math.min(256, Math.floor((4 * 1024 * 1024) / Math.max(1, valueBytes))));
}

/** The key `bench` reads and writes for index `i` of the key space. */
export function benchKey(i: number): string {
  return `bench/${i}`;
}

/** Written once a preload has written every key: `<keys> <valueBytes>`. */
const preloadDoneKey = 'bench-preload/done';

/**
 * Values of `valueBytes` random bytes, cut at random offsets from one random pool: LevelDB
 * compresses its blocks (snappy), so a value of repeated bytes would measure a store many times
 * smaller than the one a real key space makes.
 */
export function randomValues(valueBytes: number): () => Uint8Array {
  const pool = randomBytes(valueBytes + 1024 * 1024);
  return () => {
    const offset = randomInt(0, pool.byteLength - valueBytes + 1);
    return pool.subarray(offset, offset + valueBytes);
  };
}

export interface PreloadReport {
  /** Keys written by this preload (0 when an earlier one had written them all). */
  readonly written: number;
  readonly seconds: number;
  readonly putsPerSecond: number;
  /** Where it started: 0, or the index an interrupted preload of the same shape had reached. */
  readonly resumedFrom: number;
  readonly skipped: boolean;
}

/**
 * Writes every key of the key space once, `preloadConcurrency` at a time, in index order.
 * Skipped when an earlier preload of the same shape (keys, value size) finished; resumed near
 * where an interrupted one stopped: keys are handed out in order, so below the last written key
 * only the `preloadConcurrency` before it can be missing.
 */
export async function preloadKeys(
  client: RaftKvClient,
  shape: { readonly keys: number; readonly valueBytes: number },
  progress: (line: string) => void,
): Promise<PreloadReport> {
  const marker = `${shape.keys} ${shape.valueBytes}`;
  const done = await client.get(preloadDoneKey, { consistency: 'serializable' });
  if (done !== null && done.value.toString() === marker) {
    return { written: 0, seconds: 0, putsPerSecond: 0, resumedFrom: shape.keys, skipped: true };
  }
  const concurrency = preloadConcurrency(shape.valueBytes);
  const resumedFrom = Math.max(0, (await firstMissing(client, shape)) - 2 * concurrency);
  const value = randomValues(shape.valueBytes);
  let next = resumedFrom;
  let written = 0;
  const started = performance.now();
  let nextReport = started + 1000;
  let writtenAtReport = 0;
  const worker = async (): Promise<void> => {
    while (next < shape.keys) {
      const i = next++;
      await client.put(benchKey(i), value());
      written++;
      const now = performance.now();
      if (now >= nextReport) {
        progress(`  preload: ${((now - started) / 1000).toFixed(0)} s, ${resumedFrom + written}/${shape.keys} keys, ${written - writtenAtReport} puts/s now`);
        writtenAtReport = written;
        nextReport += 1000;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, shape.keys) }, worker));
  await client.put(preloadDoneKey, marker);
  const seconds = (performance.now() - started) / 1000;
  return { written, seconds, putsPerSecond: written / seconds, resumedFrom, skipped: false };
}

/**
 * An index whose key is absent while the one before it holds a value of the right size (0 when
 * the first key is absent, `keys` when the last is present), by binary search.
 */
async function firstMissing(client: RaftKvClient, shape: { readonly keys: number; readonly valueBytes: number }): Promise<number> {
  const present = async (i: number): Promise<boolean> => {
    const record = await client.get(benchKey(i), { consistency: 'serializable' });
    return record !== null && record.value.byteLength === shape.valueBytes;
  };
  if (!(await present(0))) return 0;
  if (await present(shape.keys - 1)) return shape.keys;
  // Invariant: present(low), !present(high).
  let low = 0;
  let high = shape.keys - 1;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await present(middle)) low = middle;
    else high = middle;
  }
  return high;
}
