/**
 * InstallSnapshot over real gRPC between GrpcTransports (and from a raw client that misbehaves):
 * chunks arrive whole and in order, the message reaches Raft only after the checksum matched,
 * and every way a stream can be wrong is refused with a status naming it, with nothing kept.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeId, type NodeId } from '../../src/raft/index.js';
import { InvalidSnapshotError } from '../../src/shared/errors.js';
import { GrpcTransport } from '../../src/transport/index.js';
import { encodeMessage } from '../../src/transport/codec.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import type { SnapshotTiming } from '../../src/transport/transport-options.js';
import type { WireSnapshotChunk } from '../../src/transport/wire-types.js';
import { snapshotMessage } from './fixtures.js';
import { MemorySnapshotStore, RecordedEvents, memoryLogger, waitFor } from './harness.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');

const transports: GrpcTransport[] = [];
const clients: grpc.Client[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(transports.splice(0).map((transport) => transport.close(2000)));
});

interface Node {
  readonly transport: GrpcTransport;
  readonly events: RecordedEvents;
  readonly store: MemorySnapshotStore;
  /** Transfers the transport reported to its observer (metrics). */
  readonly transfers: { direction: 'sent' | 'received'; ok: boolean; bytes: number }[];
}

async function startNode(id: NodeId, timing?: Partial<SnapshotTiming>): Promise<Node> {
  const store = new MemorySnapshotStore();
  const transfers: Node['transfers'] = [];
  const transport = new GrpcTransport({
    onSnapshotTransfer: ({ direction, ok, bytes }) => transfers.push({ direction, ok, bytes }),
    clusterId: 'alpha',
    selfId: id,
    listenAddress: '127.0.0.1:0',
    peers: new Map(),
    logger: memoryLogger().logger,
    snapshots: store,
    snapshotTiming: timing,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  transports.push(transport);
  const events = new RecordedEvents();
  await transport.start(events);
  return { transport, events, store, transfers };
}

async function pair(timing?: Partial<SnapshotTiming>): Promise<[Node, Node]> {
  const a = await startNode(n1, timing);
  const b = await startNode(n2, timing);
  a.transport.setPeerAddress(n2, b.transport.boundAddress);
  b.transport.setPeerAddress(n1, a.transport.boundAddress);
  return [a, b];
}

function chunksOf(count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(bytes).fill(i % 251));
}

function header(from: NodeId = n1, clusterId = 'alpha'): WireSnapshotChunk {
  const message = snapshotMessage(from, n2, 50);
  if (message.type !== 'snapshot') throw new Error('fixture');
  return {
    header: {
      clusterId,
      from,
      senderClientAddress: '',
      message: encodeMessage({ ...message, snapshot: { ...message.snapshot, data: new Uint8Array(0) } }),
      format: 1,
    },
  };
}

function trailer(chunks: readonly Uint8Array[], sha256?: Uint8Array): WireSnapshotChunk {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return { trailer: { sha256: sha256 ?? hash.digest(), chunks: chunks.length, bytes: chunks.reduce((sum, c) => sum + c.byteLength, 0) } };
}

/** A raw InstallSnapshot call: writes `frames`, half-closes unless told not to, resolves with the outcome. */
function rawInstall(address: string, frames: readonly WireSnapshotChunk[], end = true): Promise<grpc.ServiceError | null> {
  const { path, serializeChunk, deserializeResult } = raftPeerProto().installSnapshot;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  clients.push(client);
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest<WireSnapshotChunk, unknown>(path, serializeChunk, deserializeResult, (error) => resolve(error));
    call.on('error', () => undefined);
    for (const frame of frames) call.write(frame);
    if (end) call.end();
  });
}

