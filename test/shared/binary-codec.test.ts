import { describe, expect, it } from 'vitest';
import { BinaryDecodeError, ByteReader, ByteWriter } from '../../src/shared/binary-codec.js';
import { clientIdOfSessionKey, indexOfLogKey, logKey, prefixRange, sessionKey } from '../../src/storage/keys.js';
import { decodeHardState, decodeMembership, decodeSnapshotMeta, encodeHardState, encodeMembership, encodeSnapshotMeta } from '../../src/storage/raft-meta-codec.js';
import { decodeEntry, encodeEntry } from '../../src/storage/entry-codec.js';
import { nodeId, type NodeId } from '../../src/raft/index.js';

describe('binary codec', () => {
  it.each([0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER])('round-trips u64 %d', (value) => {
    const reader = new ByteReader(new ByteWriter().u64(value).finish());
    expect(reader.u64('n')).toBe(value);
    reader.end('test');
  });

  it('rejects a u64 beyond 2^53 on write and on read', () => {
    expect(() => new ByteWriter().u64(2 ** 53)).toThrow(RangeError);
    const bytes = new Uint8Array([0x00, 0x20, 0, 0, 0, 0, 0, 0]);
    expect(() => new ByteReader(bytes).u64('n')).toThrow(BinaryDecodeError);
  });

  it('reports truncation, trailing bytes, over-long fields and invalid UTF-8 as BinaryDecodeError', () => {
    expect(() => new ByteReader(new Uint8Array([1, 2])).u32('field')).toThrow(/field: needs 4 bytes, 2 left/);
    const reader = new ByteReader(new Uint8Array([1, 2]));
    reader.u8('a');
    expect(() => reader.end('record')).toThrow(/1 unexpected trailing bytes/);
    expect(() => new ByteReader(new ByteWriter().bytes(new Uint8Array(10), 'u8').finish()).bytes('u8', 9, 'b')).toThrow(/exceeds the limit of 9/);
    expect(() => new ByteReader(new Uint8Array([2, 0xc3, 0x28])).string('u8', 10, 's')).toThrow(/invalid UTF-8/);
  });

  it('grows past its initial capacity', () => {
    const big = new Uint8Array(1000).fill(7);
    const reader = new ByteReader(new ByteWriter(8).u8(1).bytes(big, 'u32').u16(513).finish());
    expect(reader.u8('a')).toBe(1);
    expect(reader.bytes('u32', 1000, 'big')).toEqual(big);
    expect(reader.u16('c')).toBe(513);
  });

  it('compares the next length-prefixed field without reading it (nextEquals)', () => {
    const abc = new Uint8Array([0x61, 0x62, 0x63]);
    const reader = new ByteReader(new ByteWriter().u8(9).bytes(abc, 'u8').bytes(abc, 'u16').finish());
    reader.u8('a');
    expect(reader.nextEquals('u8', abc)).toBe(true);
    expect(reader.nextEquals('u8', abc.subarray(0, 2))).toBe(false);
    expect(reader.nextEquals('u8', new Uint8Array([0x61, 0x62, 0x64]))).toBe(false);
    expect(reader.nextEquals('u16', abc)).toBe(false);
    expect(reader.string('u8', 3, 's')).toBe('abc');
    expect(reader.nextEquals('u16', abc)).toBe(true);
    expect(reader.nextEquals('u16', new Uint8Array(8))).toBe(false); // longer than what is left: no read past the end
    reader.skip(5, 'abc');
    expect(reader.nextEquals('u8', new Uint8Array(0))).toBe(false);
    reader.end('record');
  });
});

