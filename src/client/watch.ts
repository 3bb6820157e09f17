import * as grpc from '@grpc/grpc-js';
import { CompactedError } from '../kv/errors.js';
import type { Index } from '../raft/index.js';
import { serviceClient } from '../shared/proto.js';
import { AuthenticationError, CancelledError, InvalidArgumentError, permissionDenied } from './errors.js';
import type { Bytes, KeyValue } from './key-value.js';

export interface WatchOptions {
  /** Watch every key starting with the key (an empty key: every key). */
  readonly prefix?: boolean;
  /** Watch the keys in [key, rangeEnd) ("\0": every key from the key on). Not with `prefix`. */
  readonly rangeEnd?: Bytes;
  /** The first revision to report (it must not be compacted); default: the next one applied. */
  readonly startRevision?: number;
  /** Fill each event's prevKv. */
  readonly prevKv?: boolean;
  /** Ask for a progress batch every --watch-progress-interval while idle. */
  readonly progressNotify?: boolean;
  /** Aborting it ends the iteration (like cancel()). */
  readonly signal?: AbortSignal;
}

/** One change to one key. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: Buffer;
  /** The value written; empty for a delete. */
  readonly value: Buffer;
  /** The write's revision (log index); a transaction's changes share one. */
  readonly revision: number;
  /** The key after a put (version, create revision); null for a delete. */
  readonly kv: KeyValue | null;
  /** The key before the change, with prevKv; null when it was absent or not asked for. */
  readonly prevKv: KeyValue | null;
}

/**
 * What a watcher yields: events (in revision order, those of one revision together), or a
 * progress notification. Either way, every event up to `revision` has now been delivered.
 */
export type WatchBatch =
  | { readonly kind: 'events'; readonly revision: number; readonly events: readonly WatchEvent[] }
  | { readonly kind: 'progress'; readonly revision: number };

/** A watch: iterate it once (`for await`); cancel() ends the iteration. */
export interface Watcher extends AsyncIterable<WatchBatch> {
  /** Every event below it has been delivered (or is queued for the iteration); 0 until the watch is created. */
  readonly nextRevision: number;
  /**
   * Asks the node for a progress notification (etcd's RequestProgress): once this watch is
   * caught up, a `progress` batch follows with the node's revision, every event up to it
   * delivered. Other watches sharing the stream may get one too. Returns false when nothing was
   * sent: the watch is between two streams (resuming) or has ended; ask again later.
   */
  requestProgress(): boolean;
  cancel(): void;
}

/** How watches reach the nodes (the client's endpoints, channels and token). */
export interface WatchContext {
  readonly endpoints: () => readonly string[];
  readonly channel: (endpoint: string) => ReturnType<grpc.Client['getChannel']>;
  readonly token: (deadline: number, signal: AbortSignal | undefined) => Promise<string>;
  /** The node refused the token (expired, revoked, or auth enabled since it was fetched): fetch a new one next time. */
  readonly invalidateToken: () => void;
  /** The client has a user and password to authenticate with. */
  readonly hasCredentials: boolean;
  /** Batches held for the application before the watch stops taking more from the node (and resumes once it reads). */
  readonly queuedBatchesMax?: number;
}

interface WireKeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

interface WireWatchResponse {
  header: { revision: number } | null;
  watchId: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  compactRevision: number;
  events: { type: 'PUT' | 'DELETE'; kv: WireKeyValue | null; prevKv: WireKeyValue | null }[];
}

interface Member {
  onResponse(response: WireWatchResponse): void;
  onBroken(error: Error): void;
}

const kvProto = 'raftkv/v1/kv.proto';
const tokenTimeoutMs = 5000;
const backoffInitialMs = 50;
const backoffMaxMs = 1000;

/**
 * One Watch stream to one endpoint, shared by every watch of the client on that endpoint. A
 * failure of the stream fails every watch on it (each resumes on its own).
 */
class WatchConnection {
  private readonly members = new Map<number, Member>();
  private call: grpc.ClientDuplexStream<unknown, WireWatchResponse> | null = null;
  private broken = false;