describe('InstallSnapshot between two transports', () => {
  it('streams every chunk in order, then hands Raft the message at the index the data holds', async () => {
    const [a, b] = await pair();
    a.store.outgoing = { applied: { index: 60, term: 3 }, chunks: chunksOf(5, 100_000) };
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(a.events.snapshotStatus).toEqual([{ peer: n2, delivered: true }]);
    expect(b.store.received).toHaveLength(1);
    expect(b.store.received[0]?.state).toBe('finished');
    // Compared as one buffer: a deep equal of 500 KB of typed arrays takes seconds.
    const received = b.store.received[0]?.chunks ?? [];
    expect(received.map((chunk) => chunk.byteLength)).toEqual(a.store.outgoing.chunks.map((chunk) => chunk.byteLength));
    expect(Buffer.compare(Buffer.concat(received), Buffer.concat(a.store.outgoing.chunks))).toBe(0);
    // The meta is the data's own position (applied 60@3), not the one the core asked for (50).
    const delivered = b.events.messages;
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ type: 'snapshot', from: n1, to: n2, term: 3, snapshot: { meta: { index: 60, term: 3 }, data: b.store.received[0]?.token } });
    expect(a.store.openReaders).toBe(0);
    // Both ends tell the metrics: one transfer each way, delivered whole.
    await waitFor('the receiver\'s report', () => b.transfers.length === 1);
    expect(a.transfers).toEqual([{ direction: 'sent', ok: true, bytes: expect.any(Number) }]);
    expect(b.transfers).toEqual([{ direction: 'received', ok: true, bytes: a.transfers[0]?.bytes }]);
    expect(a.transfers[0]?.bytes).toBeGreaterThanOrEqual(500_000);
  });

  it('carries the configuration at the index the data holds (the store knows it), not the one of the snapshot the core asked for', async () => {
    const [a, b] = await pair();
    a.store.outgoing = { applied: { index: 60, term: 3 }, chunks: chunksOf(2, 1000) };
    const atSixty = { voters: [n1, n2, nodeId('n3')], learners: [], context: new Uint8Array([9, 9]) };
    const asked: number[] = [];
    Object.assign(a.store, { membershipAt: (index: number) => (asked.push(index), atSixty) });
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(asked).toEqual([60]);
    expect(b.events.messages[0]).toMatchObject({ type: 'snapshot', snapshot: { meta: { index: 60, term: 3, membership: atSixty } } });
  });

  it('reports undelivered, sending nothing, when the configuration at the data\'s index is no longer known', async () => {
    const [a, b] = await pair();
    Object.assign(a.store, { membershipAt: () => null });
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(a.events.snapshotStatus).toEqual([{ peer: n2, delivered: false }]);
    expect(b.events.messages).toEqual([]);
    expect(a.store.openReaders).toBe(0);
  });

  it('paces the sender to the receiver: nothing is reported while the receiver is not storing', async () => {
    const [a, b] = await pair();
    a.store.outgoing = { applied: { index: 60, term: 3 }, chunks: chunksOf(64, 256 * 1024) };
    let release!: () => void;
    b.store.writeGate = new Promise((resolve) => {
      release = resolve;
    });
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    await waitFor('the transfer started', () => b.store.received.length === 1);
    // 16 MiB to send; the receiver holds its first write, so the sender must be waiting on flow control.
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.events.snapshotStatus).toEqual([]);
    release();
    b.store.writeGate = null;
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1, 20_000);
    expect(a.events.snapshotStatus).toEqual([{ peer: n2, delivered: true }]);
    expect(b.store.received[0]?.chunks).toHaveLength(64);
  });

  it('reports undelivered, and keeps nothing, when the receiver refuses the data', async () => {
    const [a, b] = await pair();
    b.store.refuseWrites = new InvalidSnapshotError('snapshot chunk refused: snapshot record 0: unknown kind 9');
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    await waitFor('snapshot status', () => a.events.snapshotStatus.length === 1);
    expect(a.events.snapshotStatus).toEqual([{ peer: n2, delivered: false }]);
    expect(b.store.received[0]?.state).toBe('aborted');
    expect(b.events.messages).toEqual([]);
  });

  it('a second snapshot for the same peer waits for the first, and both are reported', async () => {
    const [a, b] = await pair();
    a.transport.send([snapshotMessage(n1, n2, 50)]);
    a.transport.send([snapshotMessage(n1, n2, 51)]);
    await waitFor('both reported', () => a.events.snapshotStatus.length === 2);
    expect(a.events.snapshotStatus.every((status) => status.delivered)).toBe(true);
    expect(b.store.received.map((snapshot) => snapshot.state)).toEqual(['finished', 'finished']);
  });
});

