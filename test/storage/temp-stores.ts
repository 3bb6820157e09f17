import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { NodeStore } from '../../src/storage/index.js';

/**
 * Real LevelDB stores in fresh directories under os.tmpdir(). Registers an afterEach that closes
 * every store opened through it and removes every directory, so a failing test leaks nothing.
 */
export function useTempStores(): {
  makeDir(): Promise<string>;
  open(dataDir: string): Promise<NodeStore>;
  openFresh(): Promise<{ dataDir: string; store: NodeStore }>;
} {
  const dirs: string[] = [];
  const stores: NodeStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const makeDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'raftkv-test-'));
    dirs.push(dir);
    return dir;
  };
  const open = async (dataDir: string): Promise<NodeStore> => {
    const store = await NodeStore.open(dataDir, { createIfMissing: true });
    stores.push(store);
    return store;
  };
  return {
    makeDir,
    open,
    async openFresh() {
      const dataDir = await makeDir();
      return { dataDir, store: await open(dataDir) };
    },
  };
}

/** The bytes of a UTF-8 string. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The UTF-8 string of some bytes. */
export function text(value: Uint8Array): string {
  return new TextDecoder().decode(value);
}
