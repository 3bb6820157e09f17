import { describe, expect, it } from 'vitest';
import { KvStateMachine, SessionTable, defaultSessionLimits, type AppliedResult, type SessionLimits } from '../../src/kv/index.js';
import { bytes, text, useTempStores } from '../storage/temp-stores.js';
import { entriesFrom, formatOneEntry, noOpEntry, put, register, session, setLimits } from './kv-helpers.js';

const temp = useTempStores();

function table(limits: Partial<SessionLimits> = {}): SessionTable {
  return new SessionTable([], { ...defaultSessionLimits, ...limits });
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
  it('opens a session only by registration, with the registration index as its id', () => {
    const sessions = table();
    sessions.expire(7);
    expect(sessions.register(7)).toBe('7');
    expect(sessions.get('7')).toMatchObject({ lastUsedIndex: 7, ackedSequence: 0, evictedThrough: 0 });
    expect(sessions.takeChanges().headers.get('7')).toMatchObject({ lastUsedIndex: 7 });
  });

  it('applies a new sequence once and replays its first result on retry', () => {
    const sessions = table();
    const id = sessions.register(1);
    expect(use(sessions, id, 1, 0, 2)).toEqual({ kind: 'apply' });
    expect(use(sessions, id, 1, 0, 3)).toEqual({ kind: 'replay', result: putResult(1, 2) });
  });

  it('refuses a write naming a session it does not hold, and does not create it', () => {
    const sessions = table();
    expect(use(sessions, 'c', 1, 0, 1)).toEqual({
      kind: 'stale',
      result: { kind: 'stale-session', reason: 'unknown-session', clientId: 'c', sequence: 1 },
    });
    expect(sessions.get('c')).toBeUndefined();
    expect(sessions.size).toBe(0);
  });

  it('applies concurrent sequences 5 and 6 in either order, then replays both', () => {
    const sessions = table();
    const id = sessions.register(1);
    for (let sequence = 1; sequence <= 4; sequence++) use(sessions, id, sequence, sequence - 1, sequence + 1);
    expect(use(sessions, id, 6, 4, 6).kind).toBe('apply');
    expect(use(sessions, id, 5, 4, 7).kind).toBe('apply');
    expect(use(sessions, id, 6, 4, 8)).toEqual({ kind: 'replay', result: putResult(6, 6) });
    expect(use(sessions, id, 5, 4, 9)).toEqual({ kind: 'replay', result: putResult(5, 7) });
  });

  it('forgets exactly the acked results whether sequences reached the log in order or not', () => {
    const sessions = table();
    const id = sessions.register(1);
    // In order: 1..10, then acked through 4.
    for (let sequence = 1; sequence <= 10; sequence++) use(sessions, id, sequence, 0, sequence + 1);
    use(sessions, id, 11, 4, 12);
    expect([...(sessions.get(id)?.results.keys() ?? [])]).toEqual([5, 6, 7, 8, 9, 10, 11]);
    // Out of order: 14 before 12 and 13; acking through 13 must still drop 12 and 13.
    use(sessions, id, 14, 4, 13);
    use(sessions, id, 12, 4, 14);
    use(sessions, id, 13, 4, 15);
    use(sessions, id, 15, 13, 16);
    expect([...(sessions.get(id)?.results.keys() ?? [])].sort((a, b) => a - b)).toEqual([14, 15]);
    expect(use(sessions, id, 12, 13, 17)).toMatchObject({ kind: 'stale', result: { reason: 'acknowledged' } });
    expect(use(sessions, id, 14, 13, 18)).toEqual({ kind: 'replay', result: putResult(14, 13) });
  });

  it('forgets results up to the acked sequence and answers their retries stale-session', () => {
    const sessions = table();
    const id = sessions.register(1);
    use(sessions, id, 1, 0, 2);
    use(sessions, id, 2, 0, 3);
    use(sessions, id, 3, 2, 4);
    expect([...(sessions.get(id)?.results.keys() ?? [])]).toEqual([3]);
    expect(use(sessions, id, 2, 0, 5)).toEqual({
      kind: 'stale',
      result: { kind: 'stale-session', reason: 'acknowledged', clientId: id, sequence: 2 },
    });
  });

  it('expires a session after sessionIdleEntriesMax entries, by index only', () => {
    const sessions = table({ sessionIdleEntriesMax: 10 });
    const id = sessions.register(1);
    use(sessions, id, 1, 0, 2);
    sessions.expire(12);
    expect(sessions.get(id)).toBeDefined();
    sessions.expire(13);
    expect(sessions.get(id)).toBeUndefined();
    const changes = sessions.takeChanges();
    expect(changes.headers.get(id)).toBeNull();
    expect(changes.results).toContainEqual({ kind: 'delete-result', clientId: id, sequence: 1 });
  });

  it('refuses a retry of a first write after its session expired, instead of applying it as new (issue 9)', () => {
    const sessions = table({ sessionIdleEntriesMax: 10 });
    const id = sessions.register(1);
    use(sessions, id, 1, 0, 2);
    // Nothing acked: before registration, this retry started a new session and applied again.
    expect(use(sessions, id, 1, 0, 50)).toMatchObject({ kind: 'stale', result: { reason: 'unknown-session' } });
    expect(use(sessions, id, 2, 1, 51)).toMatchObject({ kind: 'stale', result: { reason: 'unknown-session' } });
    expect(sessions.get(id)).toBeUndefined();
  });

  it('keeps at most resultsPerSessionMax results, dropping the lowest sequences, whose retries are refused', () => {
    const sessions = table({ resultsPerSessionMax: 3 });
    const id = sessions.register(1);
    for (let sequence = 1; sequence <= 5; sequence++) use(sessions, id, sequence, 0, sequence + 1);
    const state = sessions.get(id);
    expect([...(state?.results.keys() ?? [])].sort()).toEqual([3, 4, 5]);
    expect(state?.evictedThrough).toBe(2);
    expect(use(sessions, id, 1, 0, 7)).toMatchObject({ kind: 'stale', result: { reason: 'evicted' } });
    expect(use(sessions, id, 5, 0, 8).kind).toBe('replay');
  });

  it('bounds the bytes of remembered results, always keeping the newest', () => {
    const sessions = table({ resultBytesPerSessionMax: 1024 });
    const id = sessions.register(1);
    const previous = { value: new Uint8Array(600), version: 1, createRevision: 1, modRevision: 1 };
    for (let sequence = 1; sequence <= 3; sequence++) {
      const s = session(id, sequence);
      expect(sessions.admit(s, sequence + 1).kind).toBe('apply');
      sessions.record(s, { kind: 'cas', succeeded: false, previous, modRevision: 1 });
    }
    expect([...(sessions.get(id)?.results.keys() ?? [])]).toEqual([3]);
  });

  it('evicts the least recently used session when a registration finds the table full; its writes are refused', () => {
    const sessions = table({ sessionsMax: 2 });
    const a = sessions.register(1);
    const b = sessions.register(2);
    use(sessions, a, 1, 0, 3);
    const c = sessions.register(4);
    expect([a, b, c].map((id) => sessions.get(id) !== undefined)).toEqual([true, false, true]);
    expect(use(sessions, b, 1, 0, 5)).toMatchObject({ kind: 'stale', result: { reason: 'unknown-session' } });
    expect(sessions.get(b)).toBeUndefined();
  });

  it('applies a change of limits at its index: evicts beyond sessionsMax, expires beyond the idle bound', () => {
    const sessions = table();
    const ids = [1, 2, 3, 4].map((index) => sessions.register(index));
    use(sessions, '1', 1, 0, 5);
    sessions.takeChanges();
    expect(sessions.setLimits({ sessionsMax: 2 }, false, 6)).toBe(true);
    // '2' and '3' were least recently used.
    expect(ids.filter((id) => sessions.get(id) !== undefined)).toEqual(['1', '4']);
    const changes = sessions.takeChanges();
    expect(changes.limits).toEqual({ ...defaultSessionLimits, sessionsMax: 2 });
    expect(changes.headers.get('2')).toBeNull();
    expect(sessions.setLimits({ sessionIdleEntriesMax: 2 }, false, 7)).toBe(true);
    expect(ids.filter((id) => sessions.get(id) !== undefined)).toEqual(['1']);
    expect(sessions.limits).toEqual({ ...defaultSessionLimits, sessionsMax: 2, sessionIdleEntriesMax: 2 });
  });

  it('takes a seed of limits (onlyIfUnset) only while the log has set none', () => {
    const sessions = new SessionTable([], null);
    expect(sessions.limitsRecorded).toBe(false);
    expect(sessions.limits).toEqual(defaultSessionLimits);
    expect(sessions.setLimits({ sessionsMax: 5 }, true, 1)).toBe(true);
    expect(sessions.setLimits({ sessionsMax: 9 }, true, 2)).toBe(false);
    expect(sessions.limits.sessionsMax).toBe(5);
    expect(sessions.takeChanges().limits).toMatchObject({ sessionsMax: 5 });
    expect(sessions.setLimits({ sessionsMax: 9 }, false, 3)).toBe(true);
    expect(sessions.limits.sessionsMax).toBe(9);
  });

  it('expires in last-use order after a restore, whatever order the sessions were loaded in', () => {
    const restored = [
      { clientId: '20', lastUsedIndex: 20, ackedSequence: 0, evictedThrough: 0, results: new Map() },
      { clientId: '5', lastUsedIndex: 5, ackedSequence: 0, evictedThrough: 0, results: new Map() },
    ];
    const sessions = new SessionTable(restored, { ...defaultSessionLimits, sessionIdleEntriesMax: 10 });
    sessions.expire(16);
    expect(sessions.get('5')).toBeUndefined();
    expect(sessions.get('20')).toBeDefined();
  });
});

