import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../shared/proto.js';
import { ClientSession, WriteAttempts, attemptOutcome, unacknowledgedSpanMaxFor } from './client-session.js';
import { describeFailure } from './describe-failure.js';
import { leaderAddressMetadataKey, leaderIdMetadataKey, refusalMetadataKey } from './metadata-keys.js';
import { openSnapshotDownload, type SnapshotDownload, type SnapshotOptions } from './snapshot-download.js';
import { StreamChannel, payloadBytes, streamOperationBytesMax, type StreamKind } from './stream-channel.js';
import { tlsMismatchHint } from '../shared/tls-hint.js';
import { rangeOptionsToWire, type RangeOptions } from './range-options.js';
import { txnRequestToWire, txnResultFromWire, type TxnRequest, type TxnResult } from './txn.js';
import { clientCredentials, type ClientTls } from './client-tls.js';
import { AuthApi, type AuthMethod } from './auth-api.js';
import { WatchStreams, type WatchOptions, type Watcher } from './watch.js';
import { LeaseApi, type LeaseMethod } from './lease-api.js';
import { LeaseExistsError, LeaseNotFoundError } from '../shared/errors.js';
import {
  AuthenticationError,
  PermissionDeniedError,
  permissionDenied,
  CancelledError,
  CompactedError,
  InvalidArgumentError,
  isMembershipChangeRefusal,
  MembershipChangeError,
  NotFoundError,
  OutcomeUnknownError,
  OverloadedError,
  revisionErrorOf,
  ServerError,
  SessionExpiredError,
  TimeoutError,
  UnavailableError,
} from './errors.js';

import type { Bytes, KeyValue } from './key-value.js';

export type { Bytes, KeyValue } from './key-value.js';

export type Consistency = 'linearizable' | 'serializable';

export interface RaftKvClientOptions {
  /**
   * Client addresses ("host:port") of some or all nodes; the leader is found from them. Unless
   * `pinned`, the client also uses the leader address a node names in a "not the leader"
   * answer, adding it to its endpoints if it is not there (as etcd clients sync endpoints).
   */
  readonly endpoints: readonly string[];
  /**
   * Keep every call on `endpoints` (default false): leader hints to other addresses are not
   * followed, so a client given one follower reads only from it. A write that no listed
   * endpoint can take (the leader is elsewhere) fails with UnavailableError naming the leader.
   */
  readonly pinned?: boolean;
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
  /**
   * Where gets and ranges go (linearizable and serializable alike). 'leader' (the default): to
   * the leader, found from the endpoints (a pinned client: among them); a client given one
   * endpoint reads from it until a write takes it to the leader. 'round-robin' (as etcd's
   * clientv3 balances with gRPC's round_robin): over the endpoints in turn, learned member
   * addresses included, skipping one that failed recently and retrying the read on another.
   * Writes, compare-and-swap, sessions and membership calls always go to the leader. README
   * "The SDK" says why 'leader' is the default.
   */
  readonly reads?: ReadPolicy;
  /** TLS to the nodes (etcdctl's --cacert/--cert/--key); absent: plaintext. */
  readonly tls?: ClientTls;
  /**
   * The user to call as when the cluster has auth enabled (etcdctl's --user). The client
   * authenticates on its first call, keeps the token, renews it before it expires, and on an
   * UNAUTHENTICATED answer authenticates again once and retries. Absent: no token is sent (with
   * client certificates, the certificate's common name is then the user).
   */
  readonly auth?: { readonly user: string; readonly password: string };
}

/** Where a client sends its reads (RaftKvClientOptions.reads). */
export type ReadPolicy = 'leader' | 'round-robin';

export const readPolicies: readonly ReadPolicy[] = ['leader', 'round-robin'];

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
  /** In the order asked (key order by default); values empty with keysOnly; none with countOnly. */
  readonly kvs: readonly KeyValue[];
  /** More keys matched than were returned (always false with countOnly). */
  readonly more: boolean;
  /** The keys that matched (passed the revision filters), whatever the limit. 0 from a server older than counts. */
  readonly count: number;
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
  /** The oldest revision the node holds history for: reads at older revisions fail with CompactedError. */
  readonly compactRevision: number;
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
  /** The node process's resident set size and V8 heap in use, in bytes (0 from a node too old to report them). */
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly members: readonly { id: string; peerAddress: string; clientAddress: string; voter: boolean }[];
  /** The configuration in force leaves this node out: it serves no client requests. */
  readonly removed: boolean;
  /**
   * Linearizable reads this node began since it started, and the ReadIndex requests it made
   * for them (batched: one outstanding per node). 0 from a node too old to report them.
   */
  readonly linearizableReads: number;
  readonly readIndexRequests: number;
  /**
   * The node's last few closed seconds of client operations answered (writes: put, delete,
   * compare-and-swap; reads: get, range), with latency quantiles. Empty from a node too old to
   * report them.
   */
  readonly recentSamples: readonly { readonly atMs: number; readonly writes: number; readonly reads: number; readonly errors: number; readonly p50Ms: number; readonly p99Ms: number }[];
}

/** One member of the cluster, as the leader sees it (`members()`). */
export interface MemberInfo {
  readonly id: string;
  readonly peerAddress: string;
  /** '' when not known. */
  readonly clientAddress: string;
  readonly role: 'voter' | 'learner';
  /** Learners only: the leader promotes it once it has caught up. */
  readonly autoPromote: boolean;
  readonly leader: boolean;
  /** The leader's view of the member's log; null when it has none. */
  readonly matchIndex: number | null;
  /** Entries behind the leader's last index; null when unknown. */
  readonly lag: number | null;
}

export interface MemberList {
  readonly members: readonly MemberInfo[];
  readonly leaderId: string | null;
  /** A change of several voters is under way (joint consensus, thesis §4.3). */
  readonly joint: boolean;
}

/** A member to add. */
export interface NewMember {
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress?: string;
  /**
   * Omitted or false: added as a learner that the leader promotes to voter once it has caught
   * up. True: stays a learner, unless `autoPromote` is also true.
   */
  readonly learner?: boolean;
  readonly autoPromote?: boolean;
}

/** The cluster's session limits (README "Sessions"), replicated through the log. */
export interface SessionLimits {
  /** Results remembered per session. */
  readonly resultsPerSessionMax: number;
  /** Bytes of results remembered per session. */
  readonly resultBytesPerSessionMax: number;
  /** Sessions held at once; a registration beyond it evicts the least recently used one. */
  readonly sessionsMax: number;
  /** Log entries a session may stay unused before it expires. */
  readonly sessionIdleEntriesMax: number;
}

export interface SessionLimitsStatus extends SessionLimits {
  /** False while the log has set no limits: the defaults shown hold until it does. */
  readonly recorded: boolean;
  /** Sessions the answering node holds. */
  readonly sessions: number;
  /** The answering node's applied index. */
  readonly appliedIndex: number;
}

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Record<string, unknown>) => void,
) => grpc.ClientUnaryCall;

