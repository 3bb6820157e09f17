import type { Index, NodeId } from './types.js';

/** A ReadIndex request the leader is confirming (thesis §6.4). */
export interface PendingRead {
  readonly context: string;
  /** The node whose client asked; the leader itself or a follower that forwarded. */
  readonly requester: NodeId;
  /** The leader's commit index when the request arrived: the read is served at it. */
  readonly index: Index;
  readonly acks: Set<NodeId>;
}

/**
 * The leader's queue of ReadIndex requests awaiting a heartbeat round. A quorum of acks for one
 * request also confirms every request queued before it: the leader was still leader after they
 * all arrived.
 */
export class ReadIndexQueue {
  // Invariant: in arrival order; contexts are unique.
  private readonly queue: PendingRead[] = [];
  private readonly byContext = new Map<string, PendingRead>();

  get size(): number {
    return this.queue.length;
  }

  has(context: string): boolean {
    return this.byContext.has(context);
  }

  add(read: PendingRead): void {
    this.queue.push(read);
    this.byContext.set(read.context, read);
  }

  /** The newest pending request, whose confirmation releases all of them. */
  newestContext(): string {
    return this.queue.length > 0 ? (this.queue[this.queue.length - 1] as PendingRead).context : '';
  }

  /**
   * Records that `from` acknowledged the heartbeat carrying `context`. Returns the requests now
   * confirmed (that one and all before it) once `isQuorum` holds for the acks (a majority of
   * every voter set, joint-quorum.ts), else [].
   */
  ack(context: string, from: NodeId, isQuorum: (acks: ReadonlySet<NodeId>) => boolean): PendingRead[] {
    const read = this.byContext.get(context);
    if (read === undefined) return [];
    read.acks.add(from);
    if (!isQuorum(read.acks)) return [];
    const position = this.queue.indexOf(read);
    const released = this.queue.splice(0, position + 1);
    for (const r of released) this.byContext.delete(r.context);
    return released;
  }

  /** Drops every pending request (leadership lost: the requesters will time out and retry). */
  clear(): void {
    this.queue.length = 0;
    this.byContext.clear();
  }
}