describe('sessions in the state machine', () => {
  it('applies a retried put once, with the same result, also after a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    const [registered, first] = await machine.apply(entriesFrom(1, [register(), put('k', 'v1', session('1', 1))]));
    const retry = await machine.apply(entriesFrom(3, [put('k', 'v1', session('1', 1))]));
    expect(registered).toMatchObject({ kind: 'command', result: { kind: 'session-registered', clientId: '1', limits: defaultSessionLimits } });
    expect(first).toMatchObject({ kind: 'command', result: { kind: 'put', version: 1, modRevision: 2 }, replayed: false });
    expect(retry[0]).toMatchObject({ kind: 'command', result: { kind: 'put', version: 1, modRevision: 2 }, replayed: true });
    expect(await machine.get(bytes('k'))).toMatchObject({ version: 1, modRevision: 2 });

    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.sessionCount).toBe(1);
    const late = await reopened.apply(entriesFrom(4, [put('k', 'v1', session('1', 1))]));
    expect(late[0]).toMatchObject({ result: { kind: 'put', version: 1, modRevision: 2 }, replayed: true });
    expect(await reopened.get(bytes('k'))).toMatchObject({ version: 1, modRevision: 2 });
  });

  it('refuses a stale sequence without applying it', async () => {
    const { store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [register(), put('k', 'a', session('1', 1)), put('k', 'b', session('1', 2, 1))]));
    const outcomes = await machine.apply(entriesFrom(4, [put('k', 'stale', session('1', 1))]));
    expect(outcomes[0]).toMatchObject({ result: { kind: 'stale-session', reason: 'acknowledged', sequence: 1 } });
    expect(text((await machine.get(bytes('k')))?.value ?? new Uint8Array())).toBe('b');
  });

  it('expires and evicts sessions identically on replicas that apply the same entries, whatever their batching', async () => {
    const entries = entriesFrom(1, [
      setLimits({ sessionIdleEntriesMax: 3, sessionsMax: 2 }),
      register(),
      put('k', 'a', session('2', 1)),
      register(),
      register(), // evicts '2' (least recently used)
      put('k', 'b', session('2', 1)),
      null,
      null,
      null,
      null,
      put('k', 'c', session('4', 1)), // '4' expired at index 9
    ]);
    const one = await KvStateMachine.open((await temp.openFresh()).store);
    const other = await KvStateMachine.open((await temp.openFresh()).store);
    const together = await one.apply(entries);
    const apart: unknown[] = [];
    for (const entry of entries) apart.push(...(await other.apply([entry])));
    expect(apart).toEqual(together);
    expect(together[5]).toMatchObject({ result: { kind: 'stale-session', reason: 'unknown-session', clientId: '2' } });
    expect(together[10]).toMatchObject({ result: { kind: 'stale-session', reason: 'unknown-session', clientId: '4' } });
    expect([one.sessionCount, other.sessionCount]).toEqual([0, 0]);
    expect(await one.get(bytes('k'))).toMatchObject({ version: 1 });
    expect(await one.keyspaceHash()).toBe(await other.keyspaceHash());
  });

  it('persists an expiry: the session stays gone after a reopen', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    await machine.apply(entriesFrom(1, [setLimits({ sessionIdleEntriesMax: 1 }), register(), put('k', 'a', session('2', 1))]));
    await machine.apply([noOpEntry(4), noOpEntry(5)]);
    expect(machine.sessionCount).toBe(0);
    await store.close();
    const reopenedStore = await temp.open(dataDir);
    const reopened = await KvStateMachine.open(reopenedStore);
    expect(reopened.sessionCount).toBe(0);
    // Neither the header nor the remembered result is left behind; only the limits the log set.
    expect((await reopenedStore.generation(0).sessions.keys().all()).map((key) => text(key))).toEqual(['session-limits']);
    const keys = await reopenedStore.sublevels.smMeta.keys().all();
    expect(keys.map((key) => text(key)).sort()).toEqual(['applied', 'format']);
  });

  it('persists the limits the log set: a reopened replica applies them, not the defaults', async () => {
    const { dataDir, store } = await temp.openFresh();
    const machine = await KvStateMachine.open(store);
    expect(machine.sessionLimitsRecorded).toBe(false);
    const [outcome] = await machine.apply(entriesFrom(1, [setLimits({ sessionsMax: 3, resultsPerSessionMax: 16 }, true)]));
    expect(outcome).toMatchObject({ result: { kind: 'session-limits', changed: true, limits: { sessionsMax: 3, resultsPerSessionMax: 16 } } });
    const [seedAgain] = await machine.apply(entriesFrom(2, [setLimits({ sessionsMax: 99 }, true)]));
    expect(seedAgain).toMatchObject({ result: { kind: 'session-limits', changed: false, limits: { sessionsMax: 3 } } });
    await store.close();
    const reopened = await KvStateMachine.open(await temp.open(dataDir));
    expect(reopened.sessionLimitsRecorded).toBe(true);
    expect(reopened.sessionLimits).toEqual({ ...defaultSessionLimits, sessionsMax: 3, resultsPerSessionMax: 16 });
  });
});

