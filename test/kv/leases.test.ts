import { describe, expect, it } from 'vitest';
import {
  CommandDecodeError,
  InvalidArgumentError,
  KvStateMachine,
  decodeCommand,
  decodeKeyRecord,
  decodeLeaseRecord,
  decodeSnapshotChunk,
  encodeCommand,
  encodeKeyRecord,
  leaseCheckpointsMax,
  txnCompareHolds,
  type ApplyOutcome,
  type Command,
  type CommandResult,
  type TxnOp,
} from '../../src/kv/index.js';
import { decodeAppliedResult, encodeAppliedResult } from '../../src/kv/session-codec.js';
import { nodeId } from '../../src/raft/index.js';
import type { SnapshotReader } from '../../src/shared/snapshot-stream.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { commandEntry, entriesFrom, put, register, session } from './kv-helpers.js';

const temp = useTempStores();

const grant = (id: number, ttlSeconds: number): Command => ({ kind: 'lease-grant', id, ttlSeconds });
const revoke = (id: number): Command => ({ kind: 'lease-revoke', id });
const leasedPut = (key: string, value: string, lease: number): Command => ({ kind: 'put', key: bytes(key), value: bytes(value), lease });
const del = (key: string): Command => ({ kind: 'delete', key: bytes(key) });
const checkpoint = (...leases: [number, number][]): Command => ({ kind: 'lease-checkpoint', checkpoints: leases.map(([id, remainingSeconds]) => ({ id, remainingSeconds })) });

function result(outcome: ApplyOutcome | undefined): CommandResult {
  if (outcome?.kind !== 'command') throw new Error(`not a command outcome: ${JSON.stringify(outcome)}`);
  return outcome.result;
}

function attached(machine: KvStateMachine, id: number): string[] {
  return [...(machine.lease(id)?.keys.values() ?? [])].map(text).sort();
}

async function collect(snapshot: SnapshotReader): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of snapshot.chunks()) chunks.push(chunk);
  return chunks;
}

