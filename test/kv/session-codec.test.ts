import { describe, expect, it } from 'vitest';
import type { AppliedResult } from '../../src/kv/commands.js';
import { encodeKeyRecord } from '../../src/kv/key-record.js';
import { decodeSessionState, encodeAppliedResult, encodeSessionHeader, encodeSessionState } from '../../src/kv/session-codec.js';
import type { SessionState } from '../../src/kv/sessions.js';
import { ByteWriter } from '../../src/shared/binary-codec.js';

const results: [number, AppliedResult][] = [
  [7, { kind: 'put', version: 3, modRevision: 2 ** 40 }],
  [8, { kind: 'delete', deleted: true }],
  [9, { kind: 'delete', deleted: false }],
  [10, { kind: 'cas', succeeded: false, previous: null, modRevision: 0 }],
  [11, { kind: 'cas', succeeded: true, previous: { value: new Uint8Array([1, 2, 3]), version: 2, createRevision: 5, modRevision: 6 }, modRevision: 12 }],
  // Refusals of the apply's second permission check (auth-recheck.ts), each kind of denial.
  [13, { kind: 'permission-denied', user: 'alice', denial: { need: 'key', access: 'write', key: new Uint8Array([0x61, 0]) } }],
  [14, { kind: 'permission-denied', user: 'zoë', denial: { need: 'range', access: 'read', interval: { start: new Uint8Array([0x61]), end: new Uint8Array([0x62]) } } }],
  [15, { kind: 'permission-denied', user: 'bob', denial: { need: 'range', access: 'write', interval: { start: new Uint8Array(0), end: null } } }],
  [16, { kind: 'permission-denied', user: 'carol', denial: { need: 'root', what: 'Auth.UserAdd' } }],
];
const state: SessionState = { clientId: '41', lastUsedIndex: 12, ackedSequence: 6, evictedThrough: 4, results: new Map(results) };

/** The session record as it was written before it was sized and written in one pass. */
function formerEncoding(session: SessionState): Uint8Array {
  const writer = new ByteWriter().bytes(encodeSessionHeader(session), 'u32').u32(session.results.size);
  for (const [sequence, result] of session.results) writer.u64(sequence).bytes(encodeAppliedResult(result), 'u32');
  return writer.finish();
}

describe('session records', () => {
  it('are the bytes they were before the one-pass encoding, for every kind of result', () => {
    expect(Buffer.from(encodeSessionState(state)).equals(Buffer.from(formerEncoding(state)))).toBe(true);
    const empty: SessionState = { ...state, results: new Map() };
    expect(Buffer.from(encodeSessionState(empty)).equals(Buffer.from(formerEncoding(empty)))).toBe(true);
  });

  it('decode to what was encoded', () => {
    const decoded = decodeSessionState('41', encodeSessionState(state));
    expect(decoded).toEqual(state);
    expect(encodeKeyRecord({ value: new Uint8Array(0), version: 1, createRevision: 1, modRevision: 1 }).byteLength).toBe(25);
  });
});
