import type { KeyRecord } from './key-record.js';

/**
 * The most recently used key records, in memory, so that applying a write or serving a read of
 * a hot key does not wait for a LevelDB read. It holds applied state only: the state machine
 * updates it after each apply batch is written, and it is the only writer of the keyspace, so an
 * entry is never stale. `null` records mean "known to be absent". Bounded by bytes.
 */
export class KeyCache {
  // Invariant: Map order is least recently used first; bytes is the sum of entryBytes.
  private readonly records = new Map<string, KeyRecord | null>();
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** The record, null if the key is known absent, undefined if the cache does not know. */
  get(key: string): KeyRecord | null | undefined {
    const record = this.records.get(key);
    if (record === undefined) return undefined;
    // Refresh: most recently used goes last.
    this.records.delete(key);
    this.records.set(key, record);
    return record;
  }

  set(key: string, record: KeyRecord | null): void {
    const previous = this.records.get(key);
    if (previous !== undefined) {
      this.bytes -= entryBytes(key, previous);
      this.records.delete(key);
    }
    const bytes = entryBytes(key, record);
    if (bytes > this.bytesMax) return;
    this.records.set(key, record);
    this.bytes += bytes;
    for (const [oldest, oldRecord] of this.records) {
      if (this.bytes <= this.bytesMax) break;
      this.records.delete(oldest);
      this.bytes -= entryBytes(oldest, oldRecord);
    }
  }

  clear(): void {
    this.records.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.records.size;
  }
}

function entryBytes(key: string, record: KeyRecord | null): number {
  return key.length + (record?.value.byteLength ?? 0) + 64;
}