type Method =
  | 'put'
  | 'get'
  | 'delete'
  | 'range'
  | 'compareAndSwap'
  | 'txn'
  | 'compact'
  | 'status'
  | 'registerSession'
  | 'sessionLimits'
  | 'transferLeadership'
  | 'memberList'
  | 'memberAdd'
  | 'memberPromote'
  | 'memberRemove'
  | AuthMethod
  | LeaseMethod;
type Service = 'KV' | 'Cluster' | 'Auth' | 'Lease';

/**
 * Where a call may go: among the endpoints (following leader hints or not), or to one endpoint,
 * once. A `change` (membership, leadership) gets the whole deadline for one attempt and is not
 * retried once it may have reached the leader: it is not idempotent.
 */
type Route =
  | { readonly kind: 'cluster'; readonly followLeader: boolean; readonly change?: boolean }
  | { readonly kind: 'endpoint'; readonly endpoint: string }
  /** A read under the 'round-robin' policy: the next healthy endpoint, then another on failure. */
  | { readonly kind: 'spread' };

const spreadRoute: Route = { kind: 'spread' };

/** The service clients of one endpoint (one channel). */
interface Channels {
  readonly kv: grpc.Client;
  readonly cluster: grpc.Client;
  readonly auth: grpc.Client;
  readonly lease: grpc.Client;
  readonly stream: StreamChannel;
}

const changeRoute: Route = { kind: 'cluster', followLeader: true, change: true };

export { leaderAddressMetadataKey, leaderIdMetadataKey };

const kvProto = 'raftkv/v1/kv.proto';
/** The least time between two background refreshes of the member list. */
const refreshIntervalMs = 2000;
/** How long a round-robin client skips an endpoint after a failure: doubling per failure in a row, up to the max. */
const cooldownInitialMs = 250;
const cooldownMaxMs = 8000;
/** How long round-robin reads stay on one endpoint before moving to the next (see nextReadEndpoint). */
const readTurnMs = 1;
/** How long 'leader' reads trust the leader they found before asking again. */
const leaderRecheckMs = 10_000;

/**
 * The raftkv SDK. It finds the leader among `endpoints`, follows "not the leader" hints,
 * retries on unavailability with exponential backoff and full jitter inside each call's
 * deadline, and makes writes exactly-once with a client session: a retried write carries the
 * same sequence number, and the state machine applies it at most once.
 */
export class RaftKvClient {
  // Invariant: holds no duplicates; grows only when not `pinned`.
  private readonly endpoints: string[];
  private readonly pinned: boolean;
  private preferred = 0;
  private readonly channels = new Map<string, Channels>();
  private readonly credentials: { readonly user: string; readonly password: string } | null;
  /** The token calls carry (empty: auth is disabled, none needed), renewed from `renewAtMs` on. */
  private token: { readonly value: string; readonly renewAtMs: number } | null = null;
  /** The Authenticate under way, shared by every call that waits for a token. */
  private authenticating: Promise<string> | null = null;
  /** Users, roles and permissions (kv.proto Auth). */
  readonly auth: AuthApi;
  /** Leases: keys that live while a lease is kept alive (kv.proto Lease). */
  readonly lease: LeaseApi;
  private readonly useStream: boolean;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly random: () => number;
  // Invariant: null, or a registered session that new writes may use (not full).
  private session: ClientSession | null = null;
  /** The registration under way, shared by every write that waits for a session. */
  private registering: Promise<ClientSession> | null = null;
  private closed = false;
  private readonly security: { readonly credentials: grpc.ChannelCredentials; readonly channelOptions: grpc.ChannelOptions };
  private refreshing = false;
  private lastRefreshMs = -Infinity;
  private readonly reads: ReadPolicy;
  /** The endpoint the next round-robin read starts from. */
  private readCursor = 0;
  /** Round-robin: the endpoint of the reads issued in this turn, until `turnEndsMs`. */
  private turnEndpoint: string | null = null;
  private turnEndsMs = 0;
  /** Endpoints a round-robin read failed on, skipped until `untilMs`; cleared by a success. */
  private readonly cooldowns = new Map<string, { failures: number; untilMs: number }>();
  /** 'leader' reads: the endpoint last seen to lead (a write succeeded there, or it said so), and when. */
  private leaderAt: string | null = null;
  private leaderSeenMs = -Infinity;
  /** 'leader' reads look for the leader only for a client given several endpoints (see findLeader). */
  private readonly findsLeader: boolean;
  /** The watches' shared streams, one per endpoint; created with the first watch. */
  private watches: WatchStreams | null = null;
  private findingLeader = false;
  private lastFindLeaderMs = -Infinity;

  constructor(options: RaftKvClientOptions) {
    if (options.endpoints.length === 0) throw new InvalidArgumentError('endpoints', 'at least one endpoint is required');
    for (const endpoint of options.endpoints) {
      if (!isEndpoint(endpoint)) throw new InvalidArgumentError('endpoints', `"${endpoint}" is not host:port`);
    }
    if (options.pinned !== undefined && typeof options.pinned !== 'boolean') throw new InvalidArgumentError('pinned', `must be true or false, not ${String(options.pinned)}`);
    this.endpoints = [...new Set(options.endpoints)];
    this.pinned = options.pinned ?? false;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 2000;
    this.backoffInitialMs = options.backoffInitialMs ?? 25;
    this.backoffMaxMs = options.backoffMaxMs ?? 1000;
    this.random = options.random ?? Math.random;
    this.useStream = (options.transport ?? 'stream') === 'stream';
    if (options.reads !== undefined && !readPolicies.includes(options.reads)) {
      throw new InvalidArgumentError('reads', `must be ${readPolicies.map((p) => `'${p}'`).join(' or ')}, not ${JSON.stringify(options.reads)}`);
    }
    // Measured (README "Benchmarks"): with every node on one 2-core machine, spreading reads
    // costs each read more (a follower's hop to the leader, smaller batches) than it gains.
    this.reads = options.reads ?? 'leader';
    this.security = clientCredentials(options.tls);
    this.findsLeader = this.endpoints.length > 1;
    if (options.auth !== undefined) {
      if (typeof options.auth.user !== 'string' || options.auth.user === '') throw new InvalidArgumentError('auth.user', 'must be a non-empty string');
      if (typeof options.auth.password !== 'string') throw new InvalidArgumentError('auth.password', 'must be a string');
    }
    this.credentials = options.auth === undefined ? null : { user: options.auth.user, password: options.auth.password };
    this.auth = new AuthApi((method, request, callOptions) => this.call('Auth', method, request, callOptions));
    this.lease = new LeaseApi({
      call: (method, request, callOptions) => this.call('Lease', method, request, callOptions),
      write: (method, request, callOptions) => this.write(method, request, callOptions, 'Lease'),
      openKeepAlive: async (timeoutMs) => {
        const endpoint = this.endpoints[this.preferred] as string;
        const token = await this.tokenFor(Date.now() + timeoutMs, undefined);
        const metadata = new grpc.Metadata();
        if (token !== '') metadata.set('token', token);
        const client = this.channelFor(endpoint).lease as unknown as { leaseKeepAlive(metadata: grpc.Metadata): grpc.ClientDuplexStream<unknown, unknown> };
        return { endpoint, stream: client.leaseKeepAlive(metadata) };
      },
      keepAliveFailed: (endpoint, error) => this.afterStreamFailure(endpoint, error),
    });
  }

