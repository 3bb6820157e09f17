/**
 * The replicated leases of a state generation: each lease's granted TTL and the keys attached
 * to it, in memory (as of the applied index) and in the `lease-g<N>` sublevel (keys.ts):
 *
 *   `l` + id u64          -> v1 | ttlSeconds u64
 *                            v2 | ttlSeconds u64 | remainingSeconds u64 (a checkpoint, not 0)
 *   `k` + id u64 + key    -> empty: `key` is attached to lease `id`
 *
 * The index from lease to keys is what a revoke deletes without scanning the keyspace, and what a
 * restart loads without reading every key. A key's own record names its lease too (key-record.ts);
 * the two change together in one apply batch. Deadlines are not here: they are the leader's, in
 * memory (src/server/lease-keeper.ts). What is replicated of them is the leader's checkpoint of
 * how long a lease had left (LeaseCheckpointCommand), which a later leader starts it from.
 */
import { invariant } from '../raft/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import type { BinarySublevel, StoreOperation } from '../storage/index.js';

/** A lease as of the applied index. */
export interface LeaseInfo {
  readonly id: number;
  readonly ttlSeconds: number;
  /** What it had left at the leader's last checkpoint, in seconds; 0: none since its grant or last renewal. */
  readonly remainingSeconds: number;
  /** The attached keys, by the state machine's key id. */
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

interface LeaseSlot {
  readonly ttlSeconds: number;
  remainingSeconds: number;
  readonly keys: Map<string, Uint8Array>;
}

const leaseTag = 0x6c; // 'l'
const keyTag = 0x6b; // 'k'
const formatVersion = 1;
/** A lease record with a checkpoint (v1 records have none). */
const checkpointedFormatVersion = 2;

/**
 * Leases and their keys. Changed only by applies, which take the stored writes of each batch
 * with `takeOperations` (so the sublevel changes in the batch's one atomic write).
 */
export class LeaseTable {
  private readonly leases = new Map<number, LeaseSlot>();
  private readonly leaseOfKey = new Map<string, number>();
  /** Writes not yet taken, by the stored key (latin1); value null: delete. */
  private changes = new Map<string, { readonly key: Uint8Array; readonly value: Uint8Array | null }>();

  /** The leases stored in `sublevel` (empty for a directory or snapshot from before leases). */
  static async load(sublevel: BinarySublevel, keyId: (key: Uint8Array) => string): Promise<LeaseTable> {
    const table = new LeaseTable();
    const attached: [number, Uint8Array][] = [];
    for await (const [stored, value] of sublevel.iterator()) {
      const record = decodeLeaseRecord(stored, value);
      if (record.kind === 'lease') table.leases.set(record.id, { ttlSeconds: record.ttlSeconds, remainingSeconds: record.remainingSeconds, keys: new Map() });
      else attached.push([record.id, record.key]);
    }
    // `k` records sort after every `l` record, but check rather than trust the order.
    for (const [id, key] of attached) {
      const slot = table.leases.get(id);
      if (slot === undefined) throw new BinaryDecodeError(`lease record: key attached to lease ${id}, which does not exist`);
      const kid = keyId(key);
      slot.keys.set(kid, key);
      table.leaseOfKey.set(kid, id);
    }
    return table;
  }

  get size(): number {
    return this.leases.size;
  }

  has(id: number): boolean {
    return this.leases.has(id);
  }

  get(id: number): LeaseInfo | undefined {
    const slot = this.leases.get(id);
    return slot === undefined ? undefined : { id, ttlSeconds: slot.ttlSeconds, remainingSeconds: slot.remainingSeconds, keys: slot.keys };
  }

  /** Every lease, in id order. */
  list(): LeaseInfo[] {
    return [...this.leases.keys()].sort((a, b) => a - b).map((id) => this.get(id) as LeaseInfo);
  }

  /** The id a grant of id 0 at log index `index` gets: `index`, or the next one no live lease has. Deterministic. */
  pickId(index: number): number {
    let id = index;
    while (this.leases.has(id)) id++;
    return id;
  }

  grant(id: number, ttlSeconds: number): void {
    invariant(id > 0 && !this.leases.has(id), () => `grant of lease ${id}, which exists or is 0`);
    this.leases.set(id, { ttlSeconds, remainingSeconds: 0, keys: new Map() });
    this.change(leaseRecordKey(id), encodeLeaseValue(ttlSeconds, 0));
  }

