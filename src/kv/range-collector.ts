/**
 * Builds a range read's answer from the keys of its range, fed in key order: filters, order,
 * limit, `more` and `count` as range-options.ts describes. Memory is bounded by the answer's
 * limits, not by how many keys match: an order other than key-ascending keeps a buffer that is
 * sorted and cut back to the best `keysMax` keys (and about `bytesMax` bytes) whenever it holds
 * twice that, since a key cut then can never make it into the answer (later keys only push it
 * further back).
 */
import { invariant } from '../raft/index.js';
import type { KeyValue } from './key-record.js';
import { compareForSort, effectiveOrder, hasRangeFilters, passesRangeFilters, type RangeOptions, type RangeSortTarget } from './range-options.js';

/** A range read's answer. */
export interface RangeAnswer {
  /** In the order asked (key order by default); without values when keysOnly; empty when countOnly. */
  readonly kvs: KeyValue[];
  /** More keys matched than were returned (the limit or the byte bound cut the answer); false when countOnly. */
  readonly more: boolean;
  /** The keys that matched (passed the filters), before the limit. */
  readonly count: number;
}

export class RangeCollector {
  private readonly order: { readonly target: RangeSortTarget; readonly descending: boolean } | null;
  /** Key order: the answer so far; another order: candidates, at most 2·keysMax (compact() cuts back). */
  private kvs: KeyValue[] = [];
  /** Bytes of `kvs` as held (keys, and values unless dropped for keysOnly). */
  private bytes = 0;
  /**
   * Another order: the best key compact() cut. The answer ends before it (its limits were
   * reached above it), so any key sorting after it can never be in the answer either, even
   * though it might fit where the cut key did not.
   */
  private cutoff: KeyValue | null = null;
  /** Key order only: the answer is complete; later keys only count. */
  private full = false;
  private matched = 0;

  /**
   * `keysMax` (at least 1) keys at most, and no more once their bytes pass `bytesMax` (at least
   * one key is always returned). The bytes are those held: key and value, or only the key with
   * keysOnly (but a sort by value holds the values it sorts by, so they count then).
   */
  constructor(
    readonly options: RangeOptions,
    private readonly keysMax: number,
    private readonly bytesMax: number,
  ) {
    invariant(Number.isSafeInteger(keysMax) && keysMax >= 1, () => `range keysMax ${keysMax}`);
    invariant(bytesMax > 0, () => `range bytesMax ${bytesMax}`);
    this.order = effectiveOrder(options);
  }

  /** Whether a later key can still change the answer's keys (else it only adds to `count`). */
  get collecting(): boolean {
    return this.options.countOnly !== true && !this.full;
  }

  /** The next key of the range; keys must come in ascending key order. */
  add(kv: KeyValue): void {
    if (!passesRangeFilters(kv, this.options)) return;
    this.matched++;
    if (!this.collecting) return;
    const held = this.options.keysOnly === true && this.order?.target !== 'value' ? { ...kv, value: emptyValue } : kv;
    const bytes = held.key.byteLength + held.value.byteLength;
    if (this.order === null) {
      if (this.kvs.length === this.keysMax || (this.kvs.length > 0 && this.bytes + bytes > this.bytesMax)) {
        this.full = true;
        return;
      }
      this.kvs.push(held);
      this.bytes += bytes;
      return;
    }
    if (this.cutoff !== null && this.compare(held, this.cutoff) > 0) return;
    this.kvs.push(held);
    this.bytes += bytes;
    if (this.kvs.length >= 2 * this.keysMax || (this.kvs.length > 1 && this.bytes > 2 * this.bytesMax)) this.compact();
  }

  /**
   * Counts a key of the range not given to `add`: only once `collecting` is false and the
   * options have no filter (hasRangeFilters), so the key matches and cannot be in the answer.
   */
  addUncollected(): void {
    invariant(!this.collecting && !hasRangeFilters(this.options), 'a key counted unread while it could matter');
    this.matched++;
  }

  /** The answer; the collector is done with. */
  finish(): RangeAnswer {
    if (this.options.countOnly === true) return { kvs: [], more: false, count: this.matched };
    if (this.order !== null) this.compact();
    const kvs = this.options.keysOnly === true ? this.kvs.map((kv) => (kv.value.byteLength === 0 ? kv : { ...kv, value: emptyValue })) : this.kvs;
    return { kvs, more: this.matched > kvs.length, count: this.matched };
  }

  /** Sorts the candidates and keeps those the answer can still hold. */
  private compact(): void {
    const order = this.order;
    invariant(order !== null, 'compact in key order');
    this.kvs.sort((a, b) => this.compare(a, b));
    let bytes = 0;
    let kept = 0;
    for (const kv of this.kvs) {
      const size = kv.key.byteLength + kv.value.byteLength;
      if (kept === this.keysMax || (kept > 0 && bytes + size > this.bytesMax)) break;
      bytes += size;
      kept++;
    }
    const cut = this.kvs[kept];
    if (cut !== undefined && (this.cutoff === null || this.compare(cut, this.cutoff) < 0)) this.cutoff = cut;
    this.kvs.length = kept;
    this.bytes = bytes;
  }

  /** The answer's order (not key order ascending). */
  private compare(a: KeyValue, b: KeyValue): number {
    const order = this.order;
    invariant(order !== null, 'compare in key order');
    return (order.descending ? -1 : 1) * compareForSort(order.target, a, b);
  }
}

const emptyValue = new Uint8Array(0);
