import { describe, expect, it } from 'vitest';
import { KeyCache, keyCacheEntryOverheadBytes } from '../../src/kv/key-cache.js';
import type { KeyRecord } from '../../src/kv/index.js';

const record = (value: string) => ({ value: new TextEncoder().encode(value), version: 1, createRevision: 1, modRevision: 1 });
const overhead = keyCacheEntryOverheadBytes;

describe('the key cache', () => {
  it('tells known, known-absent and unknown keys apart', () => {
    const cache = new KeyCache(4096);
    cache.set('a', record('x'));
    cache.set('b', null);
    expect(cache.get('a')?.value).toEqual(record('x').value);
    expect(cache.get('b')).toBeNull();
    expect(cache.get('c')).toBeUndefined();
  });

  it('evicts the least recently used entries to stay within its byte bound', () => {
    const cache = new KeyCache(3 * (1 + 10 + overhead));
    cache.set('a', record('0123456789'));
    cache.set('b', record('0123456789'));
    cache.set('c', record('0123456789'));
    expect(cache.get('a')).toBeDefined(); // a is now the most recent
    cache.set('d', record('0123456789'));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.size).toBe(3);
    cache.set('huge', record('x'.repeat(10_000)));
    expect(cache.get('huge')).toBeUndefined();
  });

  it('replacing a key updates its record and recency, and counts its bytes once', () => {
    const cache = new KeyCache(2 * (1 + 10 + overhead));
    cache.set('a', record('0123456789'));
    cache.set('b', record('0123456789'));
    cache.set('a', record('9876543210')); // a is now the most recent
    cache.set('c', record('0123456789'));
    expect(cache.get('b')).toBeUndefined();
    expect(new TextDecoder().decode(cache.get('a')?.value)).toBe('9876543210');
    expect(cache.size).toBe(2);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('a')).toBeUndefined();
    cache.set('d', record('0123456789'));
    cache.set('e', record('0123456789'));
    expect(cache.size).toBe(2);
  });

  it('a cache of 0 bytes holds nothing (--key-cache-mb 0)', () => {
    const cache = new KeyCache(0);
    cache.set('a', record('x'));
    cache.set('b', null);
    expect(cache.size).toBe(0);
    expect(cache.get('a')).toBeUndefined();
  });

  it('under churn over a key space larger than itself, holds exactly the most recently used keys that fit', () => {
    // A reference LRU over an array, compared after every operation of a seeded random run.
    const fit = 50;
    const cache = new KeyCache(fit * (6 + 4 + overhead));
    let model: string[] = []; // least recently used first
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 5000; step++) {
      const key = `k${String(random(200)).padStart(5, '0')}`; // 6 bytes
      if (random(3) === 0) {
        const got = cache.get(key);
        expect(got === undefined).toBe(!model.includes(key));
        if (got !== undefined) model = [...model.filter((k) => k !== key), key];
      } else {
        cache.set(key, random(5) === 0 ? null : record('vvvv'));
        model = [...model.filter((k) => k !== key), key].slice(-fit);
      }
      expect(cache.size).toBe(model.length);
    }
    for (const key of model) expect(cache.get(key as string)).not.toBeUndefined();
    const unused: KeyRecord | null | undefined = cache.get('absent');
    expect(unused).toBeUndefined();
  });
});
