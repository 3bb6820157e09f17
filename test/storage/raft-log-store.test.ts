import { describe, expect, it } from 'vitest';
import { InvariantError, nodeId, type Entry, type HardState, type SnapshotMeta } from '../../src/raft/index.js';
import { RaftLogStore, StorageCorruptError, type NodeStore, type PersistedRaftState } from '../../src/storage/index.js';
import { indexOfLogKey, logKey, raftMetaKeys } from '../../src/storage/keys.js';
import { encodeLogPosition, encodeSnapshotMeta } from '../../src/storage/raft-meta-codec.js';
import { bytes, useTempStores } from './temp-stores.js';

const temp = useTempStores();
const membership = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [nodeId('n4')] };

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, type: 'normal', data: bytes(`e${index}t${term}`) });
  return out;
}

function hardState(term: number, commit: number, vote: string | null = 'n1'): HardState {
  return { term, commit, vote: vote === null ? null : nodeId(vote) };
}

function snapshotMeta(index: number, term: number): SnapshotMeta {
  return { index, term, membership };
}

async function openLog(): Promise<{ dataDir: string; store: NodeStore; log: RaftLogStore }> {
  const { dataDir, store } = await temp.openFresh();
  const log = new RaftLogStore(store);
  await log.load();
  return { dataDir, store, log };
}

/** Closes the store and loads the log from a fresh NodeStore on the same directory. */
async function reload(
  dataDir: string,
  store: NodeStore,
): Promise<{ store: NodeStore; log: RaftLogStore; state: PersistedRaftState }> {
  await store.close();
  const reopened = await temp.open(dataDir);
  const log = new RaftLogStore(reopened);
  return { store: reopened, log, state: await log.load() };
}

/** The first index of every chunk on disk, in key order. */
async function chunkKeys(store: NodeStore): Promise<number[]> {
  return (await store.sublevels.raftLog.keys().all()).map((key) => indexOfLogKey(key));
}

function indexes(list: readonly Entry[]): string[] {
  return list.map((entry) => `${entry.index}@${entry.term}`);
}

