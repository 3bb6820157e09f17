import { assertNever, type Index } from '../raft/index.js';
import { CompactedError, selectorContains, type KeySelector, type KvEvent, type StateChange } from '../kv/index.js';
import type { Logger } from '../shared/logger.js';

/**
 * What the hub watches: the state machine's changes as they become visible, and its history
 * (KvStateMachine fits). `readEvents` answers the events with revision >= `from` up to the
 * applied index when the read started (`revision`), never splitting one revision's events
 * (`more`: the page stopped at `limit` events or `bytesMax` bytes), or throws CompactedError
 * when `from` was compacted.
 */
export interface WatchSource {
  readonly appliedIndex: Index;
  onChange(listener: (change: StateChange) => void): () => void;
  readEvents(from: Index, selector: KeySelector, limit: number, bytesMax: number): Promise<{ readonly events: readonly KvEvent[]; readonly more: boolean; readonly revision: Index }>;
}

/** One watch as a client asks for it (validated by the service). */
export interface WatchSpec {
  readonly selector: KeySelector;
  /** The first revision to report; 0: the next one applied (the hub's revision + 1). */
  readonly startRevision: Index;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  /** 0: the stream picks an unused id. */
  readonly watchId: number;
}

/**
 * What a stream sends, transport-free. `revision` is the header revision: for events and
 * progress, every event of the watch up to it has been sent.
 */
export type WatchOutput =
  | { readonly kind: 'created'; readonly watchId: number; readonly revision: Index }
  | { readonly kind: 'events'; readonly watchId: number; readonly revision: Index; readonly events: readonly KvEvent[]; readonly prevKv: boolean }
  | { readonly kind: 'progress'; readonly watchId: number; readonly revision: Index }
  | {
      readonly kind: 'canceled';
      readonly watchId: number;
      readonly revision: Index;
      readonly reason: string;
      /** Non-zero: the watch needed revisions below this one, the oldest held. */
      readonly compactRevision: Index;
      /** The answer to a create that was refused. */
      readonly created: boolean;
    };

/** Where a stream's outputs go. `write` returns false when the transport is full: wait for `drained()`. */
export interface WatchSink {
  write(output: WatchOutput): boolean;
}

export interface WatchHubOptions {
  /** Bytes of outputs queued on one stream (not yet taken by the transport) before a live watcher adding to it is cancelled as slow. */
  readonly queueBytesMax: number;
  readonly progressIntervalMs: number;
  /** Events per history read of a catching-up watcher. */
  readonly pageEventsMax: number;
  /** And bytes (keys, values, prevKv values): a page of large values stops early (between two revisions). */
  readonly pageBytesMax: number;
  /** Bytes of events in one response; more are split between revisions (gRPC's message limit is 64 MiB). */
  readonly responseBytesMax: number;
  /** Watches on one stream; a create beyond it is refused. */
  readonly watchersPerStreamMax: number;
  readonly logger?: Logger;
}

export const defaultWatchHubOptions: WatchHubOptions = { queueBytesMax: 8 * 1024 * 1024, progressIntervalMs: 10_000, pageEventsMax: 512, pageBytesMax: 4 * 1024 * 1024, responseBytesMax: 4 * 1024 * 1024, watchersPerStreamMax: 1024 };

/** What an output costs in the queue: its keys and values plus a fixed overhead per event and per output. */
export function outputBytes(output: WatchOutput): number {
  if (output.kind !== 'events') return 64;
  let bytes = 64;
  for (const event of output.events) {
    bytes += 48 + (event.type === 'put' ? event.kv.key.byteLength + event.kv.value.byteLength : event.key.byteLength);
    if (output.prevKv && event.prevKv !== null) bytes += event.prevKv.key.byteLength + event.prevKv.value.byteLength;
  }
  return bytes;
}

export function eventKey(event: KvEvent): Uint8Array {
  return event.type === 'put' ? event.kv.key : event.key;
}

type WatcherMode = 'synced' | 'catching-up' | 'canceled';

interface Watcher {
  readonly id: number;
  readonly spec: WatchSpec;
  // Invariant: every event of the watch with a revision below `next` has been queued, none at or above it.
  next: Index;
  mode: WatcherMode;
  /** A catch-up loop is running for it. */
  catchingUp: boolean;
  /** Events were queued since the last progress tick. */
  active: boolean;
}

