/**
 * Linearizability of a history of multi-key transactions (txn-model.ts). A transaction ties
 * the keys it touches together, so the per-key decomposition of linearizability.ts does not
 * apply; but transactions that share no key, directly or through others, are independent
 * (P-compositionality over objects: each connected component of "touched together" is an
 * object). The history is partitioned into those components, and each is decided by the
 * Wing–Gong search with Lowe's memoization (linearized set + state).
 */
import { performance } from 'node:perf_hooks';
import { describeTxnOperation, nextTxnState, stateSignature, txnOperationKeys, type TxnOperation, type TxnState } from './txn-model.js';

export interface TxnCheckOptions {
  /** Wall-clock budget for the whole check; components not decided by then are 'unknown'. */
  readonly timeLimitMs: number;
  /** Memo entries one component may hold before it is given up as 'unknown'. */
  readonly memoEntriesMax?: number;
  readonly now?: () => number;
}

export type TxnVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface TxnComponentCheck {
  readonly verdict: TxnVerdict;
  /** The keys of the component, sorted. */
  readonly keys: readonly string[];
  /** Operations given to the search (aborted ones are dropped). */
  readonly operations: number;
  readonly searchSteps: number;
  /** For 'not-linearizable': the longest linearizable prefix found and the operation that could not follow it. */
  readonly violation?: { readonly prefix: readonly number[]; readonly blocked: number };
  /** For 'unknown'. */
  readonly reason?: 'time-limit' | 'memo-limit';
}

export interface TxnCheckResult {
  readonly verdict: TxnVerdict;
  readonly components: readonly TxnComponentCheck[];
  readonly elapsedMs: number;
}

const defaultMemoEntriesMax = 5_000_000;

/**
 * Decides whether `history` is linearizable against the multi-key transaction model, every key
 * starting absent. Operations are concurrent unless one completed strictly before the other was
 * invoked; an indeterminate one completes at +Infinity.
 */
export function checkTxnLinearizability(history: readonly TxnOperation[], options: TxnCheckOptions): TxnCheckResult {
  const now = options.now ?? (() => performance.now());
  const startMs = now();
  const deadlineMs = startMs + options.timeLimitMs;
  const components = txnComponents(history).map((component) => checkComponent(history, component, { now, deadlineMs, memoEntriesMax: options.memoEntriesMax ?? defaultMemoEntriesMax }));
  const verdict: TxnVerdict = components.some((c) => c.verdict === 'not-linearizable')
    ? 'not-linearizable'
    : components.some((c) => c.verdict === 'unknown')
      ? 'unknown'
      : 'linearizable';
  return { verdict, components, elapsedMs: now() - startMs };
}

/**
 * The connected components of the history: groups of operation indexes whose keys are joined
 * by operations touching several of them, with the component's keys. Aborted operations are
 * left out. In order of first appearance.
 */
export function txnComponents(history: readonly TxnOperation[]): { readonly keys: string[]; readonly ops: number[] }[] {
  const parent = new Map<string, string>();
  const find = (key: string): string => {
    let root = key;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    // Path compression.
    for (let at = key; at !== root; ) {
      const up = parent.get(at) as string;
      parent.set(at, root);
      at = up;
    }
    return root;
  };
  const keysOf = history.map(txnOperationKeys);
  for (const keys of keysOf) {
    for (const key of keys) if (!parent.has(key)) parent.set(key, key);
    for (const key of keys.slice(1)) parent.set(find(key), find(keys[0] as string));
  }
  const byRoot = new Map<string, { keys: Set<string>; ops: number[] }>();
  history.forEach((op, index) => {
    const first = keysOf[index]?.[0];
    if (op.outcome === 'aborted' || first === undefined) return;
    const root = find(first);
    let component = byRoot.get(root);
    if (component === undefined) {
      component = { keys: new Set(), ops: [] };
      byRoot.set(root, component);
    }
    for (const key of keysOf[index] ?? []) component.keys.add(key);
    component.ops.push(index);
  });
  return [...byRoot.values()].map(({ keys, ops }) => ({ keys: [...keys].sort(), ops }));
}

/** A report of a violation, one operation per line. */
export function describeTxnViolation(history: readonly TxnOperation[], check: TxnComponentCheck, prefixLinesMax = 20): string {
  if (check.violation === undefined) return `keys ${check.keys.join(', ')}: ${check.verdict}`;
  const { prefix, blocked } = check.violation;
  const shown = prefix.slice(Math.max(0, prefix.length - prefixLinesMax));
  const line = (index: number): string => `    #${index} ${describeTxnOperation(history[index] as TxnOperation)}`;
  return [
    `keys ${check.keys.join(', ')} are not linearizable`,
    `  longest linearizable prefix: ${prefix.length} transactions`,
    ...(shown.length < prefix.length ? [`    ... ${prefix.length - shown.length} earlier`] : []),
    ...shown.map(line),
    '  stuck at the completion of:',
    line(blocked),
  ].join('\n');
}

