/** Where sessions live in `sm-meta`: loading them, and turning their changes into batch writes. */
import { decodeAppliedResult, decodeSessionHeader, encodeAppliedResult, encodeSessionHeader } from './session-codec.js';
import type { SessionChanges, SessionHeader, SessionState } from './sessions.js';
import type { AppliedResult } from './commands.js';
import { assertNever } from '../raft/index.js';
import {
  StorageCorruptError,
  clientIdOfSessionKey,
  decodeStored,
  describeKey,
  parseSessionResultKey,
  sessionKey,
  sessionKeyRange,
  sessionResultKey,
  sessionResultKeyRange,
  sublevelNames,
  type NodeStore,
  type StoreOperation,
} from '../storage/index.js';

/** Every persisted session with its results; a result without its session is corruption. */
export async function loadSessions(store: NodeStore): Promise<SessionState[]> {
  const smMeta = store.sublevels.smMeta;
  const headers = new Map<string, SessionHeader>();
  for await (const [key, value] of smMeta.iterator({ ...sessionKeyRange })) {
    const header = decodeStored(sublevelNames.smMeta, key, () => decodeSessionHeader(clientIdOfSessionKey(key), value));
    headers.set(header.clientId, header);
  }
  const results = new Map<string, Map<number, AppliedResult>>();
  for await (const [key, value] of smMeta.iterator({ ...sessionResultKeyRange })) {
    const { clientId, sequence } = decodeStored(sublevelNames.smMeta, key, () => parseSessionResultKey(key));
    const header = headers.get(clientId);
    if (header === undefined) throw new StorageCorruptError(location(key), `a result of ${clientId}, which has no session`);
    if (sequence <= header.ackedSequence) {
      throw new StorageCorruptError(location(key), `result of sequence ${sequence}, at or below the acked ${header.ackedSequence}`);
    }
    const byClient = results.get(clientId) ?? new Map<number, AppliedResult>();
    byClient.set(sequence, decodeStored(sublevelNames.smMeta, key, () => decodeAppliedResult(value)));
    results.set(clientId, byClient);
  }
  return [...headers.values()].map((header) => ({ ...header, results: results.get(header.clientId) ?? new Map() }));
}

/** The `sm-meta` writes that persist `changes`, in order. */
export function sessionOperations(store: NodeStore, changes: SessionChanges): StoreOperation[] {
  const sublevel = store.sublevels.smMeta;
  const operations: StoreOperation[] = [];
  for (const change of changes.results) {
    const key = sessionResultKey(change.clientId, change.sequence);
    switch (change.kind) {
      case 'put-result':
        operations.push({ type: 'put', sublevel, key, value: encodeAppliedResult(change.result) });
        break;
      case 'delete-result':
        operations.push({ type: 'del', sublevel, key });
        break;
      default:
        assertNever(change, 'session change');
    }
  }
  for (const [clientId, header] of changes.headers) {
    const key = sessionKey(clientId);
    operations.push(header === null ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value: encodeSessionHeader(header) });
  }
  return operations;
}

function location(key: Uint8Array): string {
  return describeKey(sublevelNames.smMeta, key);
}
