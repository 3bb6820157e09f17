import { invariant } from './assert.js';
import type { Index } from './types.js';

/**
 * The AppendEntries messages sent to one follower and not yet acknowledged, bounded by count and
 * by bytes: the pipelining window of a follower in the replicate state.
 */
export class Inflights {
  // Invariant: lastIndexes is strictly increasing; bytes[i] belongs to lastIndexes[i].
  private readonly lastIndexes: Index[] = [];
  private readonly bytes: number[] = [];
  private bytesTotal = 0;

  constructor(
    private readonly messagesMax: number,
    private readonly bytesMax: number,
  ) {}

  /** Records a message whose last entry is `lastIndex`. */
  add(lastIndex: Index, messageBytes: number): void {
    invariant(!this.full(), 'inflights: add when full');
    const previous = this.lastIndexes[this.lastIndexes.length - 1];
    invariant(previous === undefined || lastIndex > previous, () => `inflights: ${lastIndex} after ${previous}`);
    this.lastIndexes.push(lastIndex);
    this.bytes.push(messageBytes);
    this.bytesTotal += messageBytes;
  }

  /** Frees every message whose last entry is at or below `index` (they are acknowledged). */
  freeUpTo(index: Index): void {
    let count = 0;
    while (count < this.lastIndexes.length && (this.lastIndexes[count] as Index) <= index) {
      this.bytesTotal -= this.bytes[count] as number;
      count++;
    }
    if (count > 0) {
      this.lastIndexes.splice(0, count);
      this.bytes.splice(0, count);
    }
  }

  /** Frees the oldest message, acknowledged or not. */
  freeFirst(): void {
    const first = this.lastIndexes[0];
    if (first !== undefined) this.freeUpTo(first);
  }

  full(): boolean {
    return this.lastIndexes.length >= this.messagesMax || this.bytesTotal >= this.bytesMax;
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.bytes.length = 0;
    this.bytesTotal = 0;
  }
}
