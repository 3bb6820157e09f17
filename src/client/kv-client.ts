import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../shared/proto.js';
import { ClientSession, sessionUnacknowledgedSpanMax } from './client-session.js';
import { leaderAddressMetadataKey, leaderIdMetadataKey } from './metadata-keys.js';
import { StreamChannel, payloadBytes, streamOperationBytesMax, type StreamKind } from './stream-channel.js';
import {
  CancelledError,
  InvalidArgumentError,
  NotFoundError,
  OverloadedError,
  ServerError,
  SessionExpiredError,
  TimeoutError,
  UnavailableError,
} from './errors.js';

/** Keys and values: strings are UTF-8 encoded. */
export type Bytes = string | Uint8Array;

/** A key as stored. `version` counts writes since the key was created; revisions are log indexes. */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly createRevision: number;
  readonly modRevision: number;
}

export type Consistency = 'linearizable' | 'serializable';

export interface RaftKvClientOptions {
  /** Client addresses ("host:port") of some or all nodes; the leader is found from them. */
  readonly endpoints: readonly string[];
  /** The default deadline of a call, retries included. */
  readonly timeoutMs?: number;
  /** The longest one attempt may take before the SDK tries again (possibly elsewhere). */
  readonly attemptTimeoutMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** The jitter source; injectable for tests. */
  readonly random?: () => number;
  /**
   * How KV calls travel: 'stream' (default) multiplexes them over one long-lived stream per
   * node, batched into frames, which costs far less per call; 'unary' makes one RPC per call.
   */
  readonly transport?: 'stream' | 'unary';
}

export interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface PutResult {
  readonly revision: number;
  readonly version: number;
}

export interface DeleteResult {
  readonly deleted: boolean;
  readonly revision: number;
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
}

/** What a compare-and-swap compares: the current value, or the current version (0 = absent). */
export type CasCompare = { readonly value: Bytes } | { readonly version: number };
/** What a compare-and-swap does when the comparison holds. */
export type CasAction = { readonly put: Bytes } | { readonly delete: true };

export interface CasResult {
  readonly succeeded: boolean;
  /** The key as it was when compared, or null if it was absent. */
  readonly previous: KeyValue | null;
  readonly revision: number;
}

export interface ClusterStatus {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string;
  readonly leaderAddress: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** The log starts after this index (dropped by compaction). */
  readonly compactedIndex: number;
  readonly logEntries: number;
  /** Bytes of the entries held, an estimate of the log's size on disk. */
  readonly logBytes: number;
  /** The longest the node's event loop was held, in ms: since it started, and over the last loopDelayWindowMs. */
  readonly loopDelayMaxMs: number;
  readonly loopDelayRecentMaxMs: number;
  readonly loopDelayWindowMs: number;
  /** Loop delays above loopStallThresholdMs since start (0 from a node too old to report them). */
  readonly loopStalls: number;
  readonly loopStallThresholdMs: number;
  readonly members: readonly { id: string; peerAddress: string; clientAddress: string; voter: boolean }[];
}

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void,
) => grpc.ClientUnaryCall;

type Method = 'put' | 'get' | 'delete' | 'range' | 'compareAndSwap';
type Service = 'KV' | 'Cluster';

export { leaderAddressMetadataKey, leaderIdMetadataKey };

const kvProto = 'raftkv/v1/kv.proto';

/**
 * The raftkv SDK. It finds the leader among `endpoints`, follows "not the leader" hints,
 * retries on unavailability with exponential backoff and full jitter inside each call's
 * deadline, and makes writes exactly-once with a client session: a retried write carries the
 * same sequence number, and the state machine applies it at most once.
 */
export class RaftKvClient {
  private readonly endpoints: string[];
  private preferred = 0;
  private readonly channels = new Map<string, { kv: grpc.Client; cluster: grpc.Client; stream: StreamChannel }>();
  private readonly useStream: boolean;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly random: () => number;
  private session = new ClientSession();
  private closed = false;

