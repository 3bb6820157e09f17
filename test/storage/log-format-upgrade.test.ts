import { describe, expect, it } from 'vitest';
import { nodeId, type Entry } from '../../src/raft/index.js';
import { ByteWriter } from '../../src/shared/binary-codec.js';
import { NodeStore, RaftLogStore, StorageCorruptError } from '../../src/storage/index.js';
import { encodeEntry } from '../../src/storage/entry-codec.js';
import { indexOfLogKey, logKey, raftMetaKeys, smMetaKeys } from '../../src/storage/keys.js';
import { decodeChunk } from '../../src/storage/log-chunk-codec.js';
import { encodeHardState, encodeLogPosition, encodeSnapshotMeta } from '../../src/storage/raft-meta-codec.js';
import { bytes, useTempStores } from './temp-stores.js';

const temp = useTempStores();

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, type: index % 7 === 0 ? 'conf-change' : 'normal', data: bytes(`e${index}t${term}`) });
  return out;
}

/**
 * A data directory as raftkv wrote it at storage format 3: one `raft-log` record per entry,
 * under its index, in entry-codec's form, with `compacted-to` at `compactedIndex` and the
 * entries from 1 (those at or below it being what a crash left before their purge). The store
 * opened to write it is new, so it starts at the current format; the batch sets the old one.
 */
async function writeFormat3(
  dataDir: string,
  log: readonly Entry[],
  compactedIndex: number,
  format = 3,
  rawRecords: readonly { index: number; value: Uint8Array }[] = [],
): Promise<void> {
  const store = await NodeStore.open(dataDir, { createIfMissing: true });
  const { raftLog, raftMeta, smMeta } = store.sublevels;
  const last = log[log.length - 1] as Entry;
  await store.write(
    [
      ...log.map((entry) => ({ type: 'put' as const, sublevel: raftLog, key: logKey(entry.index), value: encodeEntry(entry) })),
      ...rawRecords.map((record) => ({ type: 'put' as const, sublevel: raftLog, key: logKey(record.index), value: record.value })),
      { type: 'put', sublevel: raftMeta, key: raftMetaKeys.hardState, value: encodeHardState({ term: last.term, vote: nodeId('n1'), commit: last.index }) },
      { type: 'put', sublevel: raftMeta, key: raftMetaKeys.compactedTo, value: encodeLogPosition({ index: compactedIndex, term: 1 }) },
      { type: 'put', sublevel: raftMeta, key: raftMetaKeys.snapshotMeta, value: encodeSnapshotMeta({ index: compactedIndex, term: 1, membership: { voters: [nodeId('n1')], learners: [] } }) },
      { type: 'put', sublevel: smMeta, key: smMetaKeys.format, value: new ByteWriter(4).u32(format).finish() },
    ],
    { sync: true },
  );
  await store.close();
}

async function formatOf(store: NodeStore): Promise<number> {
  return Buffer.from((await store.sublevels.smMeta.get(smMetaKeys.format)) ?? new Uint8Array(4)).readUInt32BE(0);
}

describe('storage format 3 to 4: the Raft log rewritten as chunks at open', () => {
  it.each([3, 2])('upgrades a format %i directory in place: the same log, as chunks, format 4', async (format) => {
    const dataDir = await temp.makeDir();
    const log = [...entries(1, 40, 1), ...entries(41, 60, 2)];
    await writeFormat3(dataDir, log, 10, format);

    const store = await temp.open(dataDir);
    expect(await formatOf(store)).toBe(4);
    const records = await store.sublevels.raftLog.iterator().all();
    // Entries 1..10 were below the compaction point: deleted, not carried over.
    expect(records.map(([key]) => indexOfLogKey(key))).toEqual([11]);
    expect(decodeChunk(11, (records[0] as [Uint8Array, Uint8Array])[1])).toEqual(log.slice(10));

    const state = await new RaftLogStore(store).load();
    expect(state.compactedTo).toEqual({ index: 10, term: 1 });
    expect(state.entries).toEqual(log.slice(10));
    expect(state.hardState.commit).toBe(60);
  });

  it('opens an upgraded directory again without change, and the log goes on from it', async () => {
    const dataDir = await temp.makeDir();
    await writeFormat3(dataDir, entries(1, 5, 1), 0);
    let store = await temp.open(dataDir);
    await store.close();
    store = await temp.open(dataDir);
    const log = new RaftLogStore(store);
    expect((await log.load()).entries).toEqual(entries(1, 5, 1));
    await log.save({ hardState: null, entries: entries(6, 7, 1), snapshotMeta: null });
    expect((await log.load()).entries).toEqual(entries(1, 7, 1));
    expect((await store.sublevels.raftLog.keys().all()).map(indexOfLogKey)).toEqual([1, 6]);
  });

  it('refuses a format 3 log that does not decode, naming the key, and writes nothing', async () => {
    const dataDir = await temp.makeDir();
    await writeFormat3(dataDir, entries(1, 5, 1), 0, 3, [{ index: 6, value: new Uint8Array([0, 0, 1]) }]);
    const openError = (): Promise<unknown> => NodeStore.open(dataDir, { createIfMissing: false }).then(
      async (store) => {
        await store.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    const error = await openError();
    expect(error).toBeInstanceOf(StorageCorruptError);
    expect((error as StorageCorruptError).location).toBe('raft-log/0000000000000006');
    // Still format 3 with its per-entry records: a second open meets the same record.
    expect(await openError()).toMatchObject({ location: 'raft-log/0000000000000006' });
  });
});
