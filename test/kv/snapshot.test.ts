/**
 * The state machine's snapshots on real LevelDB: read out from a consistent view while applying
 * goes on, received into the next generation, installed atomically, and the replaced state
 * cleared; and what a crash at each step leaves behind after a reopen.
 */
import { describe, expect, it } from 'vitest';
import { KvStateMachine, SnapshotChunker, decodeSnapshotChunk } from '../../src/kv/index.js';
import type { SnapshotReader } from '../../src/shared/snapshot-stream.js';
import { encodeKeyRecord } from '../../src/kv/key-record.js';
import { InvalidSnapshotError, SnapshotBusyError } from '../../src/shared/errors.js';
import { StorageError, type NodeStore } from '../../src/storage/index.js';
import { BinaryDecodeError, ByteWriter } from '../../src/shared/binary-codec.js';
import { encodeHardState } from '../../src/storage/raft-meta-codec.js';
import { raftMetaKeys } from '../../src/storage/keys.js';
import { nodeId, type SnapshotMeta } from '../../src/raft/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { entriesFrom, put, register, session, setLimits } from './kv-helpers.js';

const temp = useTempStores();
const membership = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] };

async function collect(snapshot: SnapshotReader): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of snapshot.chunks()) chunks.push(chunk);
  return chunks;
}

/** A machine with `keys` keys written by `keys` commands of one session (registered at index 1, so its id is '1'), applied through index keys + 1. */
async function populated(keys: number, valueBytes = 100): Promise<{ machine: KvStateMachine; store: NodeStore; dataDir: string }> {
  const { store, dataDir } = await temp.openFresh();
  const machine = await KvStateMachine.open(store);
  const value = 'v'.repeat(valueBytes);
  const commands = [register(), ...Array.from({ length: keys }, (_, i) => put(`key-${String(i).padStart(5, '0')}`, `${value}${i}`, session('1', i + 1)))];
  for (let i = 0; i < commands.length; i += 500) await machine.apply(entriesFrom(i + 1, commands.slice(i, i + 500)));
  return { machine, store, dataDir };
}

/** Receives `chunks` into `machine` and installs them at `meta`, as the driver does. */
async function receiveAndInstall(machine: KvStateMachine, store: NodeStore, chunks: readonly Uint8Array[], meta: SnapshotMeta): Promise<void> {
  const incoming = await machine.receiveSnapshot();
  for (const chunk of chunks) await incoming.write(chunk);
  const install = machine.prepareInstall(incoming.finish(), meta);
  await store.write(install.operations, { sync: true });
  await install.complete();
}

