import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/raft/index.js';
import { chunkEntries, defaultTurnLimits, validateTurnLimits } from '../../src/server/turn-limits.js';

function entries(sizes: readonly number[]): Entry[] {
  return sizes.map((size, i) => ({ index: i + 1, term: 1, type: 'normal', data: new Uint8Array(size) }));
}

const indexes = (chunks: Entry[][]): number[][] => chunks.map((chunk) => chunk.map((e) => e.index));

describe('chunkEntries', () => {
  it('cuts at entriesMax, in order, losing nothing', () => {
    expect(indexes(chunkEntries(entries([1, 1, 1, 1, 1]), 2, 1e9))).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('cuts before the entry that would pass bytesMax', () => {
    expect(indexes(chunkEntries(entries([40, 40, 40, 10]), 100, 100))).toEqual([[1, 2], [3, 4]]);
  });

  it('gives an entry larger than bytesMax a batch of its own', () => {
    expect(indexes(chunkEntries(entries([10, 500, 10]), 100, 100))).toEqual([[1], [2], [3]]);
  });

  it('returns no batch for no entries', () => {
    expect(chunkEntries([], 10, 10)).toEqual([]);
  });
});

describe('turn limits', () => {
  it('defaults are valid, and a zero or fractional bound is refused by name', () => {
    expect(() => validateTurnLimits(defaultTurnLimits)).not.toThrow();
    expect(() => validateTurnLimits({ ...defaultTurnLimits, applyEntriesMax: 0 })).toThrow(/applyEntriesMax/);
    expect(() => validateTurnLimits({ ...defaultTurnLimits, stepBytesMax: 1.5 })).toThrow(/stepBytesMax/);
  });
});
