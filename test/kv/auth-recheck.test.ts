/**
 * The apply's second permission check (src/kv/auth-recheck.ts), on a real state machine over
 * LevelDB. A write carries the user and auth revision it was checked for; applied after auth
 * changed, it is checked again against the auth state in force at its entry: refused with
 * nothing written when the user may no longer do it, applied when it still may, and applied as
 * before when it carries no user (format 2, written before the check existed).
 */
import { describe, expect, it } from 'vitest';
import {
  CorruptCommittedEntryError,
  KvStateMachine,
  encodeCommand,
  permissionDeniedMessage,
  type ApplyOutcome,
  type AuthOp,
  type CheckedFor,
  type Command,
  type CommandResult,
  type TxnCommand,
} from '../../src/kv/index.js';
import type { Entry } from '../../src/raft/index.js';
import { bytes, useTempStores } from '../storage/temp-stores.js';
import { commandEntry, entriesFrom, session } from './kv-helpers.js';

const temp = useTempStores();
const password = { salt: new Uint8Array(16).fill(5), n: 16_384, r: 8, p: 1, hash: new Uint8Array(32).fill(6) };
const auth = (op: AuthOp, checked: CheckedFor = {}): Command => ({ kind: 'auth', op, ...checked });
const prefix = (p: string): { key: Uint8Array; rangeEnd: Uint8Array } => ({ key: bytes(p), rangeEnd: Uint8Array.from([...bytes(p).subarray(0, -1), bytes(p).at(-1)! + 1]) });

/**
 * Users root, alice (role a-writer: readwrite on a/; role b-writer: write on b/) and admin
 * (role root), auth on, and a registered session (id "9"): the auth revision is 8 after them.
 */
const setup: Command[] = [
  auth({ op: 'user-add', name: 'root', password }),
  auth({ op: 'role-add', name: 'a-writer' }),
  auth({ op: 'role-grant-permission', name: 'a-writer', permission: { type: 'readwrite', ...prefix('a/') } }),
  auth({ op: 'role-add', name: 'b-writer' }),
  auth({ op: 'role-grant-permission', name: 'b-writer', permission: { type: 'write', ...prefix('b/') } }),
  auth({ op: 'user-add', name: 'alice', password }),
  auth({ op: 'user-grant-role', name: 'alice', role: 'a-writer' }),
  auth({ op: 'user-grant-role', name: 'alice', role: 'b-writer' }),
  auth({ op: 'user-add', name: 'admin', password }),
  auth({ op: 'user-grant-role', name: 'admin', role: 'root' }),
  auth({ op: 'enable', secret: new Uint8Array(32).fill(1) }),
  { kind: 'register-session' },
];
/** The auth revision after `setup` (its enable), and the session it registered. */
const checkedRevision = 11;
const clientId = '12';
const alice: CheckedFor = { user: 'alice', authRevision: checkedRevision };

const revokeA = auth({ op: 'user-revoke-role', name: 'alice', role: 'a-writer' });
const revokeB = auth({ op: 'user-revoke-role', name: 'alice', role: 'b-writer' });
const unrelated = auth({ op: 'role-add', name: 'unrelated' });

async function machineAfterSetup(): Promise<{ machine: KvStateMachine; next: () => number }> {
  const machine = await KvStateMachine.open((await temp.openFresh()).store);
  await machine.apply(entriesFrom(1, setup));
  expect(machine.auth.state.revision).toBe(checkedRevision);
  let index = setup.length;
  return { machine, next: () => ++index };
}

/** Applies `commands` in one batch at the next indexes; the outcomes' results. */
async function apply(target: { machine: KvStateMachine; next: () => number }, commands: readonly Command[]): Promise<CommandResult[]> {
  const entries = commands.map((command) => commandEntry(target.next(), command));
  const outcomes = await target.machine.apply(entries);
  return outcomes.map(resultOf);
}

function resultOf(outcome: ApplyOutcome | undefined): CommandResult {
  if (outcome?.kind !== 'command') throw new Error(`expected a command outcome, got ${outcome?.kind}`);
  return outcome.result;
}

function denialMessage(result: CommandResult): string {
  if (result.kind !== 'permission-denied') throw new Error(`expected permission-denied, got ${result.kind}`);
  return permissionDeniedMessage(result.user, result.denial);
}

