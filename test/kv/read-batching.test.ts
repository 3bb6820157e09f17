/**
 * Reads that miss the key cache in one turn share one getMany on the generation in force; each
 * read gets its own key's record, absent keys included, and a snapshot install meanwhile neither
 * breaks a read in progress nor leaves the replaced state in the cache.
 */
import { describe, expect, it, vi } from 'vitest';
import { KvStateMachine, SnapshotChunker } from '../../src/kv/index.js';
import { encodeKeyRecord } from '../../src/kv/key-record.js';
import { deferred } from '../../src/shared/deferred.js';
import { nodeId } from '../../src/raft/index.js';
import type { NodeStore } from '../../src/storage/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { entriesFrom, put } from './kv-helpers.js';

const temp = useTempStores();
const membership = { voters: [nodeId('n1')], learners: [] };

/** A machine with key-0..key-(n-1) = old-i applied, and no key cache, so every get reads LevelDB. */
async function machineWithKeys(n: number): Promise<{ machine: KvStateMachine; store: NodeStore }> {
  const { store } = await temp.openFresh();
  const machine = await KvStateMachine.open(store, { cacheBytesMax: 0 });
  await machine.apply(entriesFrom(1, Array.from({ length: n }, (_, i) => put(`key-${i}`, `old-${i}`))));
  return { machine, store };
}

/** One snapshot chunk holding key-i = new-i for each i given. */
function snapshotOf(keys: readonly number[]): Uint8Array {
  const chunker = new SnapshotChunker(1024 * 1024);
  for (const i of keys) {
    const chunk = chunker.add({ kind: 'kv', key: bytes(`key-${i}`), value: encodeKeyRecord({ value: bytes(`new-${i}`), version: 1, createRevision: 100, modRevision: 100 }) });
    expect(chunk).toBeNull();
  }
  const last = chunker.finish();
  if (last === null) throw new Error('empty snapshot');
  return last;
}

