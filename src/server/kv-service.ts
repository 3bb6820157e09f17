import { performance } from 'node:perf_hooks';
import type { NodeMetrics } from './metrics.js';
import * as grpc from '@grpc/grpc-js';
import {
  encodeCommand,
  sessionLimitNames,
  validateCommand,
  type ApplyOutcome,
  type CasAction,
  type CasCompare,
  type Command,
  type CommandResult,
  type CommandSession,
  type KeyCommand,
  type KeyRecord,
  type LeaseCommand,
  type SessionLimits,
  type SessionLimitsChange,
  type KvStateMachine,
  type AuthApplyResult,
  type AuthOp,
  type CheckedFor,
  permissionDeniedMessage,
  selectorInterval,
  type RangeQuery,
  type StaleSessionResult,
} from '../kv/index.js';
import { assertNever, type NodeId } from '../raft/index.js';
import { AuthChangeRefusedError, InvalidArgumentError, LeaseNotFoundError, NotLeaderError, PermissionDeniedError, TimeoutError } from '../shared/errors.js';
import { CompactedError, FutureRevisionError } from '../kv/index.js';
import { AuthGuard, type Caller } from './auth-guard.js';
import type { Logger } from '../shared/logger.js';
import { requestTimeoutMsMax, type NodeConfig } from './config.js';
import { StaleSessionError, toGrpcError } from './grpc-errors.js';
import { clusterOperations, removedNodeError } from './cluster-service.js';
import { kvStreams, type KvStreams } from './kv-stream.js';
import type { LiveSample } from './live-stats.js';
import { txnFromWire, txnResultToWire, type WireTxnRequest } from './txn-wire.js';
import { rangeOptionsFromWire, type WireRangeOptions } from './range-wire.js';
import { txnWrites, type TxnBody } from '../kv/index.js';
import type { PeerDirectory } from './peer-directory.js';
import type { RaftNode } from './raft-node.js';

export interface KvServiceDeps {
  readonly node: RaftNode<ApplyOutcome>;
  /** Where answered requests are counted and timed; absent: not measured. */
  readonly metrics?: NodeMetrics;
  readonly stateMachine: KvStateMachine;
  readonly config: NodeConfig;
  /** The client address a peer announced, for "not the leader" hints; null if not known yet. */
  readonly clientAddressOf: (id: NodeId) => string | null;
  /** Every member's addresses, following the configuration. */
  readonly directory: PeerDirectory;
  readonly logger: Logger;
  /** The node's recent seconds of client operations, for Cluster.Status (the live page). */
  readonly recentSamples?: () => readonly LiveSample[];
  /** The auth checks; absent: one over `stateMachine` is made. */
  readonly guard?: AuthGuard;
}

/** `caller`: who makes the call (auth-guard.ts; null when auth is disabled). */
type Handler<Req, Res> = (request: Req, timeoutMs: number, caller: Caller) => Promise<Res>;

/** The client API's operations, shared by the unary RPCs and the stream. */
export interface KvOperations {
  readonly put: Handler<PutRequest, unknown>;
  readonly get: Handler<GetRequest, unknown>;
  readonly delete: Handler<DeleteRequest, unknown>;
  readonly range: Handler<RangeRequest, unknown>;
  readonly compareAndSwap: Handler<CasRequest, unknown>;
  readonly registerSession: Handler<Record<string, never>, unknown>;
  readonly txn: Handler<TxnRequest, unknown>;
  /** The Cluster service's SessionLimits change (not carried by the stream). */
  readonly setSessionLimits: Handler<SessionLimitsChange, SessionLimits>;
  /** Proposes a change to users or roles (the Auth service; the caller's right to is checked there). */
  readonly proposeAuth: (op: AuthOp, timeoutMs: number, checked: CheckedFor) => Promise<AuthApplyResult & { ok: true }>;
  /** Throws NotLeaderError unless this node leads (before costly work for a proposal, e.g. hashing a password). */
  readonly requireLeader: () => void;
  /** Proposes a lease grant or revoke (the Lease service checks the caller); a refused session write throws. */
  readonly proposeLease: (command: LeaseCommand, timeoutMs: number) => Promise<CommandResult>;
  /** Compacts the revision history (root only when auth is enabled; not carried by the stream). */
  readonly compact: Handler<CompactRequest, unknown>;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  session: WireSession | null;
  /** 0: none (absent in requests built by hand, e.g. the stream's tests). */
  lease?: number;
}

