/**
 * Auth commands in the state machine on real LevelDB: applied in order (refusals change
 * nothing), kept across a reopen, carried by a snapshot install and by a backup stream, and
 * absent (auth disabled, no users) where a state has none.
 */
import { describe, expect, it } from 'vitest';
import { KvStateMachine, decodeSnapshotChunk, type AuthOp, type Command } from '../../src/kv/index.js';
import type { SnapshotReader } from '../../src/shared/snapshot-stream.js';
import { nodeId } from '../../src/raft/index.js';
import { bytes, useTempStores } from '../storage/temp-stores.js';
import { entriesFrom, put } from './kv-helpers.js';

const temp = useTempStores();
const membership = { voters: [nodeId('n1')], learners: [] };
const password = { salt: new Uint8Array(16).fill(5), n: 16_384, r: 8, p: 1, hash: new Uint8Array(32).fill(6) };
const auth = (op: AuthOp): Command => ({ kind: 'auth', op });

async function collect(snapshot: SnapshotReader): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of snapshot.chunks()) chunks.push(chunk);
  return chunks;
}

const setup: Command[] = [
  auth({ op: 'enable', secret: new Uint8Array(32) }),
  auth({ op: 'user-add', name: 'root', password }),
  auth({ op: 'role-add', name: 'reader' }),
  auth({ op: 'role-grant-permission', name: 'reader', permission: { type: 'read', key: bytes('a/'), rangeEnd: bytes('a0') } }),
  auth({ op: 'user-add', name: 'alice', password }),
  auth({ op: 'user-grant-role', name: 'alice', role: 'reader' }),
  put('a/x', '1'),
  auth({ op: 'enable', secret: new Uint8Array(32).fill(8) }),
];

describe('auth in the state machine', () => {
  it('applies auth commands in order, answers refusals, and keeps them across a reopen', async () => {
    const { store, dataDir } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    expect(machine.auth.enabled).toBe(false);
    const before = machine.auth;
    const outcomes = await machine.apply(entriesFrom(1, setup));
    expect(outcomes.map((o) => (o.kind === 'command' && o.result.kind === 'auth' ? (o.result.ok ? 'ok' : o.result.refusal) : o.kind))).toEqual([
      'root-user-missing',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'command',
      'ok',
    ]);
    expect(machine.auth).not.toBe(before); // a change makes a new view
    expect(machine.auth.enabled).toBe(true);
    expect(machine.auth.allows('alice', 'read', { start: bytes('a/x'), end: bytes('a/x\0') })).toBe(true);
    expect(machine.auth.allows('alice', 'write', { start: bytes('a/x'), end: bytes('a/x\0') })).toBe(false);
    const state = machine.auth.state;
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.auth.state).toEqual(state);
    expect(reopened.auth.state.secret).toEqual(new Uint8Array(32).fill(8));
  });

  it('travels in snapshots and backups, and a snapshot without auth means auth off', async () => {
    const source = await KvStateMachine.open((await temp.openFresh()).store);
    await source.apply(entriesFrom(1, setup));
    for (const includeSessions of [true, false]) {
      const chunks = await collect(await source.openSnapshot(1024, { includeSessions }));
      expect(chunks.flatMap((c) => decodeSnapshotChunk(c)).filter((r) => r.kind === 'auth')).toHaveLength(1);
      const { store } = await temp.openFresh();
      const target = await KvStateMachine.open(store);
      const incoming = await target.receiveSnapshot();
      for (const chunk of chunks) await incoming.write(chunk);
      const install = target.prepareInstall(incoming.finish(), { index: 8, term: 1, membership });
      await store.write([...install.operations], { sync: true });
      await install.complete();
      expect(target.auth.state).toEqual(source.auth.state);
      expect(target.auth.enabled).toBe(true);
      // Then a snapshot from a machine that never had auth replaces it with none.
      const plain = await KvStateMachine.open((await temp.openFresh()).store);
      await plain.apply(entriesFrom(1, [put('k', 'v')]));
      const plainChunks = await collect(await plain.openSnapshot());
      expect(plainChunks.flatMap((c) => decodeSnapshotChunk(c)).some((r) => r.kind === 'auth')).toBe(false);
      const again = await target.receiveSnapshot();
      for (const chunk of plainChunks) await again.write(chunk);
      const second = target.prepareInstall(again.finish(), { index: 20, term: 2, membership });
      await store.write([...second.operations], { sync: true });
      await second.complete();
      expect(target.auth.enabled).toBe(false);
      expect(target.auth.state.users.size).toBe(0);
    }
  });
});