  /** Where this client's reads go (the `reads` option, or its default). */
  get readPolicy(): ReadPolicy {
    return this.reads;
  }

  /**
   * `lease`: attach the key to this lease (client.lease), so it is deleted when the lease is
   * revoked or expires; LeaseNotFoundError when the lease does not exist (nothing written).
   * Without it the key is attached to no lease (detached from the one it had).
   */
  async put(key: Bytes, value: Bytes, options: CallOptions & { lease?: number } = {}): Promise<PutResult> {
    const lease = options.lease ?? 0;
    if (!Number.isSafeInteger(lease) || lease < 0) throw new InvalidArgumentError('lease', `must be a lease id from 0 to ${Number.MAX_SAFE_INTEGER} (2^53-1), got ${String(options.lease)}`);
    const response = await this.write('put', { key: toBuffer(key), value: toBuffer(value), ...(lease === 0 ? {} : { lease }) }, options);
    return { revision: response.modRevision as number, version: response.version as number };
  }

  /**
   * The key, or null if it does not exist. Linearizable unless asked otherwise. With `revision`,
   * the key as it was at that revision (CompactedError below the compact revision,
   * FutureRevisionError above the answering node's applied index).
   */
  async get(key: Bytes, options: CallOptions & { consistency?: Consistency; revision?: number } = {}): Promise<KeyValue | null> {
    const revision = checkRevision(options.revision);
    const response = await this.call('KV', 'get', { key: toBuffer(key), consistency: grpcConsistency(options.consistency), revision }, options, this.readRoute());
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

  /**
   * Keys with a prefix, or in [start, end) (end omitted: to the end), in key order unless
   * `sort` says otherwise; at `revision` as get. The range options (range-options.ts) filter by
   * revision, order, and shape the answer as etcd's: filters, then order, then `limit`; the
   * answer's `count` is every key that matched. A sort other than key-ascending, and the
   * count, make the server read the whole range (it keeps only the answer in memory).
   */
  async range(
    selector: { prefix: Bytes } | { start: Bytes; end?: Bytes },
    options: CallOptions & RangeOptions & { limit?: number; consistency?: Consistency; revision?: number } = {},
  ): Promise<RangeResult> {
    const revision = checkRevision(options.revision);
    const rangeOptions = rangeOptionsToWire(options);
    const request =
      'prefix' in selector
        ? { prefix: toBuffer(selector.prefix) }
        : { start: toBuffer(selector.start), end: selector.end === undefined ? Buffer.alloc(0) : toBuffer(selector.end) };
    const response = await this.call(
      'KV',
      'range',
      { ...request, limit: options.limit ?? 0, consistency: grpcConsistency(options.consistency), revision, ...rangeOptions },
      options,
      this.readRoute(),
    );
    return { kvs: (response.kvs as unknown[]).map(toKeyValue), more: response.more as boolean, count: response.count as number };
  }

  /**
   * Drops the revision history below `revision`: reads at older revisions then fail with
   * CompactedError. Refused with CompactedError when `revision` is at or below the compact
   * revision already, FutureRevisionError when above the applied index (nothing changes). With
   * `physical`, resolves once the history is deleted from disk, not only once it is applied.
   * Root only when auth is enabled.
   *
   * Resolves with the store's revision when the cluster answered. A compaction is not a session
   * write, so when an attempt's answer is lost and the retry finds the history already compacted
   * to `revision` or beyond, the first attempt (or another client) did the work: it resolves then
   * too, with the compact revision in force as `revision`, instead of a CompactedError.
   */
  async compact(revision: number, options: CallOptions & { physical?: boolean } = {}): Promise<{ revision: number }> {
    if (!Number.isSafeInteger(revision) || revision < 1) throw new InvalidArgumentError('revision', `must be a positive integer, got ${revision}`);
    const attempts = new WriteAttempts();
    try {
      const response = await this.call('KV', 'compact', { revision, physical: options.physical ?? false }, options, undefined, attempts);
      return { revision: (response.header as { revision: number }).revision };
    } catch (error) {
      if (error instanceof CompactedError && attempts.mayHaveAppliedBeforeLast && error.compactRevision >= revision) return { revision: error.compactRevision };
      throw error;
    }
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

  /**
   * A multi-key transaction: if every compare holds, the success operations run, else the
   * failure ones, atomically at one revision; each operation sees the writes of those before it.
   * Exactly-once like every write (a retry is not applied twice); a read-only one (gets only)
   * is a linearizable read, without a log entry, and goes where `get` goes. The server refuses more
   * compares, or operations in a branch, than its --max-txn-ops (InvalidArgumentError).
   */
  async txn(request: TxnRequest, options: CallOptions = {}): Promise<TxnResult> {
    const wire = txnRequestToWire(request, toBuffer);
    // Read-only (no put or delete in either branch): a linearizable read, served through
    // ReadIndex without a log entry, under the read policy like get and range; nothing to make
    // exactly-once, so no session.
    const readOnly = [...(request.success ?? []), ...(request.failure ?? [])].every((op) => 'get' in op);
    const response = readOnly ? await this.call('KV', 'txn', wire, options, this.readRoute()) : await this.write('txn', wire, options);
    return txnResultFromWire(response, toKeyValue);
  }

  /**
   * The status of one node: the given endpoint (one attempt: a node that does not answer is
   * reported at once, as UnavailableError or TimeoutError), or the first of the endpoints that
   * answers. `endpoint` need not be one of the client's endpoints.
   */
  async status(endpoint?: string, options: CallOptions = {}): Promise<ClusterStatus> {
    if (endpoint !== undefined && !isEndpoint(endpoint)) throw new InvalidArgumentError('endpoint', `"${endpoint}" is not host:port`);
    const route: Route = endpoint === undefined ? { kind: 'cluster', followLeader: false } : { kind: 'endpoint', endpoint };
    return (await this.call('Cluster', 'status', {}, options, route)) as unknown as ClusterStatus;
  }

  /**
   * The members as the leader sees them. Unless the client is `pinned`, their client addresses
   * join its endpoints, so a client given one endpoint keeps working when that node goes away.
   */
  async members(options: CallOptions = {}): Promise<MemberList> {
    return this.learnMembers(toMemberList(await this.call('Cluster', 'memberList', {}, options)));
  }

  /**
   * Adds a member (see NewMember for learner and auto-promotion) and resolves with the member
   * list once the change is applied on the leader. Refusals are MembershipChangeError (nothing
   * changed); a TimeoutError means the outcome is unknown: check `members()`. `clusterId`, when
   * given, must be the cluster's (a node joining checks it is joining the right cluster).
   */
  async addMember(member: NewMember, options: CallOptions & { clusterId?: string } = {}): Promise<MemberList> {
    checkString(member?.id, 'id');
    checkString(member.peerAddress, 'peerAddress');
    const request = {
      id: member.id,
      peerAddress: member.peerAddress,
      clientAddress: member.clientAddress ?? '',
      learner: member.learner ?? false,
      autoPromote: member.autoPromote ?? false,
      clusterId: options.clusterId ?? '',
    };
    return this.learnMembers(toMemberList(await this.call('Cluster', 'memberAdd', request, options, changeRoute)));
  }

  /** Makes a learner a voter; refused (learner-not-caught-up) while it lags the leader. Timeouts as addMember. */
  async promoteMember(id: string, options: CallOptions = {}): Promise<MemberList> {
    checkString(id, 'id');
    return this.learnMembers(toMemberList(await this.call('Cluster', 'memberPromote', { id }, options, changeRoute)));
  }

  /** Removes a voter or learner, the leader included (it hands over first). Timeouts as addMember. */
  async removeMember(id: string, options: CallOptions = {}): Promise<MemberList> {
    checkString(id, 'id');
    return this.learnMembers(toMemberList(await this.call('Cluster', 'memberRemove', { id }, options, changeRoute)));
  }

  /** Hands leadership to voter `id` (thesis §3.10); resolves once it leads. */
  async transferLeadership(id: string, options: CallOptions = {}): Promise<void> {
    checkString(id, 'id');
    await this.call('Cluster', 'transferLeadership', { targetId: id }, options, changeRoute);
  }

  /**
   * Streams a consistent snapshot of the keyspace from one node, for a backup (`raftkv snapshot
   * save`): resolves once a node sent the header (its revision), then yields the chunks as they
   * are consumed and checks the trailer's SHA-256. Not retried once data flows.
   */
  snapshot(options: SnapshotOptions = {}): Promise<SnapshotDownload> {
    if (this.closed) return Promise.reject(new UnavailableError('the client is closed'));
    const endpoints = options.endpoint === undefined ? this.endpoints : [options.endpoint];
    return openSnapshotDownload(
      { endpoints, channel: (endpoint) => this.channelFor(endpoint).kv.getChannel(), token: (deadline, signal) => this.tokenFor(deadline, signal) },
      options,
    );
  }

  /**
   * Watches `key` (with `prefix`: every key starting with it; with `rangeEnd`: [key, rangeEnd)):
   * iterate the watcher for batches of events in revision order, and progress notifications.
   * Any member serves it; when the stream breaks (the node stopped, the network failed, or the
   * node cancelled a slow watcher) it resumes on the next endpoint from the revision after the
   * last one delivered: no gap, no duplicate. A resume point (or startRevision) that was
   * compacted ends the iteration with CompactedError. Watches share one stream per endpoint.
   */
  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    if (this.closed) throw new UnavailableError('the client is closed');
    this.watches ??= new WatchStreams({
      endpoints: () => this.endpoints,
      channel: (endpoint) => this.channelFor(endpoint).kv.getChannel(),
      token: (deadline, signal) => this.tokenFor(deadline, signal),
      invalidateToken: () => {
        this.token = null;
      },
      hasCredentials: this.credentials !== null,
    });
    return this.watches.watch(key, options);
  }

  /**
   * The cluster's session limits; with `change`, first sets the given ones through the log (on
   * the leader) and answers the limits in force after. Bounds are checked by the server:
   * InvalidArgumentError names the limit.
   */
  async sessionLimits(change: Partial<SessionLimits> = {}, options: CallOptions = {}): Promise<SessionLimitsStatus> {
    const request = {
      resultsPerSessionMax: change.resultsPerSessionMax ?? 0,
      resultBytesPerSessionMax: change.resultBytesPerSessionMax ?? 0,
      sessionsMax: change.sessionsMax ?? 0,
      sessionIdleEntriesMax: change.sessionIdleEntriesMax ?? 0,
    };
    for (const [name, value] of Object.entries(request)) {
      if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(name, `must be a positive integer, got ${value}`);
    }
    return (await this.call('Cluster', 'sessionLimits', request, options)) as unknown as SessionLimitsStatus;
  }

  /** Closes every connection. Calls in flight fail. */
  close(): void {
    this.closed = true;
    this.watches?.close();
    for (const { kv, cluster, auth, stream } of this.channels.values()) {
      stream.close();
      kv.close();
      cluster.close();
      auth.close();
    }
    this.channels.clear();
  }

  // ---------------------------------------------------------------------------------------

  /** The route of a get or range under the read policy. */
  private readRoute(): Route {
    if (this.reads === 'round-robin') return spreadRoute;
    // Leadership moves without telling a reader: a follower serves reads itself, so look again now and then.
    if (this.findsLeader && (this.endpoints[this.preferred] !== this.leaderAt || Date.now() - this.leaderSeenMs > leaderRecheckMs)) this.findLeader();
    return { kind: 'cluster', followLeader: true };
  }

  /**
   * 'leader' reads: a follower serves reads itself, so nothing sends a read-only client to the
   * leader; ask the preferred endpoint who leads, in the background, at most once per
   * `refreshIntervalMs`, and prefer the leader's address (a pinned client: if it is listed).
   * Not for a client given one endpoint: it reads from that node until a write takes it to the
   * leader, as before (tests and tools read one node's state that way).
   */
  private findLeader(): void {
    if (this.findingLeader || this.closed || Date.now() - this.lastFindLeaderMs < refreshIntervalMs) return;
    this.findingLeader = true;
    this.lastFindLeaderMs = Date.now();
    const asked = this.endpoints[this.preferred] as string;
    void this.call('Cluster', 'status', {}, { timeoutMs: this.attemptTimeoutMs }, { kind: 'endpoint', endpoint: asked })
      .then((response) => {
        const status = response as unknown as ClusterStatus;
        if (this.endpoints[this.preferred] !== asked) return;
        if (status.role === 'leader') {
          this.leaderAt = asked;
          this.leaderSeenMs = Date.now();
        } else if (status.leaderAddress !== '') {
          const index = this.endpointIndex(status.leaderAddress);
          if (index >= 0) this.preferred = index;
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.findingLeader = false;
      });
  }

  /**
   * The endpoint for a round-robin read. Reads issued within `readTurnMs` of the turn's first go
   * to one endpoint, the next ones to the next: the stream sends the calls of one event-loop
   * turn to a node as one frame, and a node confirms the reads that arrive together with one
   * ReadIndex request, so splitting them over every node would cost each node more per read (a
   * third of the batch, the same work per frame and per request). Measured on one machine:
   * 26-37 µs of server CPU per read, against 44-93 µs with the turn bounded by one event-loop
   * turn and about 100 µs rotating every call. A retry always moves on.
   */
  private nextReadEndpoint(tried: ReadonlySet<string>): string {
    const held = this.turnEndpoint;
    const now = performance.now();
    if (tried.size === 0 && held !== null && now < this.turnEndsMs && this.endpoints.includes(held) && (this.cooldowns.get(held)?.untilMs ?? 0) <= Date.now()) return held;
    const endpoint = this.rotateReads(tried);
    if (tried.size === 0) {
      this.turnEndpoint = endpoint;
      this.turnEndsMs = now + readTurnMs;
    }
    return endpoint;
  }

  /**
   * The next endpoint in turn from the cursor, skipping those cooling down and, while others
   * remain, those this call already tried. When every endpoint cools down, the one whose
   * cooldown ends first: a read is never refused for want of a healthy node.
   */
  private rotateReads(tried: ReadonlySet<string>): string {
    const now = Date.now();
    const count = this.endpoints.length;
    let fallback: string | null = null;
    let fallbackUntilMs = Infinity;
    for (let step = 0; step < count; step++) {
      const index = (this.readCursor + step) % count;
      const endpoint = this.endpoints[index] as string;
      const untilMs = this.cooldowns.get(endpoint)?.untilMs ?? 0;
      if (untilMs <= now && !tried.has(endpoint)) {
        this.readCursor = (index + 1) % count;
        return endpoint;
      }
      // Untried first, then the soonest out of cooldown.
      const rank = (tried.has(endpoint) ? cooldownMaxMs * 2 : 0) + Math.max(0, untilMs - now);
      if (rank < fallbackUntilMs) {
        fallback = endpoint;
        fallbackUntilMs = rank;
      }
    }
    this.readCursor = (this.readCursor + 1) % count;
    return fallback ?? (this.endpoints[0] as string);
  }

  /** A round-robin read failed on `endpoint`: skip it for a while, longer each failure in a row. */
  private coolDown(endpoint: string): void {
    const failures = (this.cooldowns.get(endpoint)?.failures ?? 0) + 1;
    const ms = Math.min(cooldownMaxMs, cooldownInitialMs * 2 ** Math.min(failures - 1, 16));
    this.cooldowns.set(endpoint, { failures, untilMs: Date.now() + ms });
  }

  /** Adds the members' client addresses to the endpoints (unless pinned). */
  private learnMembers(list: MemberList): MemberList {
    if (!this.pinned) for (const member of list.members) if (member.clientAddress !== '') this.endpointIndex(member.clientAddress);
    return list;
  }

  /** Drops an endpoint whose node was removed from the cluster, unless it is the last one or the client is pinned. */
  private forgetEndpoint(endpoint: string): void {
    const index = this.endpoints.indexOf(endpoint);
    if (this.pinned || index < 0 || this.endpoints.length <= 1) return;
    const preferred = this.endpoints[this.preferred];
    this.endpoints.splice(index, 1);
    this.cooldowns.delete(endpoint);
    this.readCursor %= this.endpoints.length;
    const kept = preferred === undefined ? -1 : this.endpoints.indexOf(preferred);
    this.preferred = kept >= 0 ? kept : 0;
  }

  /**
   * Learns the members in the background (a node answered that it was removed, or could not be
   * reached), at most once per `refreshIntervalMs`; errors are ignored.
   */
  private refreshEndpoints(): void {
    if (this.pinned || this.refreshing || this.closed || Date.now() - this.lastRefreshMs < refreshIntervalMs) return;
    this.refreshing = true;
    this.lastRefreshMs = Date.now();
    void this.refreshFromAnyEndpoint().finally(() => {
      this.refreshing = false;
    });
  }

  /**
   * Asks the endpoints one at a time (one attempt each, following one leader hint) for the
   * member list. Unlike `members()`, it never moves the endpoint the client's own calls prefer:
   * a background refresh failing on the same dead node as a call would otherwise rotate the
   * client back onto it.
   */
  private async refreshFromAnyEndpoint(): Promise<void> {
    const candidates = [...this.endpoints];
    for (let i = 0; i < candidates.length && !this.closed; i++) {
      const endpoint = candidates[i] as string;
      try {
        const response = await this.call('Cluster', 'memberList', {}, { timeoutMs: this.attemptTimeoutMs }, { kind: 'endpoint', endpoint });
        this.learnMembers(toMemberList(response));
        return;
      } catch (error) {
        // A follower names the leader: ask it next (once), wherever it is in the list.
        const cause = (error as { cause?: unknown }).cause;
        const hint = cause !== undefined && typeof (cause as grpc.ServiceError).code === 'number' ? leaderHint(cause as grpc.ServiceError) : null;
        if (hint !== null && !candidates.slice(i + 1).includes(hint)) candidates.splice(i + 1, 0, hint);
      }
    }
  }

  /**
   * One write, exactly once. It goes under the client's session, registered lazily (one
   * RegisterSession round-trip per session, shared by the writes that wait for it; none on the
   * hot path). If the cluster answers that the session is gone (expired or evicted; ABORTED),
   * WriteAttempts decides (client-session.ts): when no attempt so far may have been applied,
   * the write goes again under a new session; otherwise it ends with OutcomeUnknownError, never
   * sent as new. At most sessionsPerWriteMax sessions per write, then SessionExpiredError.
   */
  private async write(method: Method, request: Record<string, unknown>, options: CallOptions, service: Service = 'KV'): Promise<Record<string, unknown>> {
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    const attempts = new WriteAttempts();
    for (let sessions = 1; ; sessions++) {
      const session = await this.sessionForWrite(deadline, options.signal);
      const sequence = session.begin();
      try {
        // Every retry of this write carries the same sequence: the state machine applies it once.
        const callOptions = { ...options, timeoutMs: Math.max(1, deadline - Date.now()) };
        return await this.call(service, method, { ...request, session: () => session.header(sequence) }, callOptions, { kind: 'cluster', followLeader: true }, attempts);
      } catch (error) {
        if (!(error instanceof SessionExpiredError)) throw error;
        if (this.session === session) this.session = null;
        if (attempts.afterSessionGone() === 'outcome-unknown') {
          throw new OutcomeUnknownError(
            `${method}: an earlier attempt was sent and not answered, and its session ${session.clientId} has since ended, so whether it was applied is unknown; it is not sent again`,
            { cause: error },
          );
        }
        if (sessions >= sessionsPerWriteMax) throw error;
      } finally {
        session.end(sequence);
      }
    }
  }

  /**
   * The session for a new write: the current one, or a new registration (shared) when there is
   * none or it is full. A nearly full session starts its successor's registration in the
   * background; new writes move to the successor once it is registered.
   */
  private async sessionForWrite(deadline: number, signal: AbortSignal | undefined): Promise<ClientSession> {
    const current = this.session;
    if (current !== null && !current.full) {
      if (current.nearlyFull) this.startRegistering();
      return current;
    }
    // A full session keeps serving the writes already on it; new ones go to its successor.
    this.session = null;
    return waitWithin(this.startRegistering(), deadline, signal);
  }

  /** The registration under way, or a new one; once registered, its session takes new writes. */
  private startRegistering(): Promise<ClientSession> {
    if (this.registering !== null) return this.registering;
    const registering = this.register();
    this.registering = registering;
    registering.then(
      (session) => {
        if (this.registering === registering) this.session = session;
      },
      () => undefined,
    ).finally(() => {
      if (this.registering === registering) this.registering = null;
    });
    return registering;
  }

  /** Registers a session through the log (kv.proto RegisterSession), within the client's default deadline. */
  private async register(): Promise<ClientSession> {
    const response = await this.call('KV', 'registerSession', {}, { timeoutMs: this.timeoutMs });
    return new ClientSession(response.clientId as string, unacknowledgedSpanMaxFor(response.resultsPerSessionMax as number));
  }

  private async call(
    service: Service,
    method: Method,
    request: Record<string, unknown>,
    options: CallOptions,
    route: Route = { kind: 'cluster', followLeader: true },
    attempts: WriteAttempts | null = null,
  ): Promise<Record<string, unknown>> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const tried = new Set<string>();
    /** Endpoints that answered "not the leader" naming a leader outside a pinned client's endpoints. */
    const leaderOutside = new Set<string>();
    let lastError: unknown = null;
    let failures = 0;
    let reauthenticated = false;
    const gaveUp = (): TimeoutError | UnavailableError => {
      const where = `tried ${[...tried].join(', ') || 'no endpoint'}, ${failures} failed attempt${failures === 1 ? '' : 's'}`;
      const last = lastError === null ? '' : `; last cause: ${this.describeFailure(lastError)}`;
      if (route.kind === 'endpoint') {
        return lastError === null || isDeadline(lastError)
          ? new TimeoutError(`${method}: no answer from ${route.endpoint} within ${timeoutMs} ms`, { cause: lastError ?? undefined })
          : new UnavailableError(`${method}: ${route.endpoint} is unavailable (${this.describeFailure(lastError)})`, { cause: lastError });
      }
      return lastError === null || isDeadline(lastError)
        ? new TimeoutError(`${method}: no answer within ${timeoutMs} ms (${where})${last}`, { cause: lastError ?? undefined })
        : new UnavailableError(`${method}: no node could serve it within ${timeoutMs} ms (${where})${last}`, { cause: lastError });
    };
    for (;;) {
      if (this.closed) throw new UnavailableError('the client is closed');
      if (options.signal?.aborted) throw new CancelledError('the call was cancelled', { cause: options.signal.reason });
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw gaveUp();
      const endpoint =
        route.kind === 'endpoint' ? route.endpoint : route.kind === 'spread' ? this.nextReadEndpoint(tried) : (this.endpoints[this.preferred] as string);
      const materialized = materialize(request);
      tried.add(endpoint);
      const change = route.kind === 'cluster' && route.change === true;
      try {
        const token = method === 'authenticate' ? '' : await this.tokenFor(deadline, options.signal);
        const attemptMs = route.kind === 'endpoint' || change ? remaining : Math.min(remaining, this.attemptTimeoutMs);
        const response = await this.attempt(endpoint, service, method, materialized, attemptMs, options.signal, token);
        if (route.kind === 'spread') this.cooldowns.delete(endpoint);
        else if (route.kind === 'cluster' && route.followLeader && isWrite(method, request)) {
          this.leaderAt = endpoint;
          this.leaderSeenMs = Date.now();
        }
        return response;
      } catch (error) {
        lastError = error;
        const code = (error as grpc.ServiceError).code;
        attempts?.failed(attemptOutcome(code));
        const refusal = refusalOf(error as grpc.ServiceError);
        if (refusal !== null) throw new MembershipChangeError(refusal, `${method}: ${(error as grpc.ServiceError).details}`, { cause: error });
        if (change && (code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.CANCELLED) && !options.signal?.aborted) {
          // The change may have been appended; trying again could make a second one.
          throw new TimeoutError(`${method}: no answer from ${endpoint} within ${timeoutMs} ms; whether the change happened is unknown (check the member list)`, { cause: error });
        }
        if (error instanceof AuthenticationError) throw error;
        if (code === grpc.status.INVALID_ARGUMENT) throw new InvalidArgumentError(method, (error as grpc.ServiceError).details);
        if (code === grpc.status.UNAUTHENTICATED) {
          // The token expired or was revoked, or auth was enabled since: authenticate again, once.
          if (this.credentials !== null && method !== 'authenticate' && !reauthenticated) {
            reauthenticated = true;
            this.token = null;
            continue;
          }
          const hint = this.credentials === null && method !== 'authenticate' ? ' (give a user: the auth option, or --user)' : '';
          throw new AuthenticationError(`${method}: ${(error as grpc.ServiceError).details}${hint}`, { cause: error });
        }
        if (code === grpc.status.PERMISSION_DENIED) throw permissionDenied((error as grpc.ServiceError).details, error);
        const leaseRefusal = leaseRefusalOf(error as grpc.ServiceError);
        if (leaseRefusal !== null) throw leaseRefusal;
        if (service === 'Auth' && code === grpc.status.FAILED_PRECONDITION && (error as grpc.ServiceError).metadata?.get(leaderIdMetadataKey).length === 0) {
          // A refused auth change (no root user, root protected), not "not the leader": final.
          throw new ServerError(describeFailure(error), code);
        }
        if (code === grpc.status.ABORTED) {
          // The session is not registered: this attempt was not applied (write() decides what next).
          throw new SessionExpiredError(`${method}: ${(error as grpc.ServiceError).details}`, { cause: error });
        }
        if (code === grpc.status.OUT_OF_RANGE) {
          const metadata = (error as grpc.ServiceError).metadata?.get('compact-revision')[0];
          const revisionError = revisionErrorOf((error as grpc.ServiceError).details ?? '', metadata === undefined ? undefined : String(metadata));
          if (revisionError !== null) throw revisionError;
          throw new OutcomeUnknownError(`${method}: ${(error as grpc.ServiceError).details}`, { cause: error });
        }
        if (code === grpc.status.CANCELLED && options.signal?.aborted) {
          throw new CancelledError('the call was cancelled', { cause: error });
        }
        if (code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/i.test((error as grpc.ServiceError).details ?? '')) {
          // gRPC's own size limit: the request can never be accepted, retrying cannot help.
          throw new InvalidArgumentError('request', `too large for the server: ${(error as grpc.ServiceError).details}`);
        }
        if (code !== grpc.status.RESOURCE_EXHAUSTED && !isRetryable(code)) {
          throw new ServerError(describeFailure(error), code);
        }
        failures++;
        if (route.kind === 'endpoint') throw gaveUp(); // one node asked, one answer
        if (route.kind === 'spread') {
          await this.afterSpreadFailure(endpoint, error as grpc.ServiceError, tried, failures, deadline, options.signal);
          continue;
        }
        if (code === grpc.status.FAILED_PRECONDITION && route.followLeader && isRemovedAnswer(error as grpc.ServiceError)) {
          // The node is no longer a member: go to the member it names, forget it, learn the others.
          const hint = leaderHint(error as grpc.ServiceError);
          if (this.pinned) {
            // A pinned client cannot go to the member named: once every endpoint said so, fail now.
            leaderOutside.add(endpoint);
            if (leaderOutside.size >= this.endpoints.length) {
              throw new UnavailableError(`${method}: ${(error as grpc.ServiceError).details} (this pinned client's endpoints: ${this.endpoints.join(', ')})`, { cause: error });
            }
          }
          if (hint !== null && !this.pinned) this.endpointIndex(hint);
          this.forgetEndpoint(endpoint);
          if (hint !== null && this.endpoints.includes(hint)) this.preferred = this.endpoints.indexOf(hint);
          else this.rotateFrom(endpoint);
          this.refreshEndpoints();
        } else if (code === grpc.status.FAILED_PRECONDITION && route.followLeader) {
          const leader = leaderHint(error as grpc.ServiceError);
          const index = leader === null || leader === endpoint ? -1 : this.endpointIndex(leader);
          if (index >= 0) {
            this.preferred = index;
            if (failures <= this.endpoints.length) continue; // a fresh hint: follow it at once
          } else {
            if (this.pinned && leader !== null && leader !== endpoint) {
              leaderOutside.add(endpoint);
              if (leaderOutside.size >= this.endpoints.length) {
                throw new UnavailableError(
                  `${method}: the leader is at ${leader}, which is not among this pinned client's endpoints (${this.endpoints.join(', ')})`,
                  { cause: error },
                );
              }
            }
            this.rotateFrom(endpoint);
          }
        } else if (code !== grpc.status.RESOURCE_EXHAUSTED) {
          // Unavailable (a node stopping ends its streams so), timed out, not the leader: try
          // another node. An overloaded node (RESOURCE_EXHAUSTED) is the right one: it needs a moment.
          this.rotateFrom(endpoint);
          // A node that is down may be gone for good: learn who the members are now.
          if (code === grpc.status.UNAVAILABLE && this.endpoints.length > 1) this.refreshEndpoints();
        }
        await this.backoff(failures, deadline, options.signal);
      }
    }
  }

  /**
   * A round-robin read failed on `endpoint` for a reason another node may not have: unavailable,
   * timed out, not serving (removed, no leader known, stopping) or overloaded. Reads are
   * idempotent, so the read goes to the next endpoint at once while one is left untried; after
   * a full turn it backs off. A removed node is forgotten, as for any call.
   */
  private async afterSpreadFailure(
    endpoint: string,
    error: grpc.ServiceError,
    tried: ReadonlySet<string>,
    failures: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (error.code === grpc.status.FAILED_PRECONDITION && isRemovedAnswer(error)) {
      const hint = leaderHint(error);
      if (hint !== null) this.endpointIndex(hint);
      this.forgetEndpoint(endpoint);
      this.refreshEndpoints();
    } else if (error.code !== grpc.status.RESOURCE_EXHAUSTED) {
      // An overloaded node is healthy: it just needs a moment, and the next read may go there.
      this.coolDown(endpoint);
      if (error.code === grpc.status.FAILED_PRECONDITION) {
        const hint = leaderHint(error);
        if (hint !== null) this.endpointIndex(hint);
      }
      if (error.code === grpc.status.UNAVAILABLE && this.endpoints.length > 1) this.refreshEndpoints();
    }
    if (this.endpoints.some((e) => !tried.has(e))) return;
    await this.backoff(failures, deadline, signal);
  }

  /**
   * The token to send ('' when there are no credentials, or auth is disabled): the cached one
   * until it is due for renewal, else a new one (one Authenticate shared by every call waiting).
   */
  private async tokenFor(deadline: number, signal: AbortSignal | undefined): Promise<string> {
    const credentials = this.credentials;
    if (credentials === null) return '';
    if (this.token !== null && Date.now() < this.token.renewAtMs) return this.token.value;
    this.authenticating ??= this.auth
      .authenticate(credentials.user, credentials.password, { timeoutMs: this.timeoutMs })
      .then(({ token, expiresAtMs }) => {
        const now = Date.now();
        // Renew at 80% of its life; with auth disabled (no token) ask again now and then, in case it was enabled.
        const renewAtMs = token === '' ? now + disabledAuthRecheckMs : now + Math.max(0, (expiresAtMs - now) * 0.8);
        this.token = { value: token, renewAtMs };
        return token;
      })
      .catch((error: unknown) => {
        if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) throw error;
        throw new AuthenticationError(`could not authenticate as ${JSON.stringify(credentials.user)}: ${(error as Error).message}`, { cause: error });
      })
      .finally(() => {
        this.authenticating = null;
      });
    return waitWithin(this.authenticating, deadline, signal, `could not authenticate as ${JSON.stringify(credentials.user)}`);
  }

