import { describe, expect, it, vi } from 'vitest';
import {
  CorruptCommittedEntryError,
  InvalidArgumentError,
  KvStateMachine,
  StateMachineFailedError,
  rangeBytesMax,
  type Command,
  type RangeResult,
} from '../../src/kv/index.js';
import { InvariantError, type Entry } from '../../src/raft/index.js';
import { StorageCorruptError } from '../../src/storage/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { commandEntry, entriesFrom, noOpEntry, put, register, session } from './kv-helpers.js';

const temp = useTempStores();

async function freshMachine(): Promise<KvStateMachine> {
  return KvStateMachine.open((await temp.openFresh()).store);
}

function keysOf(result: RangeResult): string[] {
  return result.kvs.map((kv) => text(kv.key));
}

const del = (key: string): Command => ({ kind: 'delete', key: bytes(key) });
const casVersion = (key: string, version: number, value: string): Command => ({
  kind: 'cas',
  key: bytes(key),
  compare: { kind: 'version', version },
  action: { kind: 'put', value: bytes(value) },
});

describe('KvStateMachine', () => {
  it('starts empty at applied index 0', async () => {
    const machine = await freshMachine();
    expect(machine.applied).toEqual({ index: 0, term: 0 });
    expect(await machine.get(bytes('k'))).toBeNull();
  });

  it('writes data and the applied position in one batch that survives a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    const outcomes = await machine.apply([commandEntry(1, put('a', '1'), 2), commandEntry(2, put('b', '2'), 2), noOpEntry(3, 3)]);
    expect(outcomes.map((o) => o.kind)).toEqual(['command', 'command', 'no-op']);
    expect(outcomes[2]).toEqual({ kind: 'no-op', index: 3, term: 3 });
    expect(machine.applied).toEqual({ index: 3, term: 3 });
    await store.close();

    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.applied).toEqual({ index: 3, term: 3 });
    expect(await reopened.get(bytes('a'))).toEqual({ value: bytes('1'), version: 1, createRevision: 1, modRevision: 1 });
    expect(await reopened.get(bytes('b'))).toMatchObject({ value: bytes('2'), createRevision: 2 });
  });

  it("applies a Raft conf-change entry as a no-op: its data is the core's, not a command", async () => {
    const machine = await freshMachine();
    const confChange: Entry = { index: 2, term: 1, type: 'conf-change', data: new Uint8Array([1, 0, 0, 1]) };
    const outcomes = await machine.apply([commandEntry(1, put('a', '1')), confChange]);
    expect(outcomes.map((o) => o.kind)).toEqual(['command', 'no-op']);
    expect(machine.applied).toEqual({ index: 2, term: 1 });
  });

  it('applies nothing of a batch holding an undecodable committed entry, and says which', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    const garbage: Entry = { index: 2, term: 1, type: 'normal', data: new Uint8Array([1, 77]) };
    const error: unknown = await machine.apply([commandEntry(1, put('a', '1')), garbage]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptCommittedEntryError);
    expect(error).toMatchObject({ code: 'KV_CORRUPT_ENTRY', index: 2, term: 1 });
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(machine.appliedIndex).toBe(0);
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.appliedIndex).toBe(0);
    expect(await reopened.get(bytes('a'))).toBeNull();
  });

  it('lets later commands of a batch read the writes of earlier ones', async () => {
    const machine = await freshMachine();
    const outcomes = await machine.apply(
      entriesFrom(1, [
        put('k', 'v1'),
        put('k', 'v2'),
        casVersion('k', 2, 'v3'),
        casVersion('k', 2, 'lost'),
        del('k'),
        casVersion('k', 0, 'again'),
      ]),
    );
    expect(outcomes.map((o) => (o.kind === 'command' ? o.result : null))).toEqual([
      { kind: 'put', version: 1, modRevision: 1 },
      { kind: 'put', version: 2, modRevision: 2 },
      { kind: 'cas', succeeded: true, previous: { value: bytes('v2'), version: 2, createRevision: 1, modRevision: 2 }, modRevision: 3 },
      { kind: 'cas', succeeded: false, previous: { value: bytes('v3'), version: 3, createRevision: 1, modRevision: 3 }, modRevision: 3 },
      { kind: 'delete', deleted: true },
      { kind: 'cas', succeeded: true, previous: null, modRevision: 6 },
    ]);
    expect(await machine.get(bytes('k'))).toEqual({ value: bytes('again'), version: 1, createRevision: 6, modRevision: 6 });
  });

  it('deletes a key written and deleted in the same batch from disk too', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('k', 'old')]));
    await machine.apply(entriesFrom(2, [put('k', 'new'), del('k')]));
    expect(await machine.get(bytes('k'))).toBeNull();
    expect((await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0)).kvs).toEqual([]);
  });

  it('refuses entries that do not continue from the applied index', async () => {
    const machine = await freshMachine();
    await expect(machine.apply(entriesFrom(2, [put('k', 'v')]))).rejects.toBeInstanceOf(InvariantError);
    await machine.apply(entriesFrom(1, [put('k', 'v')]));
    await expect(machine.apply(entriesFrom(1, [put('k', 'v')]))).rejects.toBeInstanceOf(InvariantError);
    expect(machine.appliedIndex).toBe(1);
  });

  it('refuses to apply after a batch failed to reach the disk, its sessions being ahead of the disk', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    const diskFull = new Error('disk full');
    vi.spyOn(store, 'write').mockRejectedValueOnce(diskFull);
    const commands = [register(), put('k', 'v', session('1', 1))];
    await expect(machine.apply(entriesFrom(1, commands))).rejects.toBe(diskFull);
    const error: unknown = await machine.apply(entriesFrom(1, commands)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateMachineFailedError);
    expect((error as Error).cause).toBe(diskFull);
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(await reopened.apply(entriesFrom(1, commands))).toMatchObject([
      { result: { kind: 'session-registered', clientId: '1' } },
      { replayed: false, result: { kind: 'put', version: 1 } },
    ]);
  });

  it('reports a corrupt stored record as StorageCorruptError naming the key', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await store.write([{ type: 'put', sublevel: store.generation(0).kv, key: bytes('bad'), value: new Uint8Array([1, 0]) }], { sync: true });
    const error: unknown = await machine.get(bytes('bad')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageCorruptError);
    expect((error as StorageCorruptError).location).toBe(`kv-g0/${Buffer.from('bad').toString('hex')}`);
    await expect(machine.apply(entriesFrom(1, [put('bad', 'v')]))).rejects.toBeInstanceOf(StorageCorruptError);
  });

  describe('range', () => {
    async function withKeys(keys: readonly string[]): Promise<KvStateMachine> {
      const machine = await freshMachine();
      await machine.apply(entriesFrom(1, keys.map((key) => put(key, `value of ${key}`))));
      return machine;
    }
    const keys = ['a', 'a/1', 'a/2', 'a/3', 'a0', 'b/1', 'c'];

    it('by prefix, in key order, with limit and more', async () => {
      const machine = await withKeys(keys);
      expect(keysOf(await machine.range({ kind: 'prefix', prefix: bytes('a/') }, 2))).toEqual(['a/1', 'a/2']);
      expect((await machine.range({ kind: 'prefix', prefix: bytes('a/') }, 2)).more).toBe(true);
      const exact = await machine.range({ kind: 'prefix', prefix: bytes('a/') }, 3);
      expect([keysOf(exact), exact.more]).toEqual([['a/1', 'a/2', 'a/3'], false]);
      expect(keysOf(await machine.range({ kind: 'prefix', prefix: bytes('a') }, 0))).toEqual(['a', 'a/1', 'a/2', 'a/3', 'a0']);
      expect(keysOf(await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0))).toEqual(keys);
      const first = (await machine.range({ kind: 'prefix', prefix: bytes('b/') }, 1)).kvs[0];
      expect(first).toEqual({ key: bytes('b/1'), value: bytes('value of b/1'), version: 1, createRevision: 6, modRevision: 6 });
    });

    it('by a prefix ending in 0xff', async () => {
      const machine = await freshMachine();
      const stored = [[0x61, 0xfe], [0x61, 0xff], [0x61, 0xff, 0x00], [0x61, 0xff, 0xff], [0x62]];
      await machine.apply(entriesFrom(1, stored.map((key): Command => ({ kind: 'put', key: new Uint8Array(key), value: new Uint8Array() }))));
      const result = await machine.range({ kind: 'prefix', prefix: new Uint8Array([0x61, 0xff]) }, 0);
      expect(result.kvs.map((kv) => [...kv.key])).toEqual([[0x61, 0xff], [0x61, 0xff, 0x00], [0x61, 0xff, 0xff]]);
    });

    it('by [start, end), an empty end meaning to the end of the keyspace', async () => {
      const machine = await withKeys(keys);
      expect(keysOf(await machine.range({ kind: 'interval', start: bytes('a/2'), end: bytes('b/1') }, 0))).toEqual(['a/2', 'a/3', 'a0']);
      const limited = await machine.range({ kind: 'interval', start: bytes('a0'), end: new Uint8Array() }, 2);
      expect([keysOf(limited), limited.more]).toEqual([['a0', 'b/1'], true]);
      const all = await machine.range({ kind: 'interval', start: bytes('a0'), end: new Uint8Array() }, 3);
      expect([keysOf(all), all.more]).toEqual([['a0', 'b/1', 'c'], false]);
      expect(keysOf(await machine.range({ kind: 'interval', start: bytes('c'), end: bytes('a') }, 0))).toEqual([]);
    });

    it('stops at rangeBytesMax, returning at least one key and more', async () => {
      const machine = await freshMachine();
      const mebibyte = new Uint8Array(1024 * 1024);
      await machine.apply(entriesFrom(1, ['k1', 'k2', 'k3', 'k4', 'k5'].map((key): Command => ({ kind: 'put', key: bytes(key), value: mebibyte }))));
      const result = await machine.range({ kind: 'prefix', prefix: bytes('k') }, 0);
      expect(result.more).toBe(true);
      expect(result.kvs.length).toBeGreaterThan(0);
      expect(result.kvs.reduce((sum, kv) => sum + kv.key.byteLength + kv.value.byteLength, 0)).toBeLessThanOrEqual(rangeBytesMax);
    });

    it.each([-1, 1.5, 10_001])('refuses limit %d', async (limit) => {
      const machine = await freshMachine();
      await expect(machine.range({ kind: 'prefix', prefix: bytes('a') }, limit)).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  });

  describe('keyspaceHash', () => {
    async function hashAfter(commands: readonly Command[]): Promise<string> {
      const machine = await freshMachine();
      await machine.apply(entriesFrom(1, commands));
      return machine.keyspaceHash();
    }

    it('is equal for equal content, whatever the batching', async () => {
      const commands = [put('a', '1'), put('b', '2'), del('a'), put('c', '3')];
      const split = await freshMachine();
      await split.apply(entriesFrom(1, commands.slice(0, 2)));
      await split.apply(entriesFrom(3, commands.slice(2)));
      expect(await split.keyspaceHash()).toBe(await hashAfter(commands));
      expect(await hashAfter([])).toBe(await (await freshMachine()).keyspaceHash());
    });

    it('differs for a different value, key, version or revision', async () => {
      const base = await hashAfter([put('a', '1'), put('b', '2')]);
      expect(await hashAfter([put('a', '1'), put('b', '3')])).not.toBe(base);
      expect(await hashAfter([put('a', '1'), put('c', '2')])).not.toBe(base);
      expect(await hashAfter([put('a', '1'), put('b', '2'), put('b', '2')])).not.toBe(base);
      expect(await hashAfter([put('b', '2'), put('a', '1')])).not.toBe(base);
      // Key/value boundaries are length-prefixed: "ab"+"c" is not "a"+"bc".
      expect(await hashAfter([put('ab', 'c')])).not.toBe(await hashAfter([put('a', 'bc')]));
    });
  });
});
