import * as grpc from '@grpc/grpc-js';
import type { CommandResult, KvStateMachine } from '../kv/index.js';
import { InvalidArgumentError, LeaseExistsError, LeaseNotFoundError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AuthGuard, Caller } from './auth-guard.js';
import type { NodeConfig } from './config.js';
import { toGrpcError } from './grpc-errors.js';
import { observedUnary } from './observed-unary.js';
import type { KvOperations } from './kv-service.js';
import { timeoutFromDeadline } from './kv-service.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { NodeMetrics } from './metrics.js';
import type { RaftNode } from './raft-node.js';
import type { ApplyOutcome } from '../kv/index.js';

export interface LeaseServiceDeps {
  readonly node: RaftNode<ApplyOutcome>;
  readonly stateMachine: KvStateMachine;
  readonly config: NodeConfig;
  readonly operations: KvOperations;
  readonly guard: AuthGuard;
  readonly keeper: LeaseKeeper;
  readonly logger: Logger;
  readonly metrics?: NodeMetrics;
}

type Request = Record<string, unknown>;
type LeaseHandler = (request: Request, timeoutMs: number, caller: Caller) => Promise<Request>;

/**
 * The smallest TTL a lease gets, in seconds: about 1.5 election timeouts (etcd's minLeaseTTL),
 * so that a lease outlives the election a leader change takes. A smaller TTL is raised to it.
 */
export function leaseTtlSecondsMin(config: Pick<NodeConfig, 'electionTicks' | 'tickMs'>): number {
  return Math.max(1, Math.ceil((1.5 * config.electionTicks * config.tickMs) / 1000));
}

/**
 * The Lease service of kv.proto. Every call is the leader's: a follower answers
 * FAILED_PRECONDITION with the leader hint, as for writes. Grants and revokes go through the
 * log; keep-alives and time-to-live read the leader's in-memory deadlines (lease-keeper.ts),
 * time-to-live and the lease list after a ReadIndex round (a deposed leader cannot answer them).
 * With auth on, every call needs an authenticated user, and a revoke needs write permission on
 * every key attached to the lease (etcd), checked here and, if auth changed before the revoke's
 * entry, again at apply (kv/auth-recheck.ts).
 */
