import { invariant } from './assert.js';
import type { Entry, Index, LogPosition, Snapshot, Term } from './types.js';

/**
 * The core's in-memory view of the log: a compaction point, the entries after it, and how far
 * they are durable, committed and applied. The driver persists what `unstableEntries()` returns
 * and reloads the durable part on restart, so this is never the only copy of anything durable.
 */
export class RaftLog {
  // Invariant: entries[i].index === compacted.index + 1 + i.
  private entries: Entry[];
  // Invariant: entriesBytes === the sum of entryBytes over entries.
  private entriesBytes = 0;
  /** The last entry dropped from memory by compaction or replaced by a snapshot. */
  private compacted: LogPosition;
  // Invariant: compacted.index <= stableIndex <= lastIndex() (entries at or below it are on disk).
  private stableIndex: Index;
  // Invariant: applied <= committed <= lastIndex().
  committed: Index;
  applied: Index;
  /** A snapshot received from the leader, to be persisted and installed by the driver. */
  private pendingSnapshot: Snapshot | null = null;

  constructor(compacted: LogPosition, entries: readonly Entry[], committed: Index, applied: Index) {
    entries.forEach((entry, i) =>
      invariant(entry.index === compacted.index + 1 + i, () => `restored log is not contiguous at ${entry.index}`),
    );
    this.compacted = compacted;
    this.entries = [...entries];
    this.entriesBytes = sumEntryBytes(this.entries);
    this.stableIndex = this.lastIndex();
    invariant(committed <= this.lastIndex(), () => `restored commit ${committed} beyond last index ${this.lastIndex()}`);
    this.committed = committed;
    this.applied = Math.max(applied, 0);
    invariant(this.applied <= committed || committed === 0, () => `applied ${applied} beyond commit ${committed}`);
  }

  /** The first index held in memory. */
  firstIndex(): Index {
    return this.compacted.index + 1;
  }

  lastIndex(): Index {
    return this.compacted.index + this.entries.length;
  }

  lastTerm(): Term {
    return this.entries.length > 0 ? (this.entries[this.entries.length - 1] as Entry).term : this.compacted.term;
  }

  compactedTo(): LogPosition {
    return this.compacted;
  }

  /** The bytes of the entries held (entryBytes each). */
  bytes(): number {
    return this.entriesBytes;
  }

  /** The term of the entry at `index`, or undefined if it is compacted away or beyond the end. */
  termAt(index: Index): Term | undefined {
    if (index === this.compacted.index) return this.compacted.term;
    if (index < this.compacted.index || index > this.lastIndex()) return undefined;
    return (this.entries[index - this.compacted.index - 1] as Entry).term;
  }

  entryAt(index: Index): Entry | undefined {
    if (index <= this.compacted.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.compacted.index - 1];
  }

  matchTerm(index: Index, term: Term): boolean {
    return this.termAt(index) === term;
  }

