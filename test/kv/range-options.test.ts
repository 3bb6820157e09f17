import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  KvStateMachine,
  RangeCollector,
  decodeCommand,
  encodeCommand,
  validateRangeOptions,
  type ApplyOutcome,
  type Command,
  type KeyValue,
  type RangeOptions,
  type RangeSortOrder,
  type RangeSortTarget,
  type TxnCommand,
  type TxnResult,
} from '../../src/kv/index.js';
import { mulberry32 } from '../support/mulberry32.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { commandEntry } from './kv-helpers.js';

const temp = useTempStores();

/**
 * The model: what etcd 3.4 answers, written out plainly. Filters, then a full sort (ties by key,
 * the whole order reversed when descending), then the limit and the byte bound; count is every
 * key that passed the filters.
 */
function modelRange(present: readonly KeyValue[], options: RangeOptions, keysMax: number, bytesMax: number): { kvs: string[]; more: boolean; count: number } {
  const within = (value: number, min = 0, max = 0): boolean => (min === 0 || value >= min) && (max === 0 || value <= max);
  const matched = present.filter((kv) => within(kv.modRevision, options.minModRevision, options.maxModRevision) && within(kv.createRevision, options.minCreateRevision, options.maxCreateRevision));
  if (options.countOnly === true) return { kvs: [], more: false, count: matched.length };
  const target = options.sortTarget ?? 'key';
  const order = options.sortOrder ?? 'none';
  const sorted = [...matched];
  if (!(target === 'key' && order !== 'descend')) {
    const attribute = (kv: KeyValue): number | Buffer =>
      target === 'version' ? kv.version : target === 'create' ? kv.createRevision : target === 'mod' ? kv.modRevision : target === 'value' ? Buffer.from(kv.value) : Buffer.from(kv.key);
    sorted.sort((a, b) => {
      const x = attribute(a);
      const y = attribute(b);
      const byTarget = typeof x === 'number' ? x - (y as number) : Buffer.compare(x, y as Buffer);
      return byTarget !== 0 ? byTarget : Buffer.compare(a.key, b.key);
    });
    if (order === 'descend') sorted.reverse();
  }
  const kvs: KeyValue[] = [];
  let held = 0;
  for (const kv of sorted) {
    // The bytes held: the value counts unless keys only, but a sort by value holds it anyway.
    const size = kv.key.byteLength + (options.keysOnly === true && target !== 'value' ? 0 : kv.value.byteLength);
    if (kvs.length === keysMax || (kvs.length > 0 && held + size > bytesMax)) break;
    held += size;
    kvs.push(kv);
  }
  return { kvs: kvs.map((kv) => describe1(kv, options.keysOnly === true)), more: matched.length > kvs.length, count: matched.length };
}

function describe1(kv: KeyValue, keysOnly = false): string {
  return `${text(kv.key)}=${keysOnly ? '' : text(kv.value)} v${kv.version} c${kv.createRevision} m${kv.modRevision}`;
}

const targets: readonly RangeSortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const orders: readonly RangeSortOrder[] = ['none', 'ascend', 'descend'];

/** Random options whose bounds fall inside 1..revisionMax (sometimes unset). */
function randomOptions(random: () => number, revisionMax: number): RangeOptions {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const bound = (): number => (random() < 0.6 ? 0 : 1 + Math.floor(random() * revisionMax));
  const [minMod, maxMod] = [bound(), bound()].sort((a, b) => (a === 0 || b === 0 ? 0 : a - b));
  const [minCreate, maxCreate] = [bound(), bound()].sort((a, b) => (a === 0 || b === 0 ? 0 : a - b));
  return {
    sortTarget: pick(targets),
    sortOrder: pick(orders),
    keysOnly: random() < 0.25,
    countOnly: random() < 0.1,
    minModRevision: minMod ?? 0,
    maxModRevision: maxMod ?? 0,
    minCreateRevision: minCreate ?? 0,
    maxCreateRevision: maxCreate ?? 0,
  };
}

function collect(kvs: readonly KeyValue[], options: RangeOptions, keysMax: number, bytesMax: number): { kvs: string[]; more: boolean; count: number } {
  const collector = new RangeCollector(options, keysMax, bytesMax);
  for (const kv of kvs) collector.add(kv);
  const answer = collector.finish();
  return { kvs: answer.kvs.map((kv) => describe1(kv, options.keysOnly === true)), more: answer.more, count: answer.count };
}