describe('InstallSnapshot refuses a bad stream', () => {
  const data = chunksOf(2, 1000);
  const cases: { name: string; frames: () => WireSnapshotChunk[]; code: grpc.status; says: string; stored: 'none' | 'aborted' }[] = [
    { name: 'data before the header', frames: () => [{ data: new Uint8Array(3) }], code: grpc.status.INVALID_ARGUMENT, says: 'the first frame must be the header', stored: 'none' },
    { name: 'another cluster', frames: () => [header(n1, 'beta')], code: grpc.status.PERMISSION_DENIED, says: '"beta"', stored: 'none' },
    { name: 'an unknown sender', frames: () => [header(nodeId('n9'))], code: grpc.status.INVALID_ARGUMENT, says: '"n9"', stored: 'none' },
    {
      name: 'a checksum that does not match',
      frames: () => [header(), ...data.map((d) => ({ data: d })), trailer(data, new Uint8Array(32))],
      code: grpc.status.DATA_LOSS,
      says: 'checksum mismatch',
      stored: 'aborted',
    },
    {
      name: 'a trailer counting other chunks',
      frames: () => [header(), { data: data[0] ?? new Uint8Array() }, trailer(data)],
      code: grpc.status.DATA_LOSS,
      says: 'received 1 of 1000',
      stored: 'aborted',
    },
    { name: 'an end without a trailer', frames: () => [header(), ...data.map((d) => ({ data: d }))], code: grpc.status.DATA_LOSS, says: 'without its trailer', stored: 'aborted' },
    { name: 'a second header', frames: () => [header(), header()], code: grpc.status.INVALID_ARGUMENT, says: 'expected data or trailer', stored: 'aborted' },
  ];
  for (const { name, frames, code, says, stored } of cases) {
    it(`${name}: ${grpc.status[code]}, and nothing reaches Raft`, async () => {
      const [, b] = await pair();
      const error = await rawInstall(b.transport.boundAddress, frames());
      expect(error?.code).toBe(code);
      expect(error?.details).toContain(says);
      expect(b.events.messages).toEqual([]);
      if (stored === 'none') expect(b.store.received).toEqual([]);
      else expect(b.store.received.map((snapshot) => snapshot.state)).toEqual(['aborted']);
    });
  }

  it('a sender that stops sending: DEADLINE_EXCEEDED after the stall timeout, and the staging is dropped', async () => {
    const [, b] = await pair({ stallTimeoutMs: 300 });
    const error = await rawInstall(b.transport.boundAddress, [header(), { data: new Uint8Array(10) }], false);
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(b.store.received.map((snapshot) => snapshot.state)).toEqual(['aborted']);
  });

  it('a second snapshot while one is being received: UNAVAILABLE (busy), the first goes on', async () => {
    const [a, b] = await pair();
    const first = rawInstall(b.transport.boundAddress, [header(), { data: data[0] ?? new Uint8Array() }], false);
    await waitFor('the first is being received', () => b.store.received.length === 1);
    const second = await rawInstall(b.transport.boundAddress, [header(), ...data.map((d) => ({ data: d })), trailer(data)]);
    expect(second?.code).toBe(grpc.status.UNAVAILABLE);
    expect(b.store.received.map((snapshot) => snapshot.state)).toEqual(['receiving']);
    await a.transport.close(1000);
    await b.transport.close(1000);
    expect((await first)?.code).toBeDefined();
  });

  it('a node without a snapshot store: FAILED_PRECONDITION', async () => {
    const plain = new GrpcTransport({ clusterId: 'alpha', selfId: nodeId('n3'), listenAddress: '127.0.0.1:0', peers: new Map([[n1, '127.0.0.1:1']]), logger: memoryLogger().logger });
    transports.push(plain);
    await plain.start(new RecordedEvents());
    const error = await rawInstall(plain.boundAddress, [header()]);
    expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error?.details).toContain('takes no snapshots');
  });
});
