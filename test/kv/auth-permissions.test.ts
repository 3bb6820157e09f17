/** The permission check: intervals of keys, merged per user, covering a request whole. */
import { describe, expect, it } from 'vitest';
import {
  AuthView,
  applyAuthOp,
  emptyAuthState,
  keyInterval,
  mergeIntervals,
  prefixEnd,
  prefixInterval,
  type AuthOp,
  type AuthState,
  type Permission,
} from '../../src/kv/index.js';
import { bytes } from '../storage/temp-stores.js';

const password = { salt: new Uint8Array(16), n: 16_384, r: 8, p: 1, hash: new Uint8Array(32) };

function viewWith(permissions: readonly Permission[]): AuthView {
  const ops: AuthOp[] = [
    { op: 'user-add', name: 'root', password },
    { op: 'user-add', name: 'alice', password },
    { op: 'role-add', name: 'r' },
    ...permissions.map((permission): AuthOp => ({ op: 'role-grant-permission', name: 'r', permission })),
    { op: 'user-grant-role', name: 'alice', role: 'r' },
  ];
  let state: AuthState = emptyAuthState;
  ops.forEach((op, i) => {
    const applied = applyAuthOp(state, op, i + 1);
    expect(applied.result.ok).toBe(true);
    state = applied.state;
  });
  return new AuthView(state);
}

const none = new Uint8Array(0);
const toEnd = new Uint8Array([0]);

describe('permission matching', () => {
  const cases: { name: string; permission: Permission; allowed: string[]; denied: string[] }[] = [
    { name: 'one key (empty range end)', permission: { type: 'read', key: bytes('k'), rangeEnd: none }, allowed: ['k'], denied: ['k0', 'j', 'k\0'] },
    { name: 'a prefix a/ as [a/, a0)', permission: { type: 'read', key: bytes('a/'), rangeEnd: bytes('a0') }, allowed: ['a/', 'a/x', 'a/\xff'], denied: ['a', 'a0', 'b/x'] },
    { name: 'a range [b, d)', permission: { type: 'read', key: bytes('b'), rangeEnd: bytes('d') }, allowed: ['b', 'c', 'czzz'], denied: ['a', 'd', 'da'] },
    { name: 'from m to the end ("\\0")', permission: { type: 'read', key: bytes('m'), rangeEnd: toEnd }, allowed: ['m', 'z', '\xff'], denied: ['a', 'l'] },
    { name: 'every key ("" to "\\0")', permission: { type: 'read', key: none, rangeEnd: toEnd }, allowed: ['a', '\0', '\xff\xff'], denied: [] },
  ];
  it.each(cases)('$name', ({ permission, allowed, denied }) => {
    const view = viewWith([permission]);
    for (const key of allowed) expect(view.allows('alice', 'read', keyInterval(Buffer.from(key, 'latin1'))), key).toBe(true);
    for (const key of denied) expect(view.allows('alice', 'read', keyInterval(Buffer.from(key, 'latin1'))), key).toBe(false);
    // The per-call key check agrees with the interval check.
    for (const key of [...allowed, ...denied]) expect(view.allowsKey('alice', 'read', Buffer.from(key, 'latin1')), key).toBe(allowed.includes(key));
    // A read permission grants no write.
    for (const key of allowed) expect(view.allows('alice', 'write', keyInterval(Buffer.from(key, 'latin1')))).toBe(false);
  });

  it('checks a range whole: covered only when the merged permissions hold all of it', () => {
    const view = viewWith([
      { type: 'read', key: bytes('a'), rangeEnd: bytes('c') },
      { type: 'readwrite', key: bytes('c'), rangeEnd: bytes('e') },
    ]);
    expect(view.allows('alice', 'read', { start: bytes('a'), end: bytes('e') })).toBe(true); // [a,c) + [c,e) merge
    expect(view.allows('alice', 'read', { start: bytes('a'), end: bytes('f') })).toBe(false);
    expect(view.allows('alice', 'read', { start: bytes('b'), end: null })).toBe(false); // to the end of the keyspace
    expect(view.allows('alice', 'write', { start: bytes('a'), end: bytes('d') })).toBe(false);
    expect(view.allows('alice', 'write', { start: bytes('c'), end: bytes('e') })).toBe(true);
    expect(view.allows('alice', 'read', prefixInterval(bytes('b')))).toBe(true);
    expect(view.allows('alice', 'read', prefixInterval(none))).toBe(false);
  });

  it('lets root do anything and an unknown user nothing', () => {
    const view = viewWith([]);
    expect(view.allows('root', 'write', prefixInterval(none))).toBe(true);
    expect(view.isRoot('root')).toBe(true);
    expect(view.isRoot('alice')).toBe(false);
    expect(view.allows('nobody', 'read', keyInterval(bytes('k')))).toBe(false);
    expect(view.credentialRevision('nobody')).toBe(null);
  });

  it('merges overlapping and touching intervals, keeping unbounded ones', () => {
    const merged = mergeIntervals([
      { start: bytes('d'), end: bytes('f') },
      { start: bytes('a'), end: bytes('c') },
      { start: bytes('b'), end: bytes('d') },
      { start: bytes('x'), end: null },
      { start: bytes('y'), end: bytes('z') },
    ]);
    expect(merged).toEqual([{ start: bytes('a'), end: bytes('f') }, { start: bytes('x'), end: null }]);
  });

  it('computes a prefix end without touching the prefix (a Buffer slice is a view)', () => {
    const prefix = Buffer.from('a/');
    expect(Buffer.from(prefixEnd(prefix) ?? [])).toEqual(Buffer.from('a0'));
    expect(prefix.toString()).toBe('a/');
    expect(Buffer.from(prefixEnd(Buffer.from([0x61, 0xff])) ?? [])).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toBe(null);
    expect(prefixEnd(none)).toBe(null);
  });
});