describe('lease encodings', () => {
  it.each<[string, Command]>([
    ['a grant with an id', grant(7, 30)],
    ['a grant whose id the apply picks', grant(0, 5)],
    ['a revoke with a session', { kind: 'lease-revoke', id: 9, session: session('3', 2, 1) }],
    ['a put with a lease', leasedPut('k', 'v', 2 ** 40)],
    ['a txn put with a lease', { kind: 'txn', compare: [], success: [{ kind: 'put', key: bytes('k'), value: bytes('v'), lease: 12 }], failure: [] }],
    ['a lease checkpoint', checkpoint([7, 3540], [2 ** 40, 0])],
    ['the largest lease checkpoint', checkpoint(...Array.from({ length: leaseCheckpointsMax }, (_, i): [number, number] => [i + 1, i]))],
  ])('%s round-trips', (_name, command) => {
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
  });

  it('a put without a lease (or lease 0) is encoded as before leases: kind 1', () => {
    const plain = encodeCommand(put('k', 'v'));
    expect(encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v'), lease: 0 })).toEqual(plain);
    expect(plain[1]).toBe(1);
    expect(encodeCommand(leasedPut('k', 'v', 3))[1]).toBe(12);
  });

  it('refuses bad lease fields and bad bytes', () => {
    expect(() => encodeCommand(grant(1, 0))).toThrow(InvalidArgumentError);
    expect(() => encodeCommand(grant(-1, 10))).toThrow(/id/);
    expect(() => encodeCommand(revoke(0))).toThrow(InvalidArgumentError);
    expect(() => encodeCommand(leasedPut('k', 'v', Number.MAX_SAFE_INTEGER + 1))).toThrow(/lease/);
    // A put with a lease whose lease is 0 is not something the encoder writes.
    const leased = encodeCommand(leasedPut('k', 'v', 1));
    leased[leased.byteLength - 1] = 0;
    expect(() => decodeCommand(leased)).toThrow(CommandDecodeError);
    // Truncated.
    expect(() => decodeCommand(encodeCommand(grant(4, 10)).subarray(0, 8))).toThrow(CommandDecodeError);
    // A lease kind in format 1 (which had only put, delete and cas).
    const old = encodeCommand(revoke(3));
    old[0] = 1;
    expect(() => decodeCommand(old)).toThrow(CommandDecodeError);
  });

  it('refuses bad lease checkpoints, at encode and at decode', () => {
    expect(() => encodeCommand(checkpoint())).toThrow(/checkpoints/);
    expect(() => encodeCommand(checkpoint(...Array.from({ length: leaseCheckpointsMax + 1 }, (_, i): [number, number] => [i + 1, 1])))).toThrow(/checkpoints/);
    expect(() => encodeCommand(checkpoint([0, 5]))).toThrow(/checkpoints\[0\]\.id/);
    expect(() => encodeCommand(checkpoint([1, -1]))).toThrow(/remainingSeconds/);
    const bytesOf = encodeCommand(checkpoint([1, 5]));
    // A count of 0, an id of 0, and a truncated one: never applied, a CommandDecodeError.
    const noCount = Uint8Array.from(bytesOf);
    noCount[2] = 0;
    noCount[3] = 0;
    expect(() => decodeCommand(noCount)).toThrow(CommandDecodeError);
    const idZero = Uint8Array.from(bytesOf);
    idZero.fill(0, 4, 12);
    expect(() => decodeCommand(idZero)).toThrow(/checkpoints\[0\]\.id/);
    expect(() => decodeCommand(bytesOf.subarray(0, bytesOf.byteLength - 1))).toThrow(CommandDecodeError);
  });

  it('a key record without a lease stays format 1; with one it is format 2; both decode', () => {
    const record = { value: bytes('v'), version: 2, createRevision: 3, modRevision: 5 };
    expect(encodeKeyRecord(record)[0]).toBe(1);
    expect(decodeKeyRecord(encodeKeyRecord(record))).toEqual(record);
    const leased = { ...record, lease: 77 };
    expect(encodeKeyRecord(leased)[0]).toBe(2);
    expect(decodeKeyRecord(encodeKeyRecord(leased))).toEqual(leased);
    const zero = Uint8Array.from(encodeKeyRecord(leased));
    zero.fill(0, 25, 33);
    expect(() => decodeKeyRecord(zero)).toThrow(/lease 0/);
    const unknown = Uint8Array.from(encodeKeyRecord(leased));
    unknown[0] = 3;
    expect(() => decodeKeyRecord(unknown)).toThrow(/format version 3/);
  });

  it('session results of lease commands round-trip', () => {
    for (const applied of [
      { kind: 'lease-grant', id: 5, ttlSeconds: 60 },
      { kind: 'lease-revoke', deleted: 3 },
      { kind: 'lease-not-found', id: 9 },
      { kind: 'lease-exists', id: 10 },
    ] as const) {
      expect(decodeAppliedResult(encodeAppliedResult(applied))).toEqual(applied);
    }
  });

  it('refuses lease records it cannot have written', () => {
    const leaseKey = Uint8Array.from([0x6c, 0, 0, 0, 0, 0, 0, 0, 4]);
    expect(decodeLeaseRecord(leaseKey, Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 9]))).toEqual({ kind: 'lease', id: 4, ttlSeconds: 9, remainingSeconds: 0 });
    expect(decodeLeaseRecord(leaseKey, Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5]))).toEqual({ kind: 'lease', id: 4, ttlSeconds: 9, remainingSeconds: 5 });
    expect(() => decodeLeaseRecord(leaseKey, Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/checkpoint of 0/);
    expect(() => decodeLeaseRecord(leaseKey, Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 9]))).toThrow(/remaining ttl/);
    expect(() => decodeLeaseRecord(leaseKey, Uint8Array.from([3, 0, 0, 0, 0, 0, 0, 0, 9]))).toThrow(/unknown format version 3/);
    expect(() => decodeLeaseRecord(leaseKey, Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/ttl 0/);
    expect(() => decodeLeaseRecord(Uint8Array.from([0x6c, 0, 0, 0, 0, 0, 0, 0, 0]), Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 9]))).toThrow(/id 0/);
    expect(() => decodeLeaseRecord(Uint8Array.from([0x6b, 0, 0, 0, 0, 0, 0, 0, 4]), new Uint8Array())).toThrow(/empty attached key/);
    expect(() => decodeLeaseRecord(Uint8Array.from([0x78, 0, 0, 0, 0, 0, 0, 0, 4]), new Uint8Array())).toThrow(/unknown tag/);
  });
});

