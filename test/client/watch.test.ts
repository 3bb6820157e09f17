import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CompactedError, RaftKvClient, type WatchBatch } from '../../src/client/index.js';
import { serviceClient } from '../../src/shared/proto.js';
import { WatchStreams } from '../../src/client/watch.js';
import { createLogger } from '../../src/shared/logger.js';
import type { AuthGuard } from '../../src/server/auth-guard.js';
import { WatchHub } from '../../src/server/watch-hub.js';
import { watchService, type WatchService } from '../../src/server/watch-service.js';
import { MemorySource, put } from '../server/memory-watch-source.js';

const logger = createLogger({ level: 'silent' });
const openGuard = { resolveCall: () => null, checkKey: () => {}, checkRange: () => {} } as unknown as AuthGuard;

/** One node's Watch service over a shared in-memory history, on a loopback port. */
class WatchNode {
  readonly hub: WatchHub;
  readonly service: WatchService;
  readonly server = new grpc.Server();
  address = '';
  /** The cancel reasons this node sent. */
  readonly cancels: string[] = [];

  /**
   * `stallWrites`: the transport says "full" after every events response and "drained" 20 ms
   * later, as for a client that reads slowly, so the node's queue fills.
   */
  constructor(source: MemorySource, queueBytesMax?: number, stallWrites = false) {
    this.hub = new WatchHub(source, { ...(queueBytesMax === undefined ? {} : { queueBytesMax }), pageEventsMax: 7 });
    this.hub.start();
    const openStream = this.hub.openStream.bind(this.hub);
    this.hub.openStream = (sink) => {
      const stream = openStream({
        write: (output) => {
          if (output.kind === 'canceled') this.cancels.push(output.reason);
          const writable = sink.write(output);
          if (!stallWrites || output.kind !== 'events') return writable;
          setTimeout(() => stream.drained(), 20);
          return false;
        },
      });
      return stream;
    };
    this.service = watchService({ hub: this.hub, guard: openGuard, keyBytesMax: 1024, header: (revision) => ({ memberId: 'n', term: 1, revision }), logger });
    this.server.addService(serviceClient('raftkv/v1/kv.proto', 'Watch').service, this.service.handlers);
  }