  constructor(options: RaftKvClientOptions) {
    if (options.endpoints.length === 0) throw new InvalidArgumentError('endpoints', 'at least one endpoint is required');
    for (const endpoint of options.endpoints) {
      if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(endpoint)) {
        throw new InvalidArgumentError('endpoints', `"${endpoint}" is not host:port`);
      }
    }
    this.endpoints = [...options.endpoints];
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 2000;
    this.backoffInitialMs = options.backoffInitialMs ?? 25;
    this.backoffMaxMs = options.backoffMaxMs ?? 1000;
    this.random = options.random ?? Math.random;
    this.useStream = (options.transport ?? 'stream') === 'stream';
  }

  async put(key: Bytes, value: Bytes, options: CallOptions = {}): Promise<PutResult> {
    const response = await this.write('put', { key: toBuffer(key), value: toBuffer(value) }, options);
    return { revision: response.modRevision as number, version: response.version as number };
  }

  /** The key, or null if it does not exist. Linearizable unless asked otherwise. */
  async get(key: Bytes, options: CallOptions & { consistency?: Consistency } = {}): Promise<KeyValue | null> {
    const response = await this.call('KV', 'get', { key: toBuffer(key), consistency: grpcConsistency(options.consistency) }, options);
    return response.found ? toKeyValue(response.kv) : null;
  }

  /** Like get, but a missing key is a NotFoundError. */
  async mustGet(key: Bytes, options: CallOptions & { consistency?: Consistency } = {}): Promise<KeyValue> {
    const kv = await this.get(key, options);
    if (kv === null) throw new NotFoundError(typeof key === 'string' ? key : Buffer.from(key).toString());
    return kv;
  }

  async delete(key: Bytes, options: CallOptions = {}): Promise<DeleteResult> {
    const response = await this.write('delete', { key: toBuffer(key) }, options);
    return { deleted: response.deleted as boolean, revision: (response.header as { revision: number }).revision };
  }

  /** Keys with a prefix, or in [start, end) (end omitted: to the end), in key order. */
  async range(
    selector: { prefix: Bytes } | { start: Bytes; end?: Bytes },
    options: CallOptions & { limit?: number; consistency?: Consistency } = {},
  ): Promise<RangeResult> {
    const request =
      'prefix' in selector
        ? { prefix: toBuffer(selector.prefix) }
        : { start: toBuffer(selector.start), end: selector.end === undefined ? Buffer.alloc(0) : toBuffer(selector.end) };
    const response = await this.call(
      'KV',
      'range',
      { ...request, limit: options.limit ?? 0, consistency: grpcConsistency(options.consistency) },
      options,
    );
    return { kvs: (response.kvs as unknown[]).map(toKeyValue), more: response.more as boolean };
  }

  /** Sets or deletes the key only if it currently holds the expected value or version. */
  async cas(key: Bytes, compare: CasCompare, action: CasAction, options: CallOptions = {}): Promise<CasResult> {
    const request: Record<string, unknown> = { key: toBuffer(key) };
    if ('value' in compare) request.expectedValue = toBuffer(compare.value);
    else request.expectedVersion = compare.version;
    if ('put' in action) request.newValue = toBuffer(action.put);
    else request.delete = true;
    const response = await this.write('compareAndSwap', request, options);
    return {
      succeeded: response.succeeded as boolean,
      previous: response.found ? toKeyValue(response.kv) : null,
      revision: response.modRevision as number,
    };
  }

  /** The status of one node: the given endpoint, or the first that answers. */
  async status(endpoint?: string, options: CallOptions = {}): Promise<ClusterStatus> {
    if (endpoint !== undefined) {
      const response = await this.attempt(endpoint, 'Cluster', 'status', {}, options.timeoutMs ?? this.timeoutMs, options.signal);
      return response as unknown as ClusterStatus;
    }
    return (await this.call('Cluster', 'status' as Method, {}, options, false)) as unknown as ClusterStatus;
  }

  /** Closes every connection. Calls in flight fail. */
  close(): void {
    this.closed = true;
    for (const { kv, cluster, stream } of this.channels.values()) {
      stream.close();
      kv.close();
      cluster.close();
    }
    this.channels.clear();
  }

  // ---------------------------------------------------------------------------------------

  private async write(method: Method, request: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>> {
    // The server remembers a bounded number of results per session (1024): every result above
    // the acknowledged sequence, answered or not, so one slow write holds all later ones. Once
    // that span reaches half the bound, new writes go to a fresh session rather than risk having
    // the slow write's result forgotten (it would then end as SessionExpiredError).
    if (this.session.unacknowledgedSpan >= sessionUnacknowledgedSpanMax) this.session = new ClientSession();
    const session = this.session;
    const sequence = session.begin();
    try {
      // Every retry of this write carries the same sequence: the state machine applies it once.
      return await this.call('KV', method, { ...request, session: () => session.header(sequence) }, options);
    } catch (error) {
      if (error instanceof SessionExpiredError && this.session === session) this.session = new ClientSession();
      throw error;
    } finally {
      session.end(sequence);
    }
  }

  private async call(
    service: Service,
    method: Method,
    request: Record<string, unknown>,
    options: CallOptions,
    followLeader = true,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    let lastError: unknown = null;
    let failures = 0;
    for (;;) {
      if (this.closed) throw new UnavailableError('the client is closed');
      if (options.signal?.aborted) throw new CancelledError('the call was cancelled', { cause: options.signal.reason });
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw lastError === null || isDeadline(lastError)
          ? new TimeoutError(`${method} did not complete within its deadline`, { cause: lastError ?? undefined })
          : new UnavailableError(`${method} failed on every attempt: ${describeError(lastError)}`, { cause: lastError });
      }
      const endpoint = this.endpoints[this.preferred] as string;
      const materialized = materialize(request);
      try {
        return await this.attempt(endpoint, service, method, materialized, Math.min(remaining, this.attemptTimeoutMs), options.signal);
      } catch (error) {
        lastError = error;
        const code = (error as grpc.ServiceError).code;
        if (code === grpc.status.INVALID_ARGUMENT) throw new InvalidArgumentError(method, (error as grpc.ServiceError).details);
        if (code === grpc.status.ABORTED) {
          // The server no longer knows this client's session: the write was refused, but an
          // earlier attempt may have applied it. The next writes use a new session.
          throw new SessionExpiredError(`${method}: ${(error as grpc.ServiceError).details}; its outcome is unknown`, { cause: error });
        }
        if (code === grpc.status.CANCELLED && options.signal?.aborted) {
          throw new CancelledError('the call was cancelled', { cause: error });
        }
        if (code === grpc.status.FAILED_PRECONDITION && followLeader) {
          const leader = leaderHint(error as grpc.ServiceError);
          if (leader !== null && leader !== endpoint) {
            this.preferred = this.endpointIndex(leader);
            failures++;
            if (failures <= this.endpoints.length) continue; // a fresh hint: follow it at once
          } else {
            this.rotate();
          }
        } else if (code === grpc.status.RESOURCE_EXHAUSTED) {
          // gRPC's own size limit: the request can never be accepted, retrying cannot help.
          const details = (error as grpc.ServiceError).details ?? '';
          if (/larger than max/i.test(details)) throw new InvalidArgumentError('request', `too large for the server: ${details}`);
          // Otherwise the node is overloaded: the same node is the right one, it needs a moment.
        } else if (isRetryable(code)) {
          this.rotate();
        } else {
          throw new ServerError((error as grpc.ServiceError).details ?? String(error), code);
        }
        failures++;
        await this.backoff(failures, deadline, options.signal);
      }
    }
  }

  private attempt(
    endpoint: string,
    service: Service,
    method: string,
    request: Record<string, unknown>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>> {
    const channel = this.channelFor(endpoint);
    if (service === 'KV' && this.useStream && payloadBytes(request) <= streamOperationBytesMax) {
      return channel.stream.request(method as StreamKind, request, timeoutMs, signal);
    }
    const client = service === 'KV' ? channel.kv : channel.cluster;
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod;
      const onAbort = (): void => call.cancel();
      const call = fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (error !== null) reject(error);
        else resolve(response as Record<string, unknown>);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private channelFor(endpoint: string): { kv: grpc.Client; cluster: grpc.Client; stream: StreamChannel } {
    let channel = this.channels.get(endpoint);
    if (channel === undefined) {
      const credentials = grpc.credentials.createInsecure();
      const options: grpc.ChannelOptions = {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        // Reconnect quickly: a restarted node is back within a second or two.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      };
      const KvClient = serviceClient(kvProto, 'KV');
      const ClusterClient = serviceClient(kvProto, 'Cluster');
      const kv = new KvClient(endpoint, credentials, options);
      // The second client shares the first one's channel.
      const cluster = new ClusterClient(endpoint, credentials, { ...options, channelOverride: kv.getChannel() });
      channel = { kv, cluster, stream: new StreamChannel(kv) };
      this.channels.set(endpoint, channel);
    }
    return channel;
  }

  private endpointIndex(address: string): number {
    const index = this.endpoints.indexOf(address);
    if (index >= 0) return index;
    this.endpoints.push(address);
    return this.endpoints.length - 1;
  }

  private rotate(): void {
    this.preferred = (this.preferred + 1) % this.endpoints.length;
  }

  /** Exponential backoff with full jitter, never past the deadline, cut short by the signal. */
  private backoff(failures: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const ceiling = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(failures - 1, 16));
    const delay = Math.min(Math.floor(this.random() * ceiling), Math.max(0, deadline - Date.now()));
    return new Promise((resolve) => {
      const timer = setTimeout(done, delay);
      function done(): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

function materialize(request: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(request)) out[key] = typeof value === 'function' ? (value as () => unknown)() : value;
  return out;
}

function isRetryable(code: grpc.status): boolean {
  return (
    code === grpc.status.UNAVAILABLE ||
    code === grpc.status.DEADLINE_EXCEEDED ||
    code === grpc.status.CANCELLED ||
    code === grpc.status.FAILED_PRECONDITION
  );
}

function isDeadline(error: unknown): boolean {
  return (error as grpc.ServiceError | null)?.code === grpc.status.DEADLINE_EXCEEDED;
}

function describeError(error: unknown): string {
  const e = error as grpc.ServiceError;
  return e?.details ? `${grpc.status[e.code] ?? e.code}: ${e.details}` : String(error);
}

function leaderHint(error: grpc.ServiceError): string | null {
  const address = error.metadata?.get(leaderAddressMetadataKey)[0];
  return typeof address === 'string' && address.length > 0 ? address : null;
}

function toBuffer(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function grpcConsistency(consistency: Consistency | undefined): string {
  return consistency === 'serializable' ? 'SERIALIZABLE' : 'LINEARIZABLE';
}

function toKeyValue(raw: unknown): KeyValue {
  const kv = raw as { key: Buffer; value: Buffer; version: number; createRevision: number; modRevision: number };
  return { key: kv.key, value: kv.value, version: kv.version, createRevision: kv.createRevision, modRevision: kv.modRevision };
}

export { OverloadedError };