  /** Records lease `id`'s checkpoint (0: none); false when the lease does not exist. */
  checkpoint(id: number, remainingSeconds: number): boolean {
    const slot = this.leases.get(id);
    if (slot === undefined) return false;
    if (slot.remainingSeconds === remainingSeconds) return true;
    slot.remainingSeconds = remainingSeconds;
    this.change(leaseRecordKey(id), encodeLeaseValue(slot.ttlSeconds, remainingSeconds));
    return true;
  }

  /** Drops lease `id`; its keys must have been detached first (the revoke deleted them). */
  remove(id: number): void {
    const slot = this.leases.get(id);
    invariant(slot !== undefined && slot.keys.size === 0, () => `removal of lease ${id} with ${slot?.keys.size ?? 'no lease'} keys attached`);
    this.leases.delete(id);
    this.change(leaseRecordKey(id), null);
  }

  /** Records that the key is now attached to `lease` (0: to none), as its new record says. */
  setKeyLease(kid: string, key: Uint8Array, lease: number): void {
    const old = this.leaseOfKey.get(kid) ?? 0;
    if (old === lease) return;
    if (old !== 0) {
      this.leases.get(old)?.keys.delete(kid);
      this.leaseOfKey.delete(kid);
      this.change(attachedKey(old, key), null);
    }
    if (lease !== 0) {
      const slot = this.leases.get(lease);
      invariant(slot !== undefined, () => `key attached to lease ${lease}, which does not exist`);
      slot.keys.set(kid, key);
      this.leaseOfKey.set(kid, lease);
      this.change(attachedKey(lease, key), new Uint8Array(0));
    }
  }

  /** The stored writes since the last call, for `sublevel` (the generation's `lease`). */
  takeOperations(sublevel: BinarySublevel): StoreOperation[] {
    const operations: StoreOperation[] = [];
    for (const { key, value } of this.changes.values()) {
      operations.push(value === null ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value });
    }
    this.changes = new Map();
    return operations;
  }

  private change(key: Uint8Array, value: Uint8Array | null): void {
    this.changes.set(Buffer.from(key).toString('latin1'), { key, value });
  }
}

/** A decoded `lease-g<N>` record. */
export type LeaseRecord =
  | { readonly kind: 'lease'; readonly id: number; readonly ttlSeconds: number; readonly remainingSeconds: number }
  | { readonly kind: 'attached'; readonly id: number; readonly key: Uint8Array };

/** Throws BinaryDecodeError on a record that LeaseTable cannot have written (snapshots check every one). */
export function decodeLeaseRecord(key: Uint8Array, value: Uint8Array): LeaseRecord {
  const reader = new ByteReader(key);
  const tag = reader.u8('lease record tag');
  const id = reader.u64('lease record id');
  if (id === 0) throw new BinaryDecodeError('lease record: lease id 0');
  if (tag === leaseTag) {
    reader.end('lease record key');
    const values = new ByteReader(value);
    const version = values.u8('lease record format version');
    if (version !== formatVersion && version !== checkpointedFormatVersion) throw new BinaryDecodeError(`lease record: unknown format version ${version}`);
    const ttlSeconds = values.u64('lease record ttl');
    const remainingSeconds = version === checkpointedFormatVersion ? values.u64('lease record remaining ttl') : 0;
    values.end('lease record');
    if (ttlSeconds < 1) throw new BinaryDecodeError('lease record: ttl 0');
    if (version === checkpointedFormatVersion && remainingSeconds === 0) throw new BinaryDecodeError('lease record: a checkpoint of 0 s (written as v1)');
    return { kind: 'lease', id, ttlSeconds, remainingSeconds };
  }
  if (tag === keyTag) {
    const attached = reader.rest('lease record key');
    if (attached.byteLength === 0) throw new BinaryDecodeError('lease record: empty attached key');
    if (value.byteLength !== 0) throw new BinaryDecodeError('lease record: an attached key carries no value');
    return { kind: 'attached', id, key: Uint8Array.from(attached) };
  }
  throw new BinaryDecodeError(`lease record: unknown tag ${tag}`);
}

/** v1 without a checkpoint, so a lease never checkpointed is stored as before checkpoints existed. */
function encodeLeaseValue(ttlSeconds: number, remainingSeconds: number): Uint8Array {
  if (remainingSeconds === 0) return new ByteWriter(9).u8(formatVersion).u64(ttlSeconds).finish();
  return new ByteWriter(17).u8(checkpointedFormatVersion).u64(ttlSeconds).u64(remainingSeconds).finish();
}

function leaseRecordKey(id: number): Uint8Array {
  return new ByteWriter(9).u8(leaseTag).u64(id).finish();
}

function attachedKey(id: number, key: Uint8Array): Uint8Array {
  return new ByteWriter(9 + key.byteLength).u8(keyTag).u64(id).raw(key).finish();
}