describe('RangeCollector against the model (seeded)', () => {
  it('filters, sorts, limits and counts as the model, with small limits that force the bounded buffer to cut back often', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const random = mulberry32(seed);
      const keyCount = Math.floor(random() * 60);
      const kvs: KeyValue[] = [];
      for (let i = 0; i < keyCount; i++) {
        const createRevision = 1 + Math.floor(random() * 40);
        kvs.push({
          key: bytes(`k${String(i).padStart(3, '0')}`),
          // Few distinct values and versions: ties are common, so the tie order is tested.
          value: bytes('v'.repeat(Math.floor(random() * 4))),
          version: 1 + Math.floor(random() * 3),
          createRevision,
          modRevision: createRevision + Math.floor(random() * 10),
        });
      }
      const options = randomOptions(random, 50);
      const keysMax = 1 + Math.floor(random() * 8);
      const bytesMax = random() < 0.5 ? Number.POSITIVE_INFINITY : 4 + Math.floor(random() * 30);
      expect(collect(kvs, options, keysMax, bytesMax), `seed ${seed} ${JSON.stringify(options)} keysMax ${keysMax} bytesMax ${bytesMax}`).toEqual(modelRange(kvs, options, keysMax, bytesMax));
    }
  });

  it('holds at most twice the limit while it reads, however many keys match', () => {
    const collector = new RangeCollector({ sortTarget: 'mod', sortOrder: 'descend' }, 10, Number.POSITIVE_INFINITY);
    let heldMax = 0;
    for (let i = 0; i < 10_000; i++) {
      collector.add({ key: bytes(`k${String(i).padStart(5, '0')}`), value: bytes('x'), version: 1, createRevision: i + 1, modRevision: i + 1 });
      heldMax = Math.max(heldMax, (collector as unknown as { kvs: unknown[] }).kvs.length);
    }
    expect(heldMax).toBeLessThanOrEqual(20);
    const answer = collector.finish();
    expect(answer.kvs.map((kv) => kv.modRevision)).toEqual([10_000, 9999, 9998, 9997, 9996, 9995, 9994, 9993, 9992, 9991]);
    expect(answer).toMatchObject({ more: true, count: 10_000 });
  });
});

describe('validateRangeOptions', () => {
  const invalid: { name: string; options: RangeOptions; field: string }[] = [
    { name: 'an unknown sort target', options: { sortTarget: 'size' as RangeSortTarget }, field: 'sortTarget' },
    { name: 'an unknown sort order', options: { sortOrder: 'random' as RangeSortOrder }, field: 'sortOrder' },
    { name: 'a negative revision bound', options: { minModRevision: -1 }, field: 'minModRevision' },
    { name: 'a fractional revision bound', options: { maxCreateRevision: 1.5 }, field: 'maxCreateRevision' },
    { name: 'a revision bound beyond 2^53-1', options: { maxModRevision: 2 ** 53 }, field: 'maxModRevision' },
    { name: 'min mod revision above max', options: { minModRevision: 9, maxModRevision: 3 }, field: 'minModRevision' },
    { name: 'min create revision above max', options: { minCreateRevision: 9, maxCreateRevision: 3 }, field: 'minCreateRevision' },
  ];
  for (const { name, options, field } of invalid) {
    it(`refuses ${name}, naming ${field}`, () => {
      expect(() => validateRangeOptions(options)).toThrow(InvalidArgumentError);
      expect(() => validateRangeOptions(options)).toThrow(new RegExp(`^${field}:`));
    });
  }
  it('accepts keys only with count only (as etcd), a min without a max, and equal bounds', () => {
    expect(() => validateRangeOptions({ keysOnly: true, countOnly: true, minModRevision: 5, minCreateRevision: 3, maxCreateRevision: 3 })).not.toThrow();
  });
});

/** A seeded workload of puts and deletes on 20 keys; the model's keyspace after each revision. */
function workload(seed: number, revisions: number): { commands: Command[]; states: Map<string, KeyValue>[] } {
  const random = mulberry32(seed);
  const commands: Command[] = [];
  const states: Map<string, KeyValue>[] = [new Map()];
  for (let revision = 1; revision <= revisions; revision++) {
    const state = new Map(states[revision - 1]);
    const key = `k${String(Math.floor(random() * 20)).padStart(2, '0')}`;
    if (random() < 0.2) {
      commands.push({ kind: 'delete', key: bytes(key) });
      state.delete(key);
    } else {
      const value = String.fromCharCode(97 + Math.floor(random() * 6)).repeat(1 + Math.floor(random() * 3));
      commands.push({ kind: 'put', key: bytes(key), value: bytes(value) });
      const before = state.get(key);
      state.set(key, { key: bytes(key), value: bytes(value), version: (before?.version ?? 0) + 1, createRevision: before?.createRevision ?? revision, modRevision: revision });
    }
    states.push(state);
  }
  return { commands, states };
}

function present(state: Map<string, KeyValue>, prefix = ''): KeyValue[] {
  return [...state.values()].filter((kv) => text(kv.key).startsWith(prefix)).sort((a, b) => Buffer.compare(a.key, b.key));
}

