import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  authLimits,
  permissionTypes,
  rootName,
  validateAuthName,
  type KvStateMachine,
  type CheckedFor,
  type Permission,
  type PermissionType,
} from '../kv/index.js';
import { AuthChangeRefusedError, InvalidArgumentError, UnauthenticatedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuthGuard } from './auth-guard.js';
import { signToken } from './auth-token.js';
import type { NodeConfig } from './config.js';
import { observedUnary } from './observed-unary.js';
import type { KvOperations } from './kv-service.js';
import { timeoutFromDeadline } from './kv-service.js';
import type { NodeMetrics } from './metrics.js';
import type { PasswordHasher } from './password-hash.js';
import type { RaftNode } from './raft-node.js';

export interface AuthServiceDeps {
  readonly node: RaftNode<unknown>;
  readonly stateMachine: KvStateMachine;
  readonly config: NodeConfig;
  readonly operations: KvOperations;
  readonly guard: AuthGuard;
  readonly hasher: PasswordHasher;
  readonly logger: Logger;
  readonly metrics?: NodeMetrics;
}

/** The longest password taken (scrypt hashes any length; this bounds the work per request). */
export const passwordBytesMax = 1024;

/** `checked`: who the call was checked for, taken with the check, for the entry it proposes (kv/auth-recheck.ts). */
type AuthHandler = (request: Record<string, unknown>, timeoutMs: number, checked: CheckedFor) => Promise<Record<string, unknown>>;

/**
 * The Auth service of kv.proto (etcd's AuthService). Changes go through the log as `auth`
 * commands (auth-state.ts); a password is hashed here, on the node that took the request, and
 * only its scrypt record is proposed. Every call but Authenticate and AuthStatus needs root once auth is on.
 */