describe('KvStateMachine leases', () => {
  async function fresh(): Promise<{ machine: KvStateMachine; dataDir: string; store: Awaited<ReturnType<typeof temp.openFresh>>['store'] }> {
    const { store, dataDir } = await temp.openFresh();
    return { machine: await KvStateMachine.open(store), dataDir, store };
  }

  it('grants with a chosen id or one picked from the index, never a live lease id; refuses an existing id', async () => {
    const { machine } = await fresh();
    const outcomes = await machine.apply(entriesFrom(1, [grant(3, 10), grant(0, 20), grant(0, 30), grant(3, 40)]));
    expect(outcomes.map(result)).toEqual([
      { kind: 'lease-grant', id: 3, ttlSeconds: 10 },
      // Index 2 is free; index 3 is taken by lease 3, so the grant at index 3 gets 4.
      { kind: 'lease-grant', id: 2, ttlSeconds: 20 },
      { kind: 'lease-grant', id: 4, ttlSeconds: 30 },
      { kind: 'lease-exists', id: 3 },
    ]);
    expect(machine.leases().map((lease) => [lease.id, lease.ttlSeconds])).toEqual([[2, 20], [3, 10], [4, 30]]);
  });

  it('attaches, re-attaches and detaches keys; a delete detaches; an unknown lease is refused and changes nothing', async () => {
    const { machine } = await fresh();
    await machine.apply(entriesFrom(1, [grant(1, 10), grant(2, 10), leasedPut('a', '1', 1), leasedPut('b', '1', 1), leasedPut('c', '1', 2)]));
    expect(attached(machine, 1)).toEqual(['a', 'b']);
    expect((await machine.get(bytes('a')))?.lease).toBe(1);
    // Re-attach b to 2, detach a with a plain put, delete c.
    await machine.apply(entriesFrom(6, [leasedPut('b', '2', 2), put('a', '2'), del('c')]));
    expect(attached(machine, 1)).toEqual([]);
    expect(attached(machine, 2)).toEqual(['b']);
    expect((await machine.get(bytes('a')))?.lease ?? 0).toBe(0);
    const [refused] = await machine.apply([commandEntry(9, leasedPut('a', 'x', 99))]);
    expect(result(refused)).toEqual({ kind: 'lease-not-found', id: 99 });
    expect(text((await machine.get(bytes('a')))?.value ?? new Uint8Array())).toBe('2');
  });

  it('a revoke deletes every attached key in its one entry, and leaves other keys alone', async () => {
    const { machine } = await fresh();
    await machine.apply(entriesFrom(1, [grant(5, 10), leasedPut('x/1', 'a', 5), leasedPut('x/2', 'b', 5), put('y', 'c')]));
    // A key attached earlier in the same batch is deleted too.
    const outcomes = await machine.apply(entriesFrom(5, [leasedPut('x/3', 'd', 5), revoke(5), revoke(5)]));
    expect(outcomes.slice(1).map(result)).toEqual([{ kind: 'lease-revoke', deleted: 3 }, { kind: 'lease-not-found', id: 5 }]);
    for (const key of ['x/1', 'x/2', 'x/3']) expect(await machine.get(bytes(key))).toBeNull();
    expect(await machine.get(bytes('y'))).not.toBeNull();
    expect(machine.leases()).toEqual([]);
  });

  it('a txn put attaches its lease; an unknown lease in the branch that runs refuses the whole txn; LEASE compares the key lease', async () => {
    const { machine } = await fresh();
    await machine.apply(entriesFrom(1, [grant(8, 10), leasedPut('k', 'v', 8)]));
    const leasePut = (key: string, lease: number): TxnOp => ({ kind: 'put', key: bytes(key), value: bytes('t'), lease });
    const [ok] = await machine.apply([commandEntry(3, { kind: 'txn', compare: [{ key: bytes('k'), target: 'lease', result: 'equal', number: 8 }], success: [leasePut('m', 8)], failure: [leasePut('z', 1234)] })]);
    expect(result(ok)).toMatchObject({ kind: 'txn', succeeded: true });
    expect(attached(machine, 8)).toEqual(['k', 'm']);
    const [refused] = await machine.apply([commandEntry(4, { kind: 'txn', compare: [], success: [{ kind: 'put', key: bytes('n'), value: bytes('1') }, leasePut('o', 1234)], failure: [] })]);
    expect(result(refused)).toEqual({ kind: 'lease-not-found', id: 1234 });
    expect(await machine.get(bytes('n'))).toBeNull();
    // The branch that does not run may name any lease.
    const [other] = await machine.apply([commandEntry(5, { kind: 'txn', compare: [{ key: bytes('k'), target: 'lease', result: 'equal', number: 1 }], success: [leasePut('o', 1234)], failure: [] })]);
    expect(result(other)).toMatchObject({ kind: 'txn', succeeded: false });
    expect(txnCompareHolds({ value: bytes('v'), version: 1, createRevision: 1, modRevision: 1, lease: 8 }, { key: bytes('k'), target: 'lease', result: 'greater', number: 7 })).toBe(true);
    // A range delete in a txn detaches what it deletes.
    await machine.apply([commandEntry(6, { kind: 'txn', compare: [], success: [{ kind: 'delete', keys: { kind: 'prefix', prefix: bytes('') } }], failure: [] })]);
    expect(attached(machine, 8)).toEqual([]);
  });

  it('lease commands are exactly-once with a session: a retry answers the first result', async () => {
    const { machine } = await fresh();
    await machine.apply(entriesFrom(1, [register()]));
    const s = session('1', 1);
    const outcomes = await machine.apply(entriesFrom(2, [{ kind: 'lease-grant', id: 0, ttlSeconds: 10, session: s }, { kind: 'lease-grant', id: 0, ttlSeconds: 10, session: s }]));
    expect(outcomes.map(result)).toEqual([{ kind: 'lease-grant', id: 2, ttlSeconds: 10 }, { kind: 'lease-grant', id: 2, ttlSeconds: 10 }]);
    expect(outcomes[1]).toMatchObject({ replayed: true });
    expect(machine.leases()).toHaveLength(1);
  });

  it('a restart loads the leases and their keys from the lease sublevel', async () => {
    const { machine, dataDir, store } = await fresh();
    await machine.apply(entriesFrom(1, [grant(1, 10), grant(2, 20), leasedPut('a', '1', 1), leasedPut('b', '1', 2), revoke(2)]));
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.leases().map((lease) => [lease.id, lease.ttlSeconds, [...lease.keys.values()].map(text)])).toEqual([[1, 10, ['a']]]);
    expect(reopened.appliedIndex).toBe(5);
  });

  it('a checkpoint records how long leases had left, skips a gone lease, survives a restart, and 0 clears it', async () => {
    const { machine, dataDir, store } = await fresh();
    const outcomes = await machine.apply(entriesFrom(1, [grant(1, 3600), grant(2, 600), checkpoint([1, 3000], [2, 500], [9, 40])]));
    expect(result(outcomes[2])).toEqual({ kind: 'lease-checkpoint', recorded: 2 });
    expect(machine.leases().map((lease) => [lease.id, lease.remainingSeconds])).toEqual([[1, 3000], [2, 500]]);
    await machine.apply([commandEntry(4, checkpoint([2, 0]))]);
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.leases().map((lease) => [lease.id, lease.ttlSeconds, lease.remainingSeconds])).toEqual([[1, 3600, 3000], [2, 600, 0]]);
  });

  it('snapshots carry lease checkpoints', async () => {
    const { machine } = await fresh();
    await machine.apply(entriesFrom(1, [grant(6, 3600), checkpoint([6, 1234])]));
    const chunks = await collect(await machine.openSnapshot());
    const target = await fresh();
    const incoming = await target.machine.receiveSnapshot();
    for (const chunk of chunks) await incoming.write(chunk);
    const install = target.machine.prepareInstall(incoming.finish(), { index: 2, term: 1, membership: { voters: [nodeId('n1')], learners: [] } });
    await target.store.write(install.operations, { sync: true });
    await install.complete();
    expect(target.machine.lease(6)?.remainingSeconds).toBe(1234);
  });

  it('snapshots carry leases and their keys; a snapshot from before leases installs with none', async () => {
    const { machine } = await fresh();
    await machine.apply(entriesFrom(1, [grant(6, 10), leasedPut('a', '1', 6), put('b', '2')]));
    const chunks = await collect(await machine.openSnapshot());
    expect(chunks.flatMap(decodeSnapshotChunk).filter((record) => record.kind === 'lease')).toHaveLength(2);
    const target = await fresh();
    const incoming = await target.machine.receiveSnapshot();
    for (const chunk of chunks) await incoming.write(chunk);
    const install = target.machine.prepareInstall(incoming.finish(), { index: 3, term: 1, membership: { voters: [nodeId('n1')], learners: [] } });
    await target.store.write(install.operations, { sync: true });
    await install.complete();
    expect(attached(target.machine, 6)).toEqual(['a']);
    // And it is live state: a revoke there deletes the key.
    await target.machine.apply([commandEntry(4, revoke(6))]);
    expect(await target.machine.get(bytes('a'))).toBeNull();
    expect(await machine.keyspaceHash()).not.toBe(await target.machine.keyspaceHash());
  });
});