describe('KvStateMachine.range with options against the model (seeded)', () => {
  it('answers as the model at the latest revision and at past revisions, with limits, more and count', async () => {
    for (const seed of [7, 8, 9]) {
      const machine = await KvStateMachine.open((await temp.openFresh()).store);
      const { commands, states } = workload(seed, 120);
      await machine.apply(commands.map((command, i) => commandEntry(i + 1, command)));
      const random = mulberry32(seed * 1000);
      for (let round = 0; round < 60; round++) {
        const revision = random() < 0.4 ? 0 : 1 + Math.floor(random() * 120);
        const options = randomOptions(random, 120);
        const limit = random() < 0.3 ? 0 : 1 + Math.floor(random() * 6);
        const prefix = random() < 0.5 ? '' : 'k1';
        const answer = await machine.range({ kind: 'prefix', prefix: bytes(prefix) }, limit, { ...options, revision });
        const expected = modelRange(present(states[revision === 0 ? 120 : revision] as Map<string, KeyValue>, prefix), options, limit === 0 ? 10_000 : limit, Number.POSITIVE_INFINITY);
        const label = `seed ${seed} round ${round} revision ${revision} prefix '${prefix}' limit ${limit} ${JSON.stringify(options)}`;
        expect({ kvs: answer.kvs.map((kv) => describe1(kv, options.keysOnly === true)), more: answer.more, count: answer.count }, label).toEqual(expected);
        if (options.keysOnly === true) expect(answer.kvs.every((kv) => kv.value.byteLength === 0), label).toBe(true);
      }
    }
  });

  it('answers an old request (no options) exactly as before: key order, limit, more; count added', async () => {
    const machine = await KvStateMachine.open((await temp.openFresh()).store);
    const { commands, states } = workload(3, 60);
    await machine.apply(commands.map((command, i) => commandEntry(i + 1, command)));
    const all = present(states[60] as Map<string, KeyValue>);
    const answer = await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 3);
    expect(answer.kvs.map((kv) => describe1(kv))).toEqual(all.slice(0, 3).map((kv) => describe1(kv)));
    expect(answer).toMatchObject({ more: all.length > 3, count: all.length });
  });

  it('counts the whole range with count only, and past a full answer, without filters (values not read) and with', async () => {
    const machine = await KvStateMachine.open((await temp.openFresh()).store);
    const { commands, states } = workload(5, 80);
    await machine.apply(commands.map((command, i) => commandEntry(i + 1, command)));
    const all = present(states[80] as Map<string, KeyValue>);
    const inK1 = present(states[80] as Map<string, KeyValue>, 'k1');
    const everything = { kind: 'prefix', prefix: new Uint8Array() } as const;
    expect(await machine.range(everything, 0, { countOnly: true })).toEqual({ kvs: [], more: false, count: all.length });
    expect(await machine.range({ kind: 'prefix', prefix: bytes('k1') }, 0, { countOnly: true })).toEqual({ kvs: [], more: false, count: inK1.length });
    expect(await machine.range({ kind: 'prefix', prefix: bytes('k1') }, 1, {})).toMatchObject({ more: inK1.length > 1, count: inK1.length });
    expect(await machine.range({ kind: 'interval', start: bytes('k05'), end: bytes('k15') }, 2, { keysOnly: true })).toMatchObject({
      count: all.filter((kv) => text(kv.key) >= 'k05' && text(kv.key) < 'k15').length,
    });
    const filtered = modelRange(all, { countOnly: true, minModRevision: 40 }, 10_000, Number.POSITIVE_INFINITY);
    expect(await machine.range(everything, 0, { countOnly: true, minModRevision: 40 })).toEqual({ kvs: [], more: false, count: filtered.count });
  });

  it('refuses invalid options with InvalidArgumentError naming the field, before reading', async () => {
    const machine = await KvStateMachine.open((await temp.openFresh()).store);
    await expect(machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { minCreateRevision: 5, maxCreateRevision: 4 })).rejects.toThrow(/^minCreateRevision:/);
    await expect(machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0, { sortTarget: 'lease' as RangeSortTarget })).rejects.toThrow(InvalidArgumentError);
  });
});