export interface GetRequest {
  key: Buffer;
  consistency: string;
  /** 0 (or absent, from an older client): the latest. */
  revision?: number;
}

export interface CompactRequest {
  revision: number;
  physical: boolean;
}

export interface DeleteRequest {
  key: Buffer;
  session: WireSession | null;
}

export interface RangeRequest extends WireRangeOptions {
  prefix: Buffer;
  start: Buffer;
  end: Buffer;
  limit: number;
  consistency: string;
  /** 0 (or absent, from an older client): the latest. */
  revision?: number;
}

export interface CasRequest {
  key: Buffer;
  compare?: string;
  expectedValue?: Buffer;
  expectedVersion?: number;
  action?: string;
  newValue?: Buffer;
  delete?: boolean;
  session: WireSession | null;
}

export interface TxnRequest extends WireTxnRequest {
  session: WireSession | null;
}

interface WireSession {
  clientId: string;
  sequence: number;
  ackedSequence: number;
}

interface WireKeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

/**
 * The client API of kv.proto on one node. Writes go through the Raft log and are answered once
 * applied here; a follower answers FAILED_PRECONDITION naming the leader (it does not forward:
 * the SDK follows the hint, and one hop fewer is cheaper than proxying). Linearizable reads are
 * served on any node through ReadIndex; serializable reads from local state.
 */
