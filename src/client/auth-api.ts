import { InvalidArgumentError } from './errors.js';

/** Keys: strings are UTF-8 encoded (the same as kv-client's Bytes). */
type Bytes = string | Uint8Array;

/** The per-call options of kv-client (a deadline, a signal); restated here to keep the import graph acyclic. */
interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The Auth service's methods, by their proto names (camelCase). */
export type AuthMethod =
  | 'authEnable'
  | 'authDisable'
  | 'authStatus'
  | 'authenticate'
  | 'userAdd'
  | 'userDelete'
  | 'userChangePassword'
  | 'userGrantRole'
  | 'userRevokeRole'
  | 'userList'
  | 'userGet'
  | 'roleAdd'
  | 'roleDelete'
  | 'roleGrantPermission'
  | 'roleRevokePermission'
  | 'roleList'
  | 'roleGet';

export type PermissionType = 'read' | 'write' | 'readwrite';
export const permissionTypes: readonly PermissionType[] = ['read', 'write', 'readwrite'];

/**
 * Which keys a permission covers: `key` alone; [key, rangeEnd); or every key starting with `prefix`
 * (`prefix: ''` is every key).
 */
export type PermissionKeys = { readonly key: Bytes; readonly rangeEnd?: Bytes } | { readonly prefix: Bytes };

/** A role's permission as the cluster holds it (etcd's form: rangeEnd empty for one key, "\0" to the end). */
export interface RolePermission {
  readonly type: PermissionType;
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
}

export interface AuthStatus {
  readonly enabled: boolean;
  /** The index of the last change to users, roles or the flag (0: none). */
  readonly authRevision: number;
}

type Invoke = (method: AuthMethod, request: Record<string, unknown>, options: CallOptions) => Promise<Record<string, unknown>>;

/**
 * `client.auth`: users, roles and permissions (kv.proto Auth, as etcd's). Every method but
 * `authenticate` needs the root role once auth is enabled (PermissionDeniedError otherwise).
 * Refusals (a user that exists, an unknown role, enable without a root user) are ServerError
 * with the cluster's message; nothing changed.
 */
export class AuthApi {
  constructor(private readonly invoke: Invoke) {}

  /** Turns auth on; refused unless the user root exists. */
  async enable(options: CallOptions = {}): Promise<void> {
    await this.invoke('authEnable', {}, options);
  }

  async disable(options: CallOptions = {}): Promise<void> {
    await this.invoke('authDisable', {}, options);
  }

  async status(options: CallOptions = {}): Promise<AuthStatus> {
    const response = await this.invoke('authStatus', {}, options);
    return { enabled: response.enabled === true, authRevision: Number(response.authRevision ?? 0) };
  }

  /** A token for `name` (empty when auth is disabled), and when it expires (unix ms). The client does this itself with the `auth` option. */
  async authenticate(name: string, password: string, options: CallOptions = {}): Promise<{ token: string; expiresAtMs: number }> {
    const response = await this.invoke('authenticate', { name, password }, options);
    return { token: response.token as string, expiresAtMs: Number(response.expiresAtMs ?? 0) };
  }

  /** Adds a user; `password` null: no password (it authenticates by client certificate only). The user root gets the role root. */
  async addUser(name: string, password: string | null, options: CallOptions = {}): Promise<void> {
    await this.invoke('userAdd', { name, password: password ?? '', noPassword: password === null }, options);
  }

  async deleteUser(name: string, options: CallOptions = {}): Promise<void> {
    await this.invoke('userDelete', { name }, options);
  }

  /** Changes the password; the user's tokens stop working. */
  async changePassword(name: string, password: string, options: CallOptions = {}): Promise<void> {
    await this.invoke('userChangePassword', { name, password }, options);
  }

  async grantRole(user: string, role: string, options: CallOptions = {}): Promise<void> {
    await this.invoke('userGrantRole', { user, role }, options);
  }

  async revokeRole(user: string, role: string, options: CallOptions = {}): Promise<void> {
    await this.invoke('userRevokeRole', { name: user, role }, options);
  }

  async listUsers(options: CallOptions = {}): Promise<string[]> {
    return ((await this.invoke('userList', {}, options)).users as string[] | undefined) ?? [];
  }

  /** The user's roles. */
  async getUser(name: string, options: CallOptions = {}): Promise<{ roles: string[] }> {
    return { roles: ((await this.invoke('userGet', { name }, options)).roles as string[] | undefined) ?? [] };
  }

  async addRole(name: string, options: CallOptions = {}): Promise<void> {
    await this.invoke('roleAdd', { name }, options);
  }

  async deleteRole(name: string, options: CallOptions = {}): Promise<void> {
    await this.invoke('roleDelete', { role: name }, options);
  }

  async grantPermission(role: string, type: PermissionType, keys: PermissionKeys, options: CallOptions = {}): Promise<void> {
    if (!permissionTypes.includes(type)) throw new InvalidArgumentError('type', `must be read, write or readwrite, not ${JSON.stringify(type)}`);
    const { key, rangeEnd } = wireRange(keys);
    await this.invoke('roleGrantPermission', { name: role, perm: { permType: type.toUpperCase(), key, rangeEnd } }, options);
  }

  async revokePermission(role: string, keys: PermissionKeys, options: CallOptions = {}): Promise<void> {
    await this.invoke('roleRevokePermission', { role, ...wireRange(keys) }, options);
  }

  /** Every role, root first. */
  async listRoles(options: CallOptions = {}): Promise<string[]> {
    return ((await this.invoke('roleList', {}, options)).roles as string[] | undefined) ?? [];
  }

  async getRole(name: string, options: CallOptions = {}): Promise<{ permissions: RolePermission[] }> {
    const perms = ((await this.invoke('roleGet', { role: name }, options)).perm as { permType: string; key: Buffer; rangeEnd: Buffer }[] | undefined) ?? [];
    return { permissions: perms.map((p) => ({ type: p.permType.toLowerCase() as PermissionType, key: p.key, rangeEnd: p.rangeEnd })) };
  }
}

/** The wire key and range end of `keys` (etcd's: a prefix's end is the prefix plus one, "\0" when it has none). */
export function wireRange(keys: PermissionKeys): { key: Buffer; rangeEnd: Buffer } {
  if ('prefix' in keys) {
    const prefix = bytes(keys.prefix);
    return { key: prefix, rangeEnd: prefixRangeEnd(prefix) };
  }
  return { key: bytes(keys.key), rangeEnd: keys.rangeEnd === undefined ? Buffer.alloc(0) : bytes(keys.rangeEnd) };
}

function prefixRangeEnd(prefix: Buffer): Buffer {
  for (let i = prefix.byteLength - 1; i >= 0; i--) {
    if ((prefix[i] as number) < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = (prefix[i] as number) + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

function bytes(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
