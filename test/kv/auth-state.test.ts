/**
 * The auth commands: their encoding (every op round-trips; every bad byte sequence is refused
 * with CommandDecodeError), their pure semantics (applyAuthOp), and the stored state's codec.
 */
import { describe, expect, it } from 'vitest';
import {
  CommandDecodeError,
  InvalidArgumentError,
  applyAuthOp,
  decodeAuthState,
  decodeCommand,
  emptyAuthState,
  encodeAuthState,
  encodeCommand,
  type AuthOp,
  type AuthState,
  type PasswordRecord,
} from '../../src/kv/index.js';
import { bytes } from '../storage/temp-stores.js';

const password: PasswordRecord = { salt: new Uint8Array(16).fill(7), n: 16_384, r: 8, p: 1, hash: new Uint8Array(32).fill(9) };
const secret = new Uint8Array(32).fill(3);

const ops: AuthOp[] = [
  { op: 'enable', secret },
  { op: 'disable' },
  { op: 'user-add', name: 'root', password },
  { op: 'user-add', name: 'cert-only', password: null },
  { op: 'user-delete', name: 'alice' },
  { op: 'user-change-password', name: 'alice', password },
  { op: 'user-grant-role', name: 'alice', role: 'reader' },
  { op: 'user-revoke-role', name: 'alice', role: 'reader' },
  { op: 'role-add', name: 'reader' },
  { op: 'role-delete', name: 'reader' },
  { op: 'role-grant-permission', name: 'reader', permission: { type: 'read', key: bytes('a/'), rangeEnd: bytes('a0') } },
  { op: 'role-grant-permission', name: 'reader', permission: { type: 'readwrite', key: new Uint8Array(0), rangeEnd: new Uint8Array([0]) } },
  { op: 'role-grant-permission', name: 'reader', permission: { type: 'write', key: bytes('k'), rangeEnd: new Uint8Array(0) } },
  { op: 'role-revoke-permission', name: 'reader', key: bytes('a/'), rangeEnd: bytes('a0') },
];

function apply(state: AuthState, op: AuthOp, index: number): AuthState {
  const applied = applyAuthOp(state, op, index);
  expect(applied.result).toEqual({ kind: 'auth', ok: true });
  return applied.state;
}

function refusal(state: AuthState, op: AuthOp): string {
  const applied = applyAuthOp(state, op, 99);
  expect(applied.state).toBe(state);
  return applied.result.ok ? 'applied' : applied.result.refusal;
}

