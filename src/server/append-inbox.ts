import type { Message } from '../raft/index.js';

type AppendMessage = Extract<Message, { readonly type: 'append' }>;

/**
 * AppendEntries received from peers and not yet stepped into the core. The transport hands over
 * whatever arrived (a leader catching a follower up sends its whole in-flight window, megabytes,
 * at once); stepping it all before one Ready would make that Ready persist and acknowledge it
 * all in one stretch of the event loop. The drive loop instead takes a bounded amount before
 * each Ready, so a catch-up proceeds in steps no longer than the bound, paced by the leader's
 * flow control (its window refills as the acknowledgements return).
 *
 * Holding an AppendEntries back is, to Raft, network delay; other messages (heartbeats, votes)
 * are stepped at once, which reorders them ahead of held appends, and Raft tolerates reordering.
 */
export class AppendInbox {
  // Invariant: messages[head..] are the held messages in arrival order; entries is their entry count.
  private messages: AppendMessage[] = [];
  private head = 0;
  private entries = 0;

  constructor(private readonly messagesMax: number) {}

  get length(): number {
    return this.messages.length - this.head;
  }

  /** Entries held now. */
  get entryCount(): number {
    return this.entries;
  }

  /** Holds `message`; returns false (and holds nothing) when the inbox is full. */
  push(message: AppendMessage): boolean {
    if (this.length >= this.messagesMax) return false;
    this.messages.push(message);
    this.entries += message.entries.length;
    return true;
  }

  /**
   * Takes messages from the front while they fit in `entriesMax` entries and `bytesMax` bytes
   * of entry data; always at least one message when any is held (one message alone may exceed
   * the bounds: the sender's messageBytesMax bounds it).
   */
  take(entriesMax: number, bytesMax: number): AppendMessage[] {
    const taken: AppendMessage[] = [];
    let entries = 0;
    let bytes = 0;
    while (this.head < this.messages.length) {
      const next = this.messages[this.head] as AppendMessage;
      const size = next.entries.reduce((sum, entry) => sum + entry.data.byteLength, 0);
      if (taken.length > 0 && (entries + next.entries.length > entriesMax || bytes + size > bytesMax)) break;
      taken.push(next);
      entries += next.entries.length;
      bytes += size;
      this.head += 1;
    }
    this.entries -= entries;
    if (this.head === this.messages.length) {
      this.messages = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.messages.length) {
      this.messages = this.messages.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  clear(): void {
    this.messages = [];
    this.head = 0;
    this.entries = 0;
  }
}
