/**
 * The history's metadata in a generation's `revs` sublevel (history-keys.ts historyMetaKey):
 *
 *   v1 | compactRevision u64 | baseRevision u64 | physicalRevision u64
 */
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import type { Index } from '../raft/index.js';

export interface HistoryMeta {
  /** The oldest revision held: reads at it and above are answered; below, CompactedError. */
  readonly compactRevision: Index;
  /**
   * The applied index when this generation's history began (0 for a history as old as the log;
   * a directory from before history, or a restored backup, starts later). A key last written
   * at or before it has no version in `hist` until it is written again (the version it had is
   * then recorded, see KvStateMachine), so a read at a past revision falls back to `kv` for it.
   */
  readonly baseRevision: Index;
  /** The compact revision below which the physical deletion is done (it catches up in the background). */
  readonly physicalRevision: Index;
}

const formatVersion = 1;

export function encodeHistoryMeta(meta: HistoryMeta): Uint8Array {
  return new ByteWriter(25).u8(formatVersion).u64(meta.compactRevision).u64(meta.baseRevision).u64(meta.physicalRevision).finish();
}

/** Throws BinaryDecodeError on bytes encodeHistoryMeta cannot have written. */
export function decodeHistoryMeta(bytes: Uint8Array): HistoryMeta {
  const reader = new ByteReader(bytes);
  const version = reader.u8('history meta format version');
  if (version !== formatVersion) throw new BinaryDecodeError(`history meta: unknown format version ${version}`);
  const meta = {
    compactRevision: reader.u64('history meta compactRevision'),
    baseRevision: reader.u64('history meta baseRevision'),
    physicalRevision: reader.u64('history meta physicalRevision'),
  };
  reader.end('history meta');
  if (meta.baseRevision > meta.compactRevision || meta.physicalRevision > meta.compactRevision) {
    throw new BinaryDecodeError(`history meta: inconsistent revisions ${JSON.stringify(meta)}`);
  }
  return meta;
}