describe('transaction gets with options', () => {
  const txnGet = (options: RangeOptions, limit: number): TxnCommand => ({
    kind: 'txn',
    compare: [],
    // The put is seen by the get after it (the batch's overlay), and sorted with the stored keys.
    success: [
      { kind: 'put', key: bytes('k05'), value: bytes('zzz') },
      { kind: 'get', keys: { kind: 'prefix', prefix: bytes('k') }, limit, options },
    ],
    failure: [],
  });

  function getOf(outcome: ApplyOutcome | TxnResult | undefined, index: number): { kvs: KeyValue[]; more: boolean; count: number } {
    const result = outcome !== undefined && 'kind' in outcome && outcome.kind === 'command' ? outcome.result : outcome;
    if (result?.kind !== 'txn') throw new Error('not a txn result');
    const response = result.responses[index];
    if (response?.kind !== 'get') throw new Error(`response ${index} is not a get`);
    return { kvs: [...response.kvs], more: response.more, count: response.count };
  }

  it('round-trips through the command encoding, and a get without options keeps the old op', () => {
    const command = txnGet({ sortTarget: 'create', sortOrder: 'descend', keysOnly: true, countOnly: false, minModRevision: 2, maxModRevision: 9, minCreateRevision: 0, maxCreateRevision: 7 }, 3);
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
    const plain: TxnCommand = { kind: 'txn', compare: [], success: [{ kind: 'get', keys: { kind: 'prefix', prefix: bytes('k') }, limit: 3 }], failure: [] };
    const withNoOptions: TxnCommand = { ...plain, success: [{ kind: 'get', keys: { kind: 'prefix', prefix: bytes('k') }, limit: 3, options: {} }] };
    expect(encodeCommand(withNoOptions)).toEqual(encodeCommand(plain));
  });

  it('count the rest of the range from its keys alone, with the puts and deletes of the batch', async () => {
    const machine = await KvStateMachine.open((await temp.openFresh()).store);
    const { commands, states } = workload(31, 80);
    await machine.apply(commands.map((command, i) => commandEntry(i + 1, command)));
    const state = new Map(states[80]);
    const stored = present(state, 'k');
    // Delete a stored key past the answer, put a new one past it and one before it.
    const deleted = text((stored.at(-2) as KeyValue).key);
    state.delete(deleted);
    for (const key of ['k000', 'k99']) state.set(key, { key: bytes(key), value: bytes('n'), version: 1, createRevision: 81, modRevision: 81 });
    const get = (options: RangeOptions | undefined, limit: number): TxnCommand['success'][number] => ({ kind: 'get', keys: { kind: 'prefix', prefix: bytes('k') }, limit, ...(options === undefined ? {} : { options }) });
    const command: TxnCommand = {
      kind: 'txn',
      compare: [],
      success: [
        { kind: 'put', key: bytes('k99'), value: bytes('n') },
        { kind: 'delete', keys: { kind: 'key', key: bytes(deleted) } },
        { kind: 'put', key: bytes('k000'), value: bytes('n') },
        get(undefined, 2),
        get({ countOnly: true }, 0),
        get({ keysOnly: true }, 1),
      ],
      failure: [],
    };
    const [outcome] = await machine.apply([commandEntry(81, command)]);
    const all = present(state, 'k');
    expect(getOf(outcome, 3).kvs.map((kv) => describe1(kv))).toEqual(all.slice(0, 2).map((kv) => describe1(kv)));
    expect(getOf(outcome, 3)).toMatchObject({ more: true, count: all.length });
    expect(getOf(outcome, 4)).toEqual({ kvs: [], more: false, count: all.length });
    expect(getOf(outcome, 5)).toMatchObject({ more: true, count: all.length });
  });

  it('answer as the model in the apply (stored keys and the batch merged) and in a read-only transaction', async () => {
    for (const seed of [21, 22, 23]) {
      const machine = await KvStateMachine.open((await temp.openFresh()).store);
      const { commands, states } = workload(seed, 80);
      await machine.apply(commands.map((command, i) => commandEntry(i + 1, command)));
      const random = mulberry32(seed);
      // The model follows the rounds' puts of k05.
      const state = new Map(states[80]);
      for (let index = 81; index < 96; index++) {
        const options = randomOptions(random, index);
        const limit = 1 + Math.floor(random() * 5);
        const before = state.get('k05');
        state.set('k05', { key: bytes('k05'), value: bytes('zzz'), version: (before?.version ?? 0) + 1, createRevision: before?.createRevision ?? index, modRevision: index });
        const expected = modelRange(present(state, 'k'), options, limit, Number.POSITIVE_INFINITY);
        const label = `seed ${seed} index ${index} limit ${limit} ${JSON.stringify(options)}`;
        const [outcome] = await machine.apply([commandEntry(index, txnGet(options, limit))]);
        const got = getOf(outcome, 1);
        expect({ kvs: got.kvs.map((kv) => describe1(kv, options.keysOnly === true)), more: got.more, count: got.count }, label).toEqual(expected);
        const readOnly: TxnCommand = { kind: 'txn', compare: [], success: [{ kind: 'get', keys: { kind: 'prefix', prefix: bytes('k') }, limit, options }], failure: [] };
        const read = getOf(await machine.readTxn(readOnly), 0);
        expect({ kvs: read.kvs.map((kv) => describe1(kv, options.keysOnly === true)), more: read.more, count: read.count }, `read-only ${label}`).toEqual(expected);
      }
    }
  });
});
