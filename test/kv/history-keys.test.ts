import { describe, expect, it } from 'vitest';
import { decodeHistKey, escapeKey, histKey, histSelectorRange, histVersionsRange } from '../../src/kv/history-keys.js';
import { selectorContains, type KeySelector } from '../../src/kv/index.js';

const k = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

/** Keys that break a naive key ‖ revision layout: prefixes of one another, 00 and FF bytes. */
const adversarial = [k(), k(0), k(0, 0), k(0, 0xff), k(0, 1), k(1), k(1, 0), k(1, 0, 0), k(1, 0xff), k(0xff), k(0xff, 0), k(0xff, 0xff), k(0x61), k(0x61, 0), k(0x61, 0x62)].filter(
  (key) => key.byteLength > 0,
);

function inRange(range: { gte: Uint8Array; lt?: Uint8Array }, key: Uint8Array): boolean {
  return Buffer.compare(key, range.gte) >= 0 && (range.lt === undefined || Buffer.compare(key, range.lt) < 0);
}

describe('history keys', () => {
  it('escapes 00 as 00 FF and leaves other bytes alone', () => {
    expect([...escapeKey(k(1, 0, 0xff, 0))]).toEqual([1, 0, 0xff, 0xff, 0, 0xff]);
    expect([...escapeKey(k(1, 2))]).toEqual([1, 2]);
  });

  it('sorts versions by user key, then revision, then sub, for adversarial keys', () => {
    const versions = adversarial.flatMap((key) => [1, 255, 256, 70_000].flatMap((revision) => [0, 1].map((sub) => ({ key, revision, sub }))));
    const expected = [...versions].sort((a, b) => Buffer.compare(a.key, b.key) || a.revision - b.revision || a.sub - b.sub);
    const byStoredKey = [...versions].sort((a, b) => Buffer.compare(histKey(a.key, a.revision, a.sub), histKey(b.key, b.revision, b.sub)));
    expect(byStoredKey).toEqual(expected);
  });

  it('decodes what it encodes, random keys included', () => {
    // Every key of 1..5 bytes over 00, 01 and FF.
    const keys: Uint8Array[] = [];
    const grow = (prefix: number[]): void => {
      if (prefix.length > 0) keys.push(Uint8Array.from(prefix));
      if (prefix.length < 5) for (const byte of [0, 1, 0xff]) grow([...prefix, byte]);
    };
    grow([]);
    for (const key of keys) expect(decodeHistKey(histKey(key, 1234, 7))).toEqual({ key, revision: 1234, sub: 7 });
  });

  it("bounds a key's versions and a selector's keys exactly", () => {
    const selectors: KeySelector[] = [
      ...adversarial.map((key): KeySelector => ({ kind: 'key', key })),
      ...adversarial.map((prefix): KeySelector => ({ kind: 'prefix', prefix })),
      { kind: 'prefix', prefix: k() },
      { kind: 'interval', start: k(0), end: k(1) },
      { kind: 'interval', start: k(0, 0xff), end: k() },
      { kind: 'interval', start: k(1, 0), end: k(0xff) },
    ];
    for (const selector of selectors) {
      const range = histSelectorRange(selector);
      for (const key of adversarial) {
        expect(inRange(range, histKey(key, 9, 0)), `${JSON.stringify(selector)} / ${[...key]}`).toBe(selectorContains(selector, key));
      }
    }
    for (const key of adversarial) {
      for (const other of adversarial) expect(inRange(histVersionsRange(key), histKey(other, 3, 1))).toBe(Buffer.compare(key, other) === 0);
    }
  });
});

describe('history snapshot records', () => {
  it('are checked on receipt: a hist key without its terminator, or a revision key of the wrong size, is refused', async () => {
    const { SnapshotChunker, decodeSnapshotChunk } = await import('../../src/kv/index.js');
    const chunk = (kind: 'hist' | 'revs', key: Uint8Array, value: Uint8Array): Uint8Array => {
      const chunker = new SnapshotChunker(1024);
      chunker.add({ kind, key, value });
      return chunker.finish() as Uint8Array;
    };
    expect(decodeSnapshotChunk(chunk('hist', histKey(k(1, 0), 5, 0), new Uint8Array()))[0]?.kind).toBe('hist');
    expect(() => decodeSnapshotChunk(chunk('hist', k(1, 2, 3), new Uint8Array()))).toThrow(/terminator/);
    expect(() => decodeSnapshotChunk(chunk('revs', k(1, 2, 3), k(1)))).toThrow(/revision key/);
  });
});