describe('state machine snapshots', () => {
  it('a snapshot installed on another machine reproduces keyspace, sessions and applied position', async () => {
    const source = await populated(3000);
    const snapshot = await source.machine.openSnapshot(64 * 1024);
    expect(snapshot.applied).toEqual({ index: 3001, term: 1 });
    const chunks = await collect(snapshot);
    // 3000 keys of ~110 bytes in chunks of 64 KiB: several chunks, none much over the size.
    expect(chunks.length).toBeGreaterThan(4);
    expect(Math.max(...chunks.map((chunk) => chunk.byteLength))).toBeLessThan(64 * 1024 + 512);

    const { store } = await temp.openFresh();
    const target = await KvStateMachine.open(store);
    await target.apply(entriesFrom(1, [put('stale', 'gone')]));
    expect(await target.get(bytes('stale'))).not.toBeNull(); // cached now
    await receiveAndInstall(target, store, chunks, { index: 3001, term: 1, membership });

    expect(target.applied).toEqual({ index: 3001, term: 1 });
    expect(target.generation).toBe(1);
    expect(await target.keyspaceHash()).toBe(await source.machine.keyspaceHash());
    expect(target.sessionCount).toBe(1);
    // The cache was dropped with the old state.
    expect(await target.get(bytes('stale'))).toBeNull();
    // The session came along: a retry of its last write is answered from it, not applied again.
    const [replay] = await target.apply(entriesFrom(3002, [put('key-02999', 'other', session('1', 3000))]));
    expect(replay).toMatchObject({ kind: 'command', replayed: true });
    // The replaced generation is cleared once no read uses it.
    await target.retired();
    expect(await store.generation(0).kv.keys().all()).toEqual([]);
  });

  it('a backup snapshot (includeSessions: false) holds every key and no client session', async () => {
    const source = await populated(1200);
    expect(source.machine.sessionCount).toBe(1);
    const chunks = await collect(await source.machine.openSnapshot(16 * 1024, { includeSessions: false }));
    const records = chunks.flatMap((chunk) => decodeSnapshotChunk(chunk));
    expect(records).toHaveLength(1200);
    expect(records.every((record) => record.kind === 'kv')).toBe(true);
    const withSessions = (await collect(await source.machine.openSnapshot(16 * 1024))).flatMap((chunk) => decodeSnapshotChunk(chunk));
    expect(withSessions.filter((record) => record.kind === 'session')).toHaveLength(1);
  });

  it('carries the session limits the log set: the installing replica applies the same ones', async () => {
    const source = await populated(5);
    await source.machine.apply(entriesFrom(7, [setLimits({ sessionsMax: 7, sessionIdleEntriesMax: 50 })]));
    const chunks = await collect(await source.machine.openSnapshot());
    const { store } = await temp.openFresh();
    const target = await KvStateMachine.open(store);
    expect(target.sessionLimitsRecorded).toBe(false);
    await receiveAndInstall(target, store, chunks, { index: 7, term: 1, membership });
    expect(target.sessionLimitsRecorded).toBe(true);
    expect(target.sessionLimits).toEqual(source.machine.sessionLimits);
    expect(target.sessionLimits).toMatchObject({ sessionsMax: 7, sessionIdleEntriesMax: 50 });
    // Expiry goes on identically: 51 entries after its last use, the session is gone on both.
    const idle = entriesFrom(8, Array.from({ length: 50 }, () => null));
    await source.machine.apply(idle);
    await target.apply(idle);
    expect([source.machine.sessionCount, target.sessionCount]).toEqual([0, 0]);
  });

  it('reads a consistent view: writes applied while it is read out are not in it', async () => {
    const source = await populated(2000);
    const hashBefore = await source.machine.keyspaceHash();
    const snapshot = await source.machine.openSnapshot(16 * 1024);
    await source.machine.apply(entriesFrom(2002, [put('key-00000', 'changed'), put('new-key', 'new')]));
    const chunks = await collect(snapshot);
    const { store } = await temp.openFresh();
    const target = await KvStateMachine.open(store);
    await receiveAndInstall(target, store, chunks, { ...snapshot.applied, membership });
    expect(target.applied.index).toBe(2001);
    expect(await target.keyspaceHash()).toBe(hashBefore);
    expect(await target.keyspaceHash()).not.toBe(await source.machine.keyspaceHash());
  });

  it('refuses a chunk that is not snapshot data, and drops what it stored', async () => {
    const { machine, store } = await populated(10);
    const incoming = await machine.receiveSnapshot();
    const good = await collect(await machine.openSnapshot());
    await incoming.write(good[0] ?? new Uint8Array());
    await expect(incoming.write(new Uint8Array([9, 0, 0, 0, 1, 65, 0, 0, 0, 0]))).rejects.toBeInstanceOf(InvalidSnapshotError);
    await incoming.abort();
    expect(await store.generation(1).kv.keys().all()).toEqual([]);
    // The state in force is untouched, and a new snapshot may be received.
    expect(machine.generation).toBe(0);
    await (await machine.receiveSnapshot()).abort();
  });

  it('receives one snapshot at a time', async () => {
    const { machine } = await populated(1);
    const first = await machine.receiveSnapshot();
    await expect(machine.receiveSnapshot()).rejects.toBeInstanceOf(SnapshotBusyError);
    first.finish();
    // Staged and not installed: still busy until installed or discarded.
    await expect(machine.receiveSnapshot()).rejects.toBeInstanceOf(SnapshotBusyError);
    await machine.discardStaged();
    await (await machine.receiveSnapshot()).abort();
  });

  it('a crash while receiving: the reopened machine is the old one, and the partial data is gone', async () => {
    const { machine, store, dataDir } = await populated(500);
    const hash = await machine.keyspaceHash();
    const chunks = await collect(await machine.openSnapshot(4096));
    const incoming = await machine.receiveSnapshot();
    for (const chunk of chunks.slice(0, 3)) await incoming.write(chunk);
    await store.close();
    const reopenedStore = await temp.open(dataDir);
    const reopened = await KvStateMachine.open(reopenedStore);
    expect(reopened.generation).toBe(0);
    expect(reopened.applied.index).toBe(501);
    expect(await reopened.keyspaceHash()).toBe(hash);
    expect(await reopenedStore.generation(1).kv.keys().all()).toEqual([]);
  });

  it('a crash after the install was written, before the old state was cleared: the reopened machine is the new one', async () => {
    const source = await populated(300);
    const { store, dataDir } = await temp.openFresh();
    const target = await KvStateMachine.open(store);
    await target.apply(entriesFrom(1, [put('old', 'state')]));
    const incoming = await target.receiveSnapshot();
    for (const chunk of await collect(await source.machine.openSnapshot())) await incoming.write(chunk);
    const install = target.prepareInstall(incoming.finish(), { index: 300, term: 1, membership });
    await store.write(install.operations, { sync: true });
    await store.close(); // no complete(): the process died here
    const reopenedStore = await temp.open(dataDir);
    const reopened = await KvStateMachine.open(reopenedStore);
    expect(reopened.generation).toBe(1);
    expect(reopened.applied).toEqual({ index: 300, term: 1 });
    expect(await reopened.keyspaceHash()).toBe(await source.machine.keyspaceHash());
    expect(await reopenedStore.generation(0).kv.keys().all()).toEqual([]);
  });
});