  private attempt(
    endpoint: string,
    service: Service,
    method: string,
    request: Record<string, unknown>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    token = '',
  ): Promise<Record<string, unknown>> {
    const channel = this.channelFor(endpoint);
    if (service === 'KV' && this.useStream && method !== 'compact' && payloadBytes(request) <= streamOperationBytesMax) {
      return channel.stream.request(method as StreamKind, request, timeoutMs, signal, token);
    }
    const client = service === 'KV' ? channel.kv : service === 'Auth' ? channel.auth : service === 'Lease' ? channel.lease : channel.cluster;
    const metadata = new grpc.Metadata();
    if (token !== '') metadata.set('token', token);
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, UnaryMethod>)[method] as UnaryMethod;
      const onAbort = (): void => call.cancel();
      const call = fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
        signal?.removeEventListener('abort', onAbort);
        if (error !== null) reject(error);
        else resolve(response as Record<string, unknown>);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A failed attempt in one line, with what it likely means when TLS is set differently here and on the node. */
  private describeFailure(error: unknown): string {
    const line = describeFailure(error);
    const hint = tlsMismatchHint(line, this.security.credentials._isSecure(), '--cacert, --cert, --key; the SDK\'s tls option');
    return hint === null ? line : `${line} (${hint})`;
  }

