/**
 * Users, roles and permissions (etcd's auth model), as replicated state: what the `auth`
 * commands change, applied by a pure, deterministic function so every replica holds the same
 * users and roles at the same index. Passwords are never here: only their scrypt records
 * (salt, parameters, hash), computed by the node that took the request before proposing.
 *
 * The role `root` always exists, has every permission and may manage; the user `root` holds it
 * from creation. `enable` is refused unless the user `root` exists.
 */
import { InvalidArgumentError } from './errors.js';
import type { AuthChangeRefusal } from '../shared/errors.js';
import { assertNever, type Index } from '../raft/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter, bytesEqual, utf8Bytes } from '../shared/binary-codec.js';

export type PermissionType = 'read' | 'write' | 'readwrite';
export const permissionTypes: readonly PermissionType[] = ['read', 'write', 'readwrite'];

/**
 * A permission on `key` alone (rangeEnd empty), on [key, rangeEnd), or, with rangeEnd [0x00],
 * on every key from `key` on (etcd's convention; an empty key with it: every key).
 */
export interface Permission {
  readonly type: PermissionType;
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
}

/** A password as stored: scrypt(password, salt, N, r, p) = hash. */
export interface PasswordRecord {
  readonly salt: Uint8Array;
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly hash: Uint8Array;
}

export interface AuthUser {
  readonly name: string;
  /** Null: no password; the user authenticates only by client certificate. */
  readonly password: PasswordRecord | null;
  /** Sorted. */
  readonly roles: readonly string[];
  /**
   * The credential generation: the index of the user's creation or last password change. Tokens
   * carry it, so a password change (or a deletion and re-creation) revokes the user's tokens.
   */
  readonly credentialRevision: Index;
}

export interface AuthRole {
  readonly name: string;
  readonly permissions: readonly Permission[];
}

/** The replicated auth state. Immutable: every change makes a new one. */
export interface AuthState {
  readonly enabled: boolean;
  /** The token secret, set by the last `enable` (empty before any). */
  readonly secret: Uint8Array;
  readonly users: ReadonlyMap<string, AuthUser>;
  /** Roles besides the built-in `root`. */
  readonly roles: ReadonlyMap<string, AuthRole>;
  /** The index of the last change (0: none). */
  readonly revision: Index;
}

export const rootName = 'root';

export const emptyAuthState: AuthState = { enabled: false, secret: new Uint8Array(0), users: new Map(), roles: new Map(), revision: 0 };

/** Bounds, part of the format: every replica refuses the same changes. */
export const authLimits = {
  nameBytesMax: 128,
  usersMax: 10_000,
  rolesMax: 1000,
  rolesPerUserMax: 64,
  permissionsPerRoleMax: 256,
  secretBytes: 32,
  saltBytesMax: 64,
  hashBytesMax: 128,
  keyBytesMax: 0xffff,
} as const;

/** A change to the auth state: the `op` of an `auth` command. */
export type AuthOp =
  | { readonly op: 'enable'; readonly secret: Uint8Array }
  | { readonly op: 'disable' }
  | { readonly op: 'user-add'; readonly name: string; readonly password: PasswordRecord | null }
  | { readonly op: 'user-delete'; readonly name: string }
  | { readonly op: 'user-change-password'; readonly name: string; readonly password: PasswordRecord }
  | { readonly op: 'user-grant-role'; readonly name: string; readonly role: string }
  | { readonly op: 'user-revoke-role'; readonly name: string; readonly role: string }
  | { readonly op: 'role-add'; readonly name: string }
  | { readonly op: 'role-delete'; readonly name: string }
  | { readonly op: 'role-grant-permission'; readonly name: string; readonly permission: Permission }
  | { readonly op: 'role-revoke-permission'; readonly name: string; readonly key: Uint8Array; readonly rangeEnd: Uint8Array };