async function historyOf(machine: KvStateMachine, key: string): Promise<number> {
  return (await machine.readEvents(0, { kind: 'key', key: bytes(key) }, 100)).events.length;
}

describe('the apply checks a write again when auth changed after its check', () => {
  it('refuses a put checked before a revoke that committed first: nothing in kv, history or the lease', async () => {
    const target = await machineAfterSetup();
    const { machine } = target;
    const [grant] = await apply(target, [{ kind: 'lease-grant', id: 100, ttlSeconds: 60 }]);
    expect(grant).toMatchObject({ kind: 'lease-grant', id: 100 });
    // The revoke and the put in separate batches, then in one batch (the batch's own auth state).
    const [revoked, put] = [...(await apply(target, [revokeA])), ...(await apply(target, [{ kind: 'put', key: bytes('a/x'), value: bytes('1'), lease: 100, ...alice }]))];
    expect(revoked).toEqual({ kind: 'auth', ok: true });
    expect(put).toEqual({ kind: 'permission-denied', user: 'alice', denial: { need: 'key', access: 'write', key: bytes('a/x') } });
    expect(denialMessage(put as CommandResult)).toBe('permission denied: user "alice" lacks write permission on key "a/x"');
    const [, sameBatch] = await apply(target, [revokeB, { kind: 'put', key: bytes('b/x'), value: bytes('1'), ...alice }]);
    expect(denialMessage(sameBatch as CommandResult)).toBe('permission denied: user "alice" lacks write permission on key "b/x"');
    for (const key of ['a/x', 'b/x']) {
      expect(await machine.get(bytes(key))).toBe(null);
      expect(await historyOf(machine, key)).toBe(0);
    }
    expect(machine.lease(100)?.keys.size).toBe(0);
  });

  it('applies a write the newer auth state still permits, with no retry', async () => {
    const target = await machineAfterSetup();
    const results = await apply(target, [
      unrelated,
      revokeB,
      { kind: 'put', key: bytes('a/x'), value: bytes('1'), ...alice },
      { kind: 'delete', key: bytes('a/x'), ...alice },
      { kind: 'cas', key: bytes('a/y'), compare: { kind: 'version', version: 0 }, action: { kind: 'put', value: bytes('2') }, ...alice },
    ]);
    expect(results.map((r) => r.kind)).toEqual(['auth', 'auth', 'put', 'delete', 'cas']);
    expect(results[4]).toMatchObject({ succeeded: true });
    expect((await target.machine.get(bytes('a/y')))?.value).toEqual(bytes('2'));
  });

  it('applies a write of the old format (no user) as before: the node checked it, the apply does not', async () => {
    const target = await machineAfterSetup();
    const put: Command = { kind: 'put', key: bytes('a/x'), value: bytes('old') };
    expect(encodeCommand(put)[0]).toBe(2);
    const [, result] = await apply(target, [revokeA, put]);
    expect(result).toMatchObject({ kind: 'put', version: 1 });
    expect((await target.machine.get(bytes('a/x')))?.value).toEqual(bytes('old'));
  });

  it('does not check again a write whose auth revision is current: the node checked it against this very state', async () => {
    const target = await machineAfterSetup();
    await apply(target, [revokeA]);
    const current = target.machine.auth.state.revision;
    // alice may no longer write a/, but the revision says the check saw that state and allowed it.
    const [result] = await apply(target, [{ kind: 'put', key: bytes('a/x'), value: bytes('1'), user: 'alice', authRevision: current }]);
    expect(result).toMatchObject({ kind: 'put' });
  });

  it('checks a compare-and-swap for read and write, as the node does', async () => {
    const target = await machineAfterSetup();
    // a-writer narrowed to write only: the swap's read of a/x is refused.
    const [, , result] = await apply(target, [
      auth({ op: 'role-grant-permission', name: 'a-writer', permission: { type: 'write', ...prefix('a/') } }),
      unrelated,
      { kind: 'cas', key: bytes('a/x'), compare: { kind: 'version', version: 0 }, action: { kind: 'put', value: bytes('1') }, ...alice },
    ]);
    expect(denialMessage(result as CommandResult)).toBe('permission denied: user "alice" lacks read permission on key "a/x"');
    expect(await target.machine.get(bytes('a/x'))).toBe(null);
  });

  it('refuses the writes of a deleted user', async () => {
    const target = await machineAfterSetup();
    const [, put, del] = await apply(target, [auth({ op: 'user-delete', name: 'alice' }), { kind: 'put', key: bytes('a/x'), value: bytes('1'), ...alice }, { kind: 'delete', key: bytes('a/x'), ...alice }]);
    expect(denialMessage(put as CommandResult)).toBe('permission denied: user "alice" lacks write permission on key "a/x"');
    expect(del).toMatchObject({ kind: 'permission-denied' });
  });

  it('lets a write through when auth was disabled meanwhile, even after a revoke', async () => {
    const target = await machineAfterSetup();
    const [, , put] = await apply(target, [revokeA, auth({ op: 'disable' }), { kind: 'put', key: bytes('a/x'), value: bytes('1'), ...alice }]);
    expect(put).toMatchObject({ kind: 'put' });
    // Enabled again: the revoke is in force once more, and the old check is stale.
    const [, again] = await apply(target, [auth({ op: 'enable', secret: new Uint8Array(32).fill(2) }), { kind: 'put', key: bytes('a/x'), value: bytes('2'), ...alice }]);
    expect(again).toMatchObject({ kind: 'permission-denied' });
    expect((await target.machine.get(bytes('a/x')))?.value).toEqual(bytes('1'));
  });

  it('remembers a refusal in the session: a retry gets the same refusal, even once the role is back', async () => {
    const target = await machineAfterSetup();
    const write: Command = { kind: 'put', key: bytes('a/x'), value: bytes('1'), session: session(clientId, 1), ...alice };
    const [, refused] = await apply(target, [revokeA, write]);
    expect(refused).toMatchObject({ kind: 'permission-denied' });
    const [, retried] = await apply(target, [auth({ op: 'user-grant-role', name: 'alice', role: 'a-writer' }), write]);
    expect(retried).toEqual(refused);
    const entries: Entry[] = [commandEntry(target.next(), write)];
    const [outcome] = await target.machine.apply(entries);
    expect(outcome).toMatchObject({ kind: 'command', replayed: true, result: refused });
    expect(await target.machine.get(bytes('a/x'))).toBe(null);
    // The next write of the session, checked now, goes through.
    const [next] = await apply(target, [{ kind: 'put', key: bytes('a/x'), value: bytes('2'), session: session(clientId, 2, 1), user: 'alice', authRevision: target.machine.auth.state.revision }]);
    expect(next).toMatchObject({ kind: 'put', version: 1 });
  });

  describe('a transaction: the compares, and the branch that runs', () => {
    const txn = (compareKey: string, failure: TxnCommand['failure']): Command => ({
      kind: 'txn',
      compare: [{ key: bytes(compareKey), target: 'version', result: 'equal', number: 0 }],
      success: [{ kind: 'put', key: bytes('a/x'), value: bytes('s') }],
      failure,
      ...alice,
    });

    it('applies the success branch though the failure branch, not run, is no longer permitted', async () => {
      const target = await machineAfterSetup();
      const [, result] = await apply(target, [revokeB, txn('a/c', [{ kind: 'put', key: bytes('b/x'), value: bytes('f') }])]);
      expect(result).toMatchObject({ kind: 'txn', succeeded: true });
      expect((await target.machine.get(bytes('a/x')))?.value).toEqual(bytes('s'));
    });

    it('refuses when the branch that runs is no longer permitted, naming a range for a range delete', async () => {
      const target = await machineAfterSetup();
      await apply(target, [{ kind: 'put', key: bytes('a/c'), value: bytes('present') }, { kind: 'put', key: bytes('b/1'), value: bytes('keep') }]);
      // a/c exists, so the compare fails and the failure branch (a delete of b/) runs.
      const [, result] = await apply(target, [revokeB, txn('a/c', [{ kind: 'delete', keys: { kind: 'prefix', prefix: bytes('b/') } }])]);
      expect(denialMessage(result as CommandResult)).toBe('permission denied: user "alice" lacks write permission on range ["b/", "b0")');
      expect((await target.machine.get(bytes('b/1')))?.value).toEqual(bytes('keep'));
      expect(await target.machine.get(bytes('a/x'))).toBe(null);
    });

    it('refuses when a compared key may no longer be read, whichever branch runs', async () => {
      const target = await machineAfterSetup();
      const [, result] = await apply(target, [revokeA, txn('a/c', [])]);
      expect(denialMessage(result as CommandResult)).toBe('permission denied: user "alice" lacks read permission on key "a/c"');
      expect(await historyOf(target.machine, 'a/x')).toBe(0);
    });
  });

  describe('a lease revoke: write on every key attached at its entry', () => {
    async function leaseWithKey(key: string): Promise<{ machine: KvStateMachine; next: () => number }> {
      const target = await machineAfterSetup();
      await apply(target, [{ kind: 'lease-grant', id: 200, ttlSeconds: 60 }, { kind: 'put', key: bytes(key), value: bytes('v'), lease: 200 }]);
      return target;
    }

    it('refuses it when a key may no longer be written: the lease and its keys stay', async () => {
      const target = await leaseWithKey('a/l');
      const [, result] = await apply(target, [revokeA, { kind: 'lease-revoke', id: 200, ...alice }]);
      expect(denialMessage(result as CommandResult)).toBe('permission denied: user "alice" lacks write permission on key "a/l"');
      expect(target.machine.lease(200)?.keys.size).toBe(1);
      expect((await target.machine.get(bytes('a/l')))?.value).toEqual(bytes('v'));
    });

    it('applies it when every key is still writable', async () => {
      const target = await leaseWithKey('a/l');
      const [, result] = await apply(target, [revokeB, { kind: 'lease-revoke', id: 200, ...alice }]);
      expect(result).toEqual({ kind: 'lease-revoke', deleted: 1 });
      expect(target.machine.lease(200)).toBeUndefined();
      expect(await target.machine.get(bytes('a/l'))).toBe(null);
    });
  });

  it('refuses a root-only command of a user that lost root: nothing changes', async () => {
    const target = await machineAfterSetup();
    const admin: CheckedFor = { user: 'admin', authRevision: checkedRevision };
    const [, roleAdd, compact, limits] = await apply(target, [
      auth({ op: 'user-revoke-role', name: 'admin', role: 'root' }),
      auth({ op: 'role-add', name: 'sneaky' }, admin),
      { kind: 'compact', revision: 3, ...admin },
      { kind: 'set-session-limits', limits: { sessionsMax: 1 }, onlyIfUnset: false, ...admin },
    ]);
    expect(denialMessage(roleAdd as CommandResult)).toBe('permission denied: Auth.RoleAdd needs the root role; user "admin" does not have it');
    expect(denialMessage(compact as CommandResult)).toBe('permission denied: compacting the history needs the root role; user "admin" does not have it');
    expect(denialMessage(limits as CommandResult)).toBe('permission denied: changing the session limits needs the root role; user "admin" does not have it');
    expect(target.machine.auth.state.roles.has('sneaky')).toBe(false);
    expect(target.machine.compactRevision).toBe(0);
    expect(target.machine.sessionLimits.sessionsMax).not.toBe(1);
    // Root's own change, checked before an unrelated one, still goes through.
    const [, ok] = await apply(target, [unrelated, auth({ op: 'role-add', name: 'fine' }, { user: 'root', authRevision: checkedRevision })]);
    expect(ok).toEqual({ kind: 'auth', ok: true });
  });

  it('refuses a committed entry with a malformed user as corrupt, applying nothing of its batch', async () => {
    const target = await machineAfterSetup();
    const valid = encodeCommand({ kind: 'put', key: bytes('a/x'), value: bytes('1'), ...alice });
    // The user's length byte says 0: not a user name.
    const data = Uint8Array.from([3, 1, 0, ...valid.subarray(3 + 5)]);
    const applied = target.machine.appliedIndex;
    const error: unknown = await target.machine
      .apply([commandEntry(applied + 1, { kind: 'put', key: bytes('a/y'), value: bytes('1') }), { index: applied + 2, term: 1, type: 'normal', data }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptCommittedEntryError);
    expect(error).toMatchObject({ index: applied + 2 });
    expect(((error as Error).cause as Error).message).toMatch(/user: 0 bytes/);
    expect(target.machine.appliedIndex).toBe(applied);
  });
});