export function leaseServiceHandlers(deps: LeaseServiceDeps): grpc.UntypedServiceImplementation {
  const { stateMachine, operations, guard, keeper, config } = deps;
  const header = (): Request => ({ memberId: deps.node.id, term: deps.node.leadership().term, revision: stateMachine.appliedIndex });
  const ttlMin = leaseTtlSecondsMin(config);

  const unary = (name: string, handler: LeaseHandler): grpc.handleUnaryCall<Request, Request> =>
    observedUnary(name, deps, (call) => {
      const caller = guard.resolveCall(call);
      operations.requireLeader();
      return handler(call.request, timeoutFromDeadline(call.getDeadline(), config.requestTimeoutMs), caller);
    });

  const keepAlive = (call: grpc.ServerDuplexStream<Request, Request>): void => {
    let failed = false;
    const fail = (error: unknown): void => {
      if (failed || call.cancelled || call.destroyed) return;
      failed = true;
      call.emit('error', toGrpcError(error, deps.logger));
    };
    let caller: Caller;
    try {
      caller = guard.resolveCall(call);
    } catch (error) {
      fail(error);
      return;
    }
    void caller;
    call.on('data', (request: Request) => {
      if (failed) return;
      try {
        operations.requireLeader();
        const id = leaseId(request['id'], 'id', 1);
        const renewed = keeper.keepAlive(id);
        const answer = (): void => {
          if (!failed) call.write({ header: header(), id, ttl: renewed.ttlSeconds });
        };
        if (renewed.ready === null) answer();
        else renewed.ready.then(answer, fail);
      } catch (error) {
        fail(error);
      }
    });
    call.on('end', () => {
      if (!failed) call.end();
    });
    call.on('error', (error) => deps.logger.debug({ err: error }, 'lease keep-alive stream failed'));
  };

  return {
    leaseGrant: unary('LeaseGrant', async (request, timeoutMs) => {
      const id = leaseId(request['id'], 'id', 0);
      const ttl = integerField(request['ttl'], 'ttl');
      if (ttl < 1) throw new InvalidArgumentError('ttl', `must be at least 1 second, got ${ttl}`);
      const result = await operations.proposeLease({ kind: 'lease-grant', id, ttlSeconds: Math.max(ttl, ttlMin), ...session(request['session']) }, timeoutMs);
      if (result.kind === 'lease-exists') throw new LeaseExistsError(result.id);
      const granted = expect(result, 'lease-grant');
      keeper.granted(granted.id, granted.ttlSeconds);
      return { header: header(), id: granted.id, ttl: granted.ttlSeconds };
    }),
    leaseRevoke: unary('LeaseRevoke', async (request, timeoutMs, caller) => {
      const id = leaseId(request['id'], 'id', 1);
      const lease = stateMachine.lease(id);
      if (lease === undefined) throw new LeaseNotFoundError(id);
      // The keys attached now. Keys attached between this check and the revoke's apply are deleted
      // too; if auth changes meanwhile, the apply checks the keys attached then (as etcd does).
      for (const key of lease.keys.values()) guard.checkKey(caller, 'write', key);
      // With who was checked: the apply checks the keys attached then again if auth changed meanwhile.
      const result = await operations.proposeLease({ kind: 'lease-revoke', id, ...session(request['session']), ...guard.checkedFor(caller) }, timeoutMs);
      if (result.kind === 'lease-not-found') throw new LeaseNotFoundError(result.id);
      return { header: header(), deleted: expect(result, 'lease-revoke').deleted };
    }),
    leaseTimeToLive: unary('LeaseTimeToLive', async (request, timeoutMs) => {
      const id = leaseId(request['id'], 'id', 1);
      // A ReadIndex round first, as for a linearizable get: a leader cut off from its quorum (a
      // new one elected meanwhile) must not answer from its own, possibly stale, leases.
      await deps.node.linearizableBarrier(timeoutMs);
      const lease = stateMachine.lease(id);
      const deadline = keeper.deadline(id);
      if (lease === undefined || deadline === null) return { header: header(), id, ttl: -1, grantedTtl: 0, keys: [] };
      const keys = request['keys'] === true ? [...lease.keys.values()].map((key) => Buffer.from(key)).sort(Buffer.compare) : [];
      return { header: header(), id, ttl: deadline.remainingSeconds, grantedTtl: lease.ttlSeconds, keys };
    }),
    leaseLeases: unary('LeaseLeases', async (_request, timeoutMs) => {
      await deps.node.linearizableBarrier(timeoutMs);
      return { header: header(), leases: stateMachine.leases().map((lease) => ({ id: lease.id })) };
    }),
    leaseKeepAlive: keepAlive,
  };
}

/**
 * A lease id from the wire: an integer from `min` to 2^53-1. Ids are JavaScript numbers (the
 * proto loader decodes int64 to a number), so one beyond 2^53-1 arrives rounded and is refused.
 */
export function leaseId(value: unknown, field: string, min: number): number {
  const id = integerField(value, field);
  if (id < min || !Number.isSafeInteger(id)) throw new InvalidArgumentError(field, `must be a lease id from ${min} to ${Number.MAX_SAFE_INTEGER} (2^53-1), got ${String(value)}`);
  return id;
}

function integerField(value: unknown, field: string): number {
  const number = value === undefined || value === null ? 0 : Number(value);
  if (!Number.isInteger(number)) throw new InvalidArgumentError(field, `must be an integer, got ${String(value)}`);
  return number;
}

function session(wire: unknown): { session?: { clientId: string; sequence: number; ackedSequence: number } } {
  const value = wire as { clientId?: string; sequence?: number; ackedSequence?: number } | null | undefined;
  if (value === null || value === undefined || value.clientId === undefined || value.clientId === '') return {};
  return { session: { clientId: value.clientId, sequence: Number(value.sequence ?? 0), ackedSequence: Number(value.ackedSequence ?? 0) } };
}

function expect<K extends CommandResult['kind']>(result: CommandResult, kind: K): CommandResult & { kind: K } {
  if (result.kind !== kind) throw new Error(`a lease command answered ${result.kind}, expected ${kind}`);
  return result as CommandResult & { kind: K };
}