describe('RaftLogStore', () => {
  it('loads the state of a new node from an empty database', async () => {
    const { log } = await openLog();
    expect(await log.load()).toEqual({
      hardState: { term: 0, vote: null, commit: 0 },
      compactedTo: { index: 0, term: 0 },
      entries: [],
      snapshotMeta: null,
      membership: null,
    });
    expect(log.lastIndex).toBe(0);
  });

  it('round-trips entries (including empty and binary data) and the hard state across reopen', async () => {
    const { dataDir, store, log } = await openLog();
    const written: Entry[] = [
      { index: 1, term: 1, type: 'normal', data: new Uint8Array() },
      { index: 2, term: 1, type: 'normal', data: new Uint8Array([0, 255, 1, 0]) },
      { index: 3, term: 2, type: 'normal', data: bytes('x'.repeat(10_000)) },
    ];
    await log.save({ hardState: hardState(2, 2), entries: written, snapshotMeta: null });
    const { state, log: reloaded } = await reload(dataDir, store);
    expect(state.entries).toEqual(written);
    expect(state.hardState).toEqual(hardState(2, 2));
    expect(reloaded.lastIndex).toBe(3);
  });

  it('overwrites from the first new index: entries 1..10, then 5..6 of a new term, loads 1..6 (etcd Ready contract)', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(1, 0), entries: entries(1, 10, 1), snapshotMeta: null });
    await log.save({ hardState: hardState(2, 4), entries: entries(5, 6, 2), snapshotMeta: null });
    expect(log.lastIndex).toBe(6);
    const { state } = await reload(dataDir, store);
    expect(indexes(state.entries)).toEqual(['1@1', '2@1', '3@1', '4@1', '5@2', '6@2']);
    expect(state.entries[4]?.data).toEqual(bytes('e5t2'));
  });

  it('appends entries that start right after the last index and keeps what is below', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(1, 0), entries: entries(1, 3, 1), snapshotMeta: null });
    await log.save({ hardState: null, entries: entries(4, 5, 1), snapshotMeta: null });
    const { state } = await reload(dataDir, store);
    expect(indexes(state.entries)).toEqual(['1@1', '2@1', '3@1', '4@1', '5@1']);
  });

  it('refuses entries that leave a gap, or are not contiguous, and writes nothing', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(1, 0), entries: entries(1, 3, 1), snapshotMeta: null });
    await expect(log.save({ hardState: null, entries: entries(5, 6, 1), snapshotMeta: null })).rejects.toBeInstanceOf(InvariantError);
    const broken = [...entries(4, 4, 1), ...entries(6, 6, 1)];
    await expect(log.save({ hardState: null, entries: broken, snapshotMeta: null })).rejects.toBeInstanceOf(InvariantError);
    const { state } = await reload(dataDir, store);
    expect(state.entries.length).toBe(3);
  });

  it('refuses a hard state whose commit is beyond the last index, or whose term is below the last entry term', async () => {
    const { log } = await openLog();
    await expect(log.save({ hardState: hardState(1, 4), entries: entries(1, 3, 1), snapshotMeta: null })).rejects.toBeInstanceOf(InvariantError);
    await expect(log.save({ hardState: hardState(1, 3), entries: entries(1, 3, 2), snapshotMeta: null })).rejects.toBeInstanceOf(InvariantError);
    expect(log.lastIndex).toBe(0);
  });

  it('keeps the last hard state when an update carries none, and stores a null vote', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(3, 0, 'n2'), entries: [], snapshotMeta: null });
    await log.save({ hardState: hardState(4, 0, null), entries: [], snapshotMeta: null });
    await log.save({ hardState: null, entries: entries(1, 2, 4), snapshotMeta: null });
    const { state } = await reload(dataDir, store);
    expect(state.hardState).toEqual(hardState(4, 0, null));
    expect(state.entries.length).toBe(2);
  });

  it('resets the log to a snapshot: every entry deleted, compaction point, meta and membership stored', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(1, 5), entries: entries(1, 10, 1), snapshotMeta: null });
    await log.save({ hardState: hardState(3, 21), entries: entries(21, 22, 3), snapshotMeta: snapshotMeta(20, 3) });
    expect(log.compactedTo).toEqual({ index: 20, term: 3 });
    const { state } = await reload(dataDir, store);
    expect(state.compactedTo).toEqual({ index: 20, term: 3 });
    expect(indexes(state.entries)).toEqual(['21@3', '22@3']);
    expect(state.snapshotMeta).toEqual(snapshotMeta(20, 3));
    expect(state.membership).toEqual(membership);
    expect(state.hardState.commit).toBe(21);
  });

  it('resets to a snapshot inside the current log, dropping the entries after it too', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(1, 2), entries: entries(1, 10, 1), snapshotMeta: null });
    await log.save({ hardState: hardState(2, 5), entries: [], snapshotMeta: snapshotMeta(5, 1) });
    const reloaded = await reload(dataDir, store);
    expect(reloaded.state.entries).toEqual([]);
    expect(reloaded.state.compactedTo).toEqual({ index: 5, term: 1 });
    expect(await reloaded.store.sublevels.raftLog.get(logKey(7))).toBeUndefined();
  });

  it('skips entries at or below the compaction point, as etcd MemoryStorage.Append does', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(2, 20), entries: [], snapshotMeta: snapshotMeta(20, 2) });
    await log.save({ hardState: null, entries: entries(19, 22, 2), snapshotMeta: null });
    const { state } = await reload(dataDir, store);
    expect(indexes(state.entries)).toEqual(['21@2', '22@2']);
  });

  it('compacts: drops entries up to the point and records it with the snapshot meta', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(2, 10), entries: [...entries(1, 4, 1), ...entries(5, 10, 2)], snapshotMeta: null });
    await log.compact({ index: 6, term: 2 }, snapshotMeta(7, 2));
    expect(log.compactedTo).toEqual({ index: 6, term: 2 });
    const { state, log: reloaded } = await reload(dataDir, store);
    expect(indexes(state.entries)).toEqual(['7@2', '8@2', '9@2', '10@2']);
    expect(state.compactedTo).toEqual({ index: 6, term: 2 });
    expect(state.snapshotMeta).toEqual(snapshotMeta(7, 2));
    expect(state.membership).toBeNull();
    // Overwriting after compaction deletes only persisted entries above the new ones.
    await reloaded.save({ hardState: hardState(3, 8), entries: entries(9, 9, 3), snapshotMeta: null });
    expect(indexes((await reloaded.load()).entries)).toEqual(['7@2', '8@2', '9@3']);
  });

  it('deletes the compacted entries from disk in the background', async () => {
    const { store, log } = await openLog();
    // Three saves, three chunks: [1, 3], [4, 6], [7, 10].
    await log.save({ hardState: hardState(1, 0), entries: entries(1, 3, 1), snapshotMeta: null });
    await log.save({ hardState: null, entries: entries(4, 6, 1), snapshotMeta: null });
    await log.save({ hardState: hardState(1, 10), entries: entries(7, 10, 1), snapshotMeta: null });
    await log.compact({ index: 6, term: 1 }, snapshotMeta(6, 1));
    await log.purged();
    expect(await chunkKeys(store)).toEqual([7]);
  });

  it('after a crash between the compaction record and the purge, ignores and deletes the entries below the point', async () => {
    const { dataDir, store, log } = await openLog();
    await log.save({ hardState: hardState(1, 10), entries: entries(1, 10, 1), snapshotMeta: null });
    // What compact() writes first, without the purge that follows it.
    await store.write(
      [
        { type: 'put', sublevel: store.sublevels.raftMeta, key: raftMetaKeys.compactedTo, value: encodeLogPosition({ index: 4, term: 1 }) },
        { type: 'put', sublevel: store.sublevels.raftMeta, key: raftMetaKeys.snapshotMeta, value: encodeSnapshotMeta(snapshotMeta(4, 1)) },
      ],
      { sync: true },
    );
    const { state, log: reloaded } = await reload(dataDir, store);
    expect(indexes(state.entries)[0]).toBe('5@1');
    await reloaded.purged();
    expect((await reloaded.load()).entries).toHaveLength(6);
  });

  it('compacting to or below the current point only records the newer snapshot meta', async () => {
    const { log } = await openLog();
    await log.save({ hardState: hardState(1, 10), entries: entries(1, 10, 1), snapshotMeta: null });
    await log.compact({ index: 5, term: 1 }, snapshotMeta(5, 1));
    await log.compact({ index: 3, term: 1 }, snapshotMeta(8, 1));
    const state = await log.load();
    expect(state.compactedTo).toEqual({ index: 5, term: 1 });
    expect(state.snapshotMeta?.index).toBe(8);
    expect(state.entries.length).toBe(5);
  });

  it('refuses a compaction with the wrong term, beyond the log, or not covered by the snapshot', async () => {
    const { log } = await openLog();
    await log.save({ hardState: hardState(1, 10), entries: entries(1, 10, 1), snapshotMeta: null });
    await expect(log.compact({ index: 5, term: 2 }, snapshotMeta(5, 2))).rejects.toBeInstanceOf(InvariantError);
    await expect(log.compact({ index: 11, term: 1 }, snapshotMeta(11, 1))).rejects.toBeInstanceOf(InvariantError);
    await expect(log.compact({ index: 5, term: 1 }, snapshotMeta(4, 1))).rejects.toBeInstanceOf(InvariantError);
    expect((await log.load()).entries.length).toBe(10);
  });

  it('runs writes in call order even when the caller does not wait', async () => {
    const { log } = await openLog();
    const saved = log.save({ hardState: hardState(1, 10), entries: entries(1, 10, 1), snapshotMeta: null });
    const compacted = log.compact({ index: 4, term: 1 }, snapshotMeta(4, 1));
    await Promise.all([saved, compacted]);
    expect(indexes((await log.load()).entries)[0]).toBe('5@1');
  });

  it('stores the membership of a bootstrapped node', async () => {
    const { dataDir, store, log } = await openLog();
    await log.saveMembership(membership);
    expect((await reload(dataDir, store)).state.membership).toEqual(membership);
  });

  describe('corruption is a StorageCorruptError naming the key', () => {
    it('an undecodable entry', async () => {
      const { dataDir, store, log } = await openLog();
      await log.save({ hardState: hardState(1, 0), entries: entries(1, 5, 1), snapshotMeta: null });
      await store.write([{ type: 'put', sublevel: store.sublevels.raftLog, key: logKey(3), value: new Uint8Array([0, 0, 1]) }], { sync: true });
      const error: unknown = await reload(dataDir, store).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageCorruptError);
      expect((error as StorageCorruptError).code).toBe('STORAGE_CORRUPT');
      expect((error as StorageCorruptError).location).toBe('raft-log/0000000000000003');
    });

    it('an unknown entry type byte', async () => {
      const { dataDir, store, log } = await openLog();
      await log.save({ hardState: hardState(1, 0), entries: entries(1, 2, 1), snapshotMeta: null });
      // A chunk of one entry: count 1, term 1, type 9, no data.
      const value = new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0]);
      await store.write([{ type: 'put', sublevel: store.sublevels.raftLog, key: logKey(2), value }], { sync: true });
      await expect(reload(dataDir, store)).rejects.toThrow(/raft-log\/0000000000000002: chunk entry 0 \(index 2\) at offset 4 type: unknown type byte 9/);
    });

    it('a gap in the log', async () => {
      const { dataDir, store, log } = await openLog();
      await log.save({ hardState: hardState(1, 0), entries: entries(1, 2, 1), snapshotMeta: null });
      await log.save({ hardState: null, entries: entries(3, 3, 1), snapshotMeta: null });
      await log.save({ hardState: null, entries: entries(4, 5, 1), snapshotMeta: null });
      await store.write([{ type: 'del', sublevel: store.sublevels.raftLog, key: logKey(3) }], { sync: true });
      await expect(reload(dataDir, store)).rejects.toMatchObject({ name: 'StorageCorruptError', location: 'raft-log/0000000000000004' });
    });

    it('a hard state that does not decode', async () => {
      const { dataDir, store, log } = await openLog();
      await log.save({ hardState: hardState(1, 0), entries: [], snapshotMeta: null });
      await store.write([{ type: 'put', sublevel: store.sublevels.raftMeta, key: raftMetaKeys.hardState, value: new Uint8Array([7]) }], { sync: true });
      await expect(reload(dataDir, store)).rejects.toMatchObject({
        name: 'StorageCorruptError',
        location: `raft-meta/${Buffer.from('hard-state').toString('hex')}`,
      });
    });

    it('a commit index beyond the log', async () => {
      const { dataDir, store, log } = await openLog();
      await log.save({ hardState: hardState(1, 0), entries: entries(1, 2, 1), snapshotMeta: null });
      await log.save({ hardState: hardState(1, 3), entries: entries(3, 5, 1), snapshotMeta: null });
      await store.write([{ type: 'del', sublevel: store.sublevels.raftLog, key: logKey(3) }], { sync: true });
      await expect(reload(dataDir, store)).rejects.toThrow(/commit 3 beyond the last index 2/);
    });
  });
});
