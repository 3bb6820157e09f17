import { invariant, type Index } from '../raft/index.js';

/** One stored chunk: the entries [first, last] under the key of `first`. */
export interface ChunkSpan {
  readonly first: Index;
  readonly last: Index;
}

/**
 * The chunks of the `raft-log` sublevel that the store still counts as the log, in index order,
 * kept in memory so that a save, a compaction or a term lookup finds its chunks without reading
 * LevelDB.
 *
 * Invariant: the chunks are contiguous (each `first` is the previous `last` + 1) and each holds
 * at least one entry. Chunks are added at the end and removed from either end, so they live in
 * one array with a moving head: removing from the front is O(1) until the head is compacted.
 */
export class LogChunkDirectory {
  private spans: ChunkSpan[] = [];
  private head = 0;

  get size(): number {
    return this.spans.length - this.head;
  }

  /** The first chunk, if any. */
  get firstChunk(): ChunkSpan | undefined {
    return this.spans[this.head];
  }

  /** The last chunk, if any. */
  get lastChunk(): ChunkSpan | undefined {
    return this.size === 0 ? undefined : this.spans[this.spans.length - 1];
  }

  /** Appends a chunk that starts right after the last one (any start if the directory is empty). */
  append(span: ChunkSpan): void {
    invariant(span.first <= span.last, () => `chunk [${span.first}, ${span.last}] holds no entry`);
    const last = this.lastChunk;
    invariant(last === undefined || span.first === last.last + 1, () => `chunk at ${span.first} does not follow the chunk ending at ${last?.last}`);
    this.spans.push(span);
  }

  /** The chunk holding `index`, or undefined if no chunk does. */
  find(index: Index): ChunkSpan | undefined {
    let low = this.head;
    let high = this.spans.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const span = this.spans[middle] as ChunkSpan;
      if (index < span.first) high = middle - 1;
      else if (index > span.last) low = middle + 1;
      else return span;
    }
    return undefined;
  }

  /** Every chunk whose first index is `index` or above, in order (the directory is unchanged). */
  chunksFrom(index: Index): ChunkSpan[] {
    let cut = this.spans.length;
    while (cut > this.head && (this.spans[cut - 1] as ChunkSpan).first >= index) cut--;
    return this.spans.slice(cut);
  }

  /** Every chunk, in order (the directory is unchanged). */
  all(): ChunkSpan[] {
    return this.spans.slice(this.head);
  }

  /** Removes and returns every chunk whose first index is `index` or above, in order. */
  removeFrom(index: Index): ChunkSpan[] {
    let cut = this.spans.length;
    while (cut > this.head && (this.spans[cut - 1] as ChunkSpan).first >= index) cut--;
    return this.spans.splice(cut);
  }

  /** Removes and returns the chunks whose last index is `index` or below, in order. */
  removeThrough(index: Index): ChunkSpan[] {
    const start = this.head;
    while (this.head < this.spans.length && (this.spans[this.head] as ChunkSpan).last <= index) this.head++;
    const removed = this.spans.slice(start, this.head);
    if (this.head > 1024 && this.head * 2 > this.spans.length) {
      this.spans = this.spans.slice(this.head);
      this.head = 0;
    }
    return removed;
  }

  /** Removes and returns every chunk. */
  removeAll(): ChunkSpan[] {
    const removed = this.spans.slice(this.head);
    this.spans = [];
    this.head = 0;
    return removed;
  }

  /** Replaces the last chunk (which must hold `span.first`) by a shorter one ending at `span.last`. */
  truncateLast(span: ChunkSpan): void {
    const last = this.lastChunk;
    invariant(last !== undefined && last.first === span.first && span.last >= span.first && span.last < last.last, () => `chunk [${span.first}, ${span.last}] does not shorten the last chunk`);
    this.spans[this.spans.length - 1] = span;
  }
}