  /** Appends entries at the end (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      invariant(entry.index === this.lastIndex() + 1, () => `append of ${entry.index} after ${this.lastIndex()}`);
      this.entries.push(entry);
      this.entriesBytes += entryBytes(entry);
    }
  }

  /**
   * §5.3 AppendEntries receiver rules 2–5: if the log matches (prevIndex, prevTerm), drop any
   * conflicting suffix, append what is new, and commit up to min(commit, last new index).
   * Returns the last index now known to match the leader, or null if the log does not match.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, commit: Index, entries: readonly Entry[]): Index | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    for (const entry of entries) {
      if (entry.index <= this.compacted.index) continue; // already committed and compacted
      const existing = this.termAt(entry.index);
      if (existing === entry.term) continue;
      if (existing !== undefined) {
        invariant(entry.index > this.committed, () => `conflict at committed index ${entry.index}`);
        this.truncateFrom(entry.index);
      }
      this.append(entries.filter((e) => e.index >= entry.index));
      break;
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  private truncateFrom(index: Index): void {
    const kept = index - this.compacted.index - 1;
    this.entriesBytes -= sumEntryBytes(this.entries.slice(kept));
    this.entries.length = kept;
    this.stableIndex = Math.min(this.stableIndex, index - 1);
  }

  /**
   * The fast back-off search (§5.3, as in etcd): the largest index at or below `index` whose term
   * is at or below `term`, with that term. Entries above it cannot match a log whose entry at
   * `index` has term `term`, so the other side may skip them all.
   */
  findConflictByTerm(index: Index, term: Term): LogPosition {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.termAt(i);
      if (t === undefined || t <= term) return { index: i, term: t ?? 0 };
      i--;
    }
  }

  commitTo(index: Index): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Entries from `low` up to `highExclusive`, stopping once `bytesMax` is reached (at least one entry). */
  slice(low: Index, highExclusive: Index, bytesMax: number): Entry[] {
    invariant(low > this.compacted.index, () => `slice from compacted index ${low}`);
    const high = Math.min(highExclusive, this.lastIndex() + 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = low; i < high; i++) {
      const entry = this.entries[i - this.compacted.index - 1] as Entry;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** Entries not yet durable: the driver persists them with the next Ready. */
  unstableEntries(): readonly Entry[] {
    if (this.stableIndex >= this.lastIndex()) return [];
    return this.entries.slice(this.stableIndex - this.compacted.index);
  }

  /** Marks entries durable up to `position`, unless that entry was replaced since it was handed out. */
  stableTo(position: LogPosition): void {
    if (position.index > this.stableIndex && this.matchTerm(position.index, position.term)) {
      this.stableIndex = position.index;
    }
  }

  lastStableIndex(): Index {
    return this.stableIndex;
  }

  /** Committed entries the state machine has not been given, up to `bytesMax` (at least one). */
  nextCommittedEntries(bytesMax: number): Entry[] {
    if (this.pendingSnapshot !== null) return [];
    const low = Math.max(this.applied + 1, this.firstIndex());
    if (low > this.committed) return [];
    return this.slice(low, this.committed + 1, bytesMax);
  }

  appliedTo(index: Index): void {
    if (index <= this.applied) return;
    invariant(index <= this.committed, () => `applied ${index} beyond commit ${this.committed}`);
    this.applied = index;
  }

  /** Replaces the whole log with a snapshot from the leader (§7, receiver rules 6–8). */
  restore(snapshot: Snapshot): void {
    this.entries = [];
    this.entriesBytes = 0;
    this.compacted = { index: snapshot.meta.index, term: snapshot.meta.term };
    this.stableIndex = snapshot.meta.index;
    this.committed = snapshot.meta.index;
    this.pendingSnapshot = snapshot;
  }

  takePendingSnapshot(): Snapshot | null {
    return this.pendingSnapshot;
  }

  /** The driver has installed the pending snapshot in the state machine. */
  snapshotInstalled(snapshot: Snapshot): void {
    if (this.pendingSnapshot !== null && this.pendingSnapshot.meta.index === snapshot.meta.index) {
      this.pendingSnapshot = null;
    }
    if (snapshot.meta.index > this.applied) this.applied = snapshot.meta.index;
  }

  /** Drops entries up to and including `index`, which must be applied and durable. */
  compact(index: Index): LogPosition {
    if (index <= this.compacted.index) return this.compacted;
    invariant(index <= this.applied, () => `compact to ${index} beyond applied ${this.applied}`);
    invariant(index <= this.stableIndex, () => `compact to ${index} beyond stable ${this.stableIndex}`);
    const term = this.termAt(index) as Term;
    const dropped = index - this.compacted.index;
    this.entriesBytes -= sumEntryBytes(this.entries.slice(0, dropped));
    this.entries = this.entries.slice(dropped);
    this.compacted = { index, term };
    return this.compacted;
  }
}

function sumEntryBytes(entries: readonly Entry[]): number {
  return entries.reduce((sum, entry) => sum + entryBytes(entry), 0);
}

/** The size an entry counts for in byte limits: its data plus a fixed overhead for index and term. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 16;
}
