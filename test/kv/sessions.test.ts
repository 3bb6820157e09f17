import { describe, expect, it } from 'vitest';
import { KvStateMachine, SessionTable, defaultKvStateMachineOptions, defaultSessionLimits, type AppliedResult, type SessionLimits } from '../../src/kv/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { entriesFrom, noOpEntry, put, session } from './kv-helpers.js';

const temp = useTempStores();

function table(limits: Partial<SessionLimits> = {}): SessionTable {
  return new SessionTable({ ...defaultSessionLimits, ...limits }, []);
}

const putResult = (version: number, modRevision: number): AppliedResult => ({ kind: 'put', version, modRevision });

/** Drives the table as the state machine does for one command at `index`. */
function use(sessions: SessionTable, clientId: string, sequence: number, acked: number, index: number) {
  sessions.expire(index);
  const s = session(clientId, sequence, acked);
  const admission = sessions.admit(s, index);
  if (admission.kind === 'apply') sessions.record(s, putResult(sequence, index));
  return admission;
}

describe('SessionTable (Raft thesis §6.3)', () => {
  it('applies a new sequence once and replays its first result on retry', () => {
    const sessions = table();
    expect(use(sessions, 'c', 1, 0, 1)).toEqual({ kind: 'apply' });
    expect(use(sessions, 'c', 1, 0, 2)).toEqual({ kind: 'replay', result: putResult(1, 1) });
  });

  it('applies concurrent sequences 5 and 6 in either order, then replays both', () => {
    const sessions = table();
    for (let sequence = 1; sequence <= 4; sequence++) use(sessions, 'c', sequence, sequence - 1, sequence);
    expect(use(sessions, 'c', 6, 4, 5).kind).toBe('apply');
    expect(use(sessions, 'c', 5, 4, 6).kind).toBe('apply');
    expect(use(sessions, 'c', 6, 4, 7)).toEqual({ kind: 'replay', result: putResult(6, 5) });
    expect(use(sessions, 'c', 5, 4, 8)).toEqual({ kind: 'replay', result: putResult(5, 6) });
  });

  it('forgets results up to the acked sequence and answers their retries stale-session', () => {
    const sessions = table();
    use(sessions, 'c', 1, 0, 1);
    use(sessions, 'c', 2, 0, 2);
    use(sessions, 'c', 3, 2, 3);
    expect([...(sessions.get('c')?.results.keys() ?? [])]).toEqual([3]);
    expect(use(sessions, 'c', 2, 0, 4)).toEqual({
      kind: 'stale',
      result: { kind: 'stale-session', reason: 'acknowledged', clientId: 'c', sequence: 2 },
    });
  });

  it('expires a session after sessionIdleEntriesMax entries, by index only', () => {
    const sessions = table({ sessionIdleEntriesMax: 10 });
    use(sessions, 'c', 1, 0, 1);
    sessions.expire(11);
    expect(sessions.get('c')).toBeDefined();
    sessions.expire(12);
    expect(sessions.get('c')).toBeUndefined();
    const changes = sessions.takeChanges();
    expect(changes.headers.get('c')).toBeNull();
    expect(changes.results).toContainEqual({ kind: 'delete-result', clientId: 'c', sequence: 1 });
  });

  it('refuses a client that lost its session after acking, but takes a new client with nothing acked', () => {
    const sessions = table({ sessionIdleEntriesMax: 10 });
    use(sessions, 'c', 1, 0, 1);
    expect(use(sessions, 'c', 2, 1, 50)).toMatchObject({ kind: 'stale', result: { reason: 'unknown-session' } });
    expect(sessions.get('c')).toBeUndefined();
    expect(use(sessions, 'd', 3, 0, 51).kind).toBe('apply');
  });

  it('keeps at most resultsPerSessionMax results, dropping the lowest sequences, whose retries are refused', () => {
    const sessions = table({ resultsPerSessionMax: 3 });
    for (let sequence = 1; sequence <= 5; sequence++) use(sessions, 'c', sequence, 0, sequence);
    const state = sessions.get('c');
    expect([...(state?.results.keys() ?? [])].sort()).toEqual([3, 4, 5]);
    expect(state?.evictedThrough).toBe(2);
    expect(use(sessions, 'c', 1, 0, 6)).toMatchObject({ kind: 'stale', result: { reason: 'evicted' } });
    expect(use(sessions, 'c', 5, 0, 7).kind).toBe('replay');
  });

  it('bounds the bytes of remembered results, always keeping the newest', () => {
    const sessions = table({ resultBytesPerSessionMax: 1000 });
    const previous = { value: new Uint8Array(600), version: 1, createRevision: 1, modRevision: 1 };
    for (let sequence = 1; sequence <= 3; sequence++) {
      const s = session('c', sequence);
      expect(sessions.admit(s, sequence + 1).kind).toBe('apply');
      sessions.record(s, { kind: 'cas', succeeded: false, previous, modRevision: 1 });
    }
    expect([...(sessions.get('c')?.results.keys() ?? [])]).toEqual([3]);
  });

  it('evicts the least recently used session beyond sessionsMax', () => {
    const sessions = table({ sessionsMax: 2 });
    use(sessions, 'a', 1, 0, 1);
    use(sessions, 'b', 1, 0, 2);
    use(sessions, 'a', 2, 0, 3);
    use(sessions, 'c', 1, 0, 4);
    expect(sessions.get('a')).toBeDefined();
    expect(sessions.get('b')).toBeUndefined();
    expect(sessions.get('c')).toBeDefined();
  });

  it('expires in last-use order after a restore, whatever order the sessions were loaded in', () => {
    const restored = [
      { clientId: 'late', lastUsedIndex: 20, ackedSequence: 0, evictedThrough: 0, results: new Map() },
      { clientId: 'early', lastUsedIndex: 5, ackedSequence: 0, evictedThrough: 0, results: new Map() },
    ];
    const sessions = new SessionTable({ ...defaultSessionLimits, sessionIdleEntriesMax: 10 }, restored);
    sessions.expire(16);
    expect(sessions.get('early')).toBeUndefined();
    expect(sessions.get('late')).toBeDefined();
  });
});

