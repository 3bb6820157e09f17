/** Where sessions live in `sm-meta`: one record per session, header and remembered results together. */
import { decodeSessionState, encodeSessionState } from './session-codec.js';
import type { SessionChanges, SessionState, SessionTable } from './sessions.js';
import {
  clientIdOfSessionKey,
  decodeStored,
  sessionKey,
  sessionKeyRange,
  sublevelNames,
  type NodeStore,
  type StoreOperation,
} from '../storage/index.js';

/** Every persisted session with its results. */
export async function loadSessions(store: NodeStore): Promise<SessionState[]> {
  const sessions: SessionState[] = [];
  for await (const [key, value] of store.sublevels.smMeta.iterator({ ...sessionKeyRange })) {
    sessions.push(decodeStored(sublevelNames.smMeta, key, () => decodeSessionState(clientIdOfSessionKey(key), value)));
  }
  return sessions;
}

/**
 * The `sm-meta` writes that persist `changes`: each session they touched is written once, whole,
 * as `sessions` holds it now (or deleted if it is gone). One record per session per batch keeps
 * the write count per command low, which is most of what an apply costs.
 */
export function sessionOperations(store: NodeStore, changes: SessionChanges, sessions: SessionTable): StoreOperation[] {
  const sublevel = store.sublevels.smMeta;
  const touched = new Set<string>(changes.headers.keys());
  for (const change of changes.results) touched.add(change.clientId);
  const operations: StoreOperation[] = [];
  for (const clientId of touched) {
    const key = sessionKey(clientId);
    const state = sessions.get(clientId);
    operations.push(state === undefined ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value: encodeSessionState(state) });
  }
  return operations;
}