/**
 * The watches of one node. Each watcher is either synced (fed the live batches from onChange)
 * or catching up (reading history in pages from its next revision). A catching-up watcher
 * switches to synced only synchronously after a read showed it reached the hub's live revision,
 * so no live batch falls between the last page and the switch; a synced watcher skips events
 * below its next revision, so a page that read past the live revision causes no duplicate.
 */
export class WatchHub {
  // Invariant: the revision through which every live batch has been handed to the synced watchers.
  private revisionNow: Index;
  private readonly streams = new Set<WatchStream>();
  private unsubscribe: (() => void) | null = null;
  // Invariant: the watches of every stream; the hub is subscribed to the source exactly while it is positive.
  private watching = 0;
  private started = false;
  private progressTimer: NodeJS.Timeout | null = null;
  readonly options: WatchHubOptions;

  constructor(
    private readonly source: WatchSource,
    options: Partial<WatchHubOptions> = {},
  ) {
    this.options = { ...defaultWatchHubOptions, ...options };
    this.revisionNow = source.appliedIndex;
  }

  /** The revision through which live batches have been dispatched (the source's applied index while nobody watches). */
  get revision(): Index {
    return this.unsubscribe === null ? this.source.appliedIndex : this.revisionNow;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.progressTimer = setInterval(() => this.progressTick(), this.options.progressIntervalMs);
    this.progressTimer.unref();
  }

