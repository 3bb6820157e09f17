import { Inflights } from './inflights.js';
import type { Index } from './types.js';

/**
 * How the leader is replicating to one follower (etcd's tracker):
 * - probe: one AppendEntries at a time until the follower's match index is found;
 * - replicate: pipelined, next advanced optimistically, bounded by the inflights window;
 * - snapshot: waiting for an InstallSnapshot to land; nothing else is sent.
 */
export type ReplicationState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (Figure 2 nextIndex/matchIndex, plus flow control). */
export class Progress {
  // Invariant: match < next.
  match: Index = 0;
  next: Index;
  state: ReplicationState = 'probe';
  /** In probe: a probe is in flight, wait for its answer or the next heartbeat response. */
  probeSent = false;
  /** In snapshot: the index of the snapshot being sent. */
  pendingSnapshot: Index = 0;
  /** Heard from since the last CheckQuorum round (thesis §6.2). */
  recentActive = false;
  /** The send tick of the newest heartbeat round this follower acknowledged (for lease reads). */
  leaseAckTick = -Infinity;
  readonly inflights: Inflights;

  constructor(next: Index, inflightMessagesMax: number, inflightBytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMessagesMax, inflightBytesMax);
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's entries.
    const from = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.next = from;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: Index): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** Records an acknowledgement up to `index`; returns whether it told us anything new. */
  maybeUpdate(index: Index): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * Handles a rejection of the AppendEntries whose prevLogIndex was `rejected`; `fallbackNext` is
   * where the leader's search for the follower's match lands (§5.3 fast back-off).
   * Returns false for a stale rejection that must be ignored.
   */
  maybeDecreaseTo(rejected: Index, fallbackNext: Index): boolean {
    if (this.state === 'replicate') {
      // A rejection of something already known matched is a duplicate or reordered message.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe only the probe we sent last (next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, fallbackNext), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back AppendEntries to this follower for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
