import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MembershipChangeError, RaftKvClient, TimeoutError, type MembershipChangeRefusal } from '../../src/client/index.js';
import { refusalCode, refusalMetadataKey, toGrpcError } from '../../src/server/grpc-errors.js';
import { MembershipChangeRefusedError, RemovedNodeError, type MembershipRefusal } from '../../src/shared/errors.js';
import { serviceClient } from '../../src/shared/proto.js';

const logger = pino({ level: 'silent' });
const kvProto = 'raftkv/v1/kv.proto';

type ClusterHandler = (request: Record<string, unknown>) => Promise<unknown>;

/** A stand-in node serving Cluster (and KV.Get) with handlers whose errors go through the server's real mapping. */
async function standIn(handlers: Record<string, ClusterHandler>): Promise<{ address: string; calls: string[]; close(): void }> {
  const calls: string[] = [];
  const server = new grpc.Server();
  const unary = (name: string) => (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    calls.push(name);
    const handler = handlers[name];
    if (handler === undefined) return callback({ code: grpc.status.UNIMPLEMENTED, details: `${name} is not faked` });
    handler(call.request).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toGrpcError(error, logger) as grpc.ServiceError),
    );
  };
  const names = ['status', 'transferLeadership', 'memberList', 'memberAdd', 'memberPromote', 'memberRemove'];
  server.addService(serviceClient(kvProto, 'Cluster').service, Object.fromEntries(names.map((n) => [n, unary(n)])));
  server.addService(serviceClient(kvProto, 'KV').service, { get: unary('get') });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { address: `127.0.0.1:${port}`, calls, close: () => server.forceShutdown() };
}

const wireMember = (id: string, clientAddress: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  peerAddress: `${id}.peer:7000`,
  clientAddress,
  voter: true,
  role: 'voter',
  autoPromote: false,
  leader: false,
  hasProgress: true,
  matchIndex: 10,
  lag: 0,
  ...extra,
});

describe('membership refusals: server error -> gRPC status -> SDK error', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  const table: { reason: MembershipRefusal; code: grpc.status }[] = [
    { reason: 'member-exists', code: grpc.status.ALREADY_EXISTS },
    { reason: 'address-in-use', code: grpc.status.ALREADY_EXISTS },
    { reason: 'unknown-member', code: grpc.status.NOT_FOUND },
    { reason: 'change-pending', code: grpc.status.FAILED_PRECONDITION },
    { reason: 'leader-not-ready', code: grpc.status.FAILED_PRECONDITION },
    { reason: 'learner-not-caught-up', code: grpc.status.FAILED_PRECONDITION },
    { reason: 'would-remove-last-voter', code: grpc.status.FAILED_PRECONDITION },
    { reason: 'cluster-id-mismatch', code: grpc.status.FAILED_PRECONDITION },
    { reason: 'invalid', code: grpc.status.INVALID_ARGUMENT },
  ];
  for (const { reason, code } of table) {
    it(`${reason}: ${grpc.status[code]} with raftkv-refusal, then MembershipChangeError('${reason}') in the SDK, asked once`, async () => {
      expect(refusalCode(reason)).toBe(code);
      const status = toGrpcError(new MembershipChangeRefusedError(reason, 'the detail'), logger);
      expect(status.code).toBe(code);
      expect(status.metadata?.get(refusalMetadataKey)).toEqual([reason]);

      const node = await standIn({ memberAdd: () => Promise.reject(new MembershipChangeRefusedError(reason, 'the detail')) });
      cleanup.push(node.close);
      const client = new RaftKvClient({ endpoints: [node.address], timeoutMs: 3000 });
      cleanup.push(() => client.close());
      const error = await client.addMember({ id: 'n4', peerAddress: 'h:1' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MembershipChangeError);
      expect((error as MembershipChangeError).reason satisfies MembershipChangeRefusal).toBe(reason);
      expect((error as Error).message).toBe(`memberAdd: ${reason}: the detail`);
      // Not retried, change-pending and leader-not-ready included: the caller decides.
      expect(node.calls).toEqual(['memberAdd']);
    });
  }

  it('a change that times out is not retried and reports an unknown outcome', async () => {
    const node = await standIn({ memberRemove: () => new Promise(() => {}) });
    cleanup.push(node.close);
    const client = new RaftKvClient({ endpoints: [node.address], timeoutMs: 300 });
    cleanup.push(() => client.close());
    const error = await client.removeMember('n2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/whether the change happened is unknown/);
    expect(node.calls).toEqual(['memberRemove']);
  });

  it('members() maps the list, with null progress where the leader has none', async () => {
    const node = await standIn({
      memberList: async () => ({
        members: [wireMember('n1', 'h1:8000', { leader: true }), wireMember('n4', '', { voter: false, role: 'learner', autoPromote: true, hasProgress: false, matchIndex: 0 })],
        leaderId: 'n1',
        joint: false,
      }),
    });
    cleanup.push(node.close);
    const client = new RaftKvClient({ endpoints: [node.address], timeoutMs: 3000 });
    cleanup.push(() => client.close());
    expect(await client.members()).toEqual({
      members: [
        { id: 'n1', peerAddress: 'n1.peer:7000', clientAddress: 'h1:8000', role: 'voter', autoPromote: false, leader: true, matchIndex: 10, lag: 0 },
        { id: 'n4', peerAddress: 'n4.peer:7000', clientAddress: '', role: 'learner', autoPromote: true, leader: false, matchIndex: null, lag: null },
      ],
      leaderId: 'n1',
      joint: false,
    });
  });

  it('a removed node points the client at a member; the client goes there and forgets the removed node', async () => {
    const member = await standIn({ get: async () => ({ header: { memberId: 'n2', term: 1, revision: 5 }, found: false }) });
    cleanup.push(member.close);
    const removed = await standIn({ get: () => Promise.reject(new RemovedNodeError('n3', 'n2', member.address)) });
    cleanup.push(removed.close);
    const client = new RaftKvClient({ endpoints: [removed.address], timeoutMs: 3000, transport: 'unary' });
    cleanup.push(() => client.close());
    expect(await client.get('k')).toBeNull();
    expect(await client.get('k')).toBeNull();
    expect(removed.calls).toEqual(['get']);
    expect(member.calls.filter((c) => c === 'get')).toEqual(['get', 'get']);
    // It also asked the member for the member list in the background, to learn the others.
    await expect.poll(() => member.calls.includes('memberList')).toBe(true);
    const status = toGrpcError(new RemovedNodeError('n3', 'n2', member.address), logger);
    expect(status).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: 'this node (n3) was removed from the cluster' });
  });
});
