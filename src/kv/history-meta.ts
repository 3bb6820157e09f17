/**
 * The history's metadata, in a generation's `revs` sublevel under two keys (history-keys.ts),
 * so that apply (which sets the compact revision) and the physical deletion (which records its
 * progress) never write the same record concurrently:
 *
 *   historyMetaKey:     v1 | compactRevision u64 | baseRevision u64
 *   historyPhysicalKey: physicalRevision u64 (absent: the base revision: nothing deleted yet)
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

/** The record under historyMetaKey (physicalRevision is not in it). */
export function encodeHistoryMeta(meta: HistoryMeta): Uint8Array {
  return new ByteWriter(17).u8(formatVersion).u64(meta.compactRevision).u64(meta.baseRevision).finish();
}

/** Throws BinaryDecodeError on bytes encodeHistoryMeta cannot have written. */
export function decodeHistoryMeta(bytes: Uint8Array): Omit<HistoryMeta, 'physicalRevision'> {
  const reader = new ByteReader(bytes);
  const version = reader.u8('history meta format version');
  if (version !== formatVersion) throw new BinaryDecodeError(`history meta: unknown format version ${version}`);
  const meta = { compactRevision: reader.u64('history meta compactRevision'), baseRevision: reader.u64('history meta baseRevision') };
  reader.end('history meta');
  if (meta.baseRevision > meta.compactRevision) throw new BinaryDecodeError(`history meta: base revision ${meta.baseRevision} above compact revision ${meta.compactRevision}`);
  return meta;
}

/** The record under historyPhysicalKey. */
export function encodePhysicalRevision(revision: Index): Uint8Array {
  return new ByteWriter(8).u64(revision).finish();
}

/** Throws BinaryDecodeError on bytes encodePhysicalRevision cannot have written. */
export function decodePhysicalRevision(bytes: Uint8Array): Index {
  const reader = new ByteReader(bytes);
  const revision = reader.u64('history physical revision');
  reader.end('history physical revision');
  return revision;
}