/** Why an auth change was refused at apply (deterministic: every replica refuses it). Nothing changed. */
export type AuthRefusal = AuthChangeRefusal;

export type AuthApplyResult =
  | { readonly kind: 'auth'; readonly ok: true }
  | { readonly kind: 'auth'; readonly ok: false; readonly refusal: AuthRefusal; readonly message: string };

/** The state after applying `op` at `index`, and what to answer. Pure. */
export function applyAuthOp(state: AuthState, op: AuthOp, index: Index): { readonly state: AuthState; readonly result: AuthApplyResult } {
  const refuse = (refusal: AuthRefusal, message: string): { state: AuthState; result: AuthApplyResult } => ({ state, result: { kind: 'auth', ok: false, refusal, message } });
  const done = (changes: Partial<AuthState>): { state: AuthState; result: AuthApplyResult } => ({ state: { ...state, ...changes, revision: index }, result: { kind: 'auth', ok: true } });
  const withUser = (user: AuthUser): Partial<AuthState> => ({ users: new Map(state.users).set(user.name, user) });
  switch (op.op) {
    case 'enable':
      if (!state.users.has(rootName)) return refuse('root-user-missing', 'auth cannot be enabled: there is no user root (add it first: raftkv user add root)');
      return done({ enabled: true, secret: op.secret });
    case 'disable':
      return done({ enabled: false });
    case 'user-add': {
      if (state.users.has(op.name)) return refuse('user-exists', `user ${op.name} already exists`);
      if (state.users.size >= authLimits.usersMax) return refuse('limit', `at most ${authLimits.usersMax} users`);
      return done(withUser({ name: op.name, password: op.password, roles: op.name === rootName ? [rootName] : [], credentialRevision: index }));
    }
    case 'user-delete': {
      if (!state.users.has(op.name)) return refuse('user-not-found', `user ${op.name} does not exist`);
      if (op.name === rootName && state.enabled) return refuse('root-protected', 'user root cannot be deleted while auth is enabled (disable auth first)');
      const users = new Map(state.users);
      users.delete(op.name);
      return done({ users });
    }
    case 'user-change-password': {
      const user = state.users.get(op.name);
      if (user === undefined) return refuse('user-not-found', `user ${op.name} does not exist`);
      return done(withUser({ ...user, password: op.password, credentialRevision: index }));
    }
    case 'user-grant-role': {
      const user = state.users.get(op.name);
      if (user === undefined) return refuse('user-not-found', `user ${op.name} does not exist`);
      if (op.role !== rootName && !state.roles.has(op.role)) return refuse('role-not-found', `role ${op.role} does not exist`);
      if (user.roles.includes(op.role)) return done({});
      if (user.roles.length >= authLimits.rolesPerUserMax) return refuse('limit', `at most ${authLimits.rolesPerUserMax} roles per user`);
      return done(withUser({ ...user, roles: [...user.roles, op.role].sort() }));
    }
    case 'user-revoke-role': {
      const user = state.users.get(op.name);
      if (user === undefined) return refuse('user-not-found', `user ${op.name} does not exist`);
      if (!user.roles.includes(op.role)) return refuse('role-not-granted', `user ${op.name} does not have role ${op.role}`);
      if (op.name === rootName && op.role === rootName && state.enabled) return refuse('root-protected', 'role root cannot be revoked from user root while auth is enabled');
      return done(withUser({ ...user, roles: user.roles.filter((role) => role !== op.role) }));
    }
    case 'role-add':
      if (op.name === rootName || state.roles.has(op.name)) return refuse('role-exists', `role ${op.name} already exists`);
      if (state.roles.size >= authLimits.rolesMax) return refuse('limit', `at most ${authLimits.rolesMax} roles`);
      return done({ roles: new Map(state.roles).set(op.name, { name: op.name, permissions: [] }) });
    case 'role-delete': {
      if (op.name === rootName) return refuse('root-protected', 'role root is built in and cannot be deleted');
      if (!state.roles.has(op.name)) return refuse('role-not-found', `role ${op.name} does not exist`);
      const roles = new Map(state.roles);
      roles.delete(op.name);
      // Like etcd: the users holding it lose it.
      const users = new Map([...state.users].map(([name, user]) => [name, user.roles.includes(op.name) ? { ...user, roles: user.roles.filter((r) => r !== op.name) } : user]));
      return done({ roles, users });
    }
    case 'role-grant-permission': {
      if (op.name === rootName) return refuse('root-protected', 'role root has every permission already');
      const role = state.roles.get(op.name);
      if (role === undefined) return refuse('role-not-found', `role ${op.name} does not exist`);
      const others = role.permissions.filter((p) => !sameRange(p, op.permission));
      if (others.length >= authLimits.permissionsPerRoleMax) return refuse('limit', `at most ${authLimits.permissionsPerRoleMax} permissions per role`);
      // Granting a range again replaces its type (etcd does the same).
      return done({ roles: new Map(state.roles).set(op.name, { name: op.name, permissions: [...others, op.permission] }) });
    }
    case 'role-revoke-permission': {
      if (op.name === rootName) return refuse('root-protected', 'role root has every permission and none can be revoked');
      const role = state.roles.get(op.name);
      if (role === undefined) return refuse('role-not-found', `role ${op.name} does not exist`);
      const kept = role.permissions.filter((p) => !sameRange(p, op));
      if (kept.length === role.permissions.length) return refuse('permission-not-granted', `role ${op.name} has no permission on that key or range`);
      return done({ roles: new Map(state.roles).set(op.name, { name: op.name, permissions: kept }) });
    }
    default:
      return assertNever(op, 'auth op');
  }
}

