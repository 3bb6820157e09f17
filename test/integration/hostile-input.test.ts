import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RaftKvClient, type ClientTls } from '../../src/client/index.js';
import { nodeId, type Message } from '../../src/raft/index.js';
import { initCertificateDir } from '../../src/security/certificate-dir.js';
import { serviceClient } from '../../src/shared/proto.js';
import { encodeBatch } from '../../src/transport/batch-codec.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import { nodeTlsFlags } from '../../src/shared/tls-flags.js';
import { ProcessCluster, waitFor } from './process-cluster.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * Hostile input against running nodes (issue 12): every case must end in a clean refusal (a
 * status, or a closed connection), never a crash or a hang, change no data, and leave the node
 * serving. Run with TLS off and on.
 */

/** Bytes no protobuf decoder accepts: a truncated varint, a length past the end, wire types 6 and 7. */
const malformedPayloads: readonly Buffer[] = [
  Buffer.from([0x0a, 0xff, 0xff, 0xff]),
  Buffer.from([0x0a, 0x40, 0x61, 0x62, 0x63]),
  // Field 15, wire types 6 and 7 (an unknown field number: a known one is read by its declared type).
  Buffer.from([0x7e, 0x01]),
  Buffer.from([0x7f, 0x01, 0x02]),
];

const identity = (value: Buffer): Buffer => value;

interface Method {
  readonly service: string;
  readonly name: string;
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

function clientMethods(): Method[] {
  const methods: Method[] = [];
  for (const service of ['KV', 'Cluster', 'Maintenance', 'Lease']) {
    for (const [name, definition] of Object.entries(serviceClient('raftkv/v1/kv.proto', service).service)) {
      methods.push({ service, name, path: definition.path, requestStream: definition.requestStream, responseStream: definition.responseStream });
    }
  }
  return methods;
}

/** Sends `payloads` as raw request messages on `method`; resolves with the call's final status. */
function rawCall(client: grpc.Client, method: Method, payloads: readonly Buffer[], timeoutMs = 5_000): Promise<grpc.status> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const done = (error: grpc.ServiceError | null): void => resolve(error === null ? grpc.status.OK : error.code);
    if (!method.requestStream && !method.responseStream) {
      client.makeUnaryRequest(method.path, identity, identity, payloads[0] as Buffer, { deadline }, (error) => done(error));
    } else if (method.requestStream && !method.responseStream) {
      const call = client.makeClientStreamRequest(method.path, identity, identity, { deadline }, (error) => done(error));
      for (const payload of payloads) call.write(payload);
      call.end();
    } else if (!method.requestStream) {
      const call = client.makeServerStreamRequest(method.path, identity, identity, payloads[0] as Buffer, { deadline });
      call.on('data', () => {});
      call.on('error', (error: grpc.ServiceError) => done(error));
      call.on('end', () => done(null));
    } else {
      const call = client.makeBidiStreamRequest(method.path, identity, identity, { deadline });
      call.on('data', () => {});
      call.on('error', (error: grpc.ServiceError) => done(error));
      call.on('end', () => done(null));
      for (const payload of payloads) call.write(payload);
      call.end();
    }
  });
}

/** Opens a TCP connection, writes `bytes` (if any), and resolves once the node closed it or `holdMs` passed. */
function rawSocket(address: string, bytes: Buffer | null): Promise<Socket> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => {
      if (bytes !== null) socket.write(bytes);
      resolve(socket);
    });
    socket.on('error', () => {}); // the node may reset a connection it refuses
    socket.once('error', reject);
  });
}

/** A rough resident set size of a process, from /proc. */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? 'VmRSS: 0 kB';
  return Number(/(\d+)/.exec(line)?.[1] ?? 0) * 1024;
}

