/**
 * The physical deletion of history below a compact revision, one bounded page at a time.
 *
 * After compact(C), a read at a revision R >= C needs each key's newest version at or below R,
 * and an event at a revision r >= C needs the version before it: so every version at or above
 * C stays, and of those below C, each key keeps its newest one unless it is a delete. Only keys
 * changed since the last compaction can hold something to drop, and `revs` names them: a page
 * reads the next `revs` entries below C, drops every version below C of the keys they name but
 * the one kept, and drops the entries, in one atomic batch. So a crash between pages loses
 * nothing, and the next run (after a restart too) resumes from the first entry left.
 */
import type { Index } from '../raft/index.js';
import { type GenerationSublevels, type NodeStore, type StoreOperation } from '../storage/index.js';
import { histKey, histVersionsRange, revsKey } from './history-keys.js';

/** How many `revs` entries one page handles: a page's batch stays small, so apply never waits long behind it. */
export const compactionPageEntries = 512;

/**
 * Runs one page of the deletion below `compactRevision` in `generation`; returns false once
 * nothing is left below it.
 */
export async function compactHistoryPage(store: NodeStore, generation: GenerationSublevels, compactRevision: Index, pageEntries: number = compactionPageEntries): Promise<boolean> {
  const operations: StoreOperation[] = [];
  const keys = new Map<string, Uint8Array>();
  for await (const [storedKey, key] of generation.revs.iterator({ gte: revsKey(0, 0), lt: revsKey(compactRevision, 0), limit: pageEntries })) {
    operations.push({ type: 'del', sublevel: generation.revs, key: new Uint8Array(storedKey) });
    keys.set(Buffer.from(key).toString('latin1'), new Uint8Array(key));
  }
  if (operations.length === 0) return false;
  for (const key of keys.values()) {
    const { gte } = histVersionsRange(key);
    let newest: { key: Uint8Array; tombstone: boolean } | null = null;
    for await (const [storedKey, value] of generation.hist.iterator({ gte, lt: histKey(key, compactRevision, 0) })) {
      if (newest !== null) operations.push({ type: 'del', sublevel: generation.hist, key: newest.key });
      newest = { key: new Uint8Array(storedKey), tombstone: value.byteLength === 0 };
    }
    if (newest?.tombstone === true) operations.push({ type: 'del', sublevel: generation.hist, key: newest.key });
  }
  // sync: false, as apply: losing a page in a machine crash only means doing it again.
  await store.write(operations, { sync: false });
  return true;
}