describe('auth command encoding', () => {
  it.each(ops.map((op) => [op.op, op] as const))('round-trips %s', (_name, op) => {
    expect(decodeCommand(encodeCommand({ kind: 'auth', op }))).toEqual({ kind: 'auth', op });
  });

  it('refuses every truncation and every trailing byte of every op with CommandDecodeError', () => {
    for (const op of ops) {
      const encoded = encodeCommand({ kind: 'auth', op });
      for (let length = 0; length < encoded.byteLength; length++) {
        expect(() => decodeCommand(encoded.subarray(0, length)), `${op.op} cut at ${length}`).toThrow(CommandDecodeError);
      }
      expect(() => decodeCommand(new Uint8Array([...encoded, 0]))).toThrow(CommandDecodeError);
    }
  });

  it('refuses unknown ops, unknown permission types, bad ranges, bad names and bad password records', () => {
    const bad: [string, number[]][] = [
      ['unknown op', [2, 6, 99]],
      ['auth in format 1', [1, 6, 2]],
      ['permission type 3', [2, 6, 10, 1, 0x72, 3, 0, 1, 0x61, 0, 0]],
      ['empty range [b, a)', [2, 6, 10, 1, 0x72, 0, 0, 1, 0x62, 0, 1, 0x61]],
      ['empty key, no range end', [2, 6, 10, 1, 0x72, 0, 0, 0, 0, 0]],
      ['empty user name', [2, 6, 4, 0]],
      ['name with a colon', [2, 6, 4, 3, 0x61, 0x3a, 0x62]],
      ['name not UTF-8', [2, 6, 4, 1, 0xff]],
      ['secret of 2 bytes', [2, 6, 1, 2, 1, 1]],
      ['has-password 2', [2, 6, 3, 1, 0x61, 2]],
    ];
    for (const [what, data] of bad) expect(() => decodeCommand(new Uint8Array(data)), what).toThrow(CommandDecodeError);
    const badRecord = { ...password, n: 1000 };
    expect(() => encodeCommand({ kind: 'auth', op: { op: 'user-add', name: 'x', password: badRecord } })).toThrow(InvalidArgumentError);
    const encoded = encodeCommand({ kind: 'auth', op: { op: 'user-add', name: 'x', password } });
    // N is the u32 after the salt: make it 3, not a power of two.
    const patched = new Uint8Array(encoded);
    const nAt = 2 + 1 + 2 + 1 + 1 + 16;
    patched.set([0, 0, 0, 3], nAt);
    expect(() => decodeCommand(patched)).toThrow(CommandDecodeError);
  });

  it('leaves the existing kinds as they were: a put still encodes to the same bytes', () => {
    expect([...encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v') })]).toEqual([2, 1, 0, 0, 1, 0x6b, 0, 0, 0, 1, 0x76]);
  });
});

describe('applyAuthOp', () => {
  it('refuses enable without a user root, and enables once there is one (root holds the role root)', () => {
    expect(refusal(emptyAuthState, { op: 'enable', secret })).toBe('root-user-missing');
    const withRoot = apply(emptyAuthState, { op: 'user-add', name: 'root', password }, 5);
    expect(withRoot.users.get('root')?.roles).toEqual(['root']);
    const enabled = apply(withRoot, { op: 'enable', secret }, 6);
    expect(enabled.enabled).toBe(true);
    expect(enabled.secret).toEqual(secret);
    expect(enabled.revision).toBe(6);
  });

  it('manages users and roles, refusing what does not exist or already does', () => {
    let state = apply(emptyAuthState, { op: 'user-add', name: 'alice', password }, 1);
    expect(refusal(state, { op: 'user-add', name: 'alice', password })).toBe('user-exists');
    expect(refusal(state, { op: 'user-grant-role', name: 'alice', role: 'reader' })).toBe('role-not-found');
    expect(refusal(state, { op: 'user-grant-role', name: 'bob', role: 'root' })).toBe('user-not-found');
    state = apply(state, { op: 'role-add', name: 'reader' }, 2);
    expect(refusal(state, { op: 'role-add', name: 'reader' })).toBe('role-exists');
    expect(refusal(state, { op: 'role-add', name: 'root' })).toBe('role-exists');
    state = apply(state, { op: 'user-grant-role', name: 'alice', role: 'reader' }, 3);
    expect(state.users.get('alice')?.roles).toEqual(['reader']);
    const permission = { type: 'read', key: bytes('a/'), rangeEnd: bytes('a0') } as const;
    state = apply(state, { op: 'role-grant-permission', name: 'reader', permission }, 4);
    // Granting the same range again replaces its type.
    state = apply(state, { op: 'role-grant-permission', name: 'reader', permission: { ...permission, type: 'readwrite' } }, 5);
    expect(state.roles.get('reader')?.permissions).toEqual([{ ...permission, type: 'readwrite' }]);
    expect(refusal(state, { op: 'role-revoke-permission', name: 'reader', key: bytes('b'), rangeEnd: new Uint8Array(0) })).toBe('permission-not-granted');
    expect(refusal(state, { op: 'role-grant-permission', name: 'root', permission })).toBe('root-protected');
    expect(refusal(state, { op: 'role-delete', name: 'root' })).toBe('root-protected');
    // Deleting a role takes it from its users.
    state = apply(state, { op: 'role-delete', name: 'reader' }, 6);
    expect(state.users.get('alice')?.roles).toEqual([]);
    expect(refusal(state, { op: 'user-revoke-role', name: 'alice', role: 'reader' })).toBe('role-not-granted');
  });

  it('moves the credential revision on a password change, and protects root while enabled', () => {
    let state = apply(emptyAuthState, { op: 'user-add', name: 'root', password }, 1);
    state = apply(state, { op: 'user-add', name: 'alice', password }, 2);
    expect(state.users.get('alice')?.credentialRevision).toBe(2);
    state = apply(state, { op: 'user-change-password', name: 'alice', password: { ...password, hash: new Uint8Array(32).fill(1) } }, 7);
    expect(state.users.get('alice')?.credentialRevision).toBe(7);
    state = apply(state, { op: 'enable', secret }, 8);
    expect(refusal(state, { op: 'user-delete', name: 'root' })).toBe('root-protected');
    expect(refusal(state, { op: 'user-revoke-role', name: 'root', role: 'root' })).toBe('root-protected');
    state = apply(state, { op: 'disable' }, 9);
    state = apply(state, { op: 'user-delete', name: 'root' }, 10);
    expect(state.users.has('root')).toBe(false);
  });
});

describe('the stored auth state', () => {
  it('round-trips, and refuses damaged bytes', () => {
    let state = apply(emptyAuthState, { op: 'user-add', name: 'root', password }, 1);
    state = apply(state, { op: 'user-add', name: 'cn-user', password: null }, 2);
    state = apply(state, { op: 'role-add', name: 'reader' }, 3);
    state = apply(state, { op: 'role-grant-permission', name: 'reader', permission: { type: 'read', key: bytes('a/'), rangeEnd: bytes('a0') } }, 4);
    state = apply(state, { op: 'user-grant-role', name: 'cn-user', role: 'reader' }, 5);
    state = apply(state, { op: 'enable', secret }, 6);
    const encoded = encodeAuthState(state);
    expect(decodeAuthState(encoded)).toEqual(state);
    for (let length = 0; length < encoded.byteLength; length++) expect(() => decodeAuthState(encoded.subarray(0, length))).toThrow();
  });
});
