import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, KvStateMachine, txnCompareHolds, type ApplyOutcome, type Command, type TxnCommand, type TxnCompare, type TxnOp, type TxnResult } from '../../src/kv/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { commandEntry, entriesFrom, put, register, session } from './kv-helpers.js';

const temp = useTempStores();

async function freshMachine(): Promise<KvStateMachine> {
  return KvStateMachine.open((await temp.openFresh()).store);
}

const txn = (compare: TxnCompare[], success: TxnOp[], failure: TxnOp[] = []): TxnCommand => ({ kind: 'txn', compare, success, failure });
const putOp = (key: string, value: string): TxnOp => ({ kind: 'put', key: bytes(key), value: bytes(value) });
const getKey = (key: string): TxnOp => ({ kind: 'get', keys: { kind: 'key', key: bytes(key) }, limit: 0 });
const getPrefix = (prefix: string, limit = 0): TxnOp => ({ kind: 'get', keys: { kind: 'prefix', prefix: bytes(prefix) }, limit });
const deletePrefix = (prefix: string): TxnOp => ({ kind: 'delete', keys: { kind: 'prefix', prefix: bytes(prefix) } });
const deleteInterval = (start: string, end: string): TxnOp => ({ kind: 'delete', keys: { kind: 'interval', start: bytes(start), end: bytes(end) } });
const version = (key: string, result: TxnCompare['result'], number: number): TxnCompare => ({ key: bytes(key), target: 'version', result, number });

function txnResult(outcome: ApplyOutcome | undefined): TxnResult {
  if (outcome?.kind !== 'command' || outcome.result.kind !== 'txn') throw new Error(`not a txn outcome: ${JSON.stringify(outcome)}`);
  return outcome.result;
}