interface Budget {
  readonly now: () => number;
  readonly deadlineMs: number;
  readonly memoEntriesMax: number;
}

const clockCheckMask = 0x3ff;

/**
 * The search over one component: ops sorted by invocation; at each point the candidates are
 * the unplaced operations invoked no later than the earliest completion among unplaced ones
 * (any of them may be linearized next). An indeterminate operation that would change nothing
 * is never placed (placing it is the same as leaving it to the end), and the search succeeds
 * once every determinate operation is placed. Backtracking by an explicit stack.
 */
function checkComponent(history: readonly TxnOperation[], component: { readonly keys: string[]; readonly ops: number[] }, budget: Budget): TxnComponentCheck {
  const ids = [...component.ops].sort((a, b) => (history[a] as TxnOperation).invokeTime - (history[b] as TxnOperation).invokeTime);
  const ops = ids.map((id) => history[id] as TxnOperation);
  const n = ops.length;
  const returnTime = ops.map((op) => (op.outcome === 'indeterminate' ? Infinity : op.completeTime));
  const base = { keys: component.keys, operations: n };
  if (budget.now() >= budget.deadlineMs) return { ...base, verdict: 'unknown', searchSteps: 0, reason: 'time-limit' };

  const placed = new Uint8Array(n);
  let determinateLeft = ops.filter((op) => op.outcome !== 'indeterminate').length;
  const memo = new Set<string>();
  /** Per depth: the op placed, the state before it, and the next candidate position to try there. */
  const stack: { op: number; before: TxnState }[] = [];
  let state: TxnState = new Map();
  let steps = 0;
  let deepest: { prefix: number[]; blocked: number } | null = null;
  let resumeFrom = 0;

  const candidates = (): number[] => {
    const found: number[] = [];
    let earliestReturn = Infinity;
    for (let i = 0; i < n; i++) {
      if (placed[i] === 1) continue;
      if ((ops[i] as TxnOperation).invokeTime > earliestReturn) break;
      found.push(i);
      earliestReturn = Math.min(earliestReturn, returnTime[i] as number);
    }
    return found;
  };
  const memoKey = (): string => `${placedKey(placed)}|${stateSignature(state, component.keys)}`;

  for (;;) {
    if (determinateLeft === 0) return { ...base, verdict: 'linearizable', searchSteps: steps };
    steps += 1;
    if ((steps & clockCheckMask) === 0 && budget.now() >= budget.deadlineMs) return { ...base, verdict: 'unknown', searchSteps: steps, reason: 'time-limit' };
    const options = candidates();
    let advanced = false;
    for (const i of options) {
      if (i < resumeFrom) continue;
      const op = ops[i] as TxnOperation;
      const after = nextTxnState(state, op);
      if (after === undefined || (op.outcome === 'indeterminate' && after === state)) continue;
      placed[i] = 1;
      const previous = state;
      state = after;
      const key = memoKey();
      if (memo.has(key)) {
        placed[i] = 0;
        state = previous;
        continue;
      }
      if (memo.size >= budget.memoEntriesMax) return { ...base, verdict: 'unknown', searchSteps: steps, reason: 'memo-limit' };
      memo.add(key);
      stack.push({ op: i, before: previous });
      if (op.outcome !== 'indeterminate') determinateLeft -= 1;
      advanced = true;
      break;
    }
    if (advanced) {
      resumeFrom = 0;
      continue;
    }
    // Nothing can come next here: remember how far this got, and backtrack.
    if (deepest === null || stack.length > deepest.prefix.length) {
      const blocked = options.reduce((earliest, i) => ((returnTime[i] as number) < (returnTime[earliest] as number) ? i : earliest), options[0] ?? 0);
      deepest = { prefix: stack.map((entry) => ids[entry.op] as number), blocked: ids[blocked] as number };
    }
    const top = stack.pop();
    if (top === undefined) return { ...base, verdict: 'not-linearizable', searchSteps: steps, violation: deepest };
    placed[top.op] = 0;
    state = top.before;
    if ((ops[top.op] as TxnOperation).outcome !== 'indeterminate') determinateLeft += 1;
    resumeFrom = top.op + 1;
  }
}

function placedKey(placed: Uint8Array): string {
  let key = '';
  for (let i = 0; i < placed.length; i += 16) {
    let word = 0;
    for (let j = 0; j < 16 && i + j < placed.length; j++) word |= (placed[i + j] as number) << j;
    key += String.fromCharCode(word);
  }
  return key;
}
