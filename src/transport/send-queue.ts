import { invariant, type Message } from '../raft/index.js';

/**
 * A bounded FIFO of messages for one peer: a ring buffer, so pushing and taking are O(1), and
 * it never holds more than `capacity` messages nor more than `bytesMax` bytes (by `bytesOf`, an
 * upper bound of each message's encoded size: the count alone would let 4096 big appends pin
 * gigabytes while a peer is away).
 *
 * When full, `push` drops the oldest messages to make room. Why the oldest: Raft tolerates
 * loss, and a newer message supersedes an older one to the same peer (a later heartbeat carries
 * a later commit, a later append re-covers what an earlier one would have started, and whatever
 * is lost the leader resends after the follower's reject or its own probe). Keeping the newest
 * also means what finally gets through after a partition heals is current, not minutes old.
 */
export class SendQueue {
  // Invariant: slots[(head + i) % capacity] for i < length hold the queued messages in order;
  // every other slot is undefined, so dropped messages are not kept alive.
  private readonly slots: (Message | undefined)[];
  // Invariant: sizes[i] is bytesOf(slots[i]) for occupied slots; bytes is their sum.
  private readonly sizes: number[];
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    readonly capacity: number,
    readonly bytesMax: number,
    private readonly bytesOf: (message: Message) => number,
  ) {
    invariant(Number.isSafeInteger(capacity) && capacity > 0, `queue capacity must be a positive integer, got ${capacity}`);
    invariant(bytesMax > 0, `queue bytesMax must be positive, got ${bytesMax}`);
    this.slots = new Array<Message | undefined>(capacity).fill(undefined);
    this.sizes = new Array<number>(capacity).fill(0);
  }

  get length(): number {
    return this.count;
  }

  /** Bytes held now, by `bytesOf`. */
  get byteLength(): number {
    return this.bytes;
  }

  /**
   * Appends `message`; returns what was dropped to make room, oldest first. A message larger
   * than `bytesMax` by itself is not queued at all: it is returned as dropped.
   */
  push(message: Message): Message[] {
    const size = this.bytesOf(message);
    if (size > this.bytesMax) return [message];
    const dropped: Message[] = [];
    while (this.count === this.capacity || this.bytes + size > this.bytesMax) {
      const oldest = this.shift();
      if (oldest === undefined) break;
      dropped.push(oldest);
    }
    const slot = (this.head + this.count) % this.capacity;
    this.slots[slot] = message;
    this.sizes[slot] = size;
    this.bytes += size;
    this.count += 1;
    return dropped;
  }

  /** The oldest message, without removing it. */
  peek(): Message | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** Removes and returns the oldest message. */
  shift(): Message | undefined {
    if (this.count === 0) return undefined;
    const message = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.bytes -= this.sizes[this.head] ?? 0;
    this.sizes[this.head] = 0;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return message;
  }

  /** Removes every message matching `predicate`, keeping the order of the rest; returns the removed ones. */
  removeWhere(predicate: (message: Message) => boolean): Message[] {
    const kept: Message[] = [];
    const removed: Message[] = [];
    for (let message = this.shift(); message !== undefined; message = this.shift()) {
      (predicate(message) ? removed : kept).push(message);
    }
    // They fitted before, so they fit again: nothing is dropped here.
    for (const message of kept) this.push(message);
    return removed;
  }

  /** Empties the queue and returns what it held, oldest first. */
  clear(): Message[] {
    return this.removeWhere(() => true);
  }
}

/** What one batch may hold: both limits apply, and a batch always holds at least one message. */
export interface BatchLimits {
  readonly messagesMax: number;
  readonly bytesMax: number;
  /** A first message above `bytesMax` but within this still goes, alone; above it, it is oversized. Default: `bytesMax`. */
  readonly aloneBytesMax?: number;
}

/**
 * Takes the next batch off the front of `queue`: as many messages as fit in `limits`, judged by
 * `bytesOf` (an upper bound of each message's encoded size). A first message that alone exceeds
 * `bytesMax` goes alone if it is within `aloneBytesMax`; otherwise it can never be sent, and it is
 * returned in `oversized` for the caller to drop and report, and the batch stays empty.
 */
export function takeBatch(
  queue: SendQueue,
  limits: BatchLimits,
  bytesOf: (message: Message) => number,
): { readonly batch: Message[]; readonly bytes: number; readonly oversized: Message | undefined } {
  const batch: Message[] = [];
  let bytes = 0;
  for (let next = queue.peek(); next !== undefined && batch.length < limits.messagesMax; next = queue.peek()) {
    const size = bytesOf(next);
    if (batch.length === 0 && size > limits.bytesMax) {
      queue.shift();
      if (size > (limits.aloneBytesMax ?? limits.bytesMax)) return { batch, bytes: 0, oversized: next };
      return { batch: [next], bytes: size, oversized: undefined };
    }
    if (bytes + size > limits.bytesMax) break;
    bytes += size;
    batch.push(next);
    queue.shift();
  }
  return { batch, bytes, oversized: undefined };
}
