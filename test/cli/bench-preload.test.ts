import { describe, expect, it } from 'vitest';
import { benchKey, preloadConcurrency, preloadKeys, randomValues } from '../../cli/bench-preload.js';
import type { RaftKvClient } from '../../src/client/index.js';

/** The two SDK calls a preload makes, over a Map; counts the puts. */
function fakeClient(initial: Map<string, Buffer> = new Map()): { client: RaftKvClient; data: Map<string, Buffer>; puts: () => number } {
  const data = initial;
  let puts = 0;
  const client = {
    get: async (key: string) => {
      const value = data.get(key);
      return value === undefined ? null : { key: Buffer.from(key), value, version: 1, createRevision: 1, modRevision: 1 };
    },
    put: async (key: string, value: Uint8Array) => {
      puts++;
      data.set(key, Buffer.from(value));
      return { revision: puts, version: 1 };
    },
  };
  return { client: client as unknown as RaftKvClient, data, puts: () => puts };
}

describe('bench --preload', () => {
  it('writes every key once with a value of the asked size, then is skipped for the same shape', async () => {
    const { client, data, puts } = fakeClient();
    const report = await preloadKeys(client, { keys: 1000, valueBytes: 100 }, () => undefined);
    expect(report).toMatchObject({ written: 1000, resumedFrom: 0, skipped: false });
    for (let i = 0; i < 1000; i++) expect(data.get(benchKey(i))?.byteLength).toBe(100);
    expect(puts()).toBe(1001); // and the marker
    const again = await preloadKeys(client, { keys: 1000, valueBytes: 100 }, () => undefined);
    expect(again.skipped).toBe(true);
    expect(puts()).toBe(1001);
    // Another shape is not skipped: its values have another size.
    const bigger = await preloadKeys(client, { keys: 1000, valueBytes: 200 }, () => undefined);
    expect(bigger).toMatchObject({ skipped: false, resumedFrom: 0, written: 1000 });
  });

  it('resumes an interrupted preload below where it stopped, leaving no key missing', async () => {
    const data = new Map<string, Buffer>();
    // Interrupted with keys 0..4999 written and a few holes just below, as puts in flight leave.
    for (let i = 0; i < 5000; i++) if (![4990, 4995].includes(i)) data.set(benchKey(i), Buffer.alloc(100));
    const { client } = fakeClient(data);
    const report = await preloadKeys(client, { keys: 10_000, valueBytes: 100 }, () => undefined);
    expect(report.resumedFrom).toBeGreaterThan(0);
    expect(report.resumedFrom).toBeLessThanOrEqual(4990);
    expect(report.written).toBe(10_000 - report.resumedFrom);
    for (let i = 0; i < 10_000; i++) expect(data.has(benchKey(i))).toBe(true);
  });

  it('keeps about 4 MiB of values in flight, between 8 and 256 puts', () => {
    expect(preloadConcurrency(100)).toBe(256);
    expect(preloadConcurrency(64 * 1024)).toBe(64);
    expect(preloadConcurrency(1024 * 1024)).toBe(8);
    expect(preloadConcurrency(0)).toBe(256);
  });

  it('makes values of the asked size that differ from one another (LevelDB would compress repeats)', () => {
    const value = randomValues(100);
    const a = Buffer.from(value());
    const b = Buffer.from(value());
    expect(a.byteLength).toBe(100);
    expect(a.equals(b)).toBe(false);
    expect(randomValues(0)().byteLength).toBe(0);
  });
});