export function kvOperations(deps: KvServiceDeps): KvOperations {
  const { node, stateMachine, config } = deps;
  const guard = deps.guard ?? new AuthGuard(stateMachine);
  const limits = { keyBytesMax: config.limits.keyBytesMax, valueBytesMax: config.limits.valueBytesMax, clientIdBytesMax: 128, txnOpsMax: config.limits.txnOpsMax };

  const header = (): { memberId: string; term: number; revision: number } => ({
    memberId: node.id,
    term: node.leadership().term,
    revision: stateMachine.appliedIndex,
  });

  /** A proposal that fails is counted (raftkv_proposals_failed_total) and passed on. */
  const countFailure = <T>(proposal: Promise<T>): Promise<T> =>
    deps.metrics === undefined
      ? proposal
      : proposal.catch((error: unknown) => {
          deps.metrics?.proposalFailed();
          throw error;
        });

  /** A node the configuration no longer lists serves nothing: it points the client at a member. */
  const refuseIfRemoved = (): void => {
    if (node.isRemoved()) throw removedNodeError(node.status(), deps.directory);
  };

  /** Proposes a command on the leader (and waits until it is applied here), or says who the leader is. */
  const propose = async (command: Command, timeoutMs: number): Promise<CommandResult> => {
    refuseIfRemoved();
    validateCommand(command, limits);
    const status = node.leadership();
    if (status.role !== 'leader') {
      throw new NotLeaderError(status.leader, status.leader === null ? null : deps.clientAddressOf(status.leader));
    }
    const outcome = await countFailure(node.propose(encodeCommand(command), timeoutMs));
    if (outcome.kind !== 'command') throw new Error(`a ${command.kind} was applied as ${outcome.kind}`);
    if (outcome.result.kind === 'permission-denied') throw new PermissionDeniedError(permissionDeniedMessage(outcome.result.user, outcome.result.denial));
    return outcome.result;
  };

  /**
   * The session limits live in the replicated state (session-limits.ts). The first leader to
   * register a session while the log has none proposes its own flags, ahead of the
   * registration; `onlyIfUnset` makes a later or concurrent seed (another leader's flags) a
   * no-op, so every node applies the same limits whatever its flags.
   */
  let seeding = false;
  const seedSessionLimits = (timeoutMs: number): void => {
    if (stateMachine.sessionLimitsRecorded || seeding) return;
    seeding = true;
    propose({ kind: 'set-session-limits', limits: config.sessionLimits, onlyIfUnset: true }, timeoutMs)
      .catch((error: unknown) => deps.logger.debug({ err: error }, 'seeding the session limits failed; the next registration tries again'))
      .finally(() => {
        seeding = false;
      });
  };

  /** Proposes a write on the leader, or says who the leader is. */
  const write = async (command: KeyCommand, timeoutMs: number): Promise<CommandResult> => {
    refuseIfRemoved();
    validateCommand(command, limits);
    const status = node.leadership();
    if (status.role !== 'leader') {
      throw new NotLeaderError(status.leader, status.leader === null ? null : deps.clientAddressOf(status.leader));
    }
    const proposed = countFailure(node.propose(encodeCommand(command), timeoutMs));
    if (config.unsafe.ackBeforeCommit) {
      // TEST ONLY (the chaos harness's canary): acknowledge before the entry commits.
      proposed.catch(() => undefined);
      return unsafeAcknowledgement(command);
    }
    const outcome = await proposed;
    if (outcome.kind !== 'command') throw new Error(`a write was applied as ${outcome.kind}`);
    if (outcome.result.kind === 'stale-session') throw staleSessionError(outcome.result);
    // The apply checked it again (auth changed after the check here) and refused it.
    if (outcome.result.kind === 'permission-denied') throw new PermissionDeniedError(permissionDeniedMessage(outcome.result.user, outcome.result.denial));
    return outcome.result;
  };

  /** Waits until local state may be read at the requested consistency. */
  const readBarrier = async (consistency: string, timeoutMs: number): Promise<void> => {
    refuseIfRemoved();
    if (consistency === 'SERIALIZABLE') return;
    if (consistency !== 'LINEARIZABLE') throw new InvalidArgumentError('consistency', `unknown value ${consistency}`);
    if (config.unsafe.staleReads) return;
    const startedAt = performance.now();
    await node.linearizableBarrier(timeoutMs);
    deps.metrics?.observeReadIndex((performance.now() - startedAt) / 1000);
  };

  const requireLeader = (): void => {
    refuseIfRemoved();
    const status = node.leadership();
    if (status.role !== 'leader') throw new NotLeaderError(status.leader, status.leader === null ? null : deps.clientAddressOf(status.leader));
  };

  return {
    requireLeader,
    proposeLease: async (command, timeoutMs) => {
      const result = await propose(command, timeoutMs);
      if (result.kind === 'stale-session') throw staleSessionError(result);
      return result;
    },
    proposeAuth: async (op, timeoutMs, checked) => {
      const result = await propose({ kind: 'auth', op, ...checked }, timeoutMs);
      if (result.kind !== 'auth') throw new Error(`auth answered ${result.kind}`);
      if (!result.ok) throw new AuthChangeRefusedError(result.refusal, result.message);
      return result;
    },
    put: async (request: PutRequest, timeoutMs, caller) => {
      guard.checkKey(caller, 'write', request.key);
      // The entry carries who was checked and against which auth state: the apply checks again if it changed.
      const authRevision = guard.checkedRevision(caller);
      const lease = request.lease ?? 0;
      // Absent fields as undefined rather than spread in: each spread is an object more per put.
      const result = await write(
        { kind: 'put', key: request.key, value: request.value, lease: lease === 0 ? undefined : lease, session: commandSession(request.session), user: authRevision === undefined || caller === null ? undefined : caller, authRevision },
        timeoutMs,
      );
      if (result.kind === 'lease-not-found') throw new LeaseNotFoundError(result.id);
      if (result.kind !== 'put') throw new Error(`put answered ${result.kind}`);
      return { header: header(), version: result.version, modRevision: result.modRevision };
    },
    get: async (request: GetRequest, timeoutMs, caller) => {
      checkKey(request.key, limits.keyBytesMax);
      guard.checkKey(caller, 'read', request.key);
      await readBarrier(request.consistency, timeoutMs);
      const record = await stateMachine.get(request.key, { revision: Number(request.revision ?? 0) });
      return { header: header(), found: record !== null, kv: record === null ? null : wireKeyValue(request.key, record) };
    },
    delete: async (request: DeleteRequest, timeoutMs, caller) => {
      guard.checkKey(caller, 'write', request.key);
      const result = await write({ kind: 'delete', key: request.key, ...session(request.session), ...guard.checkedFor(caller) }, timeoutMs);
      if (result.kind !== 'delete') throw new Error(`delete answered ${result.kind}`);
      return { header: header(), deleted: result.deleted };
    },
    range: async (request: RangeRequest, timeoutMs, caller) => {
      const query = rangeQuery(request, limits.keyBytesMax);
      guard.checkRange(caller, 'read', selectorInterval(query));
      const limit = request.limit === 0 ? config.limits.rangeLimitMax : Math.min(request.limit, config.limits.rangeLimitMax);
      // Checked before the read barrier: a bad request costs no ReadIndex round.
      const options = rangeOptionsFromWire(request);
      await readBarrier(request.consistency, timeoutMs);
      const result = await stateMachine.range(query, limit, { ...options, revision: Number(request.revision ?? 0) });
      return { header: header(), kvs: result.kvs.map((kv) => wireKeyValue(kv.key, kv)), more: result.more, count: result.count };
    },
    setSessionLimits: async (change, timeoutMs, caller) => {
      guard.requireRoot(caller, 'changing the session limits');
      const result = await propose({ kind: 'set-session-limits', limits: change, onlyIfUnset: false, ...guard.checkedFor(caller) }, timeoutMs);
      if (result.kind !== 'session-limits') throw new Error(`set-session-limits answered ${result.kind}`);
      return result.limits;
    },
    registerSession: async (_request, timeoutMs) => {
      seedSessionLimits(timeoutMs);
      const result = await propose({ kind: 'register-session' }, timeoutMs);
      if (result.kind !== 'session-registered') throw new Error(`register-session answered ${result.kind}`);
      return { header: header(), clientId: result.clientId, resultsPerSessionMax: result.limits.resultsPerSessionMax };
    },
    txn: async (request: TxnRequest, timeoutMs, caller) => {
      const command = { ...txnFromWire(request, config.limits.rangeLimitMax), ...session(request.session), ...guard.checkedFor(caller) };
      validateCommand(command, limits);
      checkTxn(guard, caller, command);
      if (!txnWrites(command)) {
        // Read-only: served like a linearizable read (ReadIndex), without a log entry, as etcd
        // does. It changes nothing, so a session has nothing to make exactly-once: it is ignored.
        await readBarrier('LINEARIZABLE', timeoutMs);
        return { header: header(), ...txnResultToWire(await stateMachine.readTxn(command)) };
      }
      const result = await propose(command, timeoutMs);
      if (result.kind === 'stale-session') throw staleSessionError(result);
      if (result.kind === 'lease-not-found') throw new LeaseNotFoundError(result.id);
      if (result.kind !== 'txn') throw new Error(`txn answered ${result.kind}`);
      return { header: header(), ...txnResultToWire(result) };
    },
    compact: async (request: CompactRequest, timeoutMs, caller) => {
      guard.requireRoot(caller, 'compacting the history');
      const checked = guard.checkedFor(caller);
      const revision = Number(request.revision);
      // Checked here too, so that a refusal costs no log entry; the apply checks again (the
      // state may move while the entry replicates) and every replica refuses alike.
      // Already compacted: with `physical`, answered only once the history below `revision` is
      // off disk all the same, so that a retry whose first attempt applied (the SDK resolves on
      // it) keeps the promise `physical` makes.
      const refuseCompacted = async (compactRevision: number): Promise<never> => {
        if (request.physical) await withTimeout(stateMachine.compactedPhysically(revision), timeoutMs);
        throw new CompactedError(revision, compactRevision);
      };
      if (revision <= stateMachine.compactRevision) return refuseCompacted(stateMachine.compactRevision);
      if (revision > stateMachine.appliedIndex) throw new FutureRevisionError(revision, stateMachine.appliedIndex);
      const result = await propose({ kind: 'compact', revision, ...checked }, timeoutMs);
      if (result.kind !== 'compact') throw new Error(`compact answered ${result.kind}`);
      if (result.outcome === 'refused') {
        if (result.reason === 'compacted') return refuseCompacted(result.compactRevision);
        throw new FutureRevisionError(revision, result.currentRevision);
      }
      if (request.physical) await withTimeout(stateMachine.compactedPhysically(revision), timeoutMs);
      return { header: header() };
    },
    compareAndSwap: async (request: CasRequest, timeoutMs, caller) => {
      // A compare-and-swap reads the key (it answers the previous record) and writes it.
      guard.checkKey(caller, 'read', request.key);
      guard.checkKey(caller, 'write', request.key);
      const checked = guard.checkedFor(caller);
      const compare: CasCompare =
        request.compare === 'expectedValue'
          ? { kind: 'value', value: request.expectedValue ?? Buffer.alloc(0) }
          : request.compare === 'expectedVersion'
            ? { kind: 'version', version: request.expectedVersion ?? 0 }
            : missing('compare', 'set expected_value or expected_version');
      const action: CasAction =
        request.action === 'newValue'
          ? { kind: 'put', value: request.newValue ?? Buffer.alloc(0) }
          : request.action === 'delete' && request.delete === true
            ? { kind: 'delete' }
            : missing('action', 'set new_value, or delete = true');
      const result = await write({ kind: 'cas', key: request.key, compare, action, ...session(request.session), ...checked }, timeoutMs);
      if (result.kind !== 'cas') throw new Error(`cas answered ${result.kind}`);
      return {
        header: header(),
        succeeded: result.succeeded,
        found: result.previous !== null,
        kv: result.previous === null ? null : wireKeyValue(request.key, result.previous),
        modRevision: result.modRevision,
      };
    },
  };
}

