import { describe, expect, it } from 'vitest';
import { KeyCache } from '../../src/kv/key-cache.js';

const record = (value: string) => ({ value: new TextEncoder().encode(value), version: 1, createRevision: 1, modRevision: 1 });

describe('the key cache', () => {
  it('tells known, known-absent and unknown keys apart', () => {
    const cache = new KeyCache(1024);
    cache.set('a', record('x'));
    cache.set('b', null);
    expect(cache.get('a')?.value).toEqual(record('x').value);
    expect(cache.get('b')).toBeNull();
    expect(cache.get('c')).toBeUndefined();
  });

  it('evicts the least recently used entries to stay within its byte bound', () => {
    const cache = new KeyCache(3 * (1 + 10 + 64));
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
});
