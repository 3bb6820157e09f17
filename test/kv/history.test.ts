import { describe, expect, it } from 'vitest';
import {
  CompactedError,
  FutureRevisionError,
  KvStateMachine,
  type Command,
  type KeySelector,
  type KvEvent,
  type StateChange,
  type TxnCommand,
  type TxnOp,
  decodeSnapshotChunk,
} from '../../src/kv/index.js';
import { nodeId } from '../../src/raft/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { commandEntry, entriesFrom, put } from './kv-helpers.js';

const temp = useTempStores();

async function freshMachine(): Promise<KvStateMachine> {
  return KvStateMachine.open((await temp.openFresh()).store);
}

const del = (key: string): Command => ({ kind: 'delete', key: bytes(key) });
const txn = (...success: TxnOp[]): TxnCommand => ({ kind: 'txn', compare: [], success, failure: [] });
const putOp = (key: string, value: string): TxnOp => ({ kind: 'put', key: bytes(key), value: bytes(value) });
const deletePrefix = (prefix: string): TxnOp => ({ kind: 'delete', keys: { kind: 'prefix', prefix: bytes(prefix) } });
const everything: KeySelector = { kind: 'prefix', prefix: new Uint8Array() };

/** An event as a line: `revision type key=value (prev)`. */
function describeEvent(event: KvEvent): string {
  const prev = event.prevKv === null ? '-' : `${text(event.prevKv.value)}@${event.prevKv.modRevision}`;
  if (event.type === 'put') return `${event.revision} put ${text(event.kv.key)}=${text(event.kv.value)} v${event.kv.version} (${prev})`;
  return `${event.revision} del ${text(event.key)} (${prev})`;
}

async function valueAt(machine: KvStateMachine, key: string, revision: number): Promise<string | null> {
  const record = await machine.get(bytes(key), { revision });
  return record === null ? null : `${text(record.value)} v${record.version} c${record.createRevision} m${record.modRevision}`;
}

async function allEvents(machine: KvStateMachine, from = 1, selector = everything): Promise<string[]> {
  return (await machine.readEvents(from, selector, 1000)).events.map(describeEvent);
}

