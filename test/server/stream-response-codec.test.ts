import type * as grpc from '@grpc/grpc-js';
import { mulberry32 } from '../support/mulberry32.js';
import { describe, expect, it } from 'vitest';
import { streamResponseSerializer, type StreamResponseValue } from '../../src/server/stream-response-codec.js';
import { serviceClient } from '../../src/shared/proto.js';

const stream = serviceClient('raftkv/v1/kv.proto', 'KV').service['Stream'] as grpc.MethodDefinition<unknown, StreamResponseValue>;
const direct = streamResponseSerializer((value) => stream.responseSerialize(value));
/** What a client decodes from `bytes` (proto-loader's decoder, as the SDK uses it). */
const decoded = (bytes: Buffer): unknown => stream.responseDeserialize(bytes);

/** Integers and coin flips from a seeded source: a seed replays the same results. */
function seededRng(seed: number): { int(lo: number, hi: number): number; chance(a: number, b: number): boolean } {
  const next = mulberry32(seed);
  return {
    // Two draws for ranges beyond 2^32, so that large ids and revisions come up too.
    int: (lo, hi) => lo + (Math.floor((next() + next() / 2 ** 32) * (hi - lo + 1)) % (hi - lo + 1)),
    chance: (a, b) => next() * b < a,
  };
}

const header = { memberId: 'n1', term: 3, revision: 42 };
const base = { code: 0, message: '', leaderId: '', leaderAddress: '' };

describe('KV.Stream responses encoded directly', () => {
  it('decode exactly as protobufjs encodes them: put, get (found, absent, empty value), delete, errors, and the kinds it passes on', () => {
    const results = [
      { ...base, id: 1, put: { header, version: 1, modRevision: 42 } },
      { ...base, id: 2, get: { header, found: true, kv: { key: Buffer.from('k'), value: Buffer.from('v'), createRevision: 7, modRevision: 42, version: 3, lease: 0 } } },
      { ...base, id: 3, get: { header, found: false, kv: null } },
      { ...base, id: 4, get: { header, found: true, kv: { key: Buffer.from('k2'), value: Buffer.alloc(0), createRevision: 1, modRevision: 1, version: 1, lease: 2 ** 53 - 1 } } },
      { ...base, id: 5, delete: { header, deleted: true } },
      { ...base, id: 6, delete: { header, deleted: false } },
      { ...base, id: 7, code: 9, message: 'not the leader — ask n2 ✓', leaderId: 'n2', leaderAddress: '127.0.0.1:8002' },
      { ...base, id: 8, range: { header, kvs: [{ key: Buffer.from('a'), value: Buffer.from('b'), createRevision: 1, modRevision: 2, version: 1, lease: 0 }], more: true } },
      { ...base, id: 2 ** 53 - 1, put: { header: { memberId: '', term: 0, revision: 0 }, version: 0, modRevision: 0 } },
    ];
    const value = { results };
    expect(decoded(direct(value))).toEqual(decoded(stream.responseSerialize(value)));
  });

  it('matches protobufjs on random results (seeded)', () => {
    const rng = seededRng(7);
    const number = (): number => (rng.chance(1, 4) ? 0 : rng.chance(1, 2) ? rng.int(0, 200) : rng.int(0, 2 ** 53 - 1));
    const bytes = (): Buffer => Buffer.from(Array.from({ length: rng.int(0, 40) }, () => rng.int(0, 255)));
    const text = (): string => (rng.chance(1, 3) ? '' : `s${rng.int(0, 1000)}é`);
    for (let round = 0; round < 300; round++) {
      const results = Array.from({ length: rng.int(0, 12) }, (_, i) => {
        const h = { memberId: text(), term: number(), revision: number() };
        const common = { id: number(), code: rng.int(0, 16), message: text(), leaderId: text(), leaderAddress: text() };
        switch (rng.int(0, 4)) {
          case 0:
            return { ...common, put: { header: h, version: number(), modRevision: number() } };
          case 1:
            return { ...common, get: { header: h, found: rng.chance(1, 2), kv: rng.chance(1, 3) ? null : { key: bytes(), value: bytes(), createRevision: number(), modRevision: number(), version: number(), lease: number() } } };
          case 2:
            return { ...common, delete: { header: h, deleted: rng.chance(1, 2) } };
          case 3:
            return { ...common, registerSession: { header: h, clientId: `c${i}`, resultsPerSessionMax: number() } };
          default:
            return common;
        }
      });
      const value = { results };
      expect(decoded(direct(value)), `round ${round}`).toEqual(decoded(stream.responseSerialize(value)));
    }
  });

  it('leaves a result with a number it cannot encode exactly (an operation id beyond 2^53 a client chose) to protobufjs, as before', () => {
    const value = {
      results: [
        { ...base, id: 2 ** 64 - 1, put: { header, version: 1, modRevision: 1 } },
        { ...base, id: 7, put: { header, version: 1, modRevision: 1 } },
        { ...base, id: 2 ** 60, code: 3, message: 'bad request' },
      ],
    };
    expect(decoded(direct(value))).toEqual(decoded(stream.responseSerialize(value)));
  });
});