export function authServiceHandlers(deps: AuthServiceDeps): grpc.UntypedServiceImplementation {
  const { stateMachine, operations, guard, hasher, config } = deps;
  const header = (): Record<string, unknown> => ({ memberId: deps.node.id, term: deps.node.leadership().term, revision: stateMachine.appliedIndex });
  const ok = (): Record<string, unknown> => ({ header: header() });

  const unary = (name: string, handler: AuthHandler, open = false): grpc.handleUnaryCall<Record<string, unknown>, Record<string, unknown>> =>
    observedUnary(name, deps, (call) => {
      // Authenticate and AuthStatus need no caller (one authenticates, the other holds no data).
      const caller = open ? null : guard.resolveCall(call);
      if (!open) guard.requireRoot(caller, `Auth.${name}`);
      // Now, not when the handler proposes: hashing a password first lets the auth state move on.
      return handler(call.request, timeoutFromDeadline(call.getDeadline(), config.requestTimeoutMs), guard.checkedFor(caller));
    });

  const hashed = async (request: Record<string, unknown>): Promise<Awaited<ReturnType<PasswordHasher['hash']>>> => {
    const password = stringField(request, 'password');
    if (password === '') throw new InvalidArgumentError('password', 'must not be empty (or set no_password for a certificate-only user)');
    if (Buffer.byteLength(password) > passwordBytesMax) throw new InvalidArgumentError('password', `at most ${passwordBytesMax} bytes`);
    // Hash only on the leader: a follower would hash for nothing and answer "not the leader".
    operations.requireLeader();
    return hasher.hash(password);
  };

  return {
    authEnable: unary('AuthEnable', async (_request, timeoutMs, checked) => {
      // The token secret is made here and carried in the entry: every member signs and checks with it.
      await operations.proposeAuth({ op: 'enable', secret: randomBytes(authLimits.secretBytes) }, timeoutMs, checked);
      return ok();
    }),
    authDisable: unary('AuthDisable', async (_request, timeoutMs, checked) => {
      await operations.proposeAuth({ op: 'disable' }, timeoutMs, checked);
      return ok();
    }),
    authStatus: unary('AuthStatus', async () => ({ header: header(), enabled: stateMachine.auth.enabled, authRevision: stateMachine.auth.state.revision }), true),
    authenticate: unary('Authenticate', async (request) => {
      const name = stringField(request, 'name');
      const password = stringField(request, 'password');
      if (Buffer.byteLength(password) > passwordBytesMax) throw new InvalidArgumentError('password', `at most ${passwordBytesMax} bytes`);
      const view = stateMachine.auth;
      // With auth disabled no call needs a token: an empty one says so (the SDK then sends none).
      if (!view.enabled) return { header: header(), token: '', expiresAtMs: 0 };
      const user = view.state.users.get(name);
      const matches = user?.password != null && (await hasher.verify(password, user.password));
      if (!matches || user === undefined) throw new UnauthenticatedError('authentication failed: invalid user name or password');
      const now = stateMachine.auth;
      // The password may have changed while it was being verified: sign for the state in force.
      const revision = now.credentialRevision(name);
      if (revision !== user.credentialRevision || !now.enabled) throw new UnauthenticatedError('authentication failed: the user changed meanwhile; try again');
      const expiresAtMs = Date.now() + config.authTokenTtlSeconds * 1000;
      return { header: header(), token: signToken({ user: name, expiresAtMs, credentialRevision: revision }, now.state.secret), expiresAtMs };
    }, true),
    userAdd: unary('UserAdd', async (request, timeoutMs, checked) => {
      const name = nameField(request, 'name');
      const password = request.noPassword === true ? null : await hashed(request);
      await operations.proposeAuth({ op: 'user-add', name, password }, timeoutMs, checked);
      return ok();
    }),
    userDelete: unary('UserDelete', async (request, timeoutMs, checked) => {
      await operations.proposeAuth({ op: 'user-delete', name: nameField(request, 'name') }, timeoutMs, checked);
      return ok();
    }),
    userChangePassword: unary('UserChangePassword', async (request, timeoutMs, checked) => {
      const name = nameField(request, 'name');
      await operations.proposeAuth({ op: 'user-change-password', name, password: await hashed(request) }, timeoutMs, checked);
      return ok();
    }),
    userGrantRole: unary('UserGrantRole', async (request, timeoutMs, checked) => {
      await operations.proposeAuth({ op: 'user-grant-role', name: nameField(request, 'user'), role: nameField(request, 'role') }, timeoutMs, checked);
      return ok();
    }),
    userRevokeRole: unary('UserRevokeRole', async (request, timeoutMs, checked) => {
      await operations.proposeAuth({ op: 'user-revoke-role', name: nameField(request, 'name'), role: nameField(request, 'role') }, timeoutMs, checked);
      return ok();
    }),
    userList: unary('UserList', async () => ({ header: header(), users: [...stateMachine.auth.state.users.keys()].sort() })),
    userGet: unary('UserGet', async (request) => {
      const name = nameField(request, 'name');
      const user = stateMachine.auth.state.users.get(name);
      if (user === undefined) throw new AuthChangeRefusedError('user-not-found', `user ${name} does not exist`);
      return { header: header(), roles: [...user.roles] };
    }),
    roleAdd: unary('RoleAdd', async (request, timeoutMs, checked) => {
      await operations.proposeAuth({ op: 'role-add', name: nameField(request, 'name') }, timeoutMs, checked);
      return ok();
    }),
    roleDelete: unary('RoleDelete', async (request, timeoutMs, checked) => {
      await operations.proposeAuth({ op: 'role-delete', name: nameField(request, 'role') }, timeoutMs, checked);
      return ok();
    }),
    roleGrantPermission: unary('RoleGrantPermission', async (request, timeoutMs, checked) => {
      const perm = (request.perm ?? null) as { permType?: string; key?: Buffer; rangeEnd?: Buffer } | null;
      if (perm === null) throw new InvalidArgumentError('perm', 'is required');
      const type = permissionType(perm.permType);
      const permission: Permission = { type, key: perm.key ?? Buffer.alloc(0), rangeEnd: perm.rangeEnd ?? Buffer.alloc(0) };
      await operations.proposeAuth({ op: 'role-grant-permission', name: nameField(request, 'name'), permission }, timeoutMs, checked);
      return ok();
    }),
    roleRevokePermission: unary('RoleRevokePermission', async (request, timeoutMs, checked) => {
      const key = (request.key as Buffer | undefined) ?? Buffer.alloc(0);
      const rangeEnd = (request.rangeEnd as Buffer | undefined) ?? Buffer.alloc(0);
      await operations.proposeAuth({ op: 'role-revoke-permission', name: nameField(request, 'role'), key, rangeEnd }, timeoutMs, checked);
      return ok();
    }),
    roleList: unary('RoleList', async () => ({ header: header(), roles: [rootName, ...[...stateMachine.auth.state.roles.keys()].sort()] })),
    roleGet: unary('RoleGet', async (request) => {
      const name = nameField(request, 'role');
      if (name === rootName) return { header: header(), perm: [{ permType: 'READWRITE', key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) }] };
      const role = stateMachine.auth.state.roles.get(name);
      if (role === undefined) throw new AuthChangeRefusedError('role-not-found', `role ${name} does not exist`);
      return {
        header: header(),
        perm: role.permissions.map((p) => ({ permType: p.type.toUpperCase(), key: Buffer.from(p.key), rangeEnd: Buffer.from(p.rangeEnd) })),
      };
    }),
  };
}

function stringField(request: Record<string, unknown>, field: string): string {
  const value = request[field];
  return typeof value === 'string' ? value : '';
}

function nameField(request: Record<string, unknown>, field: string): string {
  const name = stringField(request, field);
  validateAuthName(field, name);
  return name;
}

function permissionType(wire: string | undefined): PermissionType {
  const type = (wire ?? 'READ').toLowerCase();
  if (!permissionTypes.includes(type as PermissionType)) throw new InvalidArgumentError('perm.permType', `must be READ, WRITE or READWRITE, not ${String(wire)}`);
  return type as PermissionType;
}
