/**
 * The gRPC transport over real sockets on 127.0.0.1 (integration: real time and ports, but every
 * wait is a condition with a deadline, never a sleep).
 */
import * as grpc from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeId, type Message, type NodeId } from '../../src/raft/index.js';
import { GrpcTransport, type KeepaliveOptions, type PeerSenderStats, type TransportLimits } from '../../src/transport/index.js';
import type { SnapshotStore } from '../../src/transport/transport.js';
import { encodeBatch } from '../../src/transport/batch-codec.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import type { WireMessageBatch } from '../../src/transport/wire-types.js';
import { bytes, heartbeat, oneOfEach, probe, snapshotMessage } from './fixtures.js';
import { BlackholeProxy, MemorySnapshotStore, RecordedEvents, memoryLogger, unusedPort, waitFor } from './harness.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const n3 = nodeId('n3');

interface TestNode {
  readonly id: NodeId;
  readonly transport: GrpcTransport;
  readonly events: RecordedEvents;
  readonly logs: Record<string, unknown>[];
}

const transports: GrpcTransport[] = [];
const rawServers: grpc.Server[] = [];
const rawClients: grpc.Client[] = [];
const proxies: BlackholeProxy[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await Promise.all(transports.splice(0).map((transport) => transport.close(2000)));
  for (const server of rawServers.splice(0)) server.forceShutdown();
  for (const client of rawClients.splice(0)) client.close();
  // Every socket of the test must be gone, or vitest would hang on exit.
  await waitFor('no TCP handles left open', () => tcpHandles() === 0);
});

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource.startsWith('TCP')).length;
}

async function startNode(
  id: NodeId,
  options: {
    peers?: ReadonlyMap<NodeId, string>;
    peerDialOverrides?: ReadonlyMap<NodeId, string>;
    listenAddress?: string;
    limits?: Partial<TransportLimits>;
    keepalive?: Partial<KeepaliveOptions>;
    logger?: Logger;
    snapshots?: SnapshotStore;
  } = {},
): Promise<TestNode> {
  const { logger, records } = options.logger === undefined ? memoryLogger() : { logger: options.logger, records: [] };
  const transport = new GrpcTransport({
    clusterId: 'alpha',
    selfId: id,
    listenAddress: options.listenAddress ?? '127.0.0.1:0',
    peers: options.peers ?? new Map(),
    peerDialOverrides: options.peerDialOverrides,
    logger,
    limits: options.limits,
    keepalive: options.keepalive,
    snapshots: options.snapshots,
    // Fast reconnects keep the tests short; the schedule itself is unit-tested in backoff.test.ts.
    backoff: { initialMs: 20, maxMs: 200 },
  });
  transports.push(transport);
  const events = new RecordedEvents();
  await transport.start(events);
  return { id, transport, events, logs: records };
}

/** Starts nodes on port 0 and tells each the others' bound addresses. */
async function startCluster(ids: readonly NodeId[], limits?: Partial<TransportLimits>): Promise<TestNode[]> {
  const nodes = await Promise.all(ids.map((id) => startNode(id, { limits })));
  for (const node of nodes) for (const other of nodes) if (other !== node) node.transport.setPeerAddress(other.id, other.transport.boundAddress);
  return nodes;
}

/** Opens a raw RaftPeer.Send stream (not the transport), writes `batches`, half-closes, and returns the outcome. */
function rawSend(address: string, batches: readonly unknown[]): Promise<{ error: grpc.ServiceError | null; summary: unknown }> {
  const { path, serializeBatch, deserializeSummary } = raftPeerProto().send;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  rawClients.push(client);
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest<WireMessageBatch, unknown>(path, serializeBatch, deserializeSummary, (error, summary) =>
      resolve({ error, summary }),
    );
    call.on('error', () => undefined);
    for (const batch of batches) call.write(batch as WireMessageBatch);
    call.end();
  });
}