describe('keys', () => {
  it('orders log keys lexicographically as their indexes numerically', () => {
    const sample = [1, 2, 255, 256, 65_535, 65_536, 2 ** 32, 2 ** 32 + 1, 2 ** 50];
    const sorted = sample.map(logKey).sort(Buffer.compare).map(indexOfLogKey);
    expect(sorted).toEqual(sample);
  });

  it.each([
    { prefix: [0x61], lt: [0x62] },
    { prefix: [0x61, 0xff], lt: [0x62] },
    { prefix: [0x61, 0xfe, 0xff], lt: [0x61, 0xff] },
    { prefix: [0xff, 0xff], lt: undefined },
    { prefix: [], lt: undefined },
  ])('prefixRange($prefix) ends before $lt', ({ prefix, lt }) => {
    const range = prefixRange(new Uint8Array(prefix));
    expect(range.gte).toEqual(new Uint8Array(prefix));
    expect(range.lt).toEqual(lt === undefined ? undefined : new Uint8Array(lt));
  });

  it('prefixRange leaves a Buffer prefix untouched (Buffer.slice is a view, not a copy)', () => {
    const prefix = Buffer.from('fruit/');
    const range = prefixRange(prefix);
    expect(prefix.toString()).toBe('fruit/');
    expect(Buffer.from(range.gte).toString()).toBe('fruit/');
    expect(Buffer.from(range.lt!).toString()).toBe('fruit0');
  });

  it('round-trips the client id of a session key, and refuses another tag', () => {
    expect(clientIdOfSessionKey(sessionKey('client-7'))).toBe('client-7');
    expect(() => clientIdOfSessionKey(new TextEncoder().encode('applied'))).toThrow(/session key/);
  });
});

describe('raft record codecs', () => {
  it('round-trips an entry, a hard state and snapshot meta', () => {
    const entry = { index: 9, term: 4, type: 'normal' as const, data: new Uint8Array([1, 2, 3]) };
    expect(decodeEntry(9, encodeEntry(entry))).toEqual(entry);
    expect(encodeEntry(entry).byteLength).toBe(9 + 3);
    const hardState = { term: 7, vote: nodeId('node-é'), commit: 12 };
    expect(decodeHardState(encodeHardState(hardState))).toEqual(hardState);
    const meta = { index: 100, term: 7, membership: { voters: [nodeId('n1')], learners: [] } };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
  });

  it('round-trips a conf-change entry, and a joint membership with auto-promote learners in snapshot meta', () => {
    const entry = { index: 10, term: 4, type: 'conf-change' as const, data: new Uint8Array([1, 2]) };
    expect(decodeEntry(10, encodeEntry(entry))).toEqual(entry);
    const [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId];
    const joint = { voters: [n2, n3], learners: [n4], outgoingVoters: [n1, n2], autoPromote: [n4] };
    const meta = { index: 100, term: 7, membership: joint };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
    // A plain membership keeps format 1, which raftkv versions without membership changes read.
    expect(encodeSnapshotMeta({ ...meta, membership: { voters: [n1], learners: [] } })[17]).toBe(1);
    expect(encodeSnapshotMeta(meta)[17]).toBe(2);
  });

  it('round-trips a membership with a context (format 3, written only when there is one) in snapshot meta and on its own', () => {
    const [n1, n2] = ['n1', 'n2'].map(nodeId) as [NodeId, NodeId];
    const membership = { voters: [n1], learners: [n2], context: new Uint8Array([7, 0, 255]) };
    const meta = { index: 100, term: 7, membership };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(meta))).toEqual(meta);
    expect(encodeSnapshotMeta(meta)[17]).toBe(3);
    expect(decodeMembership(encodeMembership(membership))).toEqual(membership);
    expect(decodeMembership(encodeMembership({ voters: [n1], learners: [], context: new Uint8Array(0) }))).toEqual({ voters: [n1], learners: [] });
    const truncated = encodeMembership(membership).subarray(0, -1);
    expect(() => decodeMembership(truncated)).toThrow(/membership context/);
  });

  it('rejects an unknown entry type byte', () => {
    const bytes = encodeEntry({ index: 1, term: 1, type: 'normal', data: new Uint8Array(0) });
    bytes[8] = 9;
    expect(() => decodeEntry(1, bytes)).toThrow(/unknown type byte 9/);
  });

  it('rejects an unknown format version', () => {
    const bytes = encodeHardState({ term: 1, vote: null, commit: 0 });
    bytes[0] = 2;
    expect(() => decodeHardState(bytes)).toThrow(/unknown format version 2/);
  });
});
