/**
 * The sequential specification of multi-key compare-and-set transactions (the txn workload),
 * and the history they are recorded in. A transaction compares some keys (value or version),
 * then, if every compare holds, writes some keys; it may also read keys (what it saw). The
 * state is a map of the keys the transactions touch, each with its value and version; a key
 * absent from the map is absent (value null, version 0).
 */
import { assertNever } from './history.js';

/** A key as the model holds it; version 0 with value null is absent. */
export interface TxnKeyState {
  readonly value: string | null;
  readonly version: number;
}

export type TxnModelCompare =
  | { readonly key: string; readonly target: 'value'; readonly expected: string | null }
  | { readonly key: string; readonly target: 'version'; readonly expected: number };

/**
 * One recorded transaction.
 * - `ok`: every compare held; its writes took effect; `reads` is what it saw (before its writes).
 * - `fail`: a compare did not hold; nothing was written; `reads` is what the failure branch saw.
 * - `indeterminate`: the client never learned the outcome: it took effect at some point after
 *   its invocation (writing exactly when its compares held there), or never.
 * - `aborted`: it definitely had no effect and observed nothing; the checker drops it.
 */
export interface TxnOperation {
  readonly process: number;
  readonly invokeTime: number;
  /** Infinity (or anything) for an indeterminate operation: it completes at +Infinity. */
  readonly completeTime: number;
  readonly compare: readonly TxnModelCompare[];
  readonly writes: readonly { readonly key: string; readonly value: string }[];
  readonly reads: readonly { readonly key: string; readonly value: string | null; readonly version: number }[];
  readonly outcome: 'ok' | 'fail' | 'indeterminate' | 'aborted';
}

/** The state: only keys that exist are in the map. */
export type TxnState = ReadonlyMap<string, TxnKeyState>;

const absent: TxnKeyState = { value: null, version: 0 };

export function keyState(state: TxnState, key: string): TxnKeyState {
  return state.get(key) ?? absent;
}

export function compareHolds(state: TxnState, compare: TxnModelCompare): boolean {
  const current = keyState(state, compare.key);
  switch (compare.target) {
    case 'value':
      return current.value === compare.expected;
    case 'version':
      return current.version === compare.expected;
    default:
      return assertNever(compare);
  }
}

/**
 * The state after `op` runs on `state`, or undefined when what the client observed is
 * impossible there. An indeterminate operation is always possible: it writes exactly when its
 * compares hold (a transaction is deterministic given the state).
 */
export function nextTxnState(state: TxnState, op: TxnOperation): TxnState | undefined {
  const holds = op.compare.every((compare) => compareHolds(state, compare));
  switch (op.outcome) {
    case 'ok':
      if (!holds || !readsMatch(state, op)) return undefined;
      return applyWrites(state, op);
    case 'fail':
      return !holds && readsMatch(state, op) ? state : undefined;
    case 'indeterminate':
      return holds ? applyWrites(state, op) : state;
    case 'aborted':
      return state;
    default:
      return assertNever(op.outcome);
  }
}

function readsMatch(state: TxnState, op: TxnOperation): boolean {
  return op.reads.every((read) => {
    const current = keyState(state, read.key);
    return current.value === read.value && current.version === read.version;
  });
}

function applyWrites(state: TxnState, op: TxnOperation): TxnState {
  if (op.writes.length === 0) return state;
  const next = new Map(state);
  for (const write of op.writes) next.set(write.key, { value: write.value, version: keyState(next, write.key).version + 1 });
  return next;
}

/** Every key the operation compares, writes or reads. */
export function txnOperationKeys(op: TxnOperation): string[] {
  return [...new Set([...op.compare.map((c) => c.key), ...op.writes.map((w) => w.key), ...op.reads.map((r) => r.key)])];
}

/** A canonical text of a state restricted to `keys` (sorted), for the search's memo. */
export function stateSignature(state: TxnState, keys: readonly string[]): string {
  return keys.map((key) => {
    const current = keyState(state, key);
    return `${current.version}:${current.value === null ? '' : current.value}`;
  }).join('\u0000');
}

/** One line per operation for reports: `p3 txn ok [4, 9] if a@v2 b@v5 then a="9 x" b="11 x" saw a="10 y"@2`. */
export function describeTxnOperation(op: TxnOperation): string {
  const compares = op.compare.map((c) => (c.target === 'version' ? `${c.key}@v${c.expected}` : `${c.key}==${JSON.stringify(c.expected)}`));
  const writes = op.writes.map((w) => `${w.key}=${JSON.stringify(w.value)}`);
  const reads = op.reads.map((r) => `${r.key}=${JSON.stringify(r.value)}@v${r.version}`);
  return [
    `p${op.process} txn ${op.outcome} [${op.invokeTime}, ${op.completeTime}]`,
    ...(compares.length > 0 ? [`if ${compares.join(' ')}`] : []),
    ...(writes.length > 0 ? [`then ${writes.join(' ')}`] : []),
    ...(reads.length > 0 ? [`saw ${reads.join(' ')}`] : []),
  ].join(' ');
}
