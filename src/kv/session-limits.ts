/**
 * Bounds on what client sessions remember. They are replicated semantics: whether a retry is
 * replayed or refused depends on them, so they live in the replicated state (set by a
 * `set-session-limits` command through the log, stored with the sessions and carried in
 * snapshots), never in a node's own flags: every replica applies the same limits at the same
 * index. Until the log sets them, `defaultSessionLimits` holds on every node alike.
 */
import { InvalidArgumentError } from './errors.js';

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
  /** Sessions held at once; a registration beyond it evicts the least recently used session. */
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

/** A change of some limits; the others keep their value. */
export type SessionLimitsChange = Partial<SessionLimits>;

/**
 * The accepted range of each limit, the same on every replica (the command decoder checks
 * them, so a committed change is valid everywhere). The upper bounds keep memory bounded: at
 * most sessionsMax × resultBytesPerSessionMax of results.
 */
export const sessionLimitBounds: { readonly [K in keyof SessionLimits]: { readonly min: number; readonly max: number } } = {
  resultsPerSessionMax: { min: 1, max: 65_536 },
  resultBytesPerSessionMax: { min: 1024, max: 64 * 1024 * 1024 },
  sessionsMax: { min: 1, max: 1_000_000 },
  sessionIdleEntriesMax: { min: 1, max: Number.MAX_SAFE_INTEGER },
};

/** The limits in the order of their wire and stored encodings. */
export const sessionLimitNames = ['resultsPerSessionMax', 'resultBytesPerSessionMax', 'sessionsMax', 'sessionIdleEntriesMax'] as const satisfies readonly (keyof SessionLimits)[];

/** Throws InvalidArgumentError naming the first limit of `change` outside its bounds. */
export function validateSessionLimits(change: SessionLimitsChange): void {
  for (const name of sessionLimitNames) {
    const value = change[name];
    if (value === undefined) continue;
    const { min, max } = sessionLimitBounds[name];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`sessionLimits.${name}`, `an integer in ${min}..${max}`, `got ${value}`);
    }
  }
}

/** `current` with `change` applied. */
export function mergeSessionLimits(current: SessionLimits, change: SessionLimitsChange): SessionLimits {
  const merged = { ...current };
  for (const name of sessionLimitNames) {
    const value = change[name];
    if (value !== undefined) merged[name] = value;
  }
  return merged;
}