describe.each(['plaintext', 'tls'] as const)('hostile input, %s', (mode) => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  let tls: ClientTls | undefined;
  let credentials: grpc.ChannelCredentials;
  let peerCredentials: grpc.ChannelCredentials;
  const known = new Map<string, string>();

  beforeAll(async () => {
    let nodeArgs: Record<string, string[]> = {};
    if (mode === 'tls') {
      const dir = join(tempDir('raftkv-hostile-'), 'tls');
      await initCertificateDir(dir, { nodes: ['n1', 'n2', 'n3'], clients: ['client'], hosts: [], validDays: 1, caValidDays: 1, overwrite: false });
      nodeArgs = { n1: nodeTlsFlags(dir, 'n1'), n2: nodeTlsFlags(dir, 'n2'), n3: nodeTlsFlags(dir, 'n3') };
      tls = { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')) };
      credentials = grpc.credentials.createSsl(tls.ca as Buffer, tls.key as Buffer, tls.cert as Buffer);
      // An attacker who can reach the peer port but holds no certificate of the cluster's CA.
      peerCredentials = grpc.credentials.createSsl(tls.ca as Buffer);
    } else {
      credentials = grpc.credentials.createInsecure();
      peerCredentials = grpc.credentials.createInsecure();
    }
    cluster = await ProcessCluster.create(3, { nodeArgs });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, ...(tls === undefined ? {} : { tls }) });
    await cluster.waitForLeader(client);
    for (let i = 0; i < 20; i++) {
      known.set(`hostile/${i}`, `value-${i}`);
      await client.put(`hostile/${i}`, `value-${i}`);
    }
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  /** After each case: every node still runs, serves a write and a read, and holds the data it had. */
  async function expectUnharmed(): Promise<void> {
    for (const node of cluster.nodes) expect(node.child, `${node.id} is running`).not.toBeNull();
    const marker = `hostile/marker-${Date.now()}`;
    await client.put(marker, 'ok');
    for (const endpoint of cluster.endpoints) {
      const pinned = new RaftKvClient({ endpoints: [endpoint], pinned: true, timeoutMs: 20_000, ...(tls === undefined ? {} : { tls }) });
      try {
        expect((await pinned.get(marker))?.value.toString()).toBe('ok');
        const range = await pinned.range({ prefix: 'hostile/' }, { limit: 1000 });
        for (const [key, value] of known) expect(range.kvs.find((kv) => kv.key.toString() === key)?.value.toString(), `${endpoint} ${key}`).toBe(value);
      } finally {
        pinned.close();
      }
    }
  }

  function grpcClient(address: string, peer = false): grpc.Client {
    return new grpc.Client(address, peer ? peerCredentials : credentials, { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  }

  it('malformed and truncated protobuf on every client RPC is refused with a status', async () => {
    const stub = grpcClient(cluster.endpoints[0] as string);
    try {
      for (const method of clientMethods()) {
        for (const payload of malformedPayloads) {
          const code = await rawCall(stub, method, [payload]);
          // A refusal is any status but the ones that mean a hang, a crash or an unhandled
          // exception; protobufjs reads a known field number by its declared type, so some of
          // these bytes decode into a request that is then refused on its merits (NOT_FOUND...).
          expect([grpc.status.OK, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE, grpc.status.UNKNOWN], `${method.service}.${method.name} ${payload.toString('hex')} -> ${grpc.status[code]}`).not.toContain(code);
        }
      }
    } finally {
      stub.close();
    }
    await expectUnharmed();
  }, 120_000);

  it('a request whose int64 varint is cut short (protobufjs alone reads on past the end) is refused whole, changing nothing', async () => {
    const stub = grpcClient(cluster.endpoints[0] as string);
    const put = clientMethods().find((m) => m.service === 'KV' && m.name === 'Put') as Method;
    const definition = serviceClient('raftkv/v1/kv.proto', 'KV').service['Put'] as grpc.MethodDefinition<unknown, unknown>;
    const bytes = definition.requestSerialize({ key: Buffer.from('hostile/cut-short'), value: Buffer.from('v'), lease: 3_000_000_000 }) as Buffer;
    try {
      // Refused as it arrives (grpc-js: INTERNAL, "Error deserializing request"), not decoded into a put naming another lease.
      expect(await rawCall(stub, put, [bytes.subarray(0, bytes.length - 1)])).toBe(grpc.status.INTERNAL);
    } finally {
      stub.close();
    }
    expect(await client.get('hostile/cut-short')).toBeNull();
    await expectUnharmed();
  }, 60_000);

  it('an operation id beyond 2^53 on KV.Stream is answered, not a crash', async () => {
    const stub = grpcClient(cluster.endpoints[0] as string);
    const stream = clientMethods().find((m) => m.service === 'KV' && m.name === 'Stream') as Method;
    const definition = serviceClient('raftkv/v1/kv.proto', 'KV').service['Stream'] as grpc.MethodDefinition<unknown, unknown>;
    const payload = definition.requestSerialize({ operations: [{ id: '18446744073709551615', get: { key: Buffer.from('hostile/0') } }] }) as Buffer;
    try {
      expect(await rawCall(stub, stream, [payload])).toBe(grpc.status.OK);
    } finally {
      stub.close();
    }
    await expectUnharmed();
  }, 60_000);

  it('malformed protobuf and random bytes on the peer RPCs are refused', async () => {
    const peerAddress = cluster.nodes[0]?.peerAddress as string;
    const stub = grpcClient(peerAddress, true);
    const proto = raftPeerProto();
    const methods: Method[] = [
      { service: 'RaftPeer', name: 'Send', path: proto.send.path, requestStream: true, responseStream: false },
      { service: 'RaftPeer', name: 'InstallSnapshot', path: proto.installSnapshot.path, requestStream: true, responseStream: false },
    ];
    try {
      for (const method of methods) {
        for (const payload of [...malformedPayloads, randomBytes(4096)]) {
          const code = await rawCall(stub, method, [payload, randomBytes(100)]);
          // Without a certificate of the cluster's CA the handshake itself fails: UNAVAILABLE.
          const refusals = mode === 'tls' ? [grpc.status.UNAVAILABLE] : [grpc.status.INTERNAL, grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED];
          expect(refusals, `${method.name} -> ${grpc.status[code]}`).toContain(code);
        }
      }
    } finally {
      stub.close();
    }
    await expectUnharmed();
  }, 120_000);

  it('peer batches from an unknown member, another cluster, or a stale term with garbage entries change nothing', async () => {
    const target = cluster.nodes[0] as { id: string; peerAddress: string };
    const proto = raftPeerProto();
    // Move the cluster past term 2, so that a term below the current one can hold an entry of term 1.
    for (;;) {
      const { term, leaderId } = await client.status(cluster.endpoints[0] as string);
      if (term >= 3) break;
      await client.transferLeadership(cluster.nodes.map((n) => n.id).find((id) => id !== leaderId) as string);
    }
    const status = await client.status(cluster.endpoints[0] as string);
    const garbage: Message = {
      type: 'append',
      from: nodeId('n2'),
      to: nodeId(target.id),
      term: status.term - 1,
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [{ term: 1, index: 2, type: 'normal', data: randomBytes(64) }],
      commit: 2,
    };
    const batches = [
      { batch: encodeBatch('raftkv', nodeId('n9'), [{ ...garbage, from: nodeId('n9') }]), plaintext: grpc.status.INVALID_ARGUMENT },
      { batch: encodeBatch('another-cluster', nodeId('n2'), [garbage]), plaintext: grpc.status.PERMISSION_DENIED },
      // A member id the node knows, in a term it has left behind: Raft ignores it (§5.1).
      { batch: encodeBatch('raftkv', nodeId('n2'), [garbage]), plaintext: grpc.status.OK },
    ];
    const stub = grpcClient(target.peerAddress, true);
    try {
      for (const { batch, plaintext } of batches) {
        const [code, details] = await new Promise<[grpc.status, string]>((resolve) => {
          const call = stub.makeClientStreamRequest(proto.send.path, proto.send.serializeBatch, identity, { deadline: Date.now() + 5_000 }, (error) =>
            resolve(error === null ? [grpc.status.OK, ''] : [error.code, error.details]),
          );
          call.write(batch);
          call.end();
        });
        expect(code, `${batch.clusterId}/${batch.from}: ${details}`).toBe(mode === 'tls' ? grpc.status.UNAVAILABLE : plaintext);
      }
    } finally {
      stub.close();
    }
    expect((await client.status(cluster.endpoints[0] as string)).term).toBeGreaterThanOrEqual(status.term);
    await expectUnharmed();
  }, 120_000);

  it('snapshot streams out of order or with a giant frame are refused', async () => {
    const proto = raftPeerProto();
    const stub = grpcClient(cluster.nodes[0]?.peerAddress as string, true);
    const send = (chunks: readonly Parameters<typeof proto.installSnapshot.serializeChunk>[0][]): Promise<grpc.status> =>
      new Promise((resolve) => {
        const call = stub.makeClientStreamRequest(proto.installSnapshot.path, proto.installSnapshot.serializeChunk, identity, { deadline: Date.now() + 10_000 }, (error) =>
          resolve(error === null ? grpc.status.OK : error.code),
        );
        call.on('error', () => {});
        for (const chunk of chunks) call.write(chunk);
        call.end();
      });
    try {
      const outOfOrder = await send([{ data: randomBytes(1024) }, { data: randomBytes(1024) }]);
      const giant = await send([{ data: randomBytes(40 * 1024 * 1024) }]);
      if (mode === 'tls') {
        expect([outOfOrder, giant]).toEqual([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
      } else {
        expect(outOfOrder).toBe(grpc.status.INVALID_ARGUMENT);
        expect([grpc.status.RESOURCE_EXHAUSTED, grpc.status.INVALID_ARGUMENT]).toContain(giant);
      }
    } finally {
      stub.close();
    }
    await expectUnharmed();
  }, 120_000);

  it('random bytes on the peer and client ports are dropped', async () => {
    for (const node of cluster.nodes) {
      for (const address of [node.peerAddress, node.clientAddress]) {
        const socket = await rawSocket(address, randomBytes(64 * 1024));
        await new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 2_000).unref();
        });
      }
    }
    await expectUnharmed();
  }, 120_000);

  it('oversized keys, values and requests are refused, naming the limit', async () => {
    await expect(client.put('k'.repeat(5000), 'v')).rejects.toThrow(/key/);
    await expect(client.put('hostile/big', Buffer.alloc(1024 * 1024 + 1))).rejects.toThrow(/value/);
    const stub = grpcClient(cluster.endpoints[0] as string);
    try {
      const put = clientMethods().find((m) => m.service === 'KV' && m.name === 'Put') as Method;
      const code = await rawCall(stub, put, [Buffer.concat([Buffer.from([0x12, 0x80, 0x80, 0x80, 0x02]), Buffer.alloc(4 * 1024 * 1024)])]);
      expect([grpc.status.RESOURCE_EXHAUSTED, grpc.status.INVALID_ARGUMENT]).toContain(code);
    } finally {
      stub.close();
    }
    expect(await client.get('hostile/big')).toBeNull();
    await expectUnharmed();
  }, 120_000);

  it('10,000 idle connections do not stop the node serving', async () => {
    // At the leader, which must keep serving writes and the heartbeats of its followers.
    const address = cluster.node(await cluster.waitForLeader(client)).clientAddress;
    const sockets: Socket[] = [];
    try {
      for (let opened = 0; opened < 10_000; opened += 500) {
        sockets.push(...(await Promise.all(Array.from({ length: 500 }, () => rawSocket(address, null)))));
      }
      const pinned = new RaftKvClient({ endpoints: [address], pinned: true, timeoutMs: 20_000, ...(tls === undefined ? {} : { tls }) });
      try {
        await pinned.put('hostile/while-idle', 'ok');
        expect((await pinned.get('hostile/while-idle'))?.value.toString()).toBe('ok');
      } finally {
        pinned.close();
      }
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    known.set('hostile/while-idle', 'ok');
    await expectUnharmed();
  }, 180_000);

  it('clients that open streams and never read hold no unbounded memory and block no one', async () => {
    const leader = await cluster.waitForLeader(client);
    const node = cluster.node(leader);
    const pid = cluster.pid(node.id);
    const before = rssBytes(pid);
    const stream = clientMethods().find((m) => m.service === 'KV' && m.name === 'Stream') as Method;
    const stubs: grpc.Client[] = [];
    const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
    // Valid frames of small gets: a reader that never reads leaves their answers to pile up.
    const serialize = serviceClient('raftkv/v1/kv.proto', 'KV').service['Stream']?.requestSerialize as (value: unknown) => Buffer;
    const getFrame = (id: number): Buffer => serialize({ operations: [{ id, get: { key: Buffer.from(`hostile/${id % 20}`) } }] });
    try {
      for (let s = 0; s < 20; s++) {
        const stub = grpcClient(node.clientAddress);
        stubs.push(stub);
        const call = stub.makeBidiStreamRequest(stream.path, identity, identity, { deadline: Date.now() + 120_000 });
        call.on('error', () => {});
        call.pause(); // never read
        for (let i = 0; i < 2_000; i++) call.write(getFrame(i));
        calls.push(call);
      }
      const pinned = new RaftKvClient({ endpoints: [node.clientAddress], pinned: true, timeoutMs: 20_000, ...(tls === undefined ? {} : { tls }) });
      try {
        await pinned.put('hostile/not-blocked', 'ok');
        expect((await pinned.get('hostile/not-blocked'))?.value.toString()).toBe('ok');
      } finally {
        pinned.close();
      }
      expect(rssBytes(pid) - before, 'RSS growth').toBeLessThan(512 * 1024 * 1024);
    } finally {
      for (const call of calls) call.cancel();
      for (const stub of stubs) stub.close();
    }
    known.set('hostile/not-blocked', 'ok');
    await expectUnharmed();
  }, 180_000);

  it('with auth on: garbage tokens, oversized auth requests and a flood of bad passwords are refused', async () => {
    await client.auth.addUser('root', 'rootpw');
    await client.auth.enable();
    const root = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, auth: { user: 'root', password: 'rootpw' }, ...(tls === undefined ? {} : { tls }) });
    const stub = grpcClient(cluster.endpoints[0] as string);
    try {
      const get = clientMethods().find((m) => m.service === 'KV' && m.name === 'Get') as Method;
      const request = serviceClient('raftkv/v1/kv.proto', 'KV').service['Get']?.requestSerialize as (value: unknown) => Buffer;
      const garbageTokens = ['x', 'v1....', 'v1.cm9vdA.99999999999.1.AAAA', 'A'.repeat(4000), randomBytes(300).toString('base64'), '\u00ff\u0000']
        .map((token) => token.replace(/[^\x20-\x7e]/g, '?'));
      for (const token of garbageTokens) {
        const metadata = new grpc.Metadata();
        metadata.set('token', token);
        const code = await new Promise<grpc.status>((resolve) =>
          stub.makeUnaryRequest(get.path, request, identity, { key: Buffer.from('hostile/0'), consistency: 'LINEARIZABLE' }, metadata, { deadline: Date.now() + 5_000 }, (error) =>
            resolve(error === null ? grpc.status.OK : error.code),
          ),
        );
        expect(code, `token ${token.slice(0, 40)}`).toBe(grpc.status.UNAUTHENTICATED);
      }
      // Oversized fields: refused before any hashing.
      await expect(root.auth.authenticate('root', 'p'.repeat(100_000))).rejects.toThrow(/password: at most 1024 bytes/);
      await expect(root.auth.addUser('u'.repeat(1000), 'pw')).rejects.toThrow(/name: .*1\.\.128 bytes/);
      // 300 wrong passwords at once: each refused (UNAUTHENTICATED, or RESOURCE_EXHAUSTED, which the SDK retries until its deadline, once
      // the bounded hash queue is full), none hangs, and the node serves meanwhile.
      const flood = Array.from({ length: 300 }, () => client.auth.authenticate('root', 'wrong', { timeoutMs: 3000 }).then(() => 'accepted', (e: Error) => e.name));
      expect((await root.get('hostile/0'))?.value.toString()).toBe('value-0');
      const outcomes = await Promise.all(flood);
      expect(outcomes.filter((o) => o === 'accepted')).toEqual([]);
      expect(outcomes.filter((o) => o === 'AuthenticationError').length).toBeGreaterThan(0);
      await root.auth.disable();
      // The disable is answered once the leader applied it; a follower that has not yet would
      // still refuse expectUnharmed's anonymous reads (the check runs before the read waits).
      await waitFor('every node to apply auth disable', async () => {
        const statuses = await cluster.statuses(client);
        const commit = Math.max(...statuses.map((status) => status.commitIndex));
        return statuses.length === cluster.nodes.length && statuses.every((status) => status.appliedIndex >= commit) ? true : undefined;
      });
    } finally {
      stub.close();
      root.close();
    }
    await expectUnharmed();
  }, 180_000);
});