/** A RaftPeer server that accepts streams and then does what `behaviour` says with each. */
async function startRawPeer(behaviour: (call: grpc.ServerReadableStream<unknown, unknown>) => void): Promise<string> {
  const server = new grpc.Server();
  rawServers.push(server);
  server.addService(raftPeerProto().service, {
    Send: (call: grpc.ServerReadableStream<unknown, unknown>) => {
      call.sendMetadata(new grpc.Metadata());
      behaviour(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return `127.0.0.1:${port}`;
}

describe('GrpcTransport between live nodes', () => {
  it('three nodes exchange every message type and each receives exactly what was sent, in order per pair', async () => {
    // A small batch size, so the 30+ messages per pair span several frames.
    const nodes = await startCluster([n1, n2, n3], { batchMessagesMax: 5 });
    const sent = new Map<string, Message[]>();
    // Snapshots travel on their own stream (snapshot-transfer.test.ts).
    const streamed = (from: NodeId, to: NodeId, term: number): Message[] => oneOfEach(from, to, term).filter((message) => message.type !== 'snapshot');
    for (let round = 1; round <= 3; round += 1) {
      for (const node of nodes) {
        // One send() per round carrying messages for both peers: the transport groups them by `to`.
        const outgoing = nodes.filter((other) => other !== node).flatMap((other) => streamed(node.id, other.id, 10 * round));
        for (const message of outgoing) sent.set(`${message.from}->${message.to}`, [...(sent.get(`${message.from}->${message.to}`) ?? []), message]);
        node.transport.send(outgoing);
      }
    }
    const perPair = streamed(n1, n2, 7).length * 3;
    for (const node of nodes) await waitFor(`${node.id} received from both peers`, () => node.events.messages.length === 2 * perPair);
    for (const receiver of nodes) {
      for (const sender of nodes) {
        if (sender === receiver) continue;
        expect(receiver.events.from(sender.id), `${sender.id}->${receiver.id}`).toEqual(sent.get(`${sender.id}->${receiver.id}`));
      }
      // Every frame was cut at the configured batch size.
      expect(Math.max(...receiver.events.deliveries.map((delivery) => delivery.length))).toBeLessThanOrEqual(5);
    }
    for (const node of nodes) {
      expect(node.events.unreachable).toEqual([]);
      const stats = node.transport.stats();
      expect([...stats.peers.values()].map((peer) => peer.sentMessages)).toEqual([perPair, perPair]);
      expect(stats.received.receivedMessages).toBe(2 * perPair);
      expect(stats.received.refusedBatches).toBe(0);
    }
  });

  it('follows a peer to a new address', async () => {
    const [a, b] = await startCluster([n1, n2]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    a.transport.send([heartbeat(n1, n2, 1)]);
    await waitFor('first heartbeat at the first n2', () => b.events.messages.length === 1);
    const b2 = await startNode(n2, { peers: new Map([[n1, a.transport.boundAddress]]) });
    a.transport.setPeerAddress(n2, b2.transport.boundAddress);
    a.transport.send([heartbeat(n1, n2, 2)]);
    await waitFor('second heartbeat at the new n2', () => b2.events.messages.length === 1);
    expect(b2.events.messages).toEqual([heartbeat(n1, n2, 2)]);
    expect(b.events.messages).toEqual([heartbeat(n1, n2, 1)]);
    // Moving is not failing.
    expect(a.events.unreachable).toEqual([]);
  });
});

describe('GrpcTransport sending a backlog (a follower catching up)', () => {
  it('cuts it into frames of at most batchBytesMax and writes one per turn of the event loop', async () => {
    const [a, b] = await startCluster([n1, n2]);
    if (a === undefined || b === undefined) throw new Error('two nodes expected');
    a.transport.send([heartbeat(n1, n2, 1)]);
    await waitFor('the stream to open', () => b.events.messages.length === 1);
    // 64 AppendEntries of 128 KiB: 8 MiB, what a leader's window can hold for one follower.
    const appends: Message[] = Array.from({ length: 64 }, (_, i) => ({
      type: 'append',
      from: n1,
      to: n2,
      term: 1,
      prevLogIndex: i * 32,
      prevLogTerm: 1,
      entries: Array.from({ length: 32 }, (_, j) => ({ index: i * 32 + j + 1, term: 1, type: 'normal' as const, data: new Uint8Array(4096) })),
      commit: 0,
    }));
    const batchesBefore = a.transport.stats().peers.get(n2)?.sentBatches ?? 0;
    a.transport.send(appends);
    const batchesAtOnce = (a.transport.stats().peers.get(n2)?.sentBatches ?? 0) - batchesBefore;
    await Promise.resolve();
    const batchesAfterMicrotasks = (a.transport.stats().peers.get(n2)?.sentBatches ?? 0) - batchesBefore;
    await waitFor('every append to arrive', () => b.events.messages.length === 65, 30_000);
    // In order and whole (compared by their entries' positions and sizes: deep equality of 8 MiB is slow).
    const shape = (messages: readonly Message[]): string[] => messages.map((m) => (m.type === 'append' ? `${m.prevLogIndex}:${m.entries.map((e) => `${e.index}/${e.data.byteLength}`).join(',')}` : m.type));
    expect(shape(b.events.messages.slice(1))).toEqual(shape(appends));
    const frameBytes = b.events.deliveries.slice(1).map((delivery) => delivery.reduce((sum, m) => sum + (m.type === 'append' ? m.entries.reduce((s, e) => s + e.data.byteLength, 0) : 0), 0));
    expect(Math.max(...frameBytes)).toBeLessThanOrEqual(1024 * 1024);
    expect(frameBytes.length).toBeGreaterThanOrEqual(8);
    // The first frame goes at once; the rest waits for later turns (not microtasks): timers and
    // I/O run between frames.
    expect(batchesAtOnce).toBe(1);
    expect(batchesAfterMicrotasks).toBe(1);
  });
});

describe('GrpcTransport with peer dial overrides', () => {
  it('dials the override instead of the address it is given, at start and on setPeerAddress', async () => {
    const b = await startNode(n2);
    const c = await startNode(n3);
    const nowhere = `127.0.0.1:${await unusedPort()}`;
    const alsoNowhere = `127.0.0.1:${await unusedPort()}`;
    // The address book says n2 and n3 are nowhere; the overrides say where to dial them.
    const a = await startNode(n1, {
      peers: new Map([[n2, nowhere]]),
      peerDialOverrides: new Map([
        [n2, b.transport.boundAddress],
        [n3, c.transport.boundAddress],
      ]),
    });
    b.transport.setPeerAddress(n1, a.transport.boundAddress);
    c.transport.setPeerAddress(n1, a.transport.boundAddress);
    a.transport.send([heartbeat(n1, n2, 1)]);
    await waitFor('a heartbeat at n2 through its override', () => b.events.messages.length === 1);
    // n3 is not a peer until it is added; then the override applies, not the address given.
    a.transport.send([heartbeat(n1, n3, 1)]);
    expect(a.transport.stats().unknownPeerDroppedMessages).toBe(1);
    a.transport.setPeerAddress(n3, alsoNowhere);
    a.transport.send([heartbeat(n1, n3, 2)]);
    await waitFor('a heartbeat at n3 through its override', () => c.events.messages.length === 1);
    // A new address-book entry for n2 does not move it off its override.
    a.transport.setPeerAddress(n2, alsoNowhere);
    a.transport.send([heartbeat(n1, n2, 3)]);
    await waitFor('a second heartbeat at n2', () => b.events.messages.length === 2);
    expect(b.events.messages).toEqual([heartbeat(n1, n2, 1), heartbeat(n1, n2, 3)]);
    expect(c.events.messages).toEqual([heartbeat(n1, n3, 2)]);
    expect(a.events.unreachable).toEqual([]);
  });
});

describe('GrpcTransport with a peer that is down', () => {
  it('does not throw or block, reports the peer unreachable, and delivers once the peer starts on that address', async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const a = await startNode(n1, { peers: new Map([[n2, address]]) });
    a.transport.send([probe(n1, n2, 1)]);
    // send() only queued it: nothing could have been written to a peer that is not there.
    expect(a.transport.stats().peers.get(n2)?.queuedMessages).toBe(1);
    await waitFor('n2 reported unreachable', () => a.events.unreachable.length > 0);
    expect(new Set(a.events.unreachable)).toEqual(new Set([n2]));
    a.transport.send([probe(n1, n2, 2)]);

    const b = await startNode(n2, { listenAddress: address, peers: new Map([[n1, a.transport.boundAddress]]) });
    await waitFor('messages queued while n2 was down arrive', () => b.events.messages.length === 2);
    a.transport.send([probe(n1, n2, 3)]);
    await waitFor('a message sent after the reconnect arrives', () => b.events.messages.length === 3);
    expect(b.events.messages).toEqual([probe(n1, n2, 1), probe(n1, n2, 2), probe(n1, n2, 3)]);
    const stats = a.transport.stats().peers.get(n2);
    expect(stats?.state).toBe('open');
    expect(stats?.streamFailures).toBeGreaterThanOrEqual(1);
    // Once per failure, never more.
    expect(a.events.unreachable.length).toBeLessThanOrEqual(stats?.streamFailures ?? 0);
  });

  it('keeps the queue bounded, dropping the oldest: only the newest queueMessagesMax arrive after the peer starts', async () => {
    const queueMessagesMax = 64;
    const address = `127.0.0.1:${await unusedPort()}`;
    const a = await startNode(n1, { peers: new Map([[n2, address]]), limits: { queueMessagesMax } });
    const total = 10 * queueMessagesMax;
    for (let commit = 1; commit <= total; commit += 1) a.transport.send([probe(n1, n2, commit)]);
    const stats = a.transport.stats().peers.get(n2);
    expect(stats?.queuedMessages).toBe(queueMessagesMax);
    expect(stats?.droppedMessages).toBe(total - queueMessagesMax);
    expect(a.logs.filter((record) => record['msg'] === 'send queue full: dropping the oldest messages')).toHaveLength(1);

    const b = await startNode(n2, { listenAddress: address, peers: new Map([[n1, a.transport.boundAddress]]) });
    await waitFor('the queued messages arrive', () => b.events.messages.length === queueMessagesMax);
    const commits = b.events.messages.map((message) => (message.type === 'append' ? message.commit : -1));
    expect(commits).toEqual(Array.from({ length: queueMessagesMax }, (_, i) => total - queueMessagesMax + 1 + i));
    await waitFor('the queue drained', () => a.transport.stats().peers.get(n2)?.queuedMessages === 0);
  });

  it('keeps only the newest heartbeat of a term while the peer is away, so a heal does not bring a burst of them', async () => {
    const address = `127.0.0.1:${await unusedPort()}`;
    const a = await startNode(n1, { peers: new Map([[n2, address]]) });
    for (let commit = 1; commit <= 100; commit += 1) a.transport.send([heartbeat(n1, n2, commit), probe(n1, n2, commit)]);
    const stats = a.transport.stats().peers.get(n2);
    expect(stats?.queuedMessages).toBe(101);
    expect(stats?.droppedMessages).toBe(99);
    const b = await startNode(n2, { listenAddress: address, peers: new Map([[n1, a.transport.boundAddress]]) });
    await waitFor('the queued messages arrive', () => b.events.messages.length === 101);
    expect(b.events.messages.filter((message) => message.type === 'heartbeat')).toEqual([heartbeat(n1, n2, 100)]);
    // The other messages keep their order.
    expect(b.events.messages.filter((message) => message.type === 'append').map((message) => (message.type === 'append' ? message.commit : -1))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('drops messages for a node it has no address for, and reports such a snapshot undelivered', async () => {
    const a = await startNode(n1);
    expect(() => a.transport.send([heartbeat(n1, n3, 1), snapshotMessage(n1, n3, 9)])).not.toThrow();
    expect(a.transport.stats().unknownPeerDroppedMessages).toBe(2);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(a.events.snapshotStatus).toEqual([{ peer: n3, delivered: false }]);
  });
});

describe('GrpcTransport with a peer that goes silent', () => {
  it('notices through keepalive that an open stream is dead, and reports the peer unreachable', async () => {
    const b = await startNode(n2);
    const proxy = await BlackholeProxy.start(b.transport.boundAddress);
    proxies.push(proxy);
    const a = await startNode(n1, { peers: new Map([[n2, proxy.address]]), keepalive: { timeMs: 200, timeoutMs: 200 } });
    b.transport.setPeerAddress(n1, a.transport.boundAddress);
    a.transport.send([heartbeat(n1, n2, 1)]);
    await waitFor('the heartbeat arrives through the proxy', () => b.events.messages.length === 1);
    proxy.blackhole();
    // No RST, no FIN: only an unanswered ping can tell.
    await waitFor('n2 reported unreachable', () => a.events.unreachable.length > 0);
    expect(a.events.unreachable[0]).toBe(n2);
    expect(a.transport.stats().peers.get(n2)?.streamFailures).toBeGreaterThanOrEqual(1);
  });
});

describe('GrpcTransport snapshot status', () => {
  it('reports false when the peer is down, and never puts the snapshot in the message queue', async () => {
    const a = await startNode(n1, { peers: new Map([[n2, `127.0.0.1:${await unusedPort()}`]]), snapshots: new MemorySnapshotStore() });
    a.transport.send([heartbeat(n1, n2, 1), snapshotMessage(n1, n2, 50)]);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(a.events.snapshotStatus).toEqual([{ peer: n2, delivered: false }]);
    // The heartbeat stays queued for the reconnect; the snapshot does not wait out the outage.
    expect(a.transport.stats().peers.get(n2)?.queuedMessages).toBe(1);
  });

  it('reports a snapshot undelivered when the transport has no snapshot store', async () => {
    const [a, b] = await startCluster([n1, n2]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(a.events.snapshotStatus).toEqual([{ peer: n2, delivered: false }]);
    expect(b.events.messages).toEqual([]);
  });
});

describe('GrpcTransport refuses bad batches from a raw client', () => {
  const good = (): WireMessageBatch => encodeBatch('alpha', n1, [heartbeat(n1, n2, 1)]);
  const cases: { name: string; batch: () => unknown; code: grpc.status; says: string[] }[] = [
    { name: 'a wrong cluster id', batch: () => ({ ...good(), clusterId: 'beta' }), code: grpc.status.PERMISSION_DENIED, says: ['batch.clusterId', '"beta"'] },
    { name: 'an unknown from', batch: () => encodeBatch('alpha', n3, [heartbeat(n3, n2, 1)]), code: grpc.status.INVALID_ARGUMENT, says: ['batch.from', '"n3"'] },
    { name: 'a message to another node', batch: () => encodeBatch('alpha', n1, [heartbeat(n1, n3, 1)]), code: grpc.status.INVALID_ARGUMENT, says: ['batch.messages[0].to', '"n3"'] },
    {
      name: 'an append with non-contiguous entries',
      batch: () =>
        encodeBatch('alpha', n1, [
          {
            type: 'append',
            from: n1,
            to: n2,
            term: 2,
            prevLogIndex: 4,
            prevLogTerm: 1,
            commit: 4,
            entries: [
              { index: 5, term: 2, type: 'normal', data: bytes('a') },
              { index: 7, term: 2, type: 'normal', data: bytes('b') },
            ],
          },
        ]),
      code: grpc.status.INVALID_ARGUMENT,
      says: ['batch.messages[0].entries[1].index', 'expected 6', 'got 7'],
    },
    {
      name: 'an unknown message type number',
      batch: () => ({ ...good(), messages: [{ ...good().messages[0], type: 77 }] }),
      code: grpc.status.INVALID_ARGUMENT,
      says: ['batch.messages[0].type', '77'],
    },
    {
      name: 'a term past 2^53',
      batch: () => ({ ...good(), messages: [{ ...good().messages[0], term: 2 ** 62 }] }),
      code: grpc.status.INVALID_ARGUMENT,
      says: ['batch.messages[0].term'],
    },
  ];

  for (const { name, batch, code, says } of cases) {
    it(`${name}: ${grpc.status[code]}, a warning, and nothing delivered`, async () => {
      const b = await startNode(n2, { peers: new Map([[n1, '127.0.0.1:1']]) });
      const { error } = await rawSend(b.transport.boundAddress, [batch()]);
      expect(error?.code).toBe(code);
      for (const text of says) expect(error?.details).toContain(text);
      // The refusal happens in the same event as the batch's arrival, before the status is sent.
      expect(b.events.messages).toEqual([]);
      expect(b.transport.stats().received.refusedBatches).toBe(1);
      const warning = b.logs.find((record) => record['msg'] === 'refused a batch from a peer');
      expect(warning?.['level']).toBe(40);
      expect(String(warning?.['field'])).toBe(says[0]);
    });
  }

  it('delivers the good batches before a bad one on the same stream, and nothing of the bad one', async () => {
    const b = await startNode(n2, { peers: new Map([[n1, '127.0.0.1:1']]) });
    const first = encodeBatch('alpha', n1, [heartbeat(n1, n2, 1), heartbeat(n1, n2, 2)]);
    const bad = encodeBatch('alpha', n1, [heartbeat(n1, n2, 3), heartbeat(n1, n3, 4)]);
    const after = encodeBatch('alpha', n1, [heartbeat(n1, n2, 5)]);
    const { error } = await rawSend(b.transport.boundAddress, [first, bad, after]);
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(b.events.messages).toEqual([heartbeat(n1, n2, 1), heartbeat(n1, n2, 2)]);
  });

  it('answers a well-behaved stream that ends with its summary', async () => {
    const b = await startNode(n2, { peers: new Map([[n1, '127.0.0.1:1']]) });
    const { error, summary } = await rawSend(b.transport.boundAddress, [encodeBatch('alpha', n1, oneOfEach(n1, n2)), encodeBatch('alpha', n1, [])]);
    expect(error).toBeNull();
    expect(summary).toEqual({ batchesReceived: 2 });
    expect(b.events.messages).toEqual(oneOfEach(n1, n2));
  });
});

describe('GrpcTransport backpressure', () => {
  it('stops writing while the peer does not read, keeps the queue bounded, and drains when it reads again', async () => {
    let received = 0;
    let paused: grpc.ServerReadableStream<unknown, unknown> | undefined;
    const address = await startRawPeer((call) => {
      call.on('data', (batch: { messages: unknown[] }) => {
        received += batch.messages.length;
      });
      call.pause();
      paused = call;
    });
    const queueMessagesMax = 32;
    const a = await startNode(n1, { peers: new Map([[n2, address]]), limits: { queueMessagesMax, batchMessagesMax: 1 } });
    // 64 KiB per message: the HTTP/2 window and the stream's buffer fill after a few dozen.
    const big = (index: number): Message => ({
      type: 'append',
      from: n1,
      to: n2,
      term: 1,
      prevLogIndex: index - 1,
      prevLogTerm: index === 1 ? 0 : 1,
      commit: 0,
      entries: [{ index, term: 1, type: 'normal', data: new Uint8Array(64 * 1024) }],
    });
    const stats = (): PeerSenderStats | undefined => a.transport.stats().peers.get(n2);
    let sent = 1;
    a.transport.send([big(sent)]);
    await waitFor('the stream opens', () => stats()?.state === 'open');
    // Keep sending until the queue is full and has begun dropping: only possible if writes stopped.
    await waitFor('the sender pushes back', () => {
      for (let i = 0; i < 8; i += 1) a.transport.send([big(++sent)]);
      return (stats()?.droppedMessages ?? 0) > 0;
    });
    expect(stats()?.queuedMessages).toBe(queueMessagesMax);
    expect(stats()?.state).toBe('open');
    expect(a.events.unreachable).toEqual([]);
    paused?.resume();
    await waitFor('the queue drains once the peer reads', () => stats()?.queuedMessages === 0);
    const { droppedMessages, sentMessages } = stats() ?? { droppedMessages: -1, sentMessages: -1 };
    expect(sentMessages + droppedMessages).toBe(sent);
    await waitFor('everything written arrives', () => received === sentMessages);
  });
});

describe('GrpcTransport close', () => {
  it('resolves within its deadline even when a peer never answers, and cancels the stream', async () => {
    let cancelled = false;
    let accepted = 0;
    const address = await startRawPeer((call) => {
      accepted += 1;
      call.on('data', () => undefined);
      call.on('cancelled', () => {
        cancelled = true;
      });
    });
    const a = await startNode(n1, { peers: new Map([[n2, address]]) });
    a.transport.send([heartbeat(n1, n2, 1)]);
    await waitFor('the stream is open', () => a.transport.stats().peers.get(n2)?.sentMessages === 1);
    const started = performance.now();
    await a.transport.close(500);
    const elapsedMs = performance.now() - started;
    // It waited for the peer (graceful first) and then stopped waiting (a generous bound for busy CI).
    expect(elapsedMs).toBeGreaterThanOrEqual(450);
    expect(elapsedMs).toBeLessThan(2500);
    expect(accepted).toBe(1);
    await waitFor('the peer sees the stream cancelled', () => cancelled);
  });

  it('answers open incoming streams, so a graceful close does not wait for the deadline', async () => {
    const b = await startNode(n2, { peers: new Map([[n1, '127.0.0.1:1']]) });
    const { path, serializeBatch, deserializeSummary } = raftPeerProto().send;
    const client = new grpc.Client(b.transport.boundAddress, grpc.credentials.createInsecure());
    rawClients.push(client);
    const outcome = new Promise<{ error: grpc.ServiceError | null; summary: unknown }>((resolve) => {
      const call = client.makeClientStreamRequest<WireMessageBatch, unknown>(path, serializeBatch, deserializeSummary, (error, summary) =>
        resolve({ error, summary }),
      );
      call.write(encodeBatch('alpha', n1, [heartbeat(n1, n2, 1)]));
    });
    await waitFor('the batch arrives', () => b.events.messages.length === 1);
    const started = performance.now();
    await b.transport.close(10_000);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await outcome).toEqual({ error: null, summary: { batchesReceived: 1 } });
  });

  it('reports nothing after close and drops what is sent then', async () => {
    const [a, b] = await startCluster([n1, n2]);
    if (a === undefined || b === undefined) throw new Error('cluster');
    a.transport.send([heartbeat(n1, n2, 1)]);
    await waitFor('delivered', () => b.events.messages.length === 1);
    await b.transport.close(1000);
    // Closing is idempotent.
    await b.transport.close(1000);
    await waitFor('n1 notices n2 went away', () => a.events.unreachable.length > 0);
    await a.transport.close(1000);
    const eventsAtClose = a.events.unreachable.length + a.events.snapshotStatus.length;
    expect(() => a.transport.send([snapshotMessage(n1, n2, 5)])).not.toThrow();
    expect(a.transport.stats().closedDroppedMessages).toBe(1);
    // Closed transports hold no sockets: wait until every socket is gone, then check no event came late.
    await waitFor('sockets closed', () => tcpHandles() === 0);
    expect(a.events.unreachable.length + a.events.snapshotStatus.length).toBe(eventsAtClose);
  });
});

describe('GrpcTransport logging', () => {
  it('names each field once per line when given a logger already bound to the node, as the server does', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((line) => line.length > 0));
        done();
      },
    });
    const logger = pino({ level: 'debug', base: { node: 'n1' } }, sink);
    const node = await startNode(n1, { logger });
    await node.transport.close(2000);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const keys = [...line.matchAll(/"([A-Za-z_]+)":/g)].map((match) => match[1]);
      const repeated = keys.filter((key, index) => keys.indexOf(key) !== index);
      expect(repeated, line).toEqual([]);
    }
  });
});