  constructor(
    readonly endpoint: string,
    private readonly onGone: (connection: WatchConnection) => void,
  ) {}

  get alive(): boolean {
    return !this.broken;
  }

  open(channel: ReturnType<grpc.Client['getChannel']>, token: string): void {
    const WatchClient = serviceClient(kvProto, 'Watch');
    const client = new WatchClient(this.endpoint, grpc.credentials.createInsecure(), { channelOverride: channel });
    const metadata = new grpc.Metadata();
    if (token !== '') metadata.set('token', token);
    const call = (client as unknown as { watch(metadata: grpc.Metadata): grpc.ClientDuplexStream<unknown, WireWatchResponse> }).watch(metadata);
    this.call = call;
    call.on('data', (response: WireWatchResponse) => this.members.get(response.watchId)?.onResponse(response));
    call.on('error', (error: Error) => this.fail(error));
    call.on('end', () => this.fail(new Error(`the watch stream to ${this.endpoint} ended`)));
  }

  add(id: number, member: Member, create: Record<string, unknown>): void {
    if (this.broken || this.call === null) {
      member.onBroken(new Error(`the watch stream to ${this.endpoint} is broken`));
      return;
    }
    this.members.set(id, member);
    this.call.write({ createRequest: { ...create, watchId: id } });
  }

  /** Asks for a progress response for every caught-up watch of the stream; false if the stream is broken. */
  requestProgress(): boolean {
    if (this.broken || this.call === null) return false;
    this.call.write({ progressRequest: {} });
    return true;
  }

  remove(id: number, sendCancel: boolean): void {
    if (!this.members.delete(id)) return;
    if (sendCancel && !this.broken) this.call?.write({ cancelRequest: { watchId: id } });
    if (this.members.size === 0) this.close();
  }

  close(): void {
    if (this.broken) return;
    this.broken = true;
    this.onGone(this);
    this.call?.cancel();
    this.members.clear();
  }

  private fail(error: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.onGone(this);
    const members = [...this.members.values()];
    this.members.clear();
    for (const member of members) member.onBroken(error);
  }
}

/** The watches of one client: the shared streams per endpoint, and the watch ids. */
export class WatchStreams {
  private readonly connections = new Map<string, Promise<WatchConnection>>();
  private nextId = 1;
  private closed = false;
  /** The endpoint the next (re)subscription starts from. */
  private cursor = 0;

  constructor(private readonly ctx: WatchContext) {}

  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    if (this.closed) throw new CancelledError('the client is closed');
    return new ResumingWatch(this, watchCreateRequest(key, options), options, this.ctx.queuedBatchesMax ?? 1024);
  }

  close(): void {
    this.closed = true;
    for (const connection of this.connections.values()) void connection.then((open) => open.close(), () => {});
    this.connections.clear();
  }

  /** @internal */
  get context(): WatchContext {
    return this.ctx;
  }

  /** @internal */
  newId(): number {
    return this.nextId++;
  }

  /** @internal The endpoint to (re)subscribe on: after a failure, the next one. */
  endpoint(moveOn: boolean): string {
    const endpoints = this.ctx.endpoints();
    if (moveOn) this.cursor++;
    return endpoints[this.cursor % endpoints.length] as string;
  }

  /** @internal */
  async connection(endpoint: string, signal: AbortSignal): Promise<WatchConnection> {
    if (this.closed) throw new CancelledError('the client is closed');
    let pending = this.connections.get(endpoint);
    if (pending !== undefined) {
      const existing = await pending.catch(() => null);
      if (existing?.alive) return existing;
      if (this.connections.get(endpoint) === pending) this.connections.delete(endpoint);
    }
    pending = (async () => {
      const token = await this.ctx.token(Date.now() + tokenTimeoutMs, signal);
      const connection = new WatchConnection(endpoint, (gone) => {
        void this.connections.get(endpoint)?.then((current) => {
          if (current === gone) this.connections.delete(endpoint);
        });
      });
      connection.open(this.ctx.channel(endpoint), token);
      return connection;
    })();
    this.connections.set(endpoint, pending);
    pending.catch(() => {
      if (this.connections.get(endpoint) === pending) this.connections.delete(endpoint);
    });
    return pending;
  }
}

