import type { KeyRecord } from './key-record.js';

/** One cached key, linked in recency order. */
interface Slot {
  readonly key: string;
  record: KeyRecord | null;
  bytes: number;
  /** Toward the least recently used end (null: this is the least recently used). */
  older: Slot | null;
  /** Toward the most recently used end (null: this is the most recently used). */
  newer: Slot | null;
}

/**
 * The most recently used key records, in memory, so that applying a write or serving a read of
 * a hot key does not wait for a LevelDB read. It holds applied state only: the state machine
 * updates it after each apply batch is written, and it is the only writer of the keyspace, so an
 * entry is never stale. `null` records mean "known to be absent". Bounded by bytes.
 *
 * Recency is a doubly linked list beside the Map, so get, set and eviction are O(1). It was the
 * Map's own insertion order, refreshed by delete-and-set and evicted by iterating from the
 * front; but V8 leaves a deleted Map entry in place until the table is rehashed, and iteration
 * walks over each one, so under churn (reads spread over a key space larger than the cache)
 * every eviction walked hundreds of thousands of dead entries: ~100 us per read at 1M keys.
 */
export class KeyCache {
  // Invariant: `slots` and the list from `oldest` to `newest` hold the same slots; bytes is the sum of their bytes.
  private readonly slots = new Map<string, Slot>();
  private oldest: Slot | null = null;
  private newest: Slot | null = null;
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** The record, null if the key is known absent, undefined if the cache does not know. */
  get(key: string): KeyRecord | null | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.unlink(slot);
    this.append(slot);
    return slot.record;
  }

  /** Whether the cache knows the key (present or absent), without marking it used. */
  has(key: string): boolean {
    return this.slots.has(key);
  }

  set(key: string, record: KeyRecord | null): void {
    const bytes = entryBytes(key, record);
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      this.unlink(slot);
      this.slots.delete(key);
      this.bytes -= slot.bytes;
    }
    if (bytes > this.bytesMax) return;
    const fresh: Slot = { key, record, bytes, older: null, newer: null };
    this.slots.set(key, fresh);
    this.append(fresh);
    this.bytes += bytes;
    while (this.bytes > this.bytesMax && this.oldest !== null) {
      const evicted = this.oldest;
      this.unlink(evicted);
      this.slots.delete(evicted.key);
      this.bytes -= evicted.bytes;
    }
  }

  clear(): void {
    this.slots.clear();
    this.oldest = null;
    this.newest = null;
    this.bytes = 0;
  }

  get size(): number {
    return this.slots.size;
  }

  private append(slot: Slot): void {
    slot.older = this.newest;
    slot.newer = null;
    if (this.newest === null) this.oldest = slot;
    else this.newest.newer = slot;
    this.newest = slot;
  }

  private unlink(slot: Slot): void {
    if (slot.older === null) this.oldest = slot.newer;
    else slot.older.newer = slot.newer;
    if (slot.newer === null) this.newest = slot.older;
    else slot.newer.older = slot.older;
    slot.older = null;
    slot.newer = null;
  }
}

/**
 * What one entry costs in memory beyond its key and value bytes, measured on Node 20 (heap
 * after a full GC, 100,000 entries): the Map entry, the slot, the record, the value's
 * Uint8Array object and its backing store header. An estimate of 64 made a "64 MiB" cache of
 * 100-byte values hold about 200 MiB.
 */
export const keyCacheEntryOverheadBytes = 400;

function entryBytes(key: string, record: KeyRecord | null): number {
  return key.length + (record?.value.byteLength ?? 0) + keyCacheEntryOverheadBytes;
}
