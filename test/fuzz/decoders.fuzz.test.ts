import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type Command } from '../../src/kv/commands.js';
import { CommandDecodeError } from '../../src/kv/errors.js';
import { decodeKeyRecord } from '../../src/kv/key-record.js';
import { decodeAppliedResult, decodeSessionHeader, decodeSessionLimits, decodeSessionState } from '../../src/kv/session-codec.js';
import { decodeSnapshotChunk } from '../../src/kv/snapshot-format.js';
import { decodeLeaseRecord } from '../../src/kv/lease-table.js';
import { nodeId, type Message } from '../../src/raft/index.js';
import { BinaryDecodeError } from '../../src/shared/binary-codec.js';
import { decodeEntry, encodeEntry } from '../../src/storage/entry-codec.js';
import { decodeHardState, decodeLogPosition, decodeMembership, decodeSnapshotMeta, encodeHardState, encodeLogPosition } from '../../src/storage/raft-meta-codec.js';
import { decodeBatch, encodeBatch } from '../../src/transport/batch-codec.js';
import { decodeMessage, encodeMessage } from '../../src/transport/codec.js';
import { PeerProtocolError } from '../../src/transport/errors.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import { oneOfEach } from '../transport/fixtures.js';

/**
 * Property-based fuzzing of every decoder that reads bytes or wire objects from outside the
 * process (disk, peers, snapshots): whatever it is given, it returns a value or throws its own
 * typed error, never a TypeError, RangeError or a hang. Seeds are fixed, so a run is repeatable;
 * `RAFTKV_FUZZ_RUNS` raises the number of cases (default 2,000 per property).
 */
const runs = Number(process.env.RAFTKV_FUZZ_RUNS ?? 2000);
const settings = { numRuns: runs, seed: 20261207, interruptAfterTimeLimit: 20_000 };

/** Runs `decode`; passes if it returns or throws one of `allowed`, fails (rethrows) otherwise. */
function returnsOrThrowsTyped(decode: () => unknown, allowed: readonly (new (...args: never[]) => Error)[]): true {
  try {
    decode();
  } catch (error) {
    if (!allowed.some((type) => error instanceof type)) throw error;
  }
  return true;
}

const bytes = fc.uint8Array({ maxLength: 512 });

describe('storage decoders', () => {
  it.each([
    ['entry', (b: Uint8Array) => decodeEntry(1, b)],
    ['hard state', decodeHardState],
    ['log position', decodeLogPosition],
    ['membership', decodeMembership],
    ['snapshot meta', decodeSnapshotMeta],
  ] as const)('%s: any bytes decode or throw BinaryDecodeError', (_name, decode) => {
    fc.assert(
      fc.property(bytes, (b) => returnsOrThrowsTyped(() => decode(b), [BinaryDecodeError])),
      settings,
    );
  });

  it('entries and hard states survive a round trip', () => {
    fc.assert(
      fc.property(fc.nat(), fc.boolean(), fc.uint8Array({ maxLength: 256 }), (term, conf, data) => {
        const entry = { index: 5, term, type: conf ? ('conf-change' as const) : ('normal' as const), data };
        expect(decodeEntry(5, encodeEntry(entry))).toEqual(entry);
      }),
      settings,
    );
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.option(fc.stringMatching(/^[a-z0-9]{1,20}$/), { nil: null }), (term, commit, vote) => {
        const hardState = { term, commit, vote: vote === null ? null : nodeId(vote) };
        expect(decodeHardState(encodeHardState(hardState))).toEqual(hardState);
        expect(decodeLogPosition(encodeLogPosition({ index: commit, term }))).toEqual({ index: commit, term });
      }),
      settings,
    );
  });
});