function sameRange(a: { key: Uint8Array; rangeEnd: Uint8Array }, b: { key: Uint8Array; rangeEnd: Uint8Array }): boolean {
  return bytesEqual(a.key, b.key) && bytesEqual(a.rangeEnd, b.rangeEnd);
}

// ---------------------------------------------------------------------------------------------
// Validation: format rules, the same on every replica (the decoder applies them too).

/** Throws InvalidArgumentError naming the field: a name of 1..128 UTF-8 bytes without control characters. */
export function validateAuthName(field: string, name: string): void {
  const bytes = utf8Bytes(name).byteLength;
  if (bytes < 1 || bytes > authLimits.nameBytesMax) throw new InvalidArgumentError(field, `1..${authLimits.nameBytesMax} bytes`, `${bytes} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f:]/.test(name)) throw new InvalidArgumentError(field, 'no control characters and no ":"', `got ${JSON.stringify(name)}`);
}

/**
 * Throws InvalidArgumentError unless the key range is one a permission can name: a non-empty
 * key alone; [key, rangeEnd) with key < rangeEnd; or key (empty allowed) with rangeEnd [0x00].
 */
export function validatePermissionRange(key: Uint8Array, rangeEnd: Uint8Array): void {
  if (key.byteLength > authLimits.keyBytesMax) throw new InvalidArgumentError('key', `0..${authLimits.keyBytesMax} bytes`, `${key.byteLength} bytes`);
  if (rangeEnd.byteLength > authLimits.keyBytesMax) throw new InvalidArgumentError('rangeEnd', `0..${authLimits.keyBytesMax} bytes`, `${rangeEnd.byteLength} bytes`);
  if (isToEnd(rangeEnd)) return;
  if (key.byteLength === 0) throw new InvalidArgumentError('key', 'a non-empty key (or range end "\\0" for every key)', 'empty');
  if (rangeEnd.byteLength > 0 && Buffer.compare(key, rangeEnd) >= 0) {
    throw new InvalidArgumentError('rangeEnd', 'must sort after the key', `range [${printableKey(key)}, ${printableKey(rangeEnd)}) is empty`);
  }
}

/** Whether a range end means "every key from the start on" (etcd's "\0"). */
export function isToEnd(rangeEnd: Uint8Array): boolean {
  return rangeEnd.byteLength === 1 && rangeEnd[0] === 0;
}

/** The most memory verifying one password record may take. */
export const scryptMemoryBytesMax = 64 * 1024 * 1024;

export function validatePasswordRecord(record: PasswordRecord): void {
  if (record.salt.byteLength < 8 || record.salt.byteLength > authLimits.saltBytesMax) throw new InvalidArgumentError('password.salt', `8..${authLimits.saltBytesMax} bytes`, `${record.salt.byteLength} bytes`);
  if (record.hash.byteLength < 16 || record.hash.byteLength > authLimits.hashBytesMax) throw new InvalidArgumentError('password.hash', `16..${authLimits.hashBytesMax} bytes`, `${record.hash.byteLength} bytes`);
  // scrypt's own rules: N a power of two above 1; r, p positive (bounded so a verify stays affordable).
  if (!Number.isInteger(record.n) || record.n < 2 || record.n > 2 ** 20 || (record.n & (record.n - 1)) !== 0) throw new InvalidArgumentError('password.n', 'a power of two in 2..2^20', `got ${record.n}`);
  if (!Number.isInteger(record.r) || record.r < 1 || record.r > 32) throw new InvalidArgumentError('password.r', '1..32', `got ${record.r}`);
  if (!Number.isInteger(record.p) || record.p < 1 || record.p > 16) throw new InvalidArgumentError('password.p', '1..16', `got ${record.p}`);
  // scrypt needs 128 * N * r bytes: a record must stay verifiable within scryptMemoryBytesMax.
  if (128 * record.n * record.r > scryptMemoryBytesMax) throw new InvalidArgumentError('password.n', `128 * N * r at most ${scryptMemoryBytesMax} bytes`, `N ${record.n}, r ${record.r}`);
}

/** Throws InvalidArgumentError for an op that breaks a format rule. */
export function validateAuthOp(op: AuthOp): void {
  switch (op.op) {
    case 'enable':
      if (op.secret.byteLength !== authLimits.secretBytes) throw new InvalidArgumentError('secret', `${authLimits.secretBytes} bytes`, `${op.secret.byteLength} bytes`);
      return;
    case 'disable':
      return;
    case 'user-add':
      validateAuthName('name', op.name);
      if (op.password !== null) validatePasswordRecord(op.password);
      return;
    case 'user-change-password':
      validateAuthName('name', op.name);
      validatePasswordRecord(op.password);
      return;
    case 'user-delete':
    case 'role-add':
    case 'role-delete':
      validateAuthName('name', op.name);
      return;
    case 'user-grant-role':
    case 'user-revoke-role':
      validateAuthName('name', op.name);
      validateAuthName('role', op.role);
      return;
    case 'role-grant-permission':
      validateAuthName('name', op.name);
      if (!permissionTypes.includes(op.permission.type)) throw new InvalidArgumentError('permission.type', permissionTypes.join(' | '), `got ${String(op.permission.type)}`);
      validatePermissionRange(op.permission.key, op.permission.rangeEnd);
      return;
    case 'role-revoke-permission':
      validateAuthName('name', op.name);
      validatePermissionRange(op.key, op.rangeEnd);
      return;
    default:
      assertNever(op, 'auth op');
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding: of an op (inside an `auth` command, commands.ts) and of the whole state (auth-g<N>).

const opCodes = {
  enable: 1,
  disable: 2,
  'user-add': 3,
  'user-delete': 4,
  'user-change-password': 5,
  'user-grant-role': 6,
  'user-revoke-role': 7,
  'role-add': 8,
  'role-delete': 9,
  'role-grant-permission': 10,
  'role-revoke-permission': 11,
} as const satisfies Record<AuthOp['op'], number>;
const typeCodes = { read: 0, write: 1, readwrite: 2 } as const satisfies Record<PermissionType, number>;

/** Writes `op` (validated by the caller). */
export function writeAuthOp(writer: ByteWriter, op: AuthOp): void {
  writer.u8(opCodes[op.op]);
  switch (op.op) {
    case 'enable':
      writer.bytes(op.secret, 'u8');
      return;
    case 'disable':
      return;
    case 'user-add':
      writer.string(op.name, 'u8').u8(op.password === null ? 0 : 1);
      if (op.password !== null) writePassword(writer, op.password);
      return;
    case 'user-change-password':
      writer.string(op.name, 'u8');
      writePassword(writer, op.password);
      return;
    case 'user-delete':
    case 'role-add':
    case 'role-delete':
      writer.string(op.name, 'u8');
      return;
    case 'user-grant-role':
    case 'user-revoke-role':
      writer.string(op.name, 'u8').string(op.role, 'u8');
      return;
    case 'role-grant-permission':
      writer.string(op.name, 'u8');
      writePermission(writer, op.permission);
      return;
    case 'role-revoke-permission':
      writer.string(op.name, 'u8').bytes(op.key, 'u16').bytes(op.rangeEnd, 'u16');
      return;
    default:
      assertNever(op, 'auth op');
  }
}

/** Reads an op; throws BinaryDecodeError for bytes that are not one (validation is the caller's). */
export function readAuthOp(reader: ByteReader): AuthOp {
  const code = reader.u8('auth op');
  const name = (): string => reader.string('u8', authLimits.nameBytesMax, 'name');
  switch (code) {
    case opCodes.enable:
      return { op: 'enable', secret: reader.bytes('u8', authLimits.secretBytes, 'secret') };
    case opCodes.disable:
      return { op: 'disable' };
    case opCodes['user-add']: {
      const user = name();
      return { op: 'user-add', name: user, password: reader.boolean('has password') ? readPassword(reader) : null };
    }
    case opCodes['user-change-password']: {
      const user = name();
      return { op: 'user-change-password', name: user, password: readPassword(reader) };
    }
    case opCodes['user-delete']:
      return { op: 'user-delete', name: name() };
    case opCodes['role-add']:
      return { op: 'role-add', name: name() };
    case opCodes['role-delete']:
      return { op: 'role-delete', name: name() };
    case opCodes['user-grant-role']:
    case opCodes['user-revoke-role']: {
      const user = name();
      const role = reader.string('u8', authLimits.nameBytesMax, 'role');
      return { op: code === opCodes['user-grant-role'] ? 'user-grant-role' : 'user-revoke-role', name: user, role };
    }
    case opCodes['role-grant-permission']: {
      const role = name();
      return { op: 'role-grant-permission', name: role, permission: readPermission(reader) };
    }
    case opCodes['role-revoke-permission']: {
      const role = name();
      const key = reader.bytes('u16', authLimits.keyBytesMax, 'key');
      return { op: 'role-revoke-permission', name: role, key, rangeEnd: reader.bytes('u16', authLimits.keyBytesMax, 'rangeEnd') };
    }
    default:
      throw new BinaryDecodeError(`auth op: unknown op ${code}`);
  }
}

function writePassword(writer: ByteWriter, record: PasswordRecord): void {
  writer.bytes(record.salt, 'u8').u32(record.n).u8(record.r).u8(record.p).bytes(record.hash, 'u8');
}

function readPassword(reader: ByteReader): PasswordRecord {
  const salt = reader.bytes('u8', authLimits.saltBytesMax, 'password.salt');
  const n = reader.u32('password.n');
  const r = reader.u8('password.r');
  const p = reader.u8('password.p');
  return { salt, n, r, p, hash: reader.bytes('u8', authLimits.hashBytesMax, 'password.hash') };
}

function writePermission(writer: ByteWriter, permission: Permission): void {
  writer.u8(typeCodes[permission.type]).bytes(permission.key, 'u16').bytes(permission.rangeEnd, 'u16');
}

function readPermission(reader: ByteReader): Permission {
  const code = reader.u8('permission.type');
  const type = permissionTypes[code];
  if (type === undefined) throw new BinaryDecodeError(`permission.type: unknown type ${code}`);
  const key = reader.bytes('u16', authLimits.keyBytesMax, 'permission.key');
  return { type, key, rangeEnd: reader.bytes('u16', authLimits.keyBytesMax, 'permission.rangeEnd') };
}

const stateFormat = 1;

/** The stored form of the whole state (the `state` record of `auth-g<N>`). */
export function encodeAuthState(state: AuthState): Uint8Array {
  const writer = new ByteWriter(256).u8(stateFormat).u8(state.enabled ? 1 : 0).u64(state.revision).bytes(state.secret, 'u8');
  writer.u32(state.users.size);
  for (const user of state.users.values()) {
    writer.string(user.name, 'u8').u8(user.password === null ? 0 : 1);
    if (user.password !== null) writePassword(writer, user.password);
    writer.u64(user.credentialRevision).u16(user.roles.length);
    for (const role of user.roles) writer.string(role, 'u8');
  }
  writer.u32(state.roles.size);
  for (const role of state.roles.values()) {
    writer.string(role.name, 'u8').u16(role.permissions.length);
    for (const permission of role.permissions) writePermission(writer, permission);
  }
  return writer.finish();
}

/** The state in `bytes`; throws BinaryDecodeError (or InvalidArgumentError for a broken rule) if they are not one. */
export function decodeAuthState(bytes: Uint8Array): AuthState {
  const reader = new ByteReader(bytes);
  const format = reader.u8('auth state format');
  if (format !== stateFormat) throw new BinaryDecodeError(`auth state format: unknown format ${format}`);
  const enabled = reader.boolean('enabled');
  const revision = reader.u64('revision');
  const secret = reader.bytes('u8', authLimits.secretBytes, 'secret');
  const users = new Map<string, AuthUser>();
  const userCount = reader.u32('users');
  if (userCount > authLimits.usersMax) throw new BinaryDecodeError(`users: ${userCount} exceeds ${authLimits.usersMax}`);
  for (let i = 0; i < userCount; i++) {
    const name = reader.string('u8', authLimits.nameBytesMax, 'user name');
    const password = reader.boolean('has password') ? readPassword(reader) : null;
    const credentialRevision = reader.u64('credential revision');
    const roleCount = reader.u16('user roles');
    const roles: string[] = [];
    for (let j = 0; j < roleCount; j++) roles.push(reader.string('u8', authLimits.nameBytesMax, 'user role'));
    validateAuthName('user name', name);
    if (password !== null) validatePasswordRecord(password);
    users.set(name, { name, password, roles, credentialRevision });
  }
  const roles = new Map<string, AuthRole>();
  const roleCount = reader.u32('roles');
  if (roleCount > authLimits.rolesMax) throw new BinaryDecodeError(`roles: ${roleCount} exceeds ${authLimits.rolesMax}`);
  for (let i = 0; i < roleCount; i++) {
    const name = reader.string('u8', authLimits.nameBytesMax, 'role name');
    const permissionCount = reader.u16('role permissions');
    const permissions: Permission[] = [];
    for (let j = 0; j < permissionCount; j++) {
      const permission = readPermission(reader);
      validatePermissionRange(permission.key, permission.rangeEnd);
      permissions.push(permission);
    }
    validateAuthName('role name', name);
    roles.set(name, { name, permissions });
  }
  reader.end('auth state');
  return { enabled, secret, users, roles, revision };
}

/** A key as people read it: UTF-8 when it is printable, else hex (`0x...`). */
export function printableKey(key: Uint8Array): string {
  const text = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (!text.includes('\ufffd') && !/[\u0000-\u001f\u007f]/.test(text)) return JSON.stringify(text);
  return `0x${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')}`;
}
