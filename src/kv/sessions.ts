/**
 * Exactly-once client sessions (Raft thesis §6.3), as a deterministic table that every replica
 * updates identically from the committed log. Nothing here reads a clock: a session's age is
 * counted in log entries, so every replica expires the same sessions at the same index.
 *
 * Why registration: a table that must stay bounded forgets sessions (idle ones expire, the
 * least recently used is evicted when full). If a write naming a forgotten session were taken
 * as the start of a new one, a retry of a write that was applied before its session was
 * forgotten would be applied again. So a session exists only from a committed
 * `register-session` command, its id is that command's log index (never reused: a forgotten
 * session cannot come back), and a write naming a session the table does not hold is refused,
 * never applied. The refused attempt was not applied, and no later attempt under that session
 * can be; whether an earlier one was applied, before the session went, only the client can tell
 * (client-session.ts decides whether to send the write again under a new session). The one
 * exception: entries of command format 1, written before registration existed, keep the rule
 * they were first applied with (commands.ts).
 */
import type { AppliedResult, CommandSession, StaleSessionResult } from './commands.js';
import { defaultSessionLimits, mergeSessionLimits, type SessionLimits, type SessionLimitsChange } from './session-limits.js';
import { invariant, type Index } from '../raft/index.js';

/** A session without its results: what its `sm-meta` header key holds. */
export interface SessionHeader {
  readonly clientId: string;
  /** The index of the last command that used the session. */
  readonly lastUsedIndex: Index;
  /** The highest acked sequence the client has sent: results up to it are forgotten. */
  readonly ackedSequence: number;
  /** The highest sequence whose result was dropped by the per-session bounds (0: none). */
  readonly evictedThrough: number;
}

/** A session as persisted and restored. */
export interface SessionState extends SessionHeader {
  /** Results of applied sequences above ackedSequence. */
  readonly results: ReadonlyMap<number, AppliedResult>;
}

/** What to do with a command that carries a session. */
export type Admission =
  /** Apply it, then `record()` its result. */
  | { readonly kind: 'apply' }
  /** Already applied: answer with its first result, do not apply again. */
  | { readonly kind: 'replay'; readonly result: AppliedResult }
  /** Answered and forgotten, or its session is gone: do not apply. */
  | { readonly kind: 'stale'; readonly result: StaleSessionResult };

/** A change to persist, in order (a result may be dropped and its key reused in one batch). */
export type SessionResultChange =
  | { readonly kind: 'put-result'; readonly clientId: string; readonly sequence: number; readonly result: AppliedResult }
  | { readonly kind: 'delete-result'; readonly clientId: string; readonly sequence: number };

/** Everything that changed since the last `takeChanges()`. */
export interface SessionChanges {
  readonly results: readonly SessionResultChange[];
  /** Sessions whose header changed, with their state now (null: the session is gone). */
  readonly headers: ReadonlyMap<string, SessionHeader | null>;
  /** The limits now, if a `setLimits` changed them. */
  readonly limits: SessionLimits | null;
}

interface LiveSession {
  readonly clientId: string;
  lastUsedIndex: Index;
  ackedSequence: number;
  evictedThrough: number;
  readonly results: Map<number, AppliedResult>;
  // Invariant: resultBytes === sum of resultBytes(r) over results.
  resultBytes: number;
  // Invariant: when true, `results` iterates in ascending sequence (a client's writes usually
  // reach the log in the order it numbered them), so dropping acked results can stop early.
  resultsAscending: boolean;
  /** The highest sequence recorded since `results` was last empty (for resultsAscending). */
  highestRecorded: number;
}

/**
 * The sessions of all clients. Drive it, for every committed entry in order: `expire(index)`;
 * then `register(index)` for a registration, `setLimits()` for a change of limits, or, for a
 * write with a session, `admit()`, and after applying an admitted one, `record()`.
 */
export class SessionTable {
  // Invariant: iteration order is ascending lastUsedIndex (least recently used first), since
  // indexes only grow and a used session is moved to the end.
  private readonly sessions = new Map<string, LiveSession>();
  private changes: SessionResultChange[] = [];
  private readonly dirty = new Set<string>();
  private limitsInForce: SessionLimits;
  // Invariant: true once the log (or a restored state) set the limits; until then the defaults hold.
  private limitsRecordedFlag: boolean;
  private limitsChanged = false;