describe('snapshot chunks', () => {
  it('packs whole records into chunks of about the given size and decodes them back', () => {
    const chunker = new SnapshotChunker(100);
    const chunks: Uint8Array[] = [];
    const records = Array.from({ length: 20 }, (_, i) => ({ kind: 'kv' as const, key: bytes(`k${i}`), value: recordBytes(`value-${i}`) }));
    for (const record of records) {
      const chunk = chunker.add(record);
      if (chunk !== null) chunks.push(chunk);
    }
    const last = chunker.finish();
    if (last !== null) chunks.push(last);
    expect(chunks.length).toBeGreaterThan(3);
    const decoded = chunks.flatMap((chunk) => decodeSnapshotChunk(chunk));
    expect(decoded.map((record) => text(record.key))).toEqual(records.map((record) => text(record.key)));
    expect(chunker.finish()).toBeNull();
  });

  it.each([
    ['an unknown kind', new Uint8Array([7, 0, 0, 0, 1, 65, 0, 0, 0, 0]), /unknown kind 7/],
    ['a truncated record', new Uint8Array([1, 0, 0, 0, 9, 65]), /key/],
    ['a value that is not a key record', new Uint8Array([1, 0, 0, 0, 1, 65, 0, 0, 0, 2, 99, 99]), /.+/],
    ['an empty key', new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0]), /empty key/],
    ['session limits out of bounds', sessionLimitsRecord([1, 1, 0, 1]), /session limits.*resultBytesPerSessionMax/],
  ])('refuses %s', (_, chunk, message) => {
    expect(() => decodeSnapshotChunk(chunk)).toThrow(BinaryDecodeError);
    expect(() => decodeSnapshotChunk(chunk)).toThrow(message);
  });
});

describe('storage format', () => {
  it('refuses a database written before state generations, naming what to do', async () => {
    const { store, dataDir } = await temp.openFresh();
    // Format 1 had Raft state but no format record.
    await store.write([{ type: 'put', sublevel: store.sublevels.raftMeta, key: raftMetaKeys.hardState, value: encodeHardState({ term: 1, vote: null, commit: 0 }) }], { sync: true });
    await store.write([{ type: 'del', sublevel: store.sublevels.smMeta, key: bytes('format') }], { sync: true });
    await store.close();
    const error = await temp.open(dataDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/older raftkv.*empty data directory/);
  });

  it('upgrades a database of format 2 (before session registration) in place, keeping its sessions', async () => {
    const { store, dataDir } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [register(), put('k', 'v', session('1', 1))]));
    await store.write([{ type: 'put', sublevel: store.sublevels.smMeta, key: bytes('format'), value: Uint8Array.from([0, 0, 0, 2]) }], { sync: true });
    await store.close();
    const upgraded = await temp.open(dataDir);
    expect([...((await upgraded.sublevels.smMeta.get(bytes('format'))) ?? [])]).toEqual([0, 0, 0, 4]);
    const reopened = await KvStateMachine.open(upgraded);
    expect(reopened.sessionCount).toBe(1);
    expect(await reopened.apply(entriesFrom(3, [put('k', 'v', session('1', 1))]))).toMatchObject([{ replayed: true }]);
  });

  it('refuses a database of a later format, naming both', async () => {
    const { store, dataDir } = await temp.openFresh();
    await store.write([{ type: 'put', sublevel: store.sublevels.smMeta, key: bytes('format'), value: Uint8Array.from([0, 0, 0, 9]) }], { sync: true });
    await store.close();
    const error = await temp.open(dataDir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/storage format 9; this raftkv reads format 4/);
  });
});

/** A snapshot chunk of one session-limits record holding `limits` (in sessionLimitNames order). */
function sessionLimitsRecord(limits: readonly number[]): Uint8Array {
  const value = new ByteWriter().u8(1);
  for (const limit of limits) value.u64(limit);
  return new ByteWriter().u8(2).bytes(bytes('session-limits'), 'u32').bytes(value.finish(), 'u32').finish();
}

/** The stored form of a key record holding `value`. */
function recordBytes(value: string): Uint8Array {
  return encodeKeyRecord({ value: bytes(value), version: 1, createRevision: 1, modRevision: 1 });
}
