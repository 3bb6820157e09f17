import { decodeStored } from './decode-stored.js';
import { decodeEntry } from './entry-codec.js';
import { indexOfLogKey, logKey, raftMetaKeys, sublevelNames, type Sublevels } from './keys.js';
import { encodeChunk, splitIntoChunks } from './log-chunk-codec.js';
import { decodeLogPosition } from './raft-meta-codec.js';
import type { Entry } from '../raft/index.js';

/** A write to `raft-log`: a put, or a delete where `value` is null. */
export interface LogRecordWrite {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * The writes that turn a `raft-log` of storage format 3 (and 2), one record per entry under its
 * index (entry-codec.ts), into the chunks of format 4 (log-chunk-codec.ts): every per-entry
 * record deleted, every run of contiguous entries above the compaction point put back as chunks
 * (a gap, which only corruption makes, starts a new chunk, so that load() still names it).
 * Entries at or below the compaction point, which a crash left before their purge, are only
 * deleted. The caller writes these with the new format record in one atomic synced batch: a
 * crash before it leaves the old format, upgraded again at the next open; after it, chunks.
 */
export async function logChunkUpgradeWrites(sublevels: Sublevels): Promise<LogRecordWrite[]> {
  const storedCompactedTo = await sublevels.raftMeta.get(raftMetaKeys.compactedTo);
  const compactedIndex =
    storedCompactedTo === undefined ? 0 : decodeStored(sublevelNames.raftMeta, raftMetaKeys.compactedTo, () => decodeLogPosition(storedCompactedTo)).index;
  const writes: LogRecordWrite[] = [];
  const runs: Entry[][] = [];
  let run: Entry[] = [];
  for await (const [key, value] of sublevels.raftLog.iterator()) {
    writes.push({ key, value: null });
    const entry = decodeStored(sublevelNames.raftLog, key, () => decodeEntry(indexOfLogKey(key), value));
    if (entry.index <= compactedIndex) continue;
    const previous = run[run.length - 1];
    if (previous !== undefined && entry.index !== previous.index + 1) {
      runs.push(run);
      run = [];
    }
    run.push(entry);
  }
  if (run.length > 0) runs.push(run);
  // The puts follow every delete: a chunk's key is the key of its first entry's old record.
  for (const chunk of runs.flatMap((entries) => splitIntoChunks(entries))) {
    writes.push({ key: logKey((chunk[0] as Entry).index), value: encodeChunk(chunk) });
  }
  return writes;
}