function gotKeys(result: TxnResult, i: number): string[] {
  const response = result.responses[i];
  if (response?.kind !== 'get') throw new Error(`response ${i} is not a get`);
  return response.kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}`);
}

describe('txnCompareHolds', () => {
  const record = { value: bytes('m'), version: 3, createRevision: 5, modRevision: 9 };
  const cases: { name: string; compare: TxnCompare; present: boolean; absent: boolean }[] = [
    { name: 'value equal', compare: { key: bytes('k'), target: 'value', result: 'equal', value: bytes('m') }, present: true, absent: false },
    { name: 'value not-equal (never on an absent key)', compare: { key: bytes('k'), target: 'value', result: 'not-equal', value: bytes('x') }, present: true, absent: false },
    { name: 'value less (byte order)', compare: { key: bytes('k'), target: 'value', result: 'less', value: bytes('n') }, present: true, absent: false },
    { name: 'value greater (byte order)', compare: { key: bytes('k'), target: 'value', result: 'greater', value: bytes('l') }, present: true, absent: false },
    { name: 'version equal 0 means absent', compare: version('k', 'equal', 0), present: false, absent: true },
    { name: 'version equal', compare: version('k', 'equal', 3), present: true, absent: false },
    { name: 'version greater', compare: version('k', 'greater', 2), present: true, absent: false },
    { name: 'version less', compare: version('k', 'less', 3), present: false, absent: true },
    { name: 'create equal', compare: { key: bytes('k'), target: 'create', result: 'equal', number: 5 }, present: true, absent: false },
    { name: 'create less', compare: { key: bytes('k'), target: 'create', result: 'less', number: 6 }, present: true, absent: true },
    { name: 'mod not-equal', compare: { key: bytes('k'), target: 'mod', result: 'not-equal', number: 9 }, present: false, absent: true },
    { name: 'mod greater', compare: { key: bytes('k'), target: 'mod', result: 'greater', number: 8 }, present: true, absent: false },
    { name: 'lease equal 0 (no leases yet)', compare: { key: bytes('k'), target: 'lease', result: 'equal', number: 0 }, present: true, absent: true },
    { name: 'lease greater 0', compare: { key: bytes('k'), target: 'lease', result: 'greater', number: 0 }, present: false, absent: false },
  ];
  it.each(cases)('$name', ({ compare, present, absent }) => {
    expect(txnCompareHolds(record, compare)).toBe(present);
    expect(txnCompareHolds(null, compare)).toBe(absent);
  });
});

describe('KvStateMachine transactions', () => {
  it('runs the success branch when every compare holds, at one revision for all its writes', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1'), put('b', '1')]));
    const [outcome] = await machine.apply([commandEntry(3, txn([version('a', 'equal', 1), version('b', 'equal', 1)], [putOp('a', '0'), putOp('b', '2')], [putOp('x', 'no')]))]);
    const result = txnResult(outcome);
    expect(result).toEqual({
      kind: 'txn',
      succeeded: true,
      revision: 3,
      responses: [
        { kind: 'put', version: 2, modRevision: 3 },
        { kind: 'put', version: 2, modRevision: 3 },
      ],
    });
    expect(await machine.get(bytes('a'))).toEqual({ value: bytes('0'), version: 2, createRevision: 1, modRevision: 3 });
    expect(await machine.get(bytes('b'))).toMatchObject({ value: bytes('2'), modRevision: 3 });
    expect(await machine.get(bytes('x'))).toBeNull();
  });

  it('runs the failure branch when one compare fails, and writes nothing of the success branch', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1')]));
    const [outcome] = await machine.apply([commandEntry(2, txn([version('a', 'equal', 1), version('b', 'equal', 1)], [putOp('a', 'yes')], [getKey('a'), getKey('b')]))]);
    const result = txnResult(outcome);
    expect(result.succeeded).toBe(false);
    expect(result.revision).toBe(2);
    expect(gotKeys(result, 0)).toEqual(['a=1']);
    expect(gotKeys(result, 1)).toEqual([]);
    expect(await machine.get(bytes('a'))).toMatchObject({ value: bytes('1'), version: 1 });
  });

  it('lets a get see the puts and deletes before it in the same transaction', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('p/1', 'old'), put('p/2', 'old'), put('p/3', 'old'), put('q', 'q')]));
    const [outcome] = await machine.apply([
      commandEntry(5, txn([], [putOp('p/1', 'new'), { kind: 'delete', keys: { kind: 'key', key: bytes('p/2') } }, putOp('p/0', 'born'), getPrefix('p/'), getKey('p/1'), putOp('p/1', 'newer'), getKey('p/1')])),
    ]);
    const result = txnResult(outcome);
    expect(gotKeys(result, 3)).toEqual(['p/0=born', 'p/1=new', 'p/3=old']);
    expect(gotKeys(result, 4)).toEqual(['p/1=new']);
    // Two puts of one key in one transaction: two versions at the same revision.
    expect(result.responses[5]).toEqual({ kind: 'put', version: 3, modRevision: 5 });
    expect(gotKeys(result, 6)).toEqual(['p/1=newer']);
    expect(await machine.get(bytes('p/1'))).toEqual({ value: bytes('newer'), version: 3, createRevision: 1, modRevision: 5 });
  });

  it('deletes a prefix or an interval, the keys of the batch and of the transaction included', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('p/1', '1'), put('p/2', '2'), put('pz', 'z'), put('r/1', '1'), put('r/5', '5'), put('r/9', '9')]));
    const outcomes = await machine.apply([
      // In the same batch, before the transaction: a key it must delete too.
      commandEntry(7, put('p/3', '3')),
      commandEntry(8, txn([], [putOp('p/4', '4'), deletePrefix('p/'), deleteInterval('r/1', 'r/9'), getPrefix('')])),
      commandEntry(9, put('after', 'a')),
    ]);
    const result = txnResult(outcomes[1]);
    expect(result.responses[1]).toEqual({ kind: 'delete-range', deleted: 4 });
    expect(result.responses[2]).toEqual({ kind: 'delete-range', deleted: 2 });
    expect(gotKeys(result, 3)).toEqual(['pz=z', 'r/9=9']);
    const all = await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0);
    expect(all.kvs.map((kv) => text(kv.key))).toEqual(['after', 'pz', 'r/9']);
  });

  it('lets a later command of the batch see the transaction, and a transaction see the batch before it', async () => {
    const machine = await freshMachine();
    const outcomes = await machine.apply([
      commandEntry(1, put('a', '1')),
      commandEntry(2, txn([version('a', 'equal', 1)], [putOp('b', 'from-txn')])),
      commandEntry(3, { kind: 'cas', key: bytes('b'), compare: { kind: 'value', value: bytes('from-txn') }, action: { kind: 'put', value: bytes('cas') } }),
    ]);
    expect(txnResult(outcomes[1]).succeeded).toBe(true);
    expect(outcomes[2]).toMatchObject({ result: { kind: 'cas', succeeded: true } });
    expect(await machine.get(bytes('b'))).toMatchObject({ value: bytes('cas'), version: 2 });
  });

  it('cuts a get at its limit, with more set, merging stored and batch keys in order', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('k1', '1'), put('k3', '3'), put('k5', '5')]));
    const outcomes = await machine.apply([commandEntry(4, put('k2', '2')), commandEntry(5, txn([], [putOp('k0', '0'), getPrefix('k', 3), getPrefix('k', 0)]))]);
    const result = txnResult(outcomes[1]);
    expect(gotKeys(result, 1)).toEqual(['k0=0', 'k1=1', 'k2=2']);
    expect(result.responses[1]).toMatchObject({ more: true });
    expect(gotKeys(result, 2)).toEqual(['k0=0', 'k1=1', 'k2=2', 'k3=3', 'k5=5']);
    expect(result.responses[2]).toMatchObject({ more: false });
  });

  it('applies a retried transaction once and answers the retry with the first result, also after a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [register(), put('a', '1')]));
    const move: Command = { ...txn([version('a', 'equal', 1)], [putOp('a', '2'), getKey('a')], [getKey('a')]), session: session('1', 1) };
    const [first] = await machine.apply([commandEntry(3, move)]);
    const [retry] = await machine.apply([commandEntry(4, move)]);
    expect(txnResult(first).succeeded).toBe(true);
    expect(retry).toMatchObject({ replayed: true });
    expect(txnResult(retry)).toEqual(txnResult(first));
    expect(await machine.get(bytes('a'))).toMatchObject({ value: bytes('2'), version: 2 });
    await store.close();

    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    const [again] = await reopened.apply([commandEntry(5, move)]);
    expect(again).toMatchObject({ replayed: true });
    expect(txnResult(again)).toEqual(txnResult(first));
    expect(await reopened.get(bytes('a'))).toMatchObject({ value: bytes('2'), version: 2 });
  });

  it('refuses a transaction under an unknown session without applying it', async () => {
    const machine = await freshMachine();
    const [outcome] = await machine.apply([commandEntry(1, { ...txn([], [putOp('a', '1')]), session: session('99', 1) })]);
    expect(outcome).toMatchObject({ result: { kind: 'stale-session', reason: 'unknown-session' } });
    expect(await machine.get(bytes('a'))).toBeNull();
  });

  it('keeps replicas equal: the same entries in different batch splits give the same keyspace', async () => {
    const entries = entriesFrom(1, [
      put('a', '1'),
      put('p/1', 'x'),
      txn([version('a', 'equal', 1)], [deletePrefix('p/'), putOp('p/2', 'y'), putOp('a', '2')]),
      put('p/3', 'z'),
      txn([version('a', 'equal', 2)], [getPrefix('p/'), deleteInterval('p/2', 'p/3')], [putOp('never', '!')]),
    ]);
    const oneBatch = await freshMachine();
    await oneBatch.apply(entries);
    const oneByOne = await freshMachine();
    for (const entry of entries) await oneByOne.apply([entry]);
    expect(await oneBatch.keyspaceHash()).toBe(await oneByOne.keyspaceHash());
    const all = await oneBatch.range({ kind: 'prefix', prefix: new Uint8Array() }, 0);
    expect(all.kvs.map((kv) => text(kv.key))).toEqual(['a', 'p/3']);
  });

  it('evaluates a read-only transaction without a log entry, at the applied index, over one consistent view', async () => {
    const machine = await freshMachine();
    await machine.apply(entriesFrom(1, [put('a', '1'), put('p/1', 'x'), put('p/2', 'y')]));
    const readOnly = txn([version('a', 'equal', 1)], [getKey('a'), getPrefix('p/')], [getKey('missing')]);
    const reading = machine.readTxn(readOnly);
    // An apply that starts while the read is under way is not seen by it, not even in part.
    const applying = machine.apply(entriesFrom(4, [txn([], [putOp('a', '2'), deletePrefix('p/')])]));
    const [result] = await Promise.all([reading, applying]);
    expect(result.revision).toBe(3);
    expect(result.succeeded).toBe(true);
    expect(gotKeys(result, 0)).toEqual(['a=1']);
    expect(gotKeys(result, 1)).toEqual(['p/1=x', 'p/2=y']);
    const after = await machine.readTxn(readOnly);
    expect(after).toMatchObject({ succeeded: false, revision: 4 });
    expect(machine.appliedIndex).toBe(4);
  });

  it('refuses to evaluate a writing transaction outside the log', async () => {
    const machine = await freshMachine();
    await expect(machine.readTxn(txn([], [], [putOp('a', '1')]))).rejects.toThrow(InvalidArgumentError);
  });
});
