import { decodeConfChange } from './conf-change-codec.js';
import type { Entry, Index, Membership, Term } from './types.js';

interface ConfigRecord {
  readonly index: Index;
  readonly term: Term;
  readonly membership: Membership;
}

/**
 * A node's configurations by log position (conf-change.ts rules 1 and 2): a base configuration
 * at a base index (the snapshot's, or the bootstrap one at the log's start), then one record per
 * conf-change entry the log holds after it. The configuration in force is the newest. It follows
 * the log as entries are appended, overwritten, compacted or replaced by a snapshot.
 */
export class ConfigHistory {
  private base: { readonly index: Index; readonly membership: Membership };
  // Invariant: indexes strictly increasing, all above base.index; each matches the log's entry there.
  private records: ConfigRecord[] = [];

  constructor(baseIndex: Index, baseMembership: Membership) {
    this.base = { index: baseIndex, membership: baseMembership };
  }

  /** The configuration in force: the newest one the log holds. */
  current(): Membership {
    return this.newest().membership;
  }

  /** The index of the entry that made the current configuration (the base index if none did). */
  currentIndex(): Index {
    return this.newest().index;
  }

  /** The configuration in force at `index`: the newest record at or below it. */
  at(index: Index): Membership {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const record = this.records[i] as ConfigRecord;
      if (record.index <= index) return record.membership;
    }
    return this.base.membership;
  }

  /** Records the conf-change entries among `entries` that lie beyond the newest record. */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== 'conf-change' || entry.index <= this.newest().index) continue;
      this.records.push({ index: entry.index, term: entry.term, membership: decodeConfChange(entry.data).membership });
    }
  }

  /**
   * Drops every record whose entry the log no longer holds (rule 2: a new leader overwrote it),
   * so the configuration before it is in force again. Overwriting replaces a suffix, so the
   * dropped records are a suffix too.
   */
  dropUnmatched(termAt: (index: Index) => Term | undefined): void {
    const first = this.records.findIndex((r) => termAt(r.index) !== r.term);
    if (first >= 0) this.records.length = first;
  }

  /** Folds the records at or below `index` into the base: the log below it is gone. */
  compact(index: Index): void {
    if (index <= this.base.index) return;
    this.base = { index, membership: this.at(index) };
    this.records = this.records.filter((r) => r.index > index);
  }

  /** The log was replaced by a snapshot at `index` whose configuration is `membership`. */
  reset(index: Index, membership: Membership): void {
    this.base = { index, membership };
    this.records = [];
  }

  private newest(): { readonly index: Index; readonly membership: Membership } {
    return this.records[this.records.length - 1] ?? this.base;
  }
}