describe('sessions in the state machine', () => {
  it('applies a retried put once, with the same result, also after a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    const first = await machine.apply(entriesFrom(1, [put('k', 'v1', session('c', 1))]));
    const retry = await machine.apply(entriesFrom(2, [put('k', 'v1', session('c', 1))]));
    expect(first[0]).toMatchObject({ kind: 'command', result: { kind: 'put', version: 1, modRevision: 1 }, replayed: false });
    expect(retry[0]).toMatchObject({ kind: 'command', result: { kind: 'put', version: 1, modRevision: 1 }, replayed: true });
    expect(await machine.get(bytes('k'))).toMatchObject({ version: 1, modRevision: 1 });

    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.sessionCount).toBe(1);
    const late = await reopened.apply(entriesFrom(3, [put('k', 'v1', session('c', 1))]));
    expect(late[0]).toMatchObject({ result: { kind: 'put', version: 1, modRevision: 1 }, replayed: true });
    expect(await reopened.get(bytes('k'))).toMatchObject({ version: 1, modRevision: 1 });
  });

  it('refuses a stale sequence without applying it', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [put('k', 'a', session('c', 1)), put('k', 'b', session('c', 2, 1))]));
    const outcomes = await machine.apply(entriesFrom(3, [put('k', 'stale', session('c', 1))]));
    expect(outcomes[0]).toMatchObject({ result: { kind: 'stale-session', reason: 'acknowledged', sequence: 1 } });
    expect(text((await machine.get(bytes('k')))?.value ?? new Uint8Array())).toBe('b');
  });

  it('expires sessions identically on replicas that apply the same entries, whatever their batching', async () => {
    const limits = { ...defaultSessionLimits, sessionIdleEntriesMax: 3 };
    const entries = entriesFrom(1, [put('k', 'a', session('c', 1)), null, null, null, null, put('k', 'b', session('c', 2, 1))]);
    const one = await KvStateMachine.open((await temp.openFresh()).store, { ...defaultKvStateMachineOptions, sessionLimits: limits });
    const other = await KvStateMachine.open((await temp.openFresh()).store, { ...defaultKvStateMachineOptions, sessionLimits: limits });
    const together = await one.apply(entries);
    const apart: unknown[] = [];
    for (const entry of entries) apart.push(...(await other.apply([entry])));
    expect(apart).toEqual(together);
    expect(together[5]).toMatchObject({ result: { kind: 'stale-session', reason: 'unknown-session' } });
    expect(one.sessionCount).toBe(0);
    expect(await one.keyspaceHash()).toBe(await other.keyspaceHash());
  });

  it('persists an expiry: the session stays gone after a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const limits = { ...defaultSessionLimits, sessionIdleEntriesMax: 1 };
    const machine = await KvStateMachine.open(store, { ...defaultKvStateMachineOptions, sessionLimits: limits });
    await machine.apply(entriesFrom(1, [put('k', 'a', session('c', 1))]));
    await machine.apply([noOpEntry(2), noOpEntry(3)]);
    expect(machine.sessionCount).toBe(0);
    await store.close();
    const reopenedStore = await temp.open(dataDir);
    const reopened = await KvStateMachine.open(reopenedStore, { ...defaultKvStateMachineOptions, sessionLimits: limits });
    expect(reopened.sessionCount).toBe(0);
    // Neither the header nor the remembered result is left behind.
    expect(await reopenedStore.generation(0).sessions.keys().all()).toEqual([]);
    const keys = await reopenedStore.sublevels.smMeta.keys().all();
    expect(keys.map((key) => text(key)).sort()).toEqual(['applied', 'format']);
  });
});