  private channelFor(endpoint: string): Channels {
    let channel = this.channels.get(endpoint);
    if (channel === undefined) {
      const { credentials } = this.security;
      const options: grpc.ChannelOptions = {
        ...this.security.channelOptions,
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
      const auth = new (serviceClient(kvProto, 'Auth'))(endpoint, credentials, { ...options, channelOverride: kv.getChannel() });
      const lease = new (serviceClient(kvProto, 'Lease'))(endpoint, credentials, { ...options, channelOverride: kv.getChannel() });
      channel = { kv, cluster, auth, lease, stream: new StreamChannel(kv) };
      this.channels.set(endpoint, channel);
    }
    return channel;
  }

  /**
   * A long-lived stream (a lease keep-alive) at `endpoint` failed: follow the leader it names,
   * or move on to the next endpoint, as a unary call would.
   */
  private afterStreamFailure(endpoint: string, error: unknown): void {
    const status = error as grpc.ServiceError;
    const leader = status.code === grpc.status.FAILED_PRECONDITION ? leaderHint(status) : null;
    const index = leader === null || leader === endpoint ? -1 : this.endpointIndex(leader);
    if (index >= 0) this.preferred = index;
    else this.rotateFrom(endpoint);
    if (status.code === grpc.status.UNAVAILABLE && this.endpoints.length > 1) this.refreshEndpoints();
  }

  /** The index of a leader's address among the endpoints, added unless pinned (then -1 if absent). */
  private endpointIndex(address: string): number {
    const index = this.endpoints.indexOf(address);
    if (index >= 0 || this.pinned || !isEndpoint(address)) return index;
    this.endpoints.push(address);
    return this.endpoints.length - 1;
  }

  /**
   * Moves on from an endpoint that failed, unless another call already did: calls failing
   * together (a node stopping fails every call on its stream) must not rotate back onto it.
   */
  private rotateFrom(endpoint: string): void {
    if (this.endpoints[this.preferred] === endpoint) this.preferred = (this.preferred + 1) % this.endpoints.length;
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

/** How long a client with credentials trusts "auth is disabled" before asking again. */
const disabledAuthRecheckMs = 30_000;

/** Sessions one write may register before it gives up with SessionExpiredError (each one gone before the write reached the log). */
const sessionsPerWriteMax = 3;

/** `promise`, or TimeoutError at `deadline`, or CancelledError when `signal` aborts; the timer is disposed either way. */
function waitWithin<T>(promise: Promise<T>, deadline: number, signal: AbortSignal | undefined, what = 'no session could be registered'): Promise<T> {
  if (signal?.aborted) return Promise.reject(new CancelledError('the call was cancelled', { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      settle();
      reject(new TimeoutError(`${what} within the deadline`));
    }, Math.max(0, deadline - Date.now()));
    timer.unref();
    const onAbort = (): void => {
      settle();
      reject(new CancelledError('the call was cancelled', { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    function settle(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    promise.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
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

/** A lease refusal (kv.proto Lease: NOT_FOUND "lease N not found", ALREADY_EXISTS "lease N already exists") as its typed error, else null. */
function leaseRefusalOf(error: grpc.ServiceError): LeaseNotFoundError | LeaseExistsError | null {
  const details = error.details ?? '';
  const notFound = error.code === grpc.status.NOT_FOUND ? /^lease (\d+) not found/.exec(details) : null;
  if (notFound !== null) return new LeaseNotFoundError(Number(notFound[1]));
  const exists = error.code === grpc.status.ALREADY_EXISTS ? /^lease (\d+) already exists/.exec(details) : null;
  if (exists !== null) return new LeaseExistsError(Number(exists[1]));
  return null;
}

function isWrite(method: Method, request: Record<string, unknown>): boolean {
  // A read-only transaction is sent as a read: without a session (RaftKvClient.txn).
  if (method === 'txn') return request.session !== undefined;
  return method === 'put' || method === 'delete' || method === 'compareAndSwap' || method === 'registerSession' || method === 'compact';
}

function isDeadline(error: unknown): boolean {
  return (error as grpc.ServiceError | null)?.code === grpc.status.DEADLINE_EXCEEDED;
}

function isEndpoint(address: string): boolean {
  return /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address);
}

function refusalOf(error: grpc.ServiceError): MembershipChangeError['reason'] | null {
  const reason = error?.metadata?.get(refusalMetadataKey)[0];
  return typeof reason === 'string' && isMembershipChangeRefusal(reason) ? reason : null;
}

/** A node's answer that the cluster no longer lists it (kv.proto). */
function isRemovedAnswer(error: grpc.ServiceError): boolean {
  return /was removed from the cluster/.test(error.details ?? '');
}

function checkString(value: unknown, field: string): void {
  if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(field, `must be a non-empty string, got ${JSON.stringify(value)}`);
}

function toMemberList(raw: Record<string, unknown>): MemberList {
  const members = ((raw.members as Record<string, unknown>[] | undefined) ?? []).map((m): MemberInfo => {
    const hasProgress = m.hasProgress === true;
    return {
      id: m.id as string,
      peerAddress: m.peerAddress as string,
      clientAddress: m.clientAddress as string,
      role: m.role === 'learner' ? 'learner' : 'voter',
      autoPromote: m.autoPromote === true,
      leader: m.leader === true,
      matchIndex: hasProgress ? Number(m.matchIndex) : null,
      lag: hasProgress ? Number(m.lag) : null,
    };
  });
  const leaderId = raw.leaderId as string | undefined;
  return { members, leaderId: leaderId === undefined || leaderId === '' ? null : leaderId, joint: raw.joint === true };
}

function leaderHint(error: grpc.ServiceError): string | null {
  const address = error.metadata?.get(leaderAddressMetadataKey)[0];
  return typeof address === 'string' && address.length > 0 ? address : null;
}

function toBuffer(value: Bytes): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** A read's revision for the wire (0: the latest); throws InvalidArgumentError unless a non-negative integer. */
function checkRevision(revision: number | undefined): number {
  if (revision === undefined) return 0;
  if (!Number.isSafeInteger(revision) || revision < 0) throw new InvalidArgumentError('revision', `must be a non-negative integer, got ${revision}`);
  return revision;
}

function grpcConsistency(consistency: Consistency | undefined): string {
  return consistency === 'serializable' ? 'SERIALIZABLE' : 'LINEARIZABLE';
}

function toKeyValue(raw: unknown): KeyValue {
  const kv = raw as { key: Buffer; value: Buffer; version: number; createRevision: number; modRevision: number; lease?: number };
  const base = { key: kv.key, value: kv.value, version: kv.version, createRevision: kv.createRevision, modRevision: kv.modRevision };
  return kv.lease === undefined || kv.lease === 0 ? base : { ...base, lease: kv.lease };
}

export { OverloadedError };
