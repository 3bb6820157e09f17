import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from '../../src/shared/deferred.js';
import { FakeNode, rawKvClient } from './fake-node.js';

interface StreamEnd {
  readonly code: number;
  readonly details: string;
}

/** A raw KV.Stream: its results as they arrive, and how it ended. */
function openStream(address: string): { send(id: number): void; results: { id: number; code: number; message: string }[]; ended: Promise<StreamEnd>; close(): void } {
  const client = rawKvClient(address);
  const call = client.stream();
  const results: { id: number; code: number; message: string }[] = [];
  call.on('data', (response: { results: { id: number; code: number; message: string }[] }) => results.push(...response.results));
  const ended = new Promise<StreamEnd>((resolve) => {
    call.on('error', (error: grpc.ServiceError) => resolve({ code: error.code, details: error.details }));
    call.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
  });
  return {
    send: (id) => call.write({ operations: [{ id, put: { key: Buffer.from(`k${id}`), value: Buffer.from('v') } }] }),
    results,
    ended,
    close: () => client.close(),
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const shuttingDown = { code: grpc.status.UNAVAILABLE, details: 'node shutting down' };

describe('KV.Stream on shutdown', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('ends an idle stream with UNAVAILABLE "node shutting down", so the server can close without being forced', async () => {
    const node = await FakeNode.start({ put: async () => ({ version: 1 }) });
    const stream = openStream(node.address);
    cleanup.push(() => stream.close(), () => node.close(100));
    stream.send(1);
    await until('the first answer', () => stream.results.length === 1);
    await node.streams.shutdown(5000);
    expect(await stream.ended).toEqual(shuttingDown);
    // Before, the open stream held tryShutdown until the forced deadline.
    expect(await node.close(5000)).toBe(true);
  });

  it('answers what is in flight first, refuses new operations meanwhile, then ends the stream', async () => {
    const release = deferred<unknown>();
    const node = await FakeNode.start({ put: (request) => (request.key.toString() === 'k1' ? release.promise : Promise.resolve({ version: 1 })) });
    const stream = openStream(node.address);
    cleanup.push(() => stream.close(), () => node.close(100));
    stream.send(1);
    await until('the put to be in flight', () => node.seen.length === 1);
    const shutdown = node.streams.shutdown(10_000);
    stream.send(2);
    await until('the refusal of the new put', () => stream.results.length === 1);
    expect(stream.results[0]).toMatchObject({ id: 2, code: shuttingDown.code, message: shuttingDown.details });
    expect(node.seen).toHaveLength(1);
    release.resolve({ version: 7 });
    await shutdown;
    expect(await stream.ended).toEqual(shuttingDown);
    expect(stream.results[1]).toMatchObject({ id: 1, code: grpc.status.OK, put: { version: 7 } });
  });

  it('ends streams whose operations outlast the drain deadline', async () => {
    const node = await FakeNode.start({ put: () => new Promise(() => {}) });
    const stream = openStream(node.address);
    cleanup.push(() => stream.close(), () => node.close(100));
    stream.send(1);
    await until('the put to be in flight', () => node.seen.length === 1);
    await node.streams.shutdown(50);
    expect(await stream.ended).toEqual(shuttingDown);
    expect(stream.results).toEqual([]);
  });

  it('ends a stream opened after shutdown at once', async () => {
    const node = await FakeNode.start({ put: async () => ({ version: 1 }) });
    cleanup.push(() => node.close(100));
    await node.streams.shutdown(1000);
    const stream = openStream(node.address);
    cleanup.push(() => stream.close());
    stream.send(1);
    expect(await stream.ended).toEqual(shuttingDown);
    expect(node.seen).toEqual([]);
  });

  it('still ends with OK a stream whose client finished first', async () => {
    const node = await FakeNode.start({ put: async () => ({ version: 1 }) });
    const client = rawKvClient(node.address);
    cleanup.push(() => client.close(), () => node.close(100));
    const call = client.stream();
    const ended = new Promise<number>((resolve) => {
      call.on('error', (error: grpc.ServiceError) => resolve(error.code));
      call.on('end', () => resolve(grpc.status.OK));
    });
    call.on('data', () => {});
    call.write({ operations: [{ id: 1, put: { key: Buffer.from('k'), value: Buffer.from('v') } }] });
    call.end();
    expect(await ended).toBe(grpc.status.OK);
  });
});
