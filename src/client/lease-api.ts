import type * as grpc from '@grpc/grpc-js';
import { AuthenticationError, InvalidArgumentError, LeaseExpiredError, permissionDenied } from './errors.js';

/** The per-call options of kv-client (a deadline, a signal); restated here to keep the import graph acyclic. */
interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The Lease service's methods, by their proto names (camelCase). */
export type LeaseMethod = 'leaseGrant' | 'leaseRevoke' | 'leaseTimeToLive' | 'leaseLeases';

type Call = (method: LeaseMethod, request: Record<string, unknown>, options: CallOptions) => Promise<Record<string, unknown>>;

/** What LeaseApi needs of the client: its routed calls (leader hints, retries, auth) and a keep-alive stream. */
export interface LeaseApiDeps {
  /** A call routed to the leader, retried as any call. */
  readonly call: Call;
  /** A write, exactly-once under the client's session. */
  readonly write: Call;
  /** Opens a keep-alive stream to the endpoint the client prefers (the leader as last seen). */
  readonly openKeepAlive: (timeoutMs: number) => Promise<{ endpoint: string; stream: grpc.ClientDuplexStream<unknown, unknown> }>;
  /** A keep-alive stream to `endpoint` failed: follow its leader hint or move on. */
  readonly keepAliveFailed: (endpoint: string, error: unknown) => void;
}

export interface LeaseGrant {
  readonly id: number;
  /** The TTL granted: the one asked, or the cluster's minimum (about 1.5 election timeouts) if larger. */
  readonly ttlSeconds: number;
}

export interface LeaseTimeToLive {
  readonly id: number;
  /** Seconds left before the leader expires it; -1 when the lease does not exist (etcd). */
  readonly ttlSeconds: number;
  readonly grantedTtlSeconds: number;
  /** The attached keys, in key order (only when asked with `keys: true`). */
  readonly keys: readonly Buffer[];
}

/** One renewal a keep-alive received. */
export interface LeaseRenewal {
  readonly id: number;
  readonly ttlSeconds: number;
}

export interface KeepAliveOptions {
  /** Called after each renewal. */
  readonly onRenewal?: (renewal: LeaseRenewal) => void;
  /** Called when a renewal attempt fails and the keep-alive tries again (another node, a new stream). */
  readonly onRetry?: (error: unknown) => void;
}

/** A keep-alive stream is given this long to answer a renewal before it is dropped and opened again. */
const renewalAnswerMsMax = 3000;
const retryDelayInitialMs = 50;
const retryDelayMaxMs = 1000;

/**
 * Leases (kv.proto Lease, as etcd's): a lease has a TTL; keys put with it are deleted when it is
 * revoked, or when the leader has not heard a keep-alive for its TTL. README "Leases" says what
 * a leader change does to the TTL.
 */
export class LeaseApi {
  constructor(private readonly deps: LeaseApiDeps) {}

  /** Grants a lease of `ttlSeconds` (raised to the cluster's minimum); `id`: the id wanted (LeaseExistsError if live). */
  async grant(ttlSeconds: number, options: CallOptions & { id?: number } = {}): Promise<LeaseGrant> {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw new InvalidArgumentError('ttl', `must be a whole number of seconds, at least 1, got ${String(ttlSeconds)}`);
    const id = options.id ?? 0;
    checkId(id, 0);
    const response = await this.deps.write('leaseGrant', { ttl: ttlSeconds, id }, options);
    return { id: Number(response.id), ttlSeconds: Number(response.ttl) };
  }

  /** Revokes lease `id`, deleting every key attached to it in one entry; LeaseNotFoundError when it is gone. */
  async revoke(id: number, options: CallOptions = {}): Promise<{ readonly deleted: number }> {
    checkId(id, 1);
    const response = await this.deps.write('leaseRevoke', { id }, options);
    return { deleted: Number(response.deleted) };
  }

  /** How long lease `id` has left, on the leader; with `keys: true`, its keys too. */
  async timeToLive(id: number, options: CallOptions & { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    checkId(id, 1);
    const response = await this.deps.call('leaseTimeToLive', { id, keys: options.keys === true }, options);
    return {
      id: Number(response.id),
      ttlSeconds: Number(response.ttl),
      grantedTtlSeconds: Number(response.grantedTtl),
      keys: (response.keys as Buffer[] | undefined) ?? [],
    };
  }

  /** The ids of every lease, in order. */
  async leases(options: CallOptions = {}): Promise<number[]> {
    const response = await this.deps.call('leaseLeases', {}, options);
    return ((response.leases as { id: number | string }[] | undefined) ?? []).map((lease) => Number(lease.id));
  }

  /**
   * Keeps lease `id` alive until `stop()`: renews it at a third of its TTL over one stream to the
   * leader, and follows leader changes (a new stream to the new leader). `done` resolves after
   * `stop()`, or rejects with LeaseExpiredError once the cluster says the lease is gone.
   */
  keepAlive(id: number, options: KeepAliveOptions = {}): LeaseKeepAlive {
    checkId(id, 1);
    return new LeaseKeepAlive(id, this.deps, options);
  }
}

/** A running keep-alive (LeaseApi.keepAlive). */
export class LeaseKeepAlive {
  /** Resolves once stopped; rejects with LeaseExpiredError when the lease is gone. */
  readonly done: Promise<void>;
  private stopped = false;
  private stream: grpc.ClientDuplexStream<unknown, unknown> | null = null;
  private wake: (() => void) | null = null;
  /** The last renewal, or null before the first. */
  last: LeaseRenewal | null = null;
  renewals = 0;