  async listen(): Promise<this> {
    const port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  stop(): void {
    this.service.shutdown();
    this.hub.stop();
    this.server.forceShutdown();
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function writeValues(source: MemorySource, from: number, to: number): void {
  for (let revision = from; revision <= to; revision++) source.apply([put(revision, `k/${revision % 4}`, `v${revision}`)], revision);
}

async function collect(iterable: AsyncIterable<WatchBatch>, until: (values: string[]) => boolean): Promise<{ values: string[]; revisions: number[]; error: unknown }> {
  const values: string[] = [];
  const revisions: number[] = [];
  try {
    for await (const batch of iterable) {
      if (batch.kind !== 'events') continue;
      for (const event of batch.events) {
        values.push(event.value.toString());
        revisions.push(event.revision);
      }
      if (until(values)) break;
    }
  } catch (error) {
    return { values, revisions, error };
  }
  return { values, revisions, error: null };
}

describe('client.watch', () => {
  it('resumes on the next endpoint from the last delivered revision + 1 when its node stops: no gap, no duplicate', async () => {
    const source = new MemorySource();
    writeValues(source, 1, 5);
    const a = await new WatchNode(source).listen();
    const b = await new WatchNode(source).listen();
    cleanups.push(() => a.stop(), () => b.stop());
    const client = new RaftKvClient({ endpoints: [a.address, b.address] });
    cleanups.push(() => client.close());
    const watcher = client.watch('k/', { prefix: true, startRevision: 2 });
    const done = collect(watcher, (values) => values.length >= 28);
    await waitUntil(() => watcher.nextRevision > 5);
    writeValues(source, 6, 10);
    await waitUntil(() => watcher.nextRevision > 10);
    a.stop(); // the stream ends with UNAVAILABLE: the watcher moves to b
    writeValues(source, 11, 29);
    const result = await done;
    expect(result.error).toBeNull();
    expect(result.revisions).toEqual(Array.from({ length: 28 }, (_, i) => i + 2));
  });

  it('resumes a watch the node cancelled as slow, with no gap and no duplicate', async () => {
    const source = new MemorySource();
    const node = await new WatchNode(source, 64 * 1024, true).listen();
    cleanups.push(() => node.stop());
    const client = new RaftKvClient({ endpoints: [node.address] });
    cleanups.push(() => client.close());
    const watcher = client.watch('big/', { prefix: true, startRevision: 1 });
    const iterator = watcher[Symbol.asyncIterator]();
    // 600 KB of events come faster than the stalling transport takes them: the node's 64 KiB budget overflows.
    const value = 'x'.repeat(20_000);
    for (let revision = 1; revision <= 30; revision++) {
      source.apply([{ type: 'put', revision: revision as never, kv: { key: Buffer.from(`big/${revision}`), value: Buffer.from(value), createRevision: revision, modRevision: revision, version: 1 }, prevKv: null }], revision);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const revisions: number[] = [];
    while (revisions.length < 30) {
      const next = await iterator.next();
      if (next.done) break;
      if (next.value.kind === 'events') revisions.push(...next.value.events.map((event) => event.revision));
    }
    watcher.cancel();
    expect(node.cancels.some((reason) => reason.startsWith('slow watcher'))).toBe(true);
    expect(revisions).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('throws CompactedError (with compactRevision) for a start revision that was compacted, never a silent gap', async () => {
    const source = new MemorySource();
    writeValues(source, 1, 10);
    source.compactRevision = 6;
    const node = await new WatchNode(source).listen();
    cleanups.push(() => node.stop());
    const client = new RaftKvClient({ endpoints: [node.address] });
    cleanups.push(() => client.close());
    const result = await collect(client.watch('k/', { prefix: true, startRevision: 3 }), () => false);
    expect(result.values).toEqual([]);
    expect(result.error).toBeInstanceOf(CompactedError);
    expect((result.error as CompactedError).compactRevision).toBe(6);
  });

  it('throws CompactedError when the resume point was compacted while the watcher was away', async () => {
    const source = new MemorySource();
    writeValues(source, 1, 4);
    const a = await new WatchNode(source).listen();
    cleanups.push(() => a.stop());
    // The second endpoint is not up yet: the watcher keeps trying it (and a) until b appears.
    const b = new WatchNode(source);
    cleanups.push(() => b.stop());
    const bAddress = await b.listen().then((node) => node.address);
    const client = new RaftKvClient({ endpoints: [a.address, bAddress] });
    cleanups.push(() => client.close());
    const watcher = client.watch('k/', { prefix: true, startRevision: 1 });
    const done = collect(watcher, () => false);
    await waitUntil(() => watcher.nextRevision > 4);
    a.stop();
    b.stop();
    writeValues(source, 5, 12);
    source.compactRevision = 9;
    const c = new WatchNode(source);
    cleanups.push(() => c.stop());
    // c listens on b's address: the watcher's next attempt there finds revision 5 compacted.
    await new Promise<void>((resolve, reject) => c.server.bindAsync(bAddress, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
    const result = await done;
    expect(result.revisions).toEqual([1, 2, 3, 4]);
    expect(result.error).toBeInstanceOf(CompactedError);
    expect(result.error).toMatchObject({ requestedRevision: 5, compactRevision: 9 });
  }, 30_000);

  it('ends the iteration when its signal aborts, and several watches share one stream', async () => {
    const source = new MemorySource();
    const node = await new WatchNode(source).listen();
    cleanups.push(() => node.stop());
    const client = new RaftKvClient({ endpoints: [node.address] });
    cleanups.push(() => client.close());
    const abort = new AbortController();
    const first = client.watch('k/', { prefix: true, signal: abort.signal });
    const second = client.watch('k/1', {});
    await waitUntil(() => first.nextRevision > 0 && second.nextRevision > 0);
    expect(node.hub.streamCount).toBe(1);
    const done = collect(first, () => false);
    writeValues(source, 1, 3);
    await waitUntil(() => first.nextRevision > 3);
    abort.abort();
    const result = await done;
    expect(result).toEqual({ values: ['v1', 'v2', 'v3'], revisions: [1, 2, 3], error: null });
    second.cancel();
  });

  it("requestProgress: an idle watch learns the node's revision on demand; false once it ended", async () => {
    const source = new MemorySource();
    const node = await new WatchNode(source).listen();
    cleanups.push(() => node.stop());
    const client = new RaftKvClient({ endpoints: [node.address] });
    cleanups.push(() => client.close());
    const watcher = client.watch('k/', { prefix: true });
    await waitUntil(() => watcher.nextRevision > 0);
    // Writes the watch does not cover: no events, and no progress without asking (no progressNotify).
    for (let revision = 1; revision <= 3; revision++) source.apply([put(revision, `other/${revision}`, 'x')], revision);
    const batches: WatchBatch[] = [];
    const reading = (async () => {
      for await (const batch of watcher) batches.push(batch);
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(batches).toEqual([]);
    expect(watcher.requestProgress()).toBe(true);
    await waitUntil(() => batches.length > 0);
    expect(batches).toEqual([{ kind: 'progress', revision: 3 }]);
    expect(watcher.nextRevision).toBe(4);
    watcher.cancel();
    await reading;
    expect(watcher.requestProgress()).toBe(false);
  });

  it('stops taking events while the application does not read, and resumes without gap once it reads', async () => {
    const source = new MemorySource();
    const node = await new WatchNode(source).listen();
    cleanups.push(() => node.stop());
    const channelOwner = new grpc.Client(node.address, grpc.credentials.createInsecure());
    cleanups.push(() => channelOwner.close());
    const streams = new WatchStreams({
      endpoints: () => [node.address],
      channel: () => channelOwner.getChannel(),
      token: async () => '',
      invalidateToken: () => {},
      hasCredentials: false,
      queuedBatchesMax: 4,
    });
    cleanups.push(() => streams.close());
    const watcher = streams.watch('k/', { prefix: true });
    await waitUntil(() => watcher.nextRevision > 0);
    for (let revision = 1; revision <= 40; revision++) {
      source.apply([put(revision, `k/${revision % 4}`, `v${revision}`)], revision);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Four batches held, then the SDK dropped its watch (its only one: the whole stream) rather than hold more.
    await waitUntil(() => node.hub.streamCount === 0);
    expect(node.cancels).toEqual([]);
    const result = await collect(watcher, (values) => values.length >= 40);
    expect(result.revisions).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