/** The KV and Cluster services of kv.proto, over `kvOperations`; `streams` ends the KV streams on shutdown. */
export function kvServiceHandlers(deps: KvServiceDeps): {
  kv: grpc.UntypedServiceImplementation;
  cluster: grpc.UntypedServiceImplementation;
  streams: KvStreams;
  operations: KvOperations;
  guard: AuthGuard;
} {
  const { node, stateMachine, config } = deps;
  const guard = deps.guard ?? new AuthGuard(stateMachine);
  const operations = kvOperations({ ...deps, guard });
  const observe = deps.metrics === undefined ? undefined : (method: string, code: grpc.status, seconds: number): void => deps.metrics?.observeRequest(method, grpc.status[code] ?? String(code), seconds);
  const streams = kvStreams(operations, { resolveCaller: (call, token) => guard.resolveCall(call, token), requestTimeoutMs: config.requestTimeoutMs, inflightMax: config.limits.pendingProposalsMax, logger: deps.logger, ...(observe === undefined ? {} : { onAnswered: observe }) });

  /** `open`: a call anyone may make, auth or not (no caller is resolved). */
  const unary = <Req, Res>(name: string, handler: Handler<Req, Res>, open = false): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const startedAt = performance.now();
      const started = (): Promise<Res> => {
        const caller = open ? null : guard.resolveCall(call);
        return handler(call.request, timeoutFromDeadline(call.getDeadline(), config.requestTimeoutMs), caller);
      };
      new Promise<Res>((resolve) => resolve(started())).then(
        (response) => {
          observe?.(name, grpc.status.OK, (performance.now() - startedAt) / 1000);
          callback(null, response);
        },
        (error: unknown) => {
          if (deps.logger.isLevelEnabled('debug')) deps.logger.debug({ method: name, err: error }, 'request failed');
          const status = toGrpcError(error, deps.logger);
          observe?.(name, status.code ?? grpc.status.UNKNOWN, (performance.now() - startedAt) / 1000);
          callback(status as grpc.ServiceError);
        },
      );
    };

  const kv: grpc.UntypedServiceImplementation = {
    put: unary('put', operations.put),
    registerSession: unary('registerSession', operations.registerSession),
    get: unary('get', operations.get),
    delete: unary('delete', operations.delete),
    range: unary('range', operations.range),
    compareAndSwap: unary('compareAndSwap', operations.compareAndSwap),
    txn: unary('txn', operations.txn),
    compact: unary('compact', operations.compact),
    stream: streams.handler,
  };

  const clusterOps = clusterOperations({ node, stateMachine, config, directory: deps.directory, ...(deps.recentSamples === undefined ? {} : { recentSamples: deps.recentSamples }) });
  const wireLimits = (limits: SessionLimits): Record<string, number | boolean> => ({ ...limits, recorded: stateMachine.sessionLimitsRecorded, sessions: stateMachine.sessionCount, appliedIndex: stateMachine.appliedIndex });

  /** A management call: only root may make it when auth is enabled. */
  const rootOnly = <Req, Res>(what: string, handler: (request: Req, timeoutMs: number) => Promise<Res>): Handler<Req, Res> =>
    (request, timeoutMs, caller) => {
      guard.requireRoot(caller, what);
      return handler(request, timeoutMs);
    };

  const cluster: grpc.UntypedServiceImplementation = {
    sessionLimits: unary('sessionLimits', async (request: SessionLimits, timeoutMs, caller) => {
      const change: { -readonly [K in keyof SessionLimitsChange]: number } = {};
      for (const name of sessionLimitNames) if (request[name] !== 0) change[name] = request[name];
      if (Object.keys(change).length === 0) return wireLimits(stateMachine.sessionLimits);
      const result = await operations.setSessionLimits(change, timeoutMs, caller);
      return wireLimits(result);
    }),
    // Status and MemberList hold no data (README "Authentication and roles"): open to anyone.
    status: unary('status', openCall(clusterOps.status), true),
    transferLeadership: unary('transferLeadership', rootOnly('TransferLeadership', clusterOps.transferLeadership)),
    memberList: unary('memberList', openCall(clusterOps.memberList), true),
    memberAdd: unary('memberAdd', rootOnly('MemberAdd', clusterOps.memberAdd)),
    memberPromote: unary('memberPromote', rootOnly('MemberPromote', clusterOps.memberPromote)),
    memberRemove: unary('memberRemove', rootOnly('MemberRemove', clusterOps.memberRemove)),
  };

  return { kv, cluster, streams, operations, guard };
}