describe('batched reads of the state machine', () => {
  it('gives each of many reads of one turn its own record, absent keys as null, in one getMany', async () => {
    const { machine, store } = await machineWithKeys(50);
    const kv = store.generation(machine.generation).kv;
    const getMany = vi.spyOn(kv, 'getMany');
    const get = vi.spyOn(kv, 'get');
    const wanted = [7, 3, 49, 1000, 3, 0, 2000, 25];
    const records = await Promise.all(wanted.map((i) => machine.get(bytes(`key-${i}`))));
    expect(records.map((r) => (r === null ? null : text(r.value)))).toEqual(['old-7', 'old-3', 'old-49', null, 'old-3', 'old-0', null, 'old-25']);
    // One trip for the turn; the key asked twice is read once.
    expect(getMany).toHaveBeenCalledTimes(1);
    expect(getMany.mock.calls[0]?.[0]).toHaveLength(7);
    expect(get).not.toHaveBeenCalled();
  });

  it('reads of later turns get batches of their own', async () => {
    const { machine, store } = await machineWithKeys(10);
    const getMany = vi.spyOn(store.generation(machine.generation).kv, 'getMany');
    expect(text((await machine.get(bytes('key-1')))?.value ?? bytes('-'))).toBe('old-1');
    expect(await machine.get(bytes('key-99'))).toBeNull();
    expect(getMany).toHaveBeenCalledTimes(2);
  });

  it('a read batch in progress when a snapshot is installed finishes on the state it started on; the replaced state is cleared after it, and later reads see the new state', async () => {
    const { machine, store } = await machineWithKeys(20);
    const old = store.generation(machine.generation);
    const gate = deferred<void>();
    const started = deferred<void>();
    const realGetMany = old.kv.getMany.bind(old.kv);
    vi.spyOn(old.kv, 'getMany').mockImplementation((async (keys: Uint8Array[]) => {
      started.resolve();
      await gate.promise;
      return realGetMany(keys);
    }) as unknown as typeof old.kv.getMany);

    const inProgress = Promise.all([1, 2, 500].map((i) => machine.get(bytes(`key-${i}`))));
    await started.promise;

    // The snapshot holds keys 1 and 500 only, with new values.
    const incoming = await machine.receiveSnapshot();
    await incoming.write(snapshotOf([1, 500]));
    const install = machine.prepareInstall(incoming.finish(), { index: 100, term: 2, membership });
    await store.write(install.operations, { sync: true });
    await install.complete();
    expect(machine.generation).toBe(old.generation + 1);

    let retired = false;
    const retiring = machine.retired().then(() => (retired = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(retired).toBe(false); // a read still uses the replaced generation
    expect((await old.kv.keys().all()).length).toBe(20);

    gate.resolve();
    const records = await inProgress;
    expect(records.map((r) => (r === null ? null : text(r.value)))).toEqual(['old-1', 'old-2', null]);
    await retiring;
    expect(await old.kv.keys().all()).toEqual([]);

    // Nothing of the replaced state was cached: the new state answers.
    const after = await Promise.all([1, 2, 500].map((i) => machine.get(bytes(`key-${i}`))));
    expect(after.map((r) => (r === null ? null : text(r.value)))).toEqual(['new-1', null, 'new-500']);
  });

  it('with a key cache, caches what it read, and a write applied during the read is not overwritten by the older value', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store, { cacheBytesMax: 1024 * 1024 });
    await machine.apply(entriesFrom(1, [put('a', 'one')]));
    const kv = store.generation(machine.generation).kv;
    const gate = deferred<void>();
    const realGetMany = kv.getMany.bind(kv);
    const getMany = vi.spyOn(kv, 'getMany').mockImplementation((async (keys: Uint8Array[]) => {
      const values = await realGetMany(keys);
      await gate.promise;
      return values;
    }) as unknown as typeof kv.getMany);
    const stale = machine.get(bytes('z')); // absent now; the read holds its answer until the gate opens
    await new Promise((resolve) => setTimeout(resolve, 10));
    getMany.mockRestore();
    await machine.apply(entriesFrom(2, [put('z', 'two')]));
    gate.resolve();
    expect(await stale).toBeNull();
    expect(text((await machine.get(bytes('z')))?.value ?? bytes('-'))).toBe('two');
  });

  it('caches a read that an apply of other keys overlapped, and a later apply of its key then reads nothing', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store, { cacheBytesMax: 1024 * 1024 });
    await machine.apply(entriesFrom(1, [put('a', 'one')]));
    const kv = store.generation(machine.generation).kv;
    const gate = deferred<void>();
    const realGetMany = kv.getMany.bind(kv);
    const getMany = vi.spyOn(kv, 'getMany').mockImplementation((async (keys: Uint8Array[]) => {
      const values = await realGetMany(keys);
      await gate.promise;
      return values;
    }) as unknown as typeof kv.getMany);
    const read = machine.get(bytes('b')); // a read of a missing key, held until the gate opens
    await new Promise((resolve) => setTimeout(resolve, 10));
    getMany.mockRestore();
    const counting = vi.spyOn(kv, 'getMany');
    const reading = vi.spyOn(kv, 'getSync');
    await machine.apply(entriesFrom(2, [put('a', 'two')])); // another key, cached: no read
    gate.resolve();
    expect(await read).toBeNull();
    await machine.apply(entriesFrom(3, [put('b', 'three')])); // b's absence was cached by the read
    expect(counting).not.toHaveBeenCalled();
    expect(reading).not.toHaveBeenCalled();
    expect(text((await machine.get(bytes('b')))?.value ?? bytes('-'))).toBe('three');
  });

  it('an apply reads the keys missing from the cache synchronously, and caches them', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store, { cacheBytesMax: 64 });
    // x is written, then evicted by y (the cache holds one small record): applying to x again reads it.
    await machine.apply(entriesFrom(1, [put('x', 'one'), put('y', 'two')]));
    const kv = store.generation(machine.generation).kv;
    const getSync = vi.spyOn(kv, 'getSync');
    const getMany = vi.spyOn(kv, 'getMany');
    await machine.apply(entriesFrom(3, [put('x', 'three')]));
    expect(getSync).toHaveBeenCalledTimes(1);
    expect(getMany).not.toHaveBeenCalled();
    // The record read from LevelDB was x's: the new version is 2, created at 1.
    const record = await machine.get(bytes('x'));
    expect(record).toMatchObject({ version: 2, createRevision: 1, modRevision: 3 });
  });

  it('does not cache a key an apply wrote during the read, even when the apply could not cache it', async () => {
    const { store } = await temp.openFresh();
    // Room for small records only: the 2 KiB value written below is never cached.
    const machine = await KvStateMachine.open(store, { cacheBytesMax: 1024 });
    // z is written first, then evicted by y and x: the get below misses the cache.
    await machine.apply(entriesFrom(1, [put('z', 'old'), put('y', 'y'), put('x', 'x')]));
    const kv = store.generation(machine.generation).kv;
    const gate = deferred<void>();
    const realGetMany = kv.getMany.bind(kv);
    const getMany = vi.spyOn(kv, 'getMany').mockImplementation((async (keys: Uint8Array[]) => {
      const values = await realGetMany(keys);
      await gate.promise;
      return values;
    }) as unknown as typeof kv.getMany);
    const before = machine.get(bytes('z'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    getMany.mockRestore();
    const big = 'x'.repeat(2048);
    await machine.apply(entriesFrom(4, [put('z', big)]));
    gate.resolve();
    expect(text((await before)?.value ?? bytes('-'))).toBe('old');
    expect(text((await machine.get(bytes('z')))?.value ?? bytes('-'))).toBe(big);
  });

  it('calls onVisible before the apply write lands; reads that need LevelDB wait for that write, cached keys answer at once', async () => {
    const { store } = await temp.openFresh();
    // Room for small records only: the 2 KiB value below is never cached.
    const machine = await KvStateMachine.open(store, { cacheBytesMax: 1024 });
    await machine.apply(entriesFrom(1, [put('big', 'old')]));
    const gate = deferred<void>();
    const realWrite = store.write.bind(store);
    const write = vi.spyOn(store, 'write').mockImplementation(async (operations, options) => {
      await gate.promise;
      return realWrite(operations, options);
    });
    const big = 'x'.repeat(2048);
    let visible: unknown[] | null = null;
    const applying = machine.apply(entriesFrom(2, [put('big', big), put('small', 'new')]), (outcomes) => {
      visible = outcomes;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(visible).toHaveLength(2);
    expect(machine.appliedIndex).toBe(3);
    expect(text((await machine.get(bytes('small')))?.value ?? bytes('-'))).toBe('new');
    let ranged = false;
    const range = machine.range({ kind: 'prefix', prefix: bytes('') }, 0).then((result) => {
      ranged = true;
      return result;
    });
    const got = machine.get(bytes('big'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(ranged).toBe(false);
    gate.resolve();
    await applying;
    write.mockRestore();
    expect(text((await got)?.value ?? bytes('-'))).toBe(big);
    expect((await range).kvs.map((kv) => text(kv.value))).toEqual([big, 'new']);
  });

  it('fails the reads that need LevelDB when the apply write fails, rather than serve a state without an answered batch', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store, { cacheBytesMax: 0 });
    await machine.apply(entriesFrom(1, [put('k', 'old')]));
    const gate = deferred<void>();
    const write = vi.spyOn(store, 'write').mockImplementation(async () => {
      await gate.promise;
      throw new Error('disk gone');
    });
    let answered = false;
    const applying = machine.apply(entriesFrom(2, [put('k', 'new'), put('t/1', 'x'), put('t/2', 'y')]), () => {
      answered = true;
    });
    applying.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(answered).toBe(true);
    // Each would read LevelDB, where only 'old' is: they must fail instead.
    const reads = [
      machine.get(bytes('k')),
      machine.range({ kind: 'prefix', prefix: bytes('') }, 0),
      machine.readTxn({ kind: 'txn', compare: [], success: [{ kind: 'get', keys: { kind: 'key', key: bytes('k') }, limit: 0 }], failure: [] }),
    ].map((read) => read.then(() => 'served', (error: unknown) => (error as Error).name));
    gate.resolve();
    await expect(applying).rejects.toThrow('disk gone');
    expect(await Promise.all(reads)).toEqual(['StateMachineFailedError', 'StateMachineFailedError', 'StateMachineFailedError']);
    // And so does every LevelDB read after it.
    await expect(machine.get(bytes('k'))).rejects.toThrow(/an earlier apply failed/);
    write.mockRestore();
  });
});