  /** Stops watching the source and ends every stream's watches (their transport ends the streams). */
  stop(): void {
    this.started = false;
    if (this.progressTimer !== null) clearInterval(this.progressTimer);
    this.progressTimer = null;
    for (const stream of [...this.streams]) stream.close();
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /**
   * @internal A watch begins: the hub listens to the source only while some watch exists, so
   * that a node nobody watches does not build events for every apply batch.
   */
  acquire(): void {
    if (this.watching++ > 0 || this.unsubscribe !== null) return;
    this.revisionNow = this.source.appliedIndex;
    this.unsubscribe = this.source.onChange((change) => this.onChange(change));
  }

  /** @internal A watch ended. */
  release(): void {
    if (--this.watching > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  openStream(sink: WatchSink): WatchStream {
    const stream = new WatchStream(this, this.source, sink, () => this.streams.delete(stream));
    this.streams.add(stream);
    return stream;
  }

  /** Runs one progress round now (the timer's job; tests call it directly). */
  progressTick(): void {
    for (const stream of this.streams) stream.progressTick();
  }

  private onChange(change: StateChange): void {
    switch (change.kind) {
      case 'events':
        this.revisionNow = Math.max(this.revisionNow, change.revision);
        for (const stream of this.streams) stream.dispatch(change.events, change.revision);
        return;
      case 'reset':
        // The events up to the snapshot's revision were never reported here: read them from history.
        this.revisionNow = Math.max(this.revisionNow, change.revision);
        for (const stream of this.streams) stream.resetLive();
        return;
      default:
        assertNever(change, 'state change');
    }
  }
}

/** The watches of one client stream, with its bounded output queue. */
export class WatchStream {
  private readonly watchers = new Map<number, Watcher>();
  private readonly queue: WatchOutput[] = [];
  // Invariant: the sum of outputBytes over `queue`.
  private queuedBytesNow = 0;
  private writable = true;
  private closed = false;
  private nextAutoId = 1;
  /** Catch-up loops waiting for room in the queue. */
  private roomWaiters: (() => void)[] = [];

  constructor(
    private readonly hub: WatchHub,
    private readonly source: WatchSource,
    private readonly sink: WatchSink,
    private readonly onClose: () => void,
  ) {}

  /** Bytes queued, not yet taken by the transport. */
  get queuedBytes(): number {
    return this.queuedBytesNow;
  }

  get watchCount(): number {
    return this.watchers.size;
  }

  create(spec: WatchSpec): void {
    if (this.closed) return;
    if (spec.watchId !== 0 && this.watchers.has(spec.watchId)) {
      this.push({ kind: 'canceled', watchId: spec.watchId, revision: this.hub.revision, reason: `watch id ${spec.watchId} is already in use on this stream`, compactRevision: 0, created: true });
      return;
    }
    if (this.watchers.size >= this.hub.options.watchersPerStreamMax) {
      this.push({ kind: 'canceled', watchId: spec.watchId, revision: this.hub.revision, reason: `this stream already has ${this.watchers.size} watches (the most one stream may have)`, compactRevision: 0, created: true });
      return;
    }
    const id = spec.watchId !== 0 ? spec.watchId : this.pickId();
    this.hub.acquire();
    const revision = this.hub.revision;
    const next = spec.startRevision === 0 ? revision + 1 : spec.startRevision;
    const watcher: Watcher = { id, spec, next, mode: next > revision ? 'synced' : 'catching-up', catchingUp: false, active: false };
    this.watchers.set(id, watcher);
    this.push({ kind: 'created', watchId: id, revision });
    if (watcher.mode === 'catching-up') void this.catchUp(watcher);
  }

  /** Refuses a create before it starts (bad request, permission denied): created and canceled at once. */
  refuse(watchId: number, reason: string): void {
    if (this.closed) return;
    this.push({ kind: 'canceled', watchId, revision: this.hub.revision, reason, compactRevision: 0, created: true });
  }

  cancel(watchId: number): void {
    const watcher = this.watchers.get(watchId);
    if (watcher === undefined) {
      this.push({ kind: 'canceled', watchId, revision: this.hub.revision, reason: `no watch ${watchId} on this stream`, compactRevision: 0, created: false });
      return;
    }
    this.end(watcher, 'canceled by the client', 0);
  }

  /** A progress request: every synced watch is told the revision it has been sent everything through. */
  progress(): void {
    for (const watcher of this.watchers.values()) {
      if (watcher.mode === 'synced') this.push({ kind: 'progress', watchId: watcher.id, revision: Math.min(watcher.next - 1, this.hub.revision) });
    }
  }

  /** The transport took everything it was given and wants more. */
  drained(): void {
    this.writable = true;
    this.flush();
  }

  /** Ends every watch; nothing more is sent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const watcher of this.watchers.values()) {
      watcher.mode = 'canceled';
      this.hub.release();
    }
    this.watchers.clear();
    this.queue.length = 0;
    this.queuedBytesNow = 0;
    this.wakeRoomWaiters();
    this.onClose();
  }

  /** @internal A live batch, through `revision`. */
  dispatch(events: readonly KvEvent[], revision: Index): void {
    if (this.closed) return;
    for (const watcher of [...this.watchers.values()]) {
      if (watcher.mode !== 'synced') continue;
      const matching = events.filter((event) => event.revision >= watcher.next && selectorContains(watcher.spec.selector, eventKey(event)));
      if (matching.length > 0) {
        const outputs = this.eventOutputs(watcher, matching, revision);
        const bytes = outputs.reduce((sum, output) => sum + outputBytes(output), 0);
        // Over the budget, whether the reader is behind or this batch alone is that large: the
        // watch is cancelled, and its client resumes it from history, in pages paced by the reader.
        if (this.queuedBytesNow + bytes > this.hub.options.queueBytesMax) {
          this.end(watcher, `slow watcher: ${this.queuedBytesNow + bytes} bytes would be queued on this stream, more than ${this.hub.options.queueBytesMax}; resume from revision ${watcher.next}`, 0);
          continue;
        }
        watcher.active = true;
        for (const output of outputs) this.push(output);
      }
      watcher.next = Math.max(watcher.next, revision + 1);
    }
  }

  /** @internal A snapshot was installed: every synced watcher catches up from history. */
  resetLive(): void {
    for (const watcher of this.watchers.values()) {
      if (watcher.mode !== 'synced' || watcher.next > this.hub.revision) continue;
      watcher.mode = 'catching-up';
      void this.catchUp(watcher);
    }
  }

  /** @internal */
  progressTick(): void {
    for (const watcher of this.watchers.values()) {
      if (!watcher.spec.progressNotify || watcher.mode !== 'synced') continue;
      if (!watcher.active) this.push({ kind: 'progress', watchId: watcher.id, revision: Math.min(watcher.next - 1, this.hub.revision) });
      watcher.active = false;
    }
  }

  private async catchUp(watcher: Watcher): Promise<void> {
    if (watcher.catchingUp) return;
    watcher.catchingUp = true;
    try {
      for (;;) {
        if (watcher.mode !== 'catching-up') return;
        if (watcher.next > this.hub.revision) {
          // Synchronous with the check: no live batch can come between.
          watcher.mode = 'synced';
          return;
        }
        await this.room();
        if (watcher.mode !== 'catching-up') return;
        let page: Awaited<ReturnType<WatchSource['readEvents']>>;
        try {
          page = await this.source.readEvents(watcher.next, watcher.spec.selector, this.hub.options.pageEventsMax, this.hub.options.pageBytesMax);
        } catch (error) {
          if (watcher.mode !== 'catching-up') return;
          if (error instanceof CompactedError) {
            this.end(watcher, `revision ${watcher.next} has been compacted; the oldest revision held is ${error.compactRevision}`, error.compactRevision);
          } else {
            this.hub.options.logger?.error({ err: error, watchId: watcher.id }, 'reading watch history failed');
            this.end(watcher, `reading history failed: ${(error as Error)?.message ?? String(error)}`, 0);
          }
          return;
        }
        if (watcher.mode !== 'catching-up') return;
        if (page.more && page.events.length === 0) {
          // The source broke its contract (a page says more but holds nothing): stop rather than skip revisions.
          this.end(watcher, `reading history from revision ${watcher.next} returned an empty page`, 0);
          return;
        }
        const events = page.events.filter((event) => event.revision >= watcher.next);
        const through = page.more ? (page.events[page.events.length - 1] as KvEvent).revision : page.revision;
        if (events.length > 0) {
          watcher.active = true;
          for (const output of this.eventOutputs(watcher, events, through)) this.push(output);
        }
        watcher.next = Math.max(watcher.next, through + 1);
      }
    } finally {
      watcher.catchingUp = false;
    }
  }

  /**
   * The responses carrying `events` (in revision order) through `through`: one, unless they
   * exceed responseBytesMax, then split between revisions (one revision's events stay together),
   * each but the last with its own last revision as header revision.
   */
  private eventOutputs(watcher: Watcher, events: readonly KvEvent[], through: Index): WatchOutput[] {
    const prevKv = watcher.spec.prevKv;
    const whole: WatchOutput = { kind: 'events', watchId: watcher.id, revision: through, events, prevKv };
    const limit = this.hub.options.responseBytesMax;
    if (outputBytes(whole) <= limit) return [whole];
    const outputs: WatchOutput[] = [];
    let chunk: KvEvent[] = [];
    let chunkBytes = 0;
    for (const [i, event] of events.entries()) {
      const bytes = outputBytes({ kind: 'events', watchId: watcher.id, revision: through, events: [event], prevKv });
      const previous = events[i - 1];
      if (chunk.length > 0 && chunkBytes + bytes > limit && previous !== undefined && previous.revision !== event.revision) {
        outputs.push({ kind: 'events', watchId: watcher.id, revision: previous.revision, events: chunk, prevKv });
        chunk = [];
        chunkBytes = 0;
      }
      chunk.push(event);
      chunkBytes += bytes;
    }
    outputs.push({ kind: 'events', watchId: watcher.id, revision: through, events: chunk, prevKv });
    return outputs;
  }

  /** Resolves when the queue is below half its budget (or the stream closed): catching up is paced by the reader. */
  private room(): Promise<void> {
    if (this.closed || this.queuedBytesNow < this.hub.options.queueBytesMax / 2) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0 || (!this.closed && this.queuedBytesNow >= this.hub.options.queueBytesMax / 2)) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private end(watcher: Watcher, reason: string, compactRevision: Index): void {
    watcher.mode = 'canceled';
    this.watchers.delete(watcher.id);
    this.hub.release();
    this.push({ kind: 'canceled', watchId: watcher.id, revision: this.hub.revision, reason, compactRevision, created: false });
  }

  private pickId(): number {
    while (this.watchers.has(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  private push(output: WatchOutput): void {
    if (this.closed) return;
    this.queue.push(output);
    this.queuedBytesNow += outputBytes(output);
    this.flush();
  }

  private flush(): void {
    while (this.writable && this.queue.length > 0 && !this.closed) {
      const output = this.queue.shift() as WatchOutput;
      this.queuedBytesNow -= outputBytes(output);
      this.writable = this.sink.write(output);
    }
    this.wakeRoomWaiters();
  }
}