/** A call anyone may make, auth or not. */
function openCall<Req, Res>(handler: (request: Req, timeoutMs: number) => Promise<Res>): Handler<Req, Res> {
  return (request, timeoutMs) => handler(request, timeoutMs);
}

/** The range of keys a read covers, for the permission check. */
/**
 * A transaction's permissions, as etcd checks them: read on every compared key, and each
 * operation of both branches (which one runs is known only at apply) by what it does: put and
 * delete write, get reads; a selector over several keys needs the permission on all of them.
 */
function checkTxn(guard: AuthGuard, caller: Caller, command: TxnBody): void {
  for (const compare of command.compare) guard.checkKey(caller, 'read', compare.key);
  for (const op of [...command.success, ...command.failure]) {
    const access = op.kind === 'get' ? 'read' : 'write';
    if (op.kind === 'put') guard.checkKey(caller, access, op.key);
    else if (op.keys.kind === 'key') guard.checkKey(caller, access, op.keys.key);
    else guard.checkRange(caller, access, selectorInterval(op.keys));
  }
}

/** The time left before a call's deadline, or the server's default when the client set none. */
export function timeoutFromDeadline(deadline: grpc.Deadline, fallbackMs: number): number {
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  // Above 2^31 - 1 ms a Node timer fires at once; no request waits that long anyway.
  return Number.isFinite(deadlineMs) ? Math.min(Math.max(1, deadlineMs - Date.now()), requestTimeoutMsMax) : fallbackMs;
}

