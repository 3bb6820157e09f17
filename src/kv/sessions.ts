/**
 * Exactly-once client sessions (Raft thesis §6.3), as a deterministic table that every replica
 * updates identically from the committed log. Nothing here reads a clock: a session's age is
 * counted in log entries, so every replica expires the same sessions at the same index.
 */
import type { AppliedResult, CommandSession, StaleSessionResult } from './commands.js';
import { invariant, type Index } from '../raft/index.js';

/** Bounds on what sessions remember. */
export interface SessionLimits {
  /**
   * Results remembered per session (those above its acked sequence). Beyond it the result of
   * the lowest sequence (the client's oldest write) is dropped, and a retry of that sequence,
   * or of any below it, is answered `stale-session` / `evicted` rather than applied again.
   * A client that keeps fewer writes than this in flight never sees that.
   */
  readonly resultsPerSessionMax: number;
  /** Bytes of remembered results per session (CAS results carry the previous value); dropped as above. */
  readonly resultBytesPerSessionMax: number;
  /** Sessions held at once; a new session beyond it evicts the least recently used one. */
  readonly sessionsMax: number;
  /** A session unused for more than this many log entries is dropped. */
  readonly sessionIdleEntriesMax: number;
}

export const defaultSessionLimits: SessionLimits = {
  resultsPerSessionMax: 1024,
  resultBytesPerSessionMax: 4 * 1024 * 1024,
  sessionsMax: 10_000,
  sessionIdleEntriesMax: 100_000,
};

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
}

interface LiveSession {
  readonly clientId: string;
  lastUsedIndex: Index;
  ackedSequence: number;
  evictedThrough: number;
  readonly results: Map<number, AppliedResult>;
  // Invariant: resultBytes === sum of resultBytes(r) over results.
  resultBytes: number;
}

/**
 * The sessions of all clients. Drive it, for every committed entry in order: `expire(index)`;
 * then, for a command with a session, `admit()`, and after applying an admitted one, `record()`.
 */
export class SessionTable {
  // Invariant: iteration order is ascending lastUsedIndex (least recently used first), since
  // indexes only grow and a used session is moved to the end.
  private readonly sessions = new Map<string, LiveSession>();
  private changes: SessionResultChange[] = [];
  private readonly dirty = new Set<string>();

  constructor(
    private readonly limits: SessionLimits,
    restored: Iterable<SessionState>,
  ) {
    const ordered = [...restored].sort((a, b) => a.lastUsedIndex - b.lastUsedIndex);
    for (const state of ordered) {
      invariant(!this.sessions.has(state.clientId), () => `session ${state.clientId} restored twice`);
      const results = new Map(state.results);
      let bytes = 0;
      for (const [sequence, result] of results) {
        invariant(sequence > state.ackedSequence, () => `session ${state.clientId} remembers acked sequence ${sequence}`);
        bytes += resultBytes(result);
      }
      this.sessions.set(state.clientId, { ...state, results, resultBytes: bytes });
    }
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The session of `clientId`, if it is held. */
  get(clientId: string): SessionState | undefined {
    return this.sessions.get(clientId);
  }

  /** Drops every session unused for more than sessionIdleEntriesMax entries as of `index`. */
  expire(index: Index): void {
    for (const session of this.sessions.values()) {
      if (index - session.lastUsedIndex <= this.limits.sessionIdleEntriesMax) break;
      this.remove(session);
    }
  }

  /**
   * Registers a use of `session` by the command at `index` and says whether to apply it. An
   * unknown client with nothing acked is new and gets a session; an unknown client that has
   * acked writes lost its session (expired or evicted) and is refused.
   */
  admit(session: CommandSession, index: Index): Admission {
    let live = this.sessions.get(session.clientId);
    if (live === undefined) {
      if (session.ackedSequence > 0) return { kind: 'stale', result: stale(session, 'unknown-session') };
      live = this.create(session.clientId, index);
    }
    this.touch(live, index);
    if (session.ackedSequence > live.ackedSequence) {
      live.ackedSequence = session.ackedSequence;
      for (const sequence of [...live.results.keys()]) {
        if (sequence <= live.ackedSequence) this.dropResult(live, sequence);
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
    live.results.set(session.sequence, result);
    live.resultBytes += resultBytes(result);
    this.changes.push({ kind: 'put-result', clientId: live.clientId, sequence: session.sequence, result });
    while (
      live.results.size > 1 &&
      (live.results.size > this.limits.resultsPerSessionMax || live.resultBytes > this.limits.resultBytesPerSessionMax)
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
    const changes: SessionChanges = { results: this.changes, headers };
    this.changes = [];
    this.dirty.clear();
    return changes;
  }

  private create(clientId: string, index: Index): LiveSession {
    const lru = this.sessions.values().next();
    if (!lru.done && this.sessions.size >= this.limits.sessionsMax) this.remove(lru.value);
    const live: LiveSession = { clientId, lastUsedIndex: index, ackedSequence: 0, evictedThrough: 0, results: new Map(), resultBytes: 0 };
    this.sessions.set(clientId, live);
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

/** A result's weight against resultBytesPerSessionMax: a fixed overhead plus any value it carries. */
export function resultBytes(result: AppliedResult): number {
  const overheadBytes = 32;
  return overheadBytes + (result.kind === 'cas' && result.previous !== null ? result.previous.value.byteLength : 0);
}

function stale(session: CommandSession, reason: StaleSessionResult['reason']): StaleSessionResult {
  return { kind: 'stale-session', reason, clientId: session.clientId, sequence: session.sequence };
}