  constructor(
    readonly id: number,
    private readonly deps: LeaseApiDeps,
    private readonly options: KeepAliveOptions,
  ) {
    this.done = this.run();
    // A caller that only calls stop() must not get an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /** Stops renewing (the lease then expires after its TTL, unless revoked first). */
  stop(): void {
    this.stopped = true;
    this.stream?.cancel();
    this.wake?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      let endpoint: string | null = null;
      try {
        const opened = await this.deps.openKeepAlive(renewalAnswerMsMax);
        endpoint = opened.endpoint;
        this.stream = opened.stream;
        await this.renewOver(opened.stream, () => {
          failures = 0;
        });
      } catch (error) {
        if (error instanceof LeaseExpiredError) throw error;
        if (this.stopped) break;
        failures++;
        const final = finalError(error, failures);
        if (final !== null) throw final;
        if (endpoint !== null) this.deps.keepAliveFailed(endpoint, error);
        this.options.onRetry?.(error);
        await this.sleep(Math.min(retryDelayMaxMs, retryDelayInitialMs * 2 ** Math.min(failures, 10)));
      } finally {
        this.stream?.cancel();
        this.stream = null;
      }
    }
  }

  /** Renews over one stream until it fails (rejects), the lease is gone (LeaseExpiredError) or stop(). */
  private renewOver(stream: grpc.ClientDuplexStream<unknown, unknown>, onAnswer: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const arm = (ms: number, fire: () => void): void => {
        if (timer !== null) clearTimeout(timer);
        timer = setTimeout(fire, ms);
        timer.unref();
      };
      const finish = (error: unknown): void => {
        if (timer !== null) clearTimeout(timer);
        if (error === null) resolve();
        else reject(error);
      };
      const send = (): void => {
        if (this.stopped) return finish(null);
        stream.write({ id: this.id });
        // No answer in time: the node is cut off or stopped; drop the stream and find the leader.
        arm(renewalAnswerMsMax, () => finish(new Error(`no keep-alive answer for lease ${this.id} within ${renewalAnswerMsMax} ms`)));
      };
      stream.on('data', (raw: unknown) => {
        const response = raw as { id: number | string; ttl: number | string };
        const ttlSeconds = Number(response.ttl);
        if (ttlSeconds <= 0) return finish(new LeaseExpiredError(this.id));
        onAnswer();
        this.last = { id: this.id, ttlSeconds };
        this.renewals++;
        this.options.onRenewal?.(this.last);
        arm(Math.max(1, (ttlSeconds * 1000) / 3), send);
      });
      stream.on('error', (error) => finish(this.stopped ? null : error));
      stream.on('end', () => finish(this.stopped ? null : new Error('the keep-alive stream ended')));
      this.wake = () => finish(null);
      send();
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** gRPC status codes (grpc.status), restated: this module imports only grpc-js's types. */
const invalidArgumentCode = 3;
const permissionDeniedCode = 7;
const unauthenticatedCode = 16;
/** An UNAUTHENTICATED answer this many times in a row ends a keep-alive (one may be a token just expired). */
const unauthenticatedTriesMax = 3;

/** The error that ends a keep-alive instead of a retry: a refusal no other node or attempt would lift. */
function finalError(error: unknown, failures: number): Error | null {
  const status = error as { code?: number; details?: string };
  const details = status.details ?? String(error);
  if (status.code === invalidArgumentCode) return new InvalidArgumentError('id', details);
  if (status.code === permissionDeniedCode) return permissionDenied(details, error);
  if (status.code === unauthenticatedCode && failures >= unauthenticatedTriesMax) return new AuthenticationError(`lease keep-alive: ${details}`, { cause: error });
  return null;
}

function checkId(id: number, min: number): void {
  if (!Number.isSafeInteger(id) || id < min) {
    throw new InvalidArgumentError('id', `must be a lease id from ${min} to ${Number.MAX_SAFE_INTEGER} (2^53-1), got ${String(id)}`);
  }
}
