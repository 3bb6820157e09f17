/**
 * The apply's second permission check (README "Authentication and roles"). A write carries the
 * user the node that took it checked it for and the revision of the auth state that check read
 * (commands.ts CheckedFor). A revoke committed between that check and the write's entry would
 * otherwise be outrun, so when the auth state in force at the entry is newer, the apply checks the
 * write again against it: the same rules as the node's check (server/auth-guard.ts and its
 * callers), every replica with the same state, so every replica refuses alike. Unlike etcd, which
 * refuses every write of an older auth revision (ErrAuthOldRevision) for the client to retry, a
 * write the newer state still permits goes through, with no retry. Pure.
 */
import { keyInterval, prefixInterval, type Access, type AuthView, type KeyInterval, type PermissionDenial } from './auth-permissions.js';
import type { AuthState, AuthOp } from './auth-state.js';
import type { AuthCommand, CheckedFor, CompactCommand, KeyCommand, SetSessionLimitsCommand } from './commands.js';
import type { KeySelector, TxnBody } from './txn-command.js';
import { assertNever } from '../raft/index.js';

/**
 * Whether `command` must be checked again where `state` is in force: it was checked for a user,
 * auth is on, and auth changed since the check. Auth turned off meanwhile: the write is allowed,
 * as any write is with auth off. The common case (nothing changed) costs two comparisons.
 */
export function needsRecheck(command: CheckedFor, state: AuthState): command is CheckedFor & { readonly user: string; readonly authRevision: number } {
  return command.user !== undefined && state.enabled && (command.authRevision ?? 0) < state.revision;
}

/** What `view` refuses `user` for a key command (null: nothing): put and delete write; a compare-and-swap reads and writes. */
export function keyCommandDenial(view: AuthView, user: string, command: KeyCommand): PermissionDenial | null {
  switch (command.kind) {
    case 'put':
    case 'delete':
      return keyDenial(view, user, 'write', command.key);
    case 'cas':
      // As at the node: a compare-and-swap reads the key (it answers the previous record) and writes it.
      return keyDenial(view, user, 'read', command.key) ?? keyDenial(view, user, 'write', command.key);
    default:
      return assertNever(command, 'key command');
  }
}

/**
 * What `view` refuses `user` for a transaction whose compares came out `succeeded`: read on every
 * compared key (the outcome tells about them), then each operation of the branch that runs by
 * what it does. The node checked both branches, not knowing which would run; the apply knows,
 * and the branch that does not run reads and writes nothing.
 */
export function txnDenial(view: AuthView, user: string, command: TxnBody, succeeded: boolean): PermissionDenial | null {
  for (const compare of command.compare) {
    const denial = keyDenial(view, user, 'read', compare.key);
    if (denial !== null) return denial;
  }
  for (const op of succeeded ? command.success : command.failure) {
    const access: Access = op.kind === 'get' ? 'read' : 'write';
    const denial = op.kind === 'put' ? keyDenial(view, user, access, op.key) : op.keys.kind === 'key' ? keyDenial(view, user, access, op.keys.key) : rangeDenial(view, user, access, selectorInterval(op.keys));
    if (denial !== null) return denial;
  }
  return null;
}

/**
 * What `view` refuses `user` for a lease revoke that deletes `keys` (those attached at its
 * entry): write on each, as etcd checks at apply. The smallest key refused is named, so that
 * every replica names the same one whatever order it holds the keys in.
 */
export function leaseRevokeDenial(view: AuthView, user: string, keys: Iterable<Uint8Array>): PermissionDenial | null {
  let denied: Uint8Array | null = null;
  for (const key of keys) {
    if (!view.allowsKey(user, 'write', key) && (denied === null || Buffer.compare(key, denied) < 0)) denied = key;
  }
  return denied === null ? null : { need: 'key', access: 'write', key: denied };
}

/** What `view` refuses `user` for a command only root may propose (null: `user` holds root). */
export function rootDenial(view: AuthView, user: string, command: AuthCommand | CompactCommand | SetSessionLimitsCommand): PermissionDenial | null {
  return view.isRoot(user) ? null : { need: 'root', what: rootCallName(command) };
}

/** The keys a transaction's delete or get covers, as the permission check sees them. */
export function selectorInterval(keys: KeySelector): KeyInterval {
  switch (keys.kind) {
    case 'key':
      return keyInterval(keys.key);
    case 'prefix':
      return prefixInterval(keys.prefix);
    case 'interval':
      return { start: keys.start, end: keys.end.byteLength === 0 ? null : keys.end };
    default:
      return assertNever(keys, 'key selector');
  }
}

function keyDenial(view: AuthView, user: string, access: Access, key: Uint8Array): PermissionDenial | null {
  return view.allowsKey(user, access, key) ? null : { need: 'key', access, key };
}

function rangeDenial(view: AuthView, user: string, access: Access, interval: KeyInterval): PermissionDenial | null {
  return view.allows(user, access, interval) ? null : { need: 'range', access, interval };
}

/** The call a root-only command came from, named as the node's check names it. */
function rootCallName(command: AuthCommand | CompactCommand | SetSessionLimitsCommand): string {
  switch (command.kind) {
    case 'auth':
      return `Auth.${authCallNames[command.op.op]}`;
    case 'compact':
      return 'compacting the history';
    case 'set-session-limits':
      return 'changing the session limits';
    default:
      return assertNever(command, 'root-only command');
  }
}

/** The Auth service's method of each op (server/auth-service.ts). */
const authCallNames = {
  enable: 'AuthEnable',
  disable: 'AuthDisable',
  'user-add': 'UserAdd',
  'user-delete': 'UserDelete',
  'user-change-password': 'UserChangePassword',
  'user-grant-role': 'UserGrantRole',
  'user-revoke-role': 'UserRevokeRole',
  'role-add': 'RoleAdd',
  'role-delete': 'RoleDelete',
  'role-grant-permission': 'RoleGrantPermission',
  'role-revoke-permission': 'RoleRevokePermission',
} as const satisfies Record<AuthOp['op'], string>;