function watchCreateRequest(key: Bytes, options: WatchOptions): Record<string, unknown> {
  const keyBytes = toBuffer(key);
  if (options.prefix === true && options.rangeEnd !== undefined) throw new InvalidArgumentError('rangeEnd', 'cannot be combined with prefix');
  if (options.prefix !== true && keyBytes.byteLength === 0) throw new InvalidArgumentError('key', 'must not be empty (use prefix with an empty key to watch every key)');
  const start = options.startRevision ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) throw new InvalidArgumentError('startRevision', `must be a revision (a positive integer), not ${String(options.startRevision)}`);
  return {
    key: keyBytes,
    rangeEnd: options.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(options.rangeEnd),
    prefix: options.prefix === true,
    prevKv: options.prevKv === true,
    progressNotify: options.progressNotify === true,
  };
}

/**
 * A watch that survives its node: on a broken stream, a node stopping, or a slow-watcher
 * cancel, it subscribes again on the next endpoint from the revision after the last one it
 * delivered, so the application sees every event once and in order. A compacted resume point
 * ends the iteration with CompactedError: never a silent gap.
 */
class ResumingWatch implements Watcher {
  // Invariant: every event below `next` has been queued for the application, none at or above it (0: not created yet, "now").
  private next = 0;
  private readonly queue: WatchBatch[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private done = false;
  private current: { connection: WatchConnection; id: number } | null = null;
  private failures = 0;
  /** A fresh token was fetched after an UNAUTHENTICATED stream; another one ends the watch. */
  private reauthenticated = false;
  private paused = false;
  private subscribing = false;
  private readonly abort = new AbortController();
  private retryTimer: NodeJS.Timeout | null = null;
  private iterating = false;
  /** Removes the listener on the caller's signal. */
  private forgetSignal: () => void = () => undefined;

  constructor(
    private readonly streams: WatchStreams,
    private readonly create: Record<string, unknown>,
    options: WatchOptions,
    private readonly queuedBatchesMax: number,
  ) {
    this.next = options.startRevision ?? 0;
    if (options.signal !== undefined) {
      if (options.signal.aborted) this.cancel();
      else {
        const signal = options.signal;
        const onAbort = (): void => this.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
        // Removed on cancel: a long-lived signal (a lock waiter's, across many watches) must not collect one per watch.
        this.forgetSignal = () => signal.removeEventListener('abort', onAbort);
      }
    }
    if (!this.done) void this.subscribe(false);
  }

  get nextRevision(): number {
    return this.next;
  }

  requestProgress(): boolean {
    const current = this.current;
    if (this.done || this.paused || current === null) return false;
    return current.connection.requestProgress();
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.forgetSignal();
    this.abort.abort();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.unsubscribe(true);
    this.wakeUp();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    if (this.iterating) throw new InvalidArgumentError('watcher', 'can be iterated only once');
    this.iterating = true;
    try {
      for (;;) {
        const batch = this.queue.shift();
        if (batch !== undefined) {
          if (this.paused && this.queue.length <= this.queuedBatchesMax / 2) {
            this.paused = false;
            void this.subscribe(false);
          }
          yield batch;
          continue;
        }
        if (this.failure !== null) throw this.failure;
        if (this.done) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      this.cancel();
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private fail(error: Error): void {
    if (this.done) return;
    this.failure = error;
    this.cancel();
  }

  private unsubscribe(sendCancel: boolean): void {
    const current = this.current;
    this.current = null;
    current?.connection.remove(current.id, sendCancel);
  }

  private async subscribe(moveOn: boolean): Promise<void> {
    if (this.done || this.paused || this.subscribing || this.current !== null) return;
    this.subscribing = true;
    try {
      const endpoint = this.streams.endpoint(moveOn);
      const connection = await this.streams.connection(endpoint, this.abort.signal);
      if (this.done || this.paused) {
        return;
      }
      const id = this.streams.newId();
      this.current = { connection, id };
      connection.add(id, { onResponse: (response) => this.onResponse(id, response), onBroken: (error) => this.onBroken(id, error) }, { ...this.create, startRevision: this.next });
    } catch (error) {
      if (error instanceof AuthenticationError) this.fail(error);
      else if (!this.done) this.retry(error as Error);
    } finally {
      this.subscribing = false;
    }
  }

  private onResponse(id: number, response: WireWatchResponse): void {
    if (this.done || this.current?.id !== id) return;
    const revision = response.header?.revision ?? 0;
    if (response.canceled) {
      this.unsubscribe(false);
      if (response.compactRevision > 0) {
        this.fail(new CompactedError(Math.max(this.next, 1) as Index, response.compactRevision as Index));
      } else if (response.created) {
        // The create itself was refused: bad options or no permission. Retrying cannot help.
        this.fail(/^permission denied/.test(response.cancelReason) ? permissionDenied(response.cancelReason, null) : new InvalidArgumentError('watch', response.cancelReason));
      } else {
        // A slow-watcher cancel (or another cancel by the node): resume from where we are.
        this.retry(new Error(response.cancelReason));
      }
      return;
    }
    if (response.created) {
      this.failures = 0;
      this.reauthenticated = false;
      if (this.next === 0) this.next = revision + 1;
      return;
    }
    if (response.events.length > 0) {
      const events = response.events.map(toWatchEvent).filter((event) => event.revision >= this.next);
      this.next = Math.max(this.next, revision + 1, (events[events.length - 1]?.revision ?? 0) + 1);
      if (events.length > 0) this.push({ kind: 'events', revision, events });
      return;
    }
    if (revision + 1 >= this.next) {
      this.next = revision + 1;
      this.push({ kind: 'progress', revision });
    }
  }

  private push(batch: WatchBatch): void {
    this.queue.push(batch);
    this.wakeUp();
    if (this.queue.length >= this.queuedBatchesMax && !this.paused) {
      // The application reads slower than events come: stop taking them; resume from `next` once it catches up.
      this.paused = true;
      this.unsubscribe(true);
    }
  }

  private onBroken(id: number, error: Error): void {
    if (this.done || this.current?.id !== id) return;
    this.current = null;
    if ((error as grpc.ServiceError).code === grpc.status.UNAUTHENTICATED) {
      // The token expired or was revoked, or auth was enabled since: authenticate again, once.
      if (!this.streams.context.hasCredentials || this.reauthenticated) {
        const hint = this.streams.context.hasCredentials ? '' : ' (give a user: the auth option, or --user)';
        this.fail(new AuthenticationError(`watch: ${(error as grpc.ServiceError).details}${hint}`, { cause: error }));
        return;
      }
      this.reauthenticated = true;
      this.streams.context.invalidateToken();
    }
    this.retry(error);
  }

  private retry(_error: Error): void {
    if (this.done || this.retryTimer !== null) return;
    this.failures++;
    const delayMs = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(this.failures - 1, 10)) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.subscribe(true);
    }, delayMs);
    this.retryTimer.unref();
  }
}

function toKeyValue(kv: WireKeyValue): KeyValue {
  const base = { key: kv.key, value: kv.value, version: kv.version, createRevision: kv.createRevision, modRevision: kv.modRevision };
  return kv.lease === 0 ? base : { ...base, lease: kv.lease };
}

function toWatchEvent(event: WireWatchResponse['events'][number]): WatchEvent {
  const kv = event.kv as WireKeyValue;
  const prevKv = event.prevKv === null ? null : toKeyValue(event.prevKv);
  if (event.type === 'DELETE') return { type: 'delete', key: kv.key, value: Buffer.alloc(0), revision: kv.modRevision, kv: null, prevKv };
  return { type: 'put', key: kv.key, value: kv.value, revision: kv.modRevision, kv: toKeyValue(kv), prevKv };
}

function toBuffer(bytes: Bytes): Buffer {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