describe('state machine decoders', () => {
  it('commands: any bytes decode or throw CommandDecodeError', () => {
    fc.assert(fc.property(bytes, (b) => returnsOrThrowsTyped(() => decodeCommand(b), [CommandDecodeError])), settings);
  });

  it('commands: a valid command, with one byte changed or cut short, decodes to a command or is refused', () => {
    const command = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: fc.uint8Array({ minLength: 1, maxLength: 64 }), value: fc.uint8Array({ maxLength: 128 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    );
    fc.assert(
      fc.property(command, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (original, position, value, truncate) => {
        const encoded = encodeCommand(original as Command);
        expect(decodeCommand(encoded)).toEqual(original);
        const at = position % encoded.length;
        const damaged = truncate ? encoded.subarray(0, at) : Uint8Array.from(encoded, (b, i) => (i === at ? value : b));
        return returnsOrThrowsTyped(() => decodeCommand(damaged), [CommandDecodeError]);
      }),
      settings,
    );
  });

  it('auth, transaction and lease commands: any body, and valid ones with one byte changed or cut short, decode or are refused', () => {
    const b = (text: string): Uint8Array => new TextEncoder().encode(text);
    const valid: Command[] = [
      {
        kind: 'txn',
        compare: [
          { key: b('a'), target: 'version', result: 'equal', number: 1 },
          { key: b('b'), target: 'value', result: 'not-equal', value: b('x') },
        ],
        success: [
          { kind: 'put', key: b('a'), value: b('1') },
          { kind: 'delete', keys: { kind: 'prefix', prefix: b('t/') } },
          { kind: 'get', keys: { kind: 'interval', start: b('a'), end: b('c') }, limit: 10 },
        ],
        failure: [{ kind: 'get', keys: { kind: 'key', key: b('a') }, limit: 0 }],
      },
      { kind: 'auth', op: { op: 'role-grant-permission', name: 'reader', permission: { type: 'read', key: b('a/'), rangeEnd: b('a0') } } },
      { kind: 'auth', op: { op: 'user-grant-role', name: 'alice', role: 'reader' } },
      { kind: 'auth', op: { op: 'enable', secret: new Uint8Array(32).fill(7) } },
      { kind: 'lease-grant', id: 0, ttlSeconds: 30 },
      { kind: 'lease-revoke', id: 77, session: { clientId: '12', sequence: 3, ackedSequence: 2 } },
      { kind: 'put', key: b('k'), value: b('v'), lease: 2 ** 40 },
      { kind: 'txn', compare: [], success: [{ kind: 'put', key: b('k'), value: b('v'), lease: 5 }], failure: [] },
    ];
    const encoded = valid.map((command) => encodeCommand(command));
    encoded.forEach((bytes, i) => expect(decodeCommand(bytes)).toEqual(valid[i]));
    // Format 2, kind 6 (auth), 7 (txn), 9 (lease-grant), 10 (lease-revoke) or 12 (put with a lease), then anything.
    const randomBody = fc.tuple(fc.constantFrom(6, 7, 9, 10, 12), bytes).map(([kind, body]) => Uint8Array.from([2, kind, ...body]));
    const damaged = fc
      .tuple(fc.nat(encoded.length - 1), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
      .map(([which, position, value, truncate]) => {
        const original = encoded[which] as Uint8Array;
        const at = position % original.length;
        return truncate ? original.subarray(0, at) : Uint8Array.from(original, (byte, i) => (i === at ? value : byte));
      });
    fc.assert(fc.property(fc.oneof(randomBody, damaged), (input) => returnsOrThrowsTyped(() => decodeCommand(input), [CommandDecodeError])), settings);
  });

  it.each([
    ['key record', decodeKeyRecord],
    ['session header', (b: Uint8Array) => decodeSessionHeader('c1', b)],
    ['session state', (b: Uint8Array) => decodeSessionState('c1', b)],
    ['session limits', decodeSessionLimits],
    ['applied result', decodeAppliedResult],
    ['snapshot chunk', decodeSnapshotChunk],
    // The key is the first 9 bytes (tag and id) or more; the value the rest.
    ['lease record', (b: Uint8Array) => decodeLeaseRecord(b.subarray(0, Math.min(b.length, 9 + (b[0] ?? 0) % 4)), b.subarray(Math.min(b.length, 9 + (b[0] ?? 0) % 4)))],
  ] as const)('%s: any bytes decode or throw BinaryDecodeError', (_name, decode) => {
    fc.assert(
      fc.property(bytes, (b) => returnsOrThrowsTyped(() => decode(b), [BinaryDecodeError])),
      settings,
    );
  });
});

describe('peer wire decoders', () => {
  const n1 = nodeId('n1');
  const n2 = nodeId('n2');
  const receiver = { clusterId: 'raftkv', selfId: n2, isKnownPeer: (id: string) => id === 'n1' };
  /** Any JSON-like value, as a peer's protobuf could decode into (plus byte arrays). */
  const wireValue = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.constant(undefined),
      fc.boolean(),
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 20 }),
      fc.uint8Array({ maxLength: 32 }),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('type', 'from', 'to', 'term', 'entries', 'index', 'data', 'commit', 'context', 'snapshot', 'x'), tie('value'), { maxKeys: 5 }),
    ),
  })).value;

  it('messages: any wire value decodes or throws PeerProtocolError', () => {
    fc.assert(fc.property(wireValue, (wire) => returnsOrThrowsTyped(() => decodeMessage(wire), [PeerProtocolError])), settings);
  });

  it('messages: a valid message with one field replaced by anything decodes or throws PeerProtocolError', () => {
    const messages: readonly Message[] = oneOfEach(n1, n2);
    fc.assert(
      fc.property(fc.nat(), fc.nat(), wireValue, (which, field, replacement) => {
        const wire = encodeMessage(messages[which % messages.length] as Message) as unknown as Record<string, unknown>;
        const keys = Object.keys(wire);
        const damaged = { ...wire, [keys[field % keys.length] as string]: replacement };
        return returnsOrThrowsTyped(() => decodeMessage(damaged), [PeerProtocolError]);
      }),
      settings,
    );
  });

  it('batches: any bytes off the wire are refused by protobuf or by the batch check, or decode whole', () => {
    const deserialize = raftPeerProto().send.deserializeBatch;
    const valid = Buffer.from(raftPeerProto().send.serializeBatch(encodeBatch('raftkv', n1, oneOfEach(n1, n2))));
    fc.assert(
      fc.property(fc.oneof(bytes.map((b) => Buffer.from(b)), fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, v]) => Buffer.from(valid.map((b, i) => (i === at % valid.length ? v : b))))), (raw) => {
        let wire: unknown;
        try {
          wire = deserialize(raw);
        } catch {
          return true; // protobufjs refused it: grpc-js answers INTERNAL, the stream ends
        }
        return returnsOrThrowsTyped(() => decodeBatch(wire, receiver), [PeerProtocolError]);
      }),
      settings,
    );
  });
});