/** What an unsafe early acknowledgement claims: that the write happened, with no facts about it. */
function unsafeAcknowledgement(command: KeyCommand): CommandResult {
  switch (command.kind) {
    case 'put':
      return { kind: 'put', version: 0, modRevision: 0 };
    case 'delete':
      return { kind: 'delete', deleted: true };
    case 'cas':
      return { kind: 'cas', succeeded: true, previous: null, modRevision: 0 };
    default:
      return assertNever(command, 'command');
  }
}

/** The refusal of a write with a session (kv.proto: ABORTED for an unknown session, OUT_OF_RANGE for a forgotten result). */
function staleSessionError(result: StaleSessionResult): StaleSessionError {
  const write = `session ${result.clientId} write ${result.sequence}`;
  switch (result.reason) {
    case 'unknown-session':
      return new StaleSessionError(result.reason, `${write} was not applied: the session is not registered (expired, evicted, or never registered); register a new session`);
    case 'evicted':
      return new StaleSessionError(result.reason, `${write} was not applied now, and its result is no longer remembered (evicted), so whether an earlier attempt applied it is unknown`);
    case 'acknowledged':
      return new StaleSessionError(result.reason, `${write} is at or below the session's acknowledged sequence: not applied now, and whether an earlier attempt applied it is unknown`);
    default:
      return assertNever(result.reason, 'stale reason');
  }
}