describe('KvStateMachine history', () => {
  it('records every write of a batch at its own revision, several to one key included', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1'), put('a', '2'), del('a'), put('a', '3'), put('b', 'x')]));
    expect(await valueAt(machine, 'a', 1)).toBe('1 v1 c1 m1');
    expect(await valueAt(machine, 'a', 2)).toBe('2 v2 c1 m2');
    expect(await valueAt(machine, 'a', 3)).toBeNull();
    expect(await valueAt(machine, 'a', 4)).toBe('3 v1 c4 m4');
    expect(await valueAt(machine, 'b', 4)).toBeNull();
    expect(await valueAt(machine, 'b', 5)).toBe('x v1 c5 m5');
    expect(await allEvents(machine)).toEqual(['1 put a=1 v1 (-)', '2 put a=2 v2 (1@1)', '3 del a (2@2)', '4 put a=3 v1 (-)', '5 put b=x v1 (-)']);
  });

  it('gives the writes of a transaction one revision, in op order, range deletes included', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('p/1', 'a'), put('p/2', 'b'), put('q', 'c')]));
    await machine.apply([commandEntry(4, txn(putOp('p/1', 'a2'), deletePrefix('p/'), putOp('p/3', 'n'), putOp('p/3', 'n2')))]);
    expect(await allEvents(machine, 4)).toEqual(['4 put p/1=a2 v2 (a@1)', '4 del p/1 (a2@4)', '4 del p/2 (b@2)', '4 put p/3=n v1 (-)', '4 put p/3=n2 v2 (n@4)']);
    // A read at the transaction's revision sees its last write of each key.
    expect(await valueAt(machine, 'p/3', 4)).toBe('n2 v2 c4 m4');
    expect(await valueAt(machine, 'p/1', 4)).toBeNull();
    expect(await valueAt(machine, 'p/1', 3)).toBe('a v1 c1 m1');
  });

  it('records no event for a delete of an absent key', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [del('a'), put('b', '1')]));
    await machine.apply([commandEntry(3, txn(deletePrefix('zz'), { kind: 'delete', keys: { kind: 'key', key: bytes('a') } }))]);
    expect(await allEvents(machine)).toEqual(['2 put b=1 v1 (-)']);
  });

  it('reads a range at a past revision, with adversarial keys', async () => {
    const machine = await freshMachine();
    const keys = ['a', 'a\u0000', 'a\u0000\u0000', 'a\u0001', 'ab', 'b'];
    await machine.apply(entriesFrom(1, keys.map((key) => put(key, 'old'))));
    await machine.apply(entriesFrom(7, [put('a\u0000', 'new'), del('ab'), put('aa', 'born')]));
    const at = async (revision: number, prefix: string, limit = 0): Promise<string[]> =>
      (await machine.range({ kind: 'prefix', prefix: bytes(prefix) }, limit, { revision })).kvs.map((kv) => `${JSON.stringify(text(kv.key))}=${text(kv.value)}`);
    expect(await at(6, 'a')).toEqual(['"a"=old', '"a\\u0000"=old', '"a\\u0000\\u0000"=old', '"a\\u0001"=old', '"ab"=old']);
    expect(await at(9, 'a')).toEqual(['"a"=old', '"a\\u0000"=new', '"a\\u0000\\u0000"=old', '"a\\u0001"=old', '"aa"=born']);
    expect(await at(8, 'a\u0000')).toEqual(['"a\\u0000"=new', '"a\\u0000\\u0000"=old']);
    const limited = await machine.range({ kind: 'prefix', prefix: bytes('a') }, 2, { revision: 6 });
    expect(limited.kvs.length).toBe(2);
    expect(limited.more).toBe(true);
    const interval = await machine.range({ kind: 'interval', start: bytes('a\u0001'), end: bytes('b') }, 0, { revision: 7 });
    expect(interval.kvs.map((kv) => text(kv.key))).toEqual(['a\u0001', 'ab']);
  });

  it('refuses revisions below the compact revision or above the applied index', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1'), put('a', '2')]));
    await expect(machine.get(bytes('a'), { revision: 3 })).rejects.toBeInstanceOf(FutureRevisionError);
    await expect(machine.range({ kind: 'prefix', prefix: bytes('') }, 0, { revision: 3 })).rejects.toMatchObject({ requestedRevision: 3, currentRevision: 2 });
    expect(machine.compactRevision).toBe(0);
    expect(await valueAt(machine, 'a', 2)).toBe('2 v2 c1 m2');
    // Revision 0 means the applied index, as in etcd.
    expect(await valueAt(machine, 'a', 0)).toBe('2 v2 c1 m2');
  });

  it('pages events without splitting a revision', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1'), put('b', '1')]));
    await machine.apply([commandEntry(3, txn(putOp('a', '2'), putOp('b', '2'), putOp('c', '2')))]);
    await machine.apply(entriesFrom(4, [put('a', '3'), put('x', 'y')]));
    const first = await machine.readEvents(1, everything, 2);
    expect(first.events.map((e) => e.revision)).toEqual([1, 2]);
    expect(first.more).toBe(true);
    expect(first.revision).toBe(5);
    // The transaction's three events come whole although the limit is 2.
    const second = await machine.readEvents(3, everything, 2);
    expect(second.events.map((e) => e.revision)).toEqual([3, 3, 3]);
    expect(second.more).toBe(true);
    const third = await machine.readEvents(4, { kind: 'key', key: bytes('a') }, 2);
    expect(third.events.map(describeEvent)).toEqual(['4 put a=3 v3 (2@3)']);
    expect(third.more).toBe(false);
    expect((await machine.readEvents(6, everything, 2)).events).toEqual([]);
    // From 0 (a fresh machine's compact revision) reads from the first revision.
    expect((await machine.readEvents(0, everything, 1)).events.map((e) => e.revision)).toEqual([1]);
  });

  it('pages events by bytes too (values and prevKv values), still never splitting a revision', async () => {
    const machine = await freshMachine();
    const big = (fill: string): string => fill.repeat(40_000);
    // Revisions 1-3 each write 40 kB; 4 rewrites a (prevKv 40 kB too); 5-7 are one transaction.
    await machine.apply(entriesFrom(1, [put('a', big('1')), put('b', big('2')), put('c', big('3')), put('a', big('4'))]));
    await machine.apply([commandEntry(5, txn(putOp('d', big('5')), putOp('e', big('6')), putOp('f', big('7'))))]);
    const first = await machine.readEvents(1, everything, 1000, 100_000);
    // 40 + 40 = 80 kB < 100 kB: a third event goes in (120 kB), then the page stops.
    expect(first.events.map((e) => e.revision)).toEqual([1, 2, 3]);
    expect(first.more).toBe(true);
    // Revision 4 counts its prevKv: 80 kB, then the transaction's first event (120 kB) goes in, and
    // the rest of its revision with it although the bound is passed.
    const second = await machine.readEvents(4, everything, 1000, 100_000);
    expect(second.events.map((e) => e.revision)).toEqual([4, 5, 5, 5]);
    expect(second.more).toBe(false);
    // One revision larger than the bound comes whole.
    const third = await machine.readEvents(5, everything, 1000, 1);
    expect(third.events.map((e) => e.revision)).toEqual([5, 5, 5]);
    // Without a byte bound the page is bounded by events only, as before.
    expect((await machine.readEvents(1, everything, 1000)).events).toHaveLength(7);
    await expect(machine.readEvents(1, everything, 10, 0)).rejects.toThrow(/bytesMax/);
  });

  it('tells listeners each batch in apply order, the same events readEvents gives back', async () => {
    const machine = await freshMachine();
    const changes: StateChange[] = [];
    const unsubscribe = machine.onChange((change) => changes.push(change));
    let visibleAfter = -1;
    await machine.apply(entriesFrom(1, [put('a', '1'), null, put('a', '2')]), () => {
      visibleAfter = changes.length;
    });
    await machine.apply([commandEntry(4, txn(putOp('b', '1'), deletePrefix('a')))]);
    await machine.apply(entriesFrom(5, [null]));
    expect(visibleAfter).toBe(1);
    expect(changes.map((change) => change.kind)).toEqual(['events', 'events', 'events']);
    const live = changes.flatMap((change) => (change.kind === 'events' ? change.events : []));
    expect(changes.map((change) => change.revision)).toEqual([3, 4, 5]);
    expect(live).toEqual((await machine.readEvents(1, everything, 100)).events);
    unsubscribe();
    await machine.apply(entriesFrom(6, [put('c', '1')]));
    expect(changes.length).toBe(3);
  });

  it('keeps the history across a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [put('a', '1'), put('a', '2'), del('a')]));
    const before = await allEvents(machine);
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(await allEvents(reopened)).toEqual(before);
    expect(await valueAt(reopened, 'a', 1)).toBe('1 v1 c1 m1');
    expect(reopened.compactRevision).toBe(0);
  });

  it('starts the history of a directory from before history at its applied index', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [put('old', '1'), put('old', '2'), put('kept', 'k'), put('gone', 'g')]));
    // What a directory written before history holds: no history sublevels at all.
    const generation = store.generation(machine.generation);
    await store.clear(generation.hist);
    await store.clear(generation.revs);
    await store.close();

    const upgraded = await KvStateMachine.open(await temp.open(dataDir));
    expect(upgraded.compactRevision).toBe(4);
    await expect(upgraded.get(bytes('old'), { revision: 3 })).rejects.toBeInstanceOf(CompactedError);
    await upgraded.apply(entriesFrom(5, [put('old', '3'), del('gone'), put('new', 'n')]));
    expect(await valueAt(upgraded, 'old', 4)).toBe('2 v2 c1 m2');
    expect(await valueAt(upgraded, 'old', 5)).toBe('3 v3 c1 m5');
    expect(await valueAt(upgraded, 'kept', 5)).toBe('k v1 c3 m3');
    expect(await valueAt(upgraded, 'gone', 5)).toBe('g v1 c4 m4');
    expect(await valueAt(upgraded, 'gone', 6)).toBeNull();
    expect(await valueAt(upgraded, 'new', 6)).toBeNull();
    const at = async (revision: number): Promise<string[]> =>
      (await upgraded.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { revision })).kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`);
    expect(await at(4)).toEqual(['gone=g', 'kept=k', 'old=2']);
    expect(await at(6)).toEqual(['kept=k', 'old=3']);
    expect(await allEvents(upgraded, 4)).toEqual(['5 put old=3 v3 (2@2)', '6 del gone (g@4)', '7 put new=n v1 (-)']);
  });

  it('carries the history in a snapshot, and tells listeners of the install', async () => {
    const source = await freshMachine();
    await source.apply(entriesFrom(1, [put('a', '1'), put('a\u0000', 'z'), put('a', '2'), del('a')]));
    const chunks: Uint8Array[] = [];
    for await (const chunk of (await source.openSnapshot()).chunks()) chunks.push(chunk);

    const { store } = await temp.openFresh();
    const target = await KvStateMachine.open(store);
    await target.apply(entriesFrom(1, [put('other', 'x')]));
    const changes: StateChange[] = [];
    target.onChange((change) => changes.push(change));
    const incoming = await target.receiveSnapshot();
    for (const chunk of chunks) await incoming.write(chunk);
    const install = target.prepareInstall(incoming.finish(), { index: 4, term: 1, membership: { voters: [nodeId('n1')], learners: [] } });
    await store.write(install.operations, { sync: true });
    await install.complete();

    expect(changes).toEqual([{ kind: 'reset', revision: 4 }]);
    expect(await allEvents(target)).toEqual(await allEvents(source));
    expect(await valueAt(target, 'a', 3)).toBe('2 v2 c1 m3');
    expect(target.compactRevision).toBe(0);
    const backup: Uint8Array[] = [];
    for await (const chunk of (await source.openSnapshot(1024 * 1024, { includeSessions: false })).chunks()) backup.push(chunk);
    expect(backup.flatMap((chunk) => decodeSnapshotChunk(chunk)).map((record) => record.kind)).toEqual(['kv']);
  });
});

describe('KvStateMachine compaction', () => {
  const compact = (revision: number): Command => ({ kind: 'compact', revision });

  async function histCount(machine: KvStateMachine, store: { generation(n: number): { hist: { keys(): AsyncIterable<unknown> } } }): Promise<number> {
    let count = 0;
    for await (const _ of store.generation(machine.generation).hist.keys()) count++;
    return count;
  }

  it('refuses a revision at or below the compact revision, or not below its own index, changing nothing', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1'), put('a', '2'), compact(2)]));
    expect(machine.compactRevision).toBe(2);
    const outcomes = await machine.apply(entriesFrom(4, [compact(2), compact(1), compact(6), compact(9)]));
    expect(outcomes.map((o) => (o.kind === 'command' && o.result.kind === 'compact' ? (o.result.outcome === 'refused' ? o.result.reason : 'ok') : o.kind))).toEqual([
      'compacted',
      'compacted',
      'future',
      'future',
    ]);
    expect(machine.compactRevision).toBe(2);
  });

  it('drops the history below the compact revision, keeping what reads and events from it need', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [put('a', '1'), put('a', '2'), put('b', '1'), del('b'), put('c', '1'), put('a', '3'), put('c', '2')]));
    const hash = await machine.keyspaceHash();
    const at = async (revision: number): Promise<string[]> =>
      (await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { revision })).kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`);
    const before = { at6: await at(6), events: await allEvents(machine, 6) };
    await machine.apply(entriesFrom(8, [compact(6)]));
    await expect(machine.get(bytes('a'), { revision: 5 })).rejects.toMatchObject({ name: 'CompactedError', requestedRevision: 5, compactRevision: 6 });
    await expect(machine.readEvents(5, everything, 10)).rejects.toBeInstanceOf(CompactedError);
    await machine.compactedPhysically(6);
    // a: 2 (newest below 6) and 3; b: nothing (deleted below 6); c: 1 and 2.
    expect(await histCount(machine, store)).toBe(4);
    expect(await at(6)).toEqual(before.at6);
    expect(await allEvents(machine, 6)).toEqual(before.events);
    expect(await valueAt(machine, 'b', 6)).toBeNull();
    expect(await machine.keyspaceHash()).toBe(hash);
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.compactRevision).toBe(6);
    expect(await valueAt(reopened, 'a', 6)).toBe('3 v3 c1 m6');
    await expect(reopened.get(bytes('a'), { revision: 5 })).rejects.toBeInstanceOf(CompactedError);
  });

  it('leaves nothing for a second page to do, and carries a pending deletion across a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    const writes = Array.from({ length: 40 }, (_, i) => put(`k${i % 4}`, `${i}`));
    await machine.apply(entriesFrom(1, writes));
    const expected = await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { revision: 30 });
    const { compactHistoryPage } = await import('../../src/kv/history-compaction.js');
    const generation = store.generation(machine.generation);
    await machine.apply(entriesFrom(41, [compact(30)]));
    await machine.compactedPhysically(30);
    expect(await histCount(machine, store)).toBe(4 + 11);
    expect(await compactHistoryPage(store, generation, 30, 1)).toBe(false);
    await machine.apply(entriesFrom(42, [compact(35)]));
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.compactRevision).toBe(35);
    await reopened.compactedPhysically(35);
    expect((await reopened.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { revision: 35 })).kvs.map((kv) => text(kv.value))).toEqual(['32', '33', '34', '31']);
    expect(expected.kvs.length).toBe(4);
  });

  it('waits for the physical deletion when asked as soon as the compaction is visible (as the server does)', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, Array.from({ length: 20 }, (_, i) => put('k', `${i}`))));
    let physical: Promise<void> | null = null;
    await machine.apply(entriesFrom(21, [compact(20)]), () => {
      physical = machine.compactedPhysically(20);
    });
    await physical;
    // The newest version below 20 (19) and the one at 20 are all that is left.
    expect(await histCount(machine, store)).toBe(2);
  });

  it('leaves every read at or above the compact revision intact after each page of the deletion', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, Array.from({ length: 40 }, (_, i) => (i % 7 === 6 ? del(`k${i % 3}`) : put(`k${i % 3}`, `${i}`)))));
    const snapshotOf = async (): Promise<string[]> => {
      const lines: string[] = [];
      for (const revision of [30, 33, 36, 40]) {
        const { kvs } = await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { revision });
        lines.push(`${revision}: ${kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}@${kv.modRevision}`).join(' ')}`);
      }
      return [...lines, ...(await allEvents(machine, 30))];
    };
    const before = await snapshotOf();
    const { compactHistoryPage } = await import('../../src/kv/history-compaction.js');
    const generation = store.generation(machine.generation);
    let pages = 0;
    while (await compactHistoryPage(store, generation, 30, 3)) {
      pages++;
      expect(await snapshotOf()).toEqual(before);
    }
    expect(pages).toBe(10);
  });
});

describe('the compact command', () => {
  it('round-trips through the command encoding, and refuses revision 0 naming the field', async () => {
    const { decodeCommand, encodeCommand, InvalidArgumentError } = await import('../../src/kv/index.js');
    expect(decodeCommand(encodeCommand({ kind: 'compact', revision: 123_456_789 }))).toEqual({ kind: 'compact', revision: 123_456_789 });
    expect(() => encodeCommand({ kind: 'compact', revision: 0 })).toThrow(InvalidArgumentError);
    expect(() => encodeCommand({ kind: 'compact', revision: 0 })).toThrow(/revision/);
  });
});
