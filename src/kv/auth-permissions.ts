/**
 * The permission check: an immutable view of the auth state, built once per change of it, in
 * which each user's permissions are merged into sorted, disjoint key intervals per kind. A check
 * is then a binary search, no allocation and no read of the database: it runs on every KV call.
 *
 * Every permission and every request is an interval [start, end) of keys, end null meaning
 * "to the end of the keyspace": a key k alone is [k, k + 0x00), the smallest interval holding it.
 * A request is allowed when one merged interval covers it whole (etcd checks ranges the same way).
 */
import { isToEnd, printableKey, rootName, type AuthState, type Permission, type PermissionType } from './auth-state.js';
import { assertNever } from '../raft/index.js';

/** What an operation needs. */
export type Access = 'read' | 'write';

/** A half-open key interval; `end` null: unbounded. */
export interface KeyInterval {
  readonly start: Uint8Array;
  readonly end: Uint8Array | null;
}

interface UserPermissions {
  readonly root: boolean;
  readonly read: readonly KeyInterval[];
  readonly write: readonly KeyInterval[];
  readonly credentialRevision: number;
}

/** The auth state, ready for checks. */
export class AuthView {
  private readonly users = new Map<string, UserPermissions>();

  constructor(readonly state: AuthState) {
    for (const user of state.users.values()) {
      const read: KeyInterval[] = [];
      const write: KeyInterval[] = [];
      for (const roleName of user.roles) {
        for (const permission of state.roles.get(roleName)?.permissions ?? []) {
          const interval = permissionInterval(permission);
          if (grants(permission.type, 'read')) read.push(interval);
          if (grants(permission.type, 'write')) write.push(interval);
        }
      }
      this.users.set(user.name, { root: user.roles.includes(rootName), read: mergeIntervals(read), write: mergeIntervals(write), credentialRevision: user.credentialRevision });
    }
  }

  get enabled(): boolean {
    return this.state.enabled;
  }

  /** Whether `user` exists and holds the role root. */
  isRoot(user: string): boolean {
    return this.users.get(user)?.root === true;
  }

  /** The user's credential generation, or null if there is no such user. */
  credentialRevision(user: string): number | null {
    return this.users.get(user)?.credentialRevision ?? null;
  }

  /** Whether `user` may `access` `key`: `allows` for the key's interval, without building it (the per-call path). */
  allowsKey(user: string, access: Access, key: Uint8Array): boolean {
    const permissions = this.users.get(user);
    if (permissions === undefined) return false;
    if (permissions.root) return true;
    return coversKey(access === 'read' ? permissions.read : permissions.write, key);
  }

  /** Whether `user` may `access` every key of `interval`. */
  allows(user: string, access: Access, interval: KeyInterval): boolean {
    const permissions = this.users.get(user);
    if (permissions === undefined) return false;
    if (permissions.root) return true;
    return covers(access === 'read' ? permissions.read : permissions.write, interval);
  }
}

function grants(type: PermissionType, access: Access): boolean {
  return type === 'readwrite' || type === access;
}

const zero = new Uint8Array([0]);

/** The interval of one key: [key, key + 0x00). */
export function keyInterval(key: Uint8Array): KeyInterval {
  const end = new Uint8Array(key.byteLength + 1);
  end.set(key);
  return { start: key, end };
}

/** The interval a permission names (see Permission). */
export function permissionInterval(permission: Pick<Permission, 'key' | 'rangeEnd'>): KeyInterval {
  if (permission.rangeEnd.byteLength === 0) return keyInterval(permission.key);
  if (isToEnd(permission.rangeEnd)) return { start: permission.key, end: null };
  return { start: permission.key, end: permission.rangeEnd };
}

/** The interval of every key starting with `prefix` (empty: every key). */
export function prefixInterval(prefix: Uint8Array): KeyInterval {
  return { start: prefix, end: prefixEnd(prefix) };
}

/** The first key after every key starting with `prefix`; null when there is none (empty or all 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | null {
  for (let i = prefix.byteLength - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      // A copy: `prefix` may be a Buffer, whose slice() is a view of the caller's bytes.
      const end = Uint8Array.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return null;
}

/** The range-end bytes of a prefix permission (etcd's `--prefix`): "\0" when it runs to the end. */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  return prefixEnd(prefix) ?? zero;
}

/** Sorted by start, overlapping or touching intervals joined. */
export function mergeIntervals(intervals: readonly KeyInterval[]): KeyInterval[] {
  const sorted = [...intervals].sort((a, b) => Buffer.compare(a.start, b.start));
  const merged: KeyInterval[] = [];
  for (const interval of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && (last.end === null || Buffer.compare(interval.start, last.end) <= 0)) {
      if (last.end !== null && (interval.end === null || Buffer.compare(interval.end, last.end) > 0)) merged[merged.length - 1] = { start: last.start, end: interval.end };
      continue;
    }
    merged.push(interval);
  }
  return merged;
}

/**
 * Whether one of the merged, sorted `intervals` holds `key`: the last one starting at or before
 * it must end after it ([key, key + 0x00) fits in [start, end) exactly when key < end).
 */
export function coversKey(intervals: readonly KeyInterval[], key: Uint8Array): boolean {
  const found = lastStartingAtOrBefore(intervals, key);
  if (found === undefined) return false;
  return found.end === null || Buffer.compare(key, found.end) < 0;
}

function lastStartingAtOrBefore(intervals: readonly KeyInterval[], key: Uint8Array): KeyInterval | undefined {
  let low = 0;
  let high = intervals.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (Buffer.compare((intervals[middle] as KeyInterval).start, key) <= 0) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found < 0 ? undefined : intervals[found];
}

/** Whether one of the merged, sorted `intervals` holds all of `wanted`. */
export function covers(intervals: readonly KeyInterval[], wanted: KeyInterval): boolean {
  // The last interval starting at or before wanted.start: the only one that can hold it.
  const found = lastStartingAtOrBefore(intervals, wanted.start);
  if (found === undefined) return false;
  const end = found.end;
  if (end === null) return true;
  if (wanted.end === null) return false;
  return Buffer.compare(wanted.end, end) <= 0 && Buffer.compare(wanted.start, end) < 0;
}

/**
 * What a permission check refused: `access` on one key, on every key of an interval, or the
 * role root for a management call (`what` names it).
 */
export type PermissionDenial =
  | { readonly need: 'key'; readonly access: Access; readonly key: Uint8Array }
  | { readonly need: 'range'; readonly access: Access; readonly interval: KeyInterval }
  | { readonly need: 'root'; readonly what: string };

/**
 * The one text of a refusal, from the node's check and from the apply's alike (the SDK reads the
 * permission and the key back from it: client/errors.ts permissionDenied).
 */
export function permissionDeniedMessage(user: string, denial: PermissionDenial): string {
  switch (denial.need) {
    case 'key':
      return `permission denied: user ${JSON.stringify(user)} lacks ${denial.access} permission on key ${printableKey(denial.key)}`;
    case 'range':
      return `permission denied: user ${JSON.stringify(user)} lacks ${denial.access} permission on ${describeInterval(denial.interval)}`;
    case 'root':
      return `permission denied: ${denial.what} needs the root role; user ${JSON.stringify(user)} does not have it`;
    default:
      return assertNever(denial, 'permission denial');
  }
}

/** `range [start, end)`, keys printable (or `0x...` hex). */
export function describeInterval(interval: KeyInterval): string {
  return `range [${printableKey(interval.start)}, ${interval.end === null ? 'end of keyspace' : printableKey(interval.end)})`;
}
