import { invariant, type Entry } from '../raft/index.js';

/**
 * How much work one Ready may hand the drive loop, so that no stretch of it holds the event loop
 * for long: a held loop sends no heartbeats, and a leader held past an election timeout is
 * deposed. Persisting and applying cost a few microseconds per entry in JavaScript (encoding,
 * LevelDB batch preparation), so the bounds are in entries as well as bytes.
 */
export interface TurnLimits {
  /** Entries of peers' AppendEntries stepped into the core per Ready, i.e. what one Ready persists (one message at least). */
  readonly stepEntriesMax: number;
  readonly stepBytesMax: number;
  /** Committed entries per state machine batch; a Ready's committed entries are applied in such batches, one after another. */
  readonly applyEntriesMax: number;
  readonly applyBytesMax: number;
  /** AppendEntries held while earlier ones are stepped; past it new ones are dropped (the leader resends). */
  readonly inboxMessagesMax: number;
}

// About 10-40 ms of work per bound on an idle machine, a few times that on a loaded one: a small
// fraction of an election timeout (10 ticks of 100 ms by default).
export const defaultTurnLimits: TurnLimits = {
  stepEntriesMax: 4096,
  stepBytesMax: 4 * 1024 * 1024,
  applyEntriesMax: 2048,
  applyBytesMax: 4 * 1024 * 1024,
  inboxMessagesMax: 4096,
};

export function validateTurnLimits(limits: TurnLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`turn limits: ${name} must be a positive integer, got ${value}`);
  }
}

/**
 * Splits `entries` into consecutive batches of at most `entriesMax` entries and `bytesMax` bytes
 * (of data), each holding at least one entry, in order.
 */
export function chunkEntries(entries: readonly Entry[], entriesMax: number, bytesMax: number): Entry[][] {
  invariant(entriesMax > 0 && bytesMax > 0, 'chunkEntries: limits must be positive');
  const chunks: Entry[][] = [];
  let chunk: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.data.byteLength;
    if (chunk.length > 0 && (chunk.length >= entriesMax || bytes + size > bytesMax)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
