/** What happened to the cluster, as one node saw it: the live page's event list. */
export type LiveEventBody =
  | { readonly kind: 'leader-changed'; readonly term: number; /** null: no leader known (an election is on). */ readonly leader: string | null }
  | { readonly kind: 'snapshot-taken'; readonly index: number; /** The log now starts after this index. */ readonly compactedTo: number }
  | { readonly kind: 'snapshot-installed'; readonly index: number; readonly term: number; readonly ms: number }
  | { readonly kind: 'members-changed'; readonly voters: readonly string[]; readonly learners: readonly string[] };

/** An event with its wall-clock time and its number in this node's log (from 1, per process). */
export type LiveEvent = LiveEventBody & { readonly seq: number; readonly atMs: number };

/** A bounded log of the node's recent events, oldest first; the oldest are dropped past `eventsMax`. */
export class EventLog {
  // Invariant: at most eventsMax entries, seq strictly increasing.
  private readonly events: LiveEvent[] = [];
  private seq = 0;

  constructor(
    private readonly eventsMax: number,
    private readonly clock: () => number = () => Date.now(),
  ) {
    if (!Number.isInteger(eventsMax) || eventsMax < 1) throw new RangeError(`eventsMax must be a positive integer, not ${eventsMax}`);
  }

  record(event: LiveEventBody): void {
    this.seq += 1;
    this.events.push({ ...event, seq: this.seq, atMs: this.clock() });
    if (this.events.length > this.eventsMax) this.events.shift();
  }

  list(): readonly LiveEvent[] {
    return [...this.events];
  }
}