describe('entries written before session registration (command format 1)', () => {
  it('are applied with the rule they were first applied with: a client with nothing acked gets a session', async () => {
    // What a log upgraded from storage format 2 may hold after its applied index.
    const machine = await KvStateMachine.open((await temp.openFresh()).store);
    const old = (index: number, sequence: number, acked: number) => formatOneEntry(index, put('k', `v${sequence}`, session('uuid-a', sequence, acked)));
    const outcomes = await machine.apply([old(1, 1, 0), old(2, 1, 0), old(3, 2, 1)]);
    expect(outcomes.map((o) => (o.kind === 'command' ? [o.result.kind, o.replayed] : o.kind))).toEqual([
      ['put', false],
      ['put', true],
      ['put', false],
    ]);
    // After a registration, written in format 2, the old session lives on like any other.
    const [registered, next] = await machine.apply(entriesFrom(4, [register(), put('k', 'v3', session('uuid-a', 3, 2))]));
    expect(registered).toMatchObject({ result: { clientId: '4' } });
    expect(next).toMatchObject({ result: { kind: 'put', version: 3 } });
    // An old entry of a client that acked writes and lost its session is refused, as before.
    const [refused] = await machine.apply([formatOneEntry(6, put('k', 'x', session('uuid-b', 5, 4)))]);
    expect(refused).toMatchObject({ result: { kind: 'stale-session', reason: 'unknown-session' } });
  });
});

describe('exactly-once across session eviction (issue 9)', () => {
  it('never applies a retried first write twice after its session was evicted', async () => {
    const machine = await KvStateMachine.open((await temp.openFresh()).store);
    // Client a's first write is applied, but its answer is lost; client b's registration
    // evicts a's session (sessionsMax 1); a retries the same write (same sequence, nothing
    // acked). Before registration, the retry started a new session and was applied again.
    await machine.apply(entriesFrom(1, [setLimits({ sessionsMax: 1 }), register(), put('k', 'v', session('2', 1)), register()]));
    const retry = await machine.apply(entriesFrom(5, [put('k', 'v', session('2', 1))]));
    expect(retry[0]).toMatchObject({ result: { kind: 'stale-session', reason: 'unknown-session' } });
    expect(await machine.get(bytes('k'))).toMatchObject({ version: 1 });
  });
});