  /** `limits`: the limits the log set (null: none yet, the defaults hold). */
  constructor(restored: Iterable<SessionState>, limits: SessionLimits | null) {
    this.limitsInForce = limits ?? defaultSessionLimits;
    this.limitsRecordedFlag = limits !== null;
    const ordered = [...restored].sort((a, b) => a.lastUsedIndex - b.lastUsedIndex);
    for (const state of ordered) {
      invariant(!this.sessions.has(state.clientId), () => `session ${state.clientId} restored twice`);
      const results = new Map(state.results);
      let bytes = 0;
      for (const [sequence, result] of results) {
        invariant(sequence > state.ackedSequence, () => `session ${state.clientId} remembers acked sequence ${sequence}`);
        bytes += resultBytes(result);
      }
      this.sessions.set(state.clientId, { ...state, results, resultBytes: bytes, resultsAscending: isAscending(results.keys()), highestRecorded: Math.max(0, ...results.keys()) });
    }
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The limits in force. */
  get limits(): SessionLimits {
    return this.limitsInForce;
  }

  /** Whether the log has set the limits (false: the defaults hold until it does). */
  get limitsRecorded(): boolean {
    return this.limitsRecordedFlag;
  }

  /** The session of `clientId`, if it is held. */
  get(clientId: string): SessionState | undefined {
    return this.sessions.get(clientId);
  }

  /** Drops every session unused for more than sessionIdleEntriesMax entries as of `index`. */
  expire(index: Index): void {
    for (const session of this.sessions.values()) {
      if (index - session.lastUsedIndex <= this.limitsInForce.sessionIdleEntriesMax) break;
      this.remove(session);
    }
  }

  /**
   * Opens a session for the registration committed at `index` and returns its id (the index in
   * decimal). When the table is full, the least recently used session is evicted first.
   */
  register(index: Index): string {
    const clientId = String(index);
    invariant(!this.sessions.has(clientId), () => `session ${clientId} registered twice`);
    this.open(clientId, index);
    return clientId;
  }

  /**
   * Applies a change of limits committed at `index`, unless `onlyIfUnset` and the log set them
   * already; returns whether it applied. A lower sessionsMax evicts the least recently used
   * sessions and a lower sessionIdleEntriesMax expires idle ones at once; lower per-session
   * result bounds take effect at each session's next write.
   */
  setLimits(change: SessionLimitsChange, onlyIfUnset: boolean, index: Index): boolean {
    if (onlyIfUnset && this.limitsRecordedFlag) return false;
    this.limitsInForce = mergeSessionLimits(this.limitsInForce, change);
    this.limitsRecordedFlag = true;
    this.limitsChanged = true;
    for (const lru of this.sessions.values()) {
      if (this.sessions.size <= this.limitsInForce.sessionsMax) break;
      this.remove(lru);
    }
    this.expire(index);
    return true;
  }

  /**
   * Registers a use of `session` by the command at `index` and says whether to apply it. A
   * session the table does not hold (expired, evicted, never registered) is refused: see the
   * file comment for why it is never created here.
   */
  admit(session: CommandSession, index: Index): Admission {
    let live = this.sessions.get(session.clientId);
    if (live === undefined) {
      // Format 1 entries (commands.ts) keep the rule they were applied with before the upgrade:
      // a client with nothing acked gets a session. Only they may; nothing writes them now.
      if (session.implicit !== true || session.ackedSequence > 0) return { kind: 'stale', result: stale(session, 'unknown-session') };
      live = this.open(session.clientId, index);
    }
    this.touch(live, index);
    if (session.ackedSequence > live.ackedSequence) {
      live.ackedSequence = session.ackedSequence;
      // Deleting the entry being visited is safe in a Map's iteration. In ascending order the
      // acked results are a prefix: the scan stops at the first one kept, instead of copying
      // and visiting every result the session holds for each write (it holds as many as the
      // client has in flight).
      for (const sequence of live.results.keys()) {
        if (sequence <= live.ackedSequence) this.dropResult(live, sequence);
        else if (live.resultsAscending) break;
      }
    }
    const result = live.results.get(session.sequence);
    if (result !== undefined) return { kind: 'replay', result };
    if (session.sequence <= live.ackedSequence) return { kind: 'stale', result: stale(session, 'acknowledged') };
    if (session.sequence <= live.evictedThrough) return { kind: 'stale', result: stale(session, 'evicted') };
    return { kind: 'apply' };
  }

  /** Remembers the result of a command that `admit()` said to apply. */
  record(session: CommandSession, result: AppliedResult): void {
    const live = this.sessions.get(session.clientId);
    invariant(live !== undefined, () => `record for ${session.clientId} without a session`);
    invariant(!live.results.has(session.sequence), () => `sequence ${session.sequence} of ${session.clientId} recorded twice`);
    if (live.results.size === 0) live.resultsAscending = true;
    else if (session.sequence < live.highestRecorded) live.resultsAscending = false;
    live.highestRecorded = live.results.size === 0 ? session.sequence : Math.max(live.highestRecorded, session.sequence);
    live.results.set(session.sequence, result);
    live.resultBytes += resultBytes(result);
    this.changes.push({ kind: 'put-result', clientId: live.clientId, sequence: session.sequence, result });
    while (
      live.results.size > 1 &&
      (live.results.size > this.limitsInForce.resultsPerSessionMax || live.resultBytes > this.limitsInForce.resultBytesPerSessionMax)
    ) {
      const lowest = Math.min(...live.results.keys());
      this.dropResult(live, lowest);
      live.evictedThrough = Math.max(live.evictedThrough, lowest);
    }
  }

  /** The changes since the last call, to be written in the batch that applied them. */
  takeChanges(): SessionChanges {
    const headers = new Map<string, SessionHeader | null>();
    for (const clientId of this.dirty) {
      const live = this.sessions.get(clientId);
      headers.set(clientId, live === undefined ? null : {
        clientId,
        lastUsedIndex: live.lastUsedIndex,
        ackedSequence: live.ackedSequence,
        evictedThrough: live.evictedThrough,
      });
    }
    const changes: SessionChanges = { results: this.changes, headers, limits: this.limitsChanged ? this.limitsInForce : null };
    this.changes = [];
    this.dirty.clear();
    this.limitsChanged = false;
    return changes;
  }

  /** A new, empty session, after evicting the least recently used ones beyond sessionsMax - 1. */
  private open(clientId: string, index: Index): LiveSession {
    for (const lru of this.sessions.values()) {
      if (this.sessions.size < this.limitsInForce.sessionsMax) break;
      this.remove(lru);
    }
    const live: LiveSession = { clientId, lastUsedIndex: index, ackedSequence: 0, evictedThrough: 0, results: new Map(), resultBytes: 0, resultsAscending: true, highestRecorded: 0 };
    this.sessions.set(clientId, live);
    this.dirty.add(clientId);
    return live;
  }

  private touch(live: LiveSession, index: Index): void {
    invariant(index >= live.lastUsedIndex, () => `session ${live.clientId} used at ${index} after ${live.lastUsedIndex}`);
    live.lastUsedIndex = index;
    this.sessions.delete(live.clientId);
    this.sessions.set(live.clientId, live);
    this.dirty.add(live.clientId);
  }

  private remove(live: LiveSession): void {
    for (const sequence of live.results.keys()) {
      this.changes.push({ kind: 'delete-result', clientId: live.clientId, sequence });
    }
    this.sessions.delete(live.clientId);
    this.dirty.add(live.clientId);
  }

  private dropResult(live: LiveSession, sequence: number): void {
    const result = live.results.get(sequence);
    if (result === undefined) return;
    live.results.delete(sequence);
    live.resultBytes -= resultBytes(result);
    this.changes.push({ kind: 'delete-result', clientId: live.clientId, sequence });
  }
}

function isAscending(sequences: Iterable<number>): boolean {
  let previous = -Infinity;
  for (const sequence of sequences) {
    if (sequence < previous) return false;
    previous = sequence;
  }
  return true;
}

/** A result's weight against resultBytesPerSessionMax: a fixed overhead plus any value it carries. */
export function resultBytes(result: AppliedResult): number {
  const overheadBytes = 32;
  if (result.kind === 'txn') {
    // A transaction's gets carry their keys and values.
    let bytes = overheadBytes;
    for (const response of result.responses) {
      bytes += overheadBytes;
      if (response.kind === 'get') for (const kv of response.kvs) bytes += overheadBytes + kv.key.byteLength + kv.value.byteLength;
    }
    return bytes;
  }
  return overheadBytes + (result.kind === 'cas' && result.previous !== null ? result.previous.value.byteLength : 0);
}

function stale(session: CommandSession, reason: StaleSessionResult['reason']): StaleSessionResult {
  return { kind: 'stale-session', reason, clientId: session.clientId, sequence: session.sequence };
}
