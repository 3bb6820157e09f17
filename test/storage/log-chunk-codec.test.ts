import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/raft/index.js';
import { BinaryDecodeError, ByteWriter } from '../../src/shared/binary-codec.js';
import { chunkEntryBytes, decodeChunk, encodeChunk, splitIntoChunks } from '../../src/storage/log-chunk-codec.js';
import { bytes } from './temp-stores.js';

function entry(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: 'normal', data: bytes(data) };
}

describe('log chunk codec', () => {
  it('round-trips entries of both types, empty and binary data, without storing indexes', () => {
    const entries: Entry[] = [
      { index: 7, term: 3, type: 'normal', data: new Uint8Array() },
      { index: 8, term: 3, type: 'conf-change', data: new Uint8Array([0, 255, 1]) },
      { index: 9, term: 4, type: 'normal', data: bytes('x'.repeat(70_000)) },
    ];
    const value = encodeChunk(entries);
    expect(value.byteLength).toBe(4 + entries.reduce((sum, e) => sum + chunkEntryBytes(e), 0));
    expect(decodeChunk(7, value)).toEqual(entries);
    // The same bytes under another key are the same entries at other indexes.
    expect(decodeChunk(100, value).map((e) => e.index)).toEqual([100, 101, 102]);
  });

  it('splits a save above the byte bound into several chunks, an oversized entry alone', () => {
    const small = [1, 2, 3, 4, 5].map((i) => entry(i, 1, 'x'.repeat(10)));
    // 4 + 3 × (13 + 10) = 73 bytes fit in 80; the fourth would not.
    expect(splitIntoChunks(small, 80).map((chunk) => chunk.map((e) => e.index))).toEqual([[1, 2, 3], [4, 5]]);
    const mixed = [entry(1, 1, 'a'), entry(2, 1, 'y'.repeat(500)), entry(3, 1, 'b')];
    expect(splitIntoChunks(mixed, 80).map((chunk) => chunk.map((e) => e.index))).toEqual([[1], [2], [3]]);
    expect(splitIntoChunks(small).length).toBe(1);
    expect(splitIntoChunks([])).toEqual([]);
  });

  it.each([
    ['no bytes', new Uint8Array(), /chunk entry count: needs 4 bytes/],
    ['a count of 0', new ByteWriter().u32(0).finish(), /chunk entry count: 0/],
    ['a count the value cannot hold', new ByteWriter().u32(1000).u64(1).u8(0).u32(0).finish(), /1000 entries need at least 13000 bytes, 13 left/],
    ['a data length beyond the value', new ByteWriter().u32(1).u64(1).u8(0).u32(5).raw(bytes('abc')).finish(), /chunk entry 0 \(index 5\) at offset 4 data length: 5 bytes, 3 left/],
    ['a truncated second entry', new ByteWriter().u32(2).u64(1).u8(0).u32(10).raw(bytes('abcdefghij')).u64(1).u8(0).finish(), /chunk entry 1 \(index 6\) at offset 27 data length: needs 4 bytes, 0 left/],
    ['an unknown type byte', new ByteWriter().u32(1).u64(1).u8(7).u32(0).finish(), /chunk entry 0 \(index 5\) at offset 4 type: unknown type byte 7/],
    ['trailing bytes', new ByteWriter().u32(1).u64(1).u8(0).u32(0).u8(1).finish(), /chunk at 5 of 1 entries: 1 unexpected trailing bytes/],
  ])('refuses %s, naming the entry and offset', (_, value, message) => {
    expect(() => decodeChunk(5, value)).toThrow(BinaryDecodeError);
    expect(() => decodeChunk(5, value)).toThrow(message);
  });
});
