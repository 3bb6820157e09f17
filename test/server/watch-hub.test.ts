import { describe, expect, it } from 'vitest';
import type { KeySelector } from '../../src/kv/index.js';
import type { Index } from '../../src/raft/index.js';
import { WatchHub } from '../../src/server/watch-hub.js';
import { enc, MemorySource, put, Sink } from './memory-watch-source.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

const prefixA: KeySelector = { kind: 'prefix', prefix: enc('a/') };

describe('WatchHub', () => {
  it('feeds a watch from now on the live batches that match it, and says created first', () => {
    const source = new MemorySource();
    source.apply([put(1, 'a/1', 'old')], 1);
    const hub = new WatchHub(source);
    hub.start();
    const sink = new Sink();
    hub.openStream(sink).create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 0 });
    source.apply([put(2, 'a/2', 'x'), put(3, 'b/1', 'other')], 3);
    expect(sink.outputs[0]).toMatchObject({ kind: 'created', watchId: 1, revision: 1 });
    expect(sink.eventRevisions(1)).toEqual([2]);
    hub.stop();
  });

  it('catches up from history, then switches to live without gap or duplicate while batches land during its reads', async () => {
    const source = new MemorySource();
    for (let revision = 1; revision <= 10; revision++) source.apply([put(revision, `a/${revision}`, `v${revision}`)], revision);
    const hub = new WatchHub(source, { pageEventsMax: 3 });
    hub.start();
    const sink = new Sink();
    source.hold();
    hub.openStream(sink).create({ selector: prefixA, startRevision: 2, prevKv: false, progressNotify: false, watchId: 7 });
    // While the first page is being read, more revisions are applied and reported live.
    await settle();
    source.apply([put(11, 'a/11', 'v11')], 11);
    source.apply([put(12, 'a/12', 'v12')], 12);
    source.release();
    await settle();
    source.apply([put(13, 'a/13', 'v13')], 13);
    await settle();
    source.apply([put(14, 'a/14', 'v14')], 14);
    expect(sink.eventRevisions(7)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(source.reads).toBeGreaterThan(3);
    hub.stop();
  });

  it('never duplicates when a history read sees a revision before its live batch is reported', async () => {
    const source = new MemorySource();
    source.apply([put(1, 'a/1', 'v1')], 1);
    const hub = new WatchHub(source);
    hub.start();
    const sink = new Sink();
    // Revision 2 is visible to reads, its live report comes after the read.
    source.apply([put(2, 'a/2', 'v2')], 2, false);
    hub.openStream(sink).create({ selector: prefixA, startRevision: 1, prevKv: false, progressNotify: false, watchId: 1 });
    await settle();
    for (const listener of source.listeners) listener({ kind: 'events', events: [put(2, 'a/2', 'v2')], revision: 2 as Index });
    source.apply([put(3, 'a/3', 'v3')], 3);
    await settle();
    expect(sink.eventRevisions(1)).toEqual([1, 2, 3]);
    hub.stop();
  });

  it('keeps the events of one revision in one response when paging', async () => {
    const source = new MemorySource();
    source.apply([put(1, 'a/1', 'x'), put(1, 'a/2', 'x'), put(1, 'a/3', 'x')], 1);
    source.apply([put(2, 'a/4', 'y')], 2);
    const hub = new WatchHub(source, { pageEventsMax: 2 });
    hub.start();
    const sink = new Sink();
    hub.openStream(sink).create({ selector: prefixA, startRevision: 1, prevKv: false, progressNotify: false, watchId: 1 });
    await settle();
    const responses = sink.outputs.filter((output) => output.kind === 'events');
    for (const response of responses) {
      if (response.kind !== 'events') continue;
      const revisions = new Set(response.events.map((event) => event.revision));
      for (const revision of revisions) {
        const elsewhere = responses.filter((other) => other !== response && other.kind === 'events' && other.events.some((event) => event.revision === revision));
        expect(elsewhere).toEqual([]);
      }
    }
    expect(sink.eventRevisions(1)).toEqual([1, 1, 1, 2]);
    hub.stop();
  });

  it('after a snapshot reset, catches synced watchers up from history (the events the reset skipped)', async () => {
    const source = new MemorySource();
    source.apply([put(1, 'a/1', 'v1')], 1);
    const hub = new WatchHub(source);
    hub.start();
    const sink = new Sink();
    hub.openStream(sink).create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 1 });
    // A snapshot installed at 5 holds revisions 2..5 that were never reported live.
    source.apply([put(3, 'a/3', 'v3'), put(5, 'a/5', 'v5')], 5, false);
    source.reset(5);
    await settle();
    source.apply([put(6, 'a/6', 'v6')], 6);
    await settle();
    expect(sink.eventRevisions(1)).toEqual([3, 5, 6]);
    hub.stop();
  });

  it('cancels with compact_revision when the start revision was compacted', async () => {
    const source = new MemorySource();
    source.apply([put(5, 'a/5', 'v5')], 5);
    source.compactRevision = 4;
    const hub = new WatchHub(source);
    hub.start();
    const sink = new Sink();
    const stream = hub.openStream(sink);
    stream.create({ selector: prefixA, startRevision: 2, prevKv: false, progressNotify: false, watchId: 3 });
    await settle();
    expect(sink.outputs.at(-1)).toMatchObject({ kind: 'canceled', watchId: 3, compactRevision: 4 });
    expect(stream.watchCount).toBe(0);
    hub.stop();
  });

  it('cancels on request and refuses a duplicate id, leaving the other watches alone', () => {
    const source = new MemorySource();
    const hub = new WatchHub(source);
    hub.start();
    const sink = new Sink();
    const stream = hub.openStream(sink);
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 1 });
    stream.create({ selector: { kind: 'key', key: enc('b') }, startRevision: 0, prevKv: false, progressNotify: false, watchId: 2 });
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 2 });
    expect(sink.outputs.at(-1)).toMatchObject({ kind: 'canceled', watchId: 2, created: true, reason: 'watch id 2 is already in use on this stream' });
    stream.cancel(1);
    expect(sink.outputs.at(-1)).toMatchObject({ kind: 'canceled', watchId: 1, created: false });
    source.apply([put(1, 'a/1', 'x'), put(1, 'b', 'y')], 1);
    expect(sink.eventRevisions(1)).toEqual([]);
    expect(sink.eventRevisions(2)).toEqual([1]);
    hub.stop();
  });

  it('bounds a stream whose reader never reads: the live watcher is cancelled as slow, with its next revision', () => {
    const source = new MemorySource();
    const queueBytesMax = 64 * 1024;
    const hub = new WatchHub(source, { queueBytesMax });
    hub.start();
    const sink = new Sink();
    sink.writable = false;
    const stream = hub.openStream(sink);
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 1 });
    const value = 'v'.repeat(1000);
    let maxQueued = 0;
    for (let revision = 1; revision <= 1000; revision++) {
      source.apply([put(revision, `a/${revision}`, value)], revision);
      maxQueued = Math.max(maxQueued, stream.queuedBytes);
    }
    expect(maxQueued).toBeLessThanOrEqual(queueBytesMax + 2048);
    expect(stream.watchCount).toBe(0);
    sink.writable = true;
    stream.drained();
    const canceled = sink.outputs.find((output) => output.kind === 'canceled');
    expect(canceled).toBeDefined();
    const delivered = sink.eventRevisions(1);
    expect(canceled).toMatchObject({ reason: expect.stringContaining(`slow watcher`) });
    expect((canceled as { reason: string }).reason).toContain(`resume from revision ${delivered.at(-1)! + 1}`);
    expect(delivered).toEqual(Array.from({ length: delivered.length }, (_, i) => i + 1));
    hub.stop();
  });

  it('paces a catching-up watcher by its reader instead of reading the whole history into memory', async () => {
    const source = new MemorySource();
    const value = 'v'.repeat(1000);
    for (let revision = 1; revision <= 400; revision++) source.apply([put(revision, `a/${revision}`, value)], revision);
    const queueBytesMax = 64 * 1024;
    const hub = new WatchHub(source, { queueBytesMax, pageEventsMax: 10 });
    hub.start();
    const sink = new Sink();
    sink.writable = false;
    const stream = hub.openStream(sink);
    stream.create({ selector: prefixA, startRevision: 1, prevKv: false, progressNotify: false, watchId: 1 });
    await settle();
    expect(stream.queuedBytes).toBeLessThanOrEqual(queueBytesMax);
    const readsWhileBlocked = source.reads;
    expect(readsWhileBlocked).toBeLessThan(40);
    for (let round = 0; round < 200 && sink.eventRevisions(1).length < 400; round++) {
      sink.writable = true;
      stream.drained();
      sink.writable = false;
      await settle();
    }
    expect(sink.eventRevisions(1)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    hub.stop();
  });

  it('sends progress to idle synced watches that asked for it, and on request', () => {
    const source = new MemorySource();
    source.apply([], 4);
    const hub = new WatchHub(source);
    hub.start();
    const sink = new Sink();
    const stream = hub.openStream(sink);
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: true, watchId: 1 });
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 2 });
    source.apply([put(5, 'a/5', 'x')], 5);
    hub.progressTick(); // watch 1 was not idle
    expect(sink.outputs.filter((output) => output.kind === 'progress')).toEqual([]);
    source.apply([put(6, 'b', 'x')], 6);
    hub.progressTick();
    expect(sink.outputs.filter((output) => output.kind === 'progress')).toEqual([{ kind: 'progress', watchId: 1, revision: 6 }]);
    stream.progress();
    expect(sink.outputs.filter((output) => output.kind === 'progress').length).toBe(3);
    hub.stop();
  });

  it('listens to the state machine only while some watch exists', () => {
    const source = new MemorySource();
    const hub = new WatchHub(source);
    hub.start();
    const stream = hub.openStream(new Sink());
    expect(source.listeners.size).toBe(0);
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 1 });
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 2 });
    expect(source.listeners.size).toBe(1);
    stream.cancel(1);
    expect(source.listeners.size).toBe(1);
    stream.close();
    expect(source.listeners.size).toBe(0);
    hub.stop();
  });

  it('splits a large batch into responses between revisions, keeping each revision whole', () => {
    const source = new MemorySource();
    const hub = new WatchHub(source, { responseBytesMax: 10_000 });
    hub.start();
    const sink = new Sink();
    hub.openStream(sink).create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 1 });
    const value = 'v'.repeat(3000);
    // One apply batch: revisions 1..6, revision 3 holding three 3 KB events.
    source.apply([put(1, 'a/1', value), put(2, 'a/2', value), put(3, 'a/3a', value), put(3, 'a/3b', value), put(3, 'a/3c', value), put(4, 'a/4', value), put(5, 'a/5', value), put(6, 'a/6', value)], 7);
    const responses = sink.outputs.flatMap((output) => (output.kind === 'events' ? [{ revision: output.revision, events: output.events.map((event) => event.revision) }] : []));
    expect(responses.length).toBeGreaterThan(1);
    expect(responses.flatMap((response) => response.events)).toEqual([1, 2, 3, 3, 3, 4, 5, 6]);
    for (const [i, response] of responses.entries()) {
      expect(response.revision).toBe(i === responses.length - 1 ? 7 : response.events.at(-1));
      if (i > 0) expect(response.events[0]).toBeGreaterThan(responses[i - 1]!.events.at(-1)!);
    }
    hub.stop();
  });

  it('cancels a live batch larger than the budget even with nothing queued; resumed, the watch gets it from history in pages', async () => {
    const source = new MemorySource();
    const hub = new WatchHub(source, { queueBytesMax: 64 * 1024, pageEventsMax: 4 });
    hub.start();
    const sink = new Sink();
    const stream = hub.openStream(sink);
    stream.create({ selector: prefixA, startRevision: 0, prevKv: false, progressNotify: false, watchId: 1 });
    const value = 'v'.repeat(10_000);
    source.apply(Array.from({ length: 10 }, (_, i) => put(i + 1, `a/${i}`, value)), 10);
    expect(sink.outputs.at(-1)).toMatchObject({ kind: 'canceled', watchId: 1, reason: expect.stringContaining('resume from revision 1') });
    expect(sink.eventRevisions(1)).toEqual([]);
    stream.create({ selector: prefixA, startRevision: 1, prevKv: false, progressNotify: false, watchId: 2 });
    await settle();
    expect(sink.eventRevisions(2)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    hub.stop();
  });
});