function session(wire: WireSession | null): { session?: CommandSession } {
  const command = commandSession(wire);
  return command === undefined ? {} : { session: command };
}

function commandSession(wire: WireSession | null): CommandSession | undefined {
  if (wire === null || wire.clientId === '') return undefined;
  return { clientId: wire.clientId, sequence: wire.sequence, ackedSequence: wire.ackedSequence };
}

function wireKeyValue(key: Uint8Array, record: KeyRecord): WireKeyValue {
  return {
    key: Buffer.from(key),
    value: Buffer.from(record.value),
    createRevision: record.createRevision,
    modRevision: record.modRevision,
    version: record.version,
    lease: record.lease ?? 0,
  };
}

function checkKey(key: Buffer, keyBytesMax: number): void {
  if (key.byteLength === 0) throw new InvalidArgumentError('key', 'must not be empty');
  if (key.byteLength > keyBytesMax) throw new InvalidArgumentError('key', `${key.byteLength} bytes exceeds key-bytes-max ${keyBytesMax}`);
}

function rangeQuery(request: { prefix: Buffer; start: Buffer; end: Buffer }, keyBytesMax: number): RangeQuery {
  if (request.prefix.byteLength > 0 && (request.start.byteLength > 0 || request.end.byteLength > 0)) {
    throw new InvalidArgumentError('prefix', 'give a prefix or a start/end range, not both');
  }
  for (const [field, value] of [['prefix', request.prefix], ['start', request.start], ['end', request.end]] as const) {
    if (value.byteLength > keyBytesMax) throw new InvalidArgumentError(field, `${value.byteLength} bytes exceeds key-bytes-max ${keyBytesMax}`);
  }
  if (request.start.byteLength > 0 || request.end.byteLength > 0) {
    if (request.end.byteLength > 0 && Buffer.compare(request.start, request.end) >= 0) {
      throw new InvalidArgumentError('end', 'must sort after start');
    }
    return { kind: 'interval', start: request.start, end: request.end };
  }
  return { kind: 'prefix', prefix: request.prefix };
}

function missing(field: string, hint: string): never {
  throw new InvalidArgumentError(field, `is required: ${hint}`);
}

/** `promise`, or TimeoutError once `timeoutMs` has passed (what it waits for goes on). */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`not done within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
