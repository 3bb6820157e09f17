import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeStore, StorageError } from '../../src/storage/index.js';
import { bytes, text, useTempStores } from './temp-stores.js';

const temp = useTempStores();

async function openError(dataDir: string, createIfMissing: boolean): Promise<StorageError> {
  const error: unknown = await NodeStore.open(dataDir, { createIfMissing }).then(
    async (store) => {
      await store.close();
      return undefined;
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describe('NodeStore', () => {
  it('creates the data directory and writes one batch across sublevels', async () => {
    const dataDir = join(await temp.makeDir(), 'nested', 'node-1');
    const store = await temp.open(dataDir);
    const { smMeta } = store.sublevels;
    const { kv } = store.generation(0);
    await store.write(
      [
        { type: 'put', sublevel: kv, key: bytes('k'), value: bytes('v') },
        { type: 'put', sublevel: smMeta, key: bytes('k'), value: bytes('meta') },
      ],
      { sync: true },
    );
    expect(text((await kv.get(bytes('k'))) ?? new Uint8Array())).toBe('v');
    expect(text((await smMeta.get(bytes('k'))) ?? new Uint8Array())).toBe('meta');
    expect(await store.sublevels.raftMeta.get(bytes('k'))).toBeUndefined();
    expect(store.path).toBe(join(dataDir, 'db'));
  });

  it('stores a batch under the same keys as the sublevel itself would (the format on disk)', async () => {
    const { store } = await temp.openFresh();
    const { kv } = store.generation(3);
    const { raftLog } = store.sublevels;
    // Written by the sublevels themselves: the reference layout.
    await kv.put(bytes('a'), bytes('1'));
    await raftLog.put(bytes('x'), bytes('old'));
    await store.write(
      [
        { type: 'put', sublevel: kv, key: bytes('b'), value: bytes('2') },
        { type: 'put', sublevel: kv, key: new Uint8Array(0), value: bytes('empty key') },
        { type: 'put', sublevel: kv, key: bytes('a'), value: bytes('1 again') },
        { type: 'del', sublevel: raftLog, key: bytes('x') },
        { type: 'put', sublevel: raftLog, key: bytes('y'), value: bytes('new') },
      ],
      { sync: true },
    );
    const entries = async (sublevel: typeof kv): Promise<string[]> =>
      (await sublevel.iterator().all()).map(([key, value]) => `${text(key)}=${text(value)}`);
    // One key per write, none beside: the operation overwrote 'a' rather than adding a twin.
    expect(await entries(kv)).toEqual(['=empty key', 'a=1 again', 'b=2']);
    expect(await entries(raftLog)).toEqual(['y=new']);
    expect(await entries(store.generation(4).kv)).toEqual([]);
  });

  it('refuses a second open of the same directory with STORAGE_LOCKED naming the path', async () => {
    const { dataDir } = await temp.openFresh();
    const error = await openError(dataDir, true);
    expect(error.code).toBe('STORAGE_LOCKED');
    expect(error.name).toBe('StorageError');
    expect(error.message).toContain(join(dataDir, 'db'));
    expect(error.cause).toBeDefined();
  });

  it('opens the directory again once the holder closes it, with the data intact', async () => {
    const { dataDir, store } = await temp.openFresh();
    await store.write([{ type: 'put', sublevel: store.generation(0).kv, key: bytes('a'), value: bytes('1') }], { sync: true });
    await store.close();
    const reopened = await temp.open(dataDir);
    expect(text((await reopened.generation(0).kv.get(bytes('a'))) ?? new Uint8Array())).toBe('1');
  });

  it('reports a missing directory with STORAGE_OPEN when it must not be created', async () => {
    const missing = join(await temp.makeDir(), 'absent');
    const error = await openError(missing, false);
    expect(error.code).toBe('STORAGE_OPEN');
    expect(error.message).toContain(missing);
  });

  it('reports a data directory that is a file with STORAGE_OPEN', async () => {
    const file = join(await temp.makeDir(), 'a-file');
    await writeFile(file, 'not a directory');
    const error = await openError(file, true);
    expect(error.code).toBe('STORAGE_OPEN');
    expect(error.message).toContain(file);
  });

  it('refuses writes after close with STORAGE_CLOSED', async () => {
    const { store } = await temp.openFresh();
    await store.close();
    await expect(
      store.write([{ type: 'del', sublevel: store.generation(0).kv, key: bytes('a') }], { sync: false }),
    ).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_CLOSED' });
  });
});
