/** Where sessions live in a state generation's `sessions-g<N>`: one record per session, header and remembered results together. */
import type { AbstractReadOptions } from 'abstract-level';
import { decodeSessionLimits, decodeSessionState, encodeSessionLimits, encodeSessionState } from './session-codec.js';
import type { SessionLimits } from './session-limits.js';
import type { SessionChanges, SessionState, SessionTable } from './sessions.js';
import {
  clientIdOfSessionKey,
  decodeStored,
  generationSublevelNames,
  sessionKey,
  sessionKeyRange,
  sessionLimitsKey,
  type GenerationSublevels,
  type StoreOperation,
} from '../storage/index.js';

/** Every persisted session of `generation` with its results (as of `options.snapshot`, if given). */
export async function loadSessions(generation: GenerationSublevels, options: Pick<AbstractReadOptions, 'snapshot'> = {}): Promise<SessionState[]> {
  const sessions: SessionState[] = [];
  const name = generationSublevelNames(generation.generation).sessions;
  for await (const [key, value] of generation.sessions.iterator({ ...sessionKeyRange, ...options })) {
    sessions.push(decodeStored(name, key, () => decodeSessionState(clientIdOfSessionKey(key), value)));
  }
  return sessions;
}

/** The session limits the log set in `generation` (null: none yet), as of `options.snapshot` if given. */
export async function loadSessionLimits(generation: GenerationSublevels, options: Pick<AbstractReadOptions, 'snapshot'> = {}): Promise<SessionLimits | null> {
  const [bytes] = await generation.sessions.getMany([sessionLimitsKey], options);
  if (bytes === undefined) return null;
  return decodeStored(generationSublevelNames(generation.generation).sessions, sessionLimitsKey, () => decodeSessionLimits(bytes));
}

/**
 * The writes that persist `changes`: each session they touched is written once, whole, as
 * `sessions` holds it now (or deleted if it is gone). One record per session per batch keeps
 * the write count per command low, which is most of what an apply costs.
 */
export function sessionOperations(generation: GenerationSublevels, changes: SessionChanges, sessions: SessionTable): StoreOperation[] {
  const sublevel = generation.sessions;
  const touched = new Set<string>(changes.headers.keys());
  for (const change of changes.results) touched.add(change.clientId);
  const operations: StoreOperation[] = [];
  for (const clientId of touched) {
    const key = sessionKey(clientId);
    const state = sessions.get(clientId);
    operations.push(state === undefined ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value: encodeSessionState(state) });
  }
  if (changes.limits !== null) operations.push({ type: 'put', sublevel, key: sessionLimitsKey, value: encodeSessionLimits(changes.limits) });
  return operations;
}
