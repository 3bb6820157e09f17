/**
 * A small failing sub-history: for a key the checker found not linearizable, a few of its
 * operations that are not linearizable by themselves and prove the whole history is not, with
 * an explanation in words. The report marks them on the timeline.
 *
 * Not every subset proves something: dropping the write of 5 makes a read of 5 impossible in a
 * correct history too. A subset S is kept only when it is closed:
 * - for every value v (not nil) that an operation of S observes (a read's answer, the expected
 *   value of a cas that swapped or may have), every write of v in the key's history is in S;
 * - if S holds a cas whose compare failed, every write of the key is in S.
 * Then any linearization of the whole history, restricted to S, is a linearization of S: each
 * observer of v in S saw, as last write before it, a write of v, which is in S and still the
 * last of S before it; a failed compare saw the same last write; a write is always legal; an
 * indeterminate cas that swapped saw its expected value the same way, and one that did not
 * swap can move to the end. So S not linearizable means the history is not.
 *
 * The search is delta debugging (Zeller's ddmin) over operations in invocation order: drop a
 * chunk, together with the operations that depend on what it dropped, and keep the drop if the
 * rest is still not linearizable; halve the chunk when no drop works. It ends with single
 * drops; when none of those works the set is 1-minimal (no single operation, with its
 * dependants, can go) and `minimal` is true. Out of time, `minimal` is false: the set still
 * fails and is closed, it is just not proven small. 1-minimal is not the smallest: another
 * smaller failing set may exist.
 */
import {
  assertNever,
  describeOperation,
  type IndexedOperation,
  type Operation,
  type RegisterValue,
} from './history.js';
import { checkLinearizability, type KeyCheck } from './linearizability.js';
import { registerCommandOf } from './register-model.js';

/** Limits of {@link shrinkViolation}. */
export interface ShrinkOptions {
  /** Budget for the whole shrink; the set found so far is returned when it runs out. */
  readonly timeLimitMs: number;
  /** How times read in the explanation; seconds with 3 decimals by default (history times are ms). */
  readonly formatTime?: (time: number) => string;
  /** Monotonic clock in milliseconds; `performance.now` by default. */
  readonly now?: () => number;
}

/** A failing sub-history of one key. */
export interface FailingCore {
  readonly key: string;
  /** Its operations, with their indexes in the history given, in invocation order. */
  readonly operations: readonly IndexedOperation[];
  /** The operation of the set that cannot be linearized by its completion. */
  readonly blocked: IndexedOperation;
  /** True when no single operation (with what depends on it) can be dropped; false: out of time. */
  readonly minimal: boolean;
  /** Why these operations cannot be ordered, in words. */
  readonly explanation: string;
  /** Linearizability checks the shrink ran. */
  readonly checks: number;
}

/**
 * Shrinks the violation `check` (of `history`, as checkLinearizability returned it) to a small
 * closed failing set (see the module comment). Operations that constrain nothing (aborted ones,
 * indeterminate gets) are never part of it.
 */
export function shrinkViolation(
  history: readonly Operation[],
  check: Extract<KeyCheck, { verdict: 'not-linearizable' }>,
  options: ShrinkOptions,
): FailingCore {
  const now = options.now ?? (() => performance.now());
  const formatTime = options.formatTime ?? ((ms: number) => `${(ms / 1000).toFixed(3)} s`);
  const deadlineMs = now() + options.timeLimitMs;
  const ops: IndexedOperation[] = [];
  history.forEach((operation, index) => {
    if (operation.key === check.key && registerCommandOf(operation) !== undefined) ops.push({ index, operation });
  });
  ops.sort((a, b) => a.operation.invokeTime - b.operation.invokeTime || a.index - b.index);
  const dependencies = new Dependencies(ops.map((op) => op.operation));

  let checks = 0;
  const fails = (set: readonly number[]): boolean => {
    const remainingMs = deadlineMs - now();
    if (remainingMs <= 0) return false;
    checks += 1;
    return checkLinearizability(set.map((i) => ops[i]!.operation), { timeLimitMs: remainingMs }).verdict === 'not-linearizable';
  };

  let set = ops.map((_, i) => i);
  // First, everything invoked after the stuck completion: the search never needed it.
  const stuckAt = check.violation.blocked.operation.completeTime;
  const later = set.filter((i) => ops[i]!.operation.invokeTime > stuckAt);
  if (later.length > 0) {
    const rest = dependencies.without(set, later);
    if (rest.length > 0 && fails(rest)) set = rest;
  }

  let minimal = false;
  let chunk = Math.max(1, Math.ceil(set.length / 2));
  while (now() < deadlineMs) {
    let dropped = false;
    for (let start = 0; start < set.length && now() < deadlineMs; ) {
      const rest = dependencies.without(set, set.slice(start, start + chunk));
      if (rest.length > 0 && fails(rest)) {
        set = rest;
        dropped = true;
      } else {
        start += chunk;
      }
    }
    if (now() >= deadlineMs) break;
    if (chunk === 1 && !dropped) {
      minimal = true;
      break;
    }
    if (!dropped) chunk = Math.max(1, Math.floor(chunk / 2));
    else chunk = Math.min(chunk, Math.max(1, Math.ceil(set.length / 2)));
  }

  const operations = set.map((i) => ops[i]!);
  // The set fails (it is the checked history or a set that failed a check), so this is a violation.
  // Where the set itself gets stuck. Its check is cheap once shrunk; a set left large by the
  // budget gets a second at most, and without an answer the op completing last stands in.
  const own = checkLinearizability(operations.map((op) => op.operation), { timeLimitMs: Math.max(1000, deadlineMs - now()) }).perKey[0];
  const blockedLocal = own?.verdict === 'not-linearizable' ? own.violation.blocked.index : undefined;
  const lastToComplete = operations.reduce((last, op) => (op.operation.completeTime > last.operation.completeTime ? op : last));
  const blocked = blockedLocal !== undefined ? operations[blockedLocal]! : operations.some((op) => op.index === check.violation.blocked.index) ? check.violation.blocked : lastToComplete;
  const explanation = explainViolation(check.key, operations, blocked, minimal, formatTime);
  return { key: check.key, operations, blocked, minimal, explanation, checks };
}

/** What a write stores, or undefined for an operation that writes nothing. */
function writtenValue(op: Operation): string | undefined {
  if (op.kind === 'put') return op.outcome === 'aborted' ? undefined : op.value;
  if (op.kind === 'cas') return op.outcome === 'ok' || op.outcome === 'indeterminate' ? op.value : undefined;
  return undefined;
}

/** What an operation observed: a value (nil included), 'any-write' for a failed compare, or nothing. */
function observation(op: Operation): { readonly value: RegisterValue } | 'any-write' | undefined {
  switch (op.kind) {
    case 'get':
      return op.outcome === 'ok' ? { value: op.value } : undefined;
    case 'put':
      return undefined;
    case 'cas':
      if (op.outcome === 'fail') return 'any-write';
      return op.outcome === 'aborted' ? undefined : { value: op.expected };
    default:
      return assertNever(op);
  }
}

/** The closure rule of the module comment, over operations numbered 0..n-1. */
class Dependencies {
  private readonly ops: readonly Operation[];

  constructor(ops: readonly Operation[]) {
    this.ops = ops;
  }

  /**
   * `set` without `drop` and without every operation that depended on a write dropped
   * (transitively: a cas that swapped is a write too). Keeps the order of `set`.
   */
  without(set: readonly number[], drop: readonly number[]): number[] {
    const gone = new Set(drop);
    let droppedValues = new Set<string>();
    let anyWriteDropped = false;
    for (const i of drop) {
      const value = writtenValue(this.ops[i]!);
      if (value !== undefined) {
        droppedValues.add(value);
        anyWriteDropped = true;
      }
    }
    while (droppedValues.size > 0 || anyWriteDropped) {
      const newlyDropped = new Set<string>();
      for (const i of set) {
        if (gone.has(i)) continue;
        const seen = observation(this.ops[i]!);
        const depends = seen === 'any-write' ? anyWriteDropped : seen !== undefined && seen.value !== null && droppedValues.has(seen.value);
        if (!depends) continue;
        gone.add(i);
        const value = writtenValue(this.ops[i]!);
        if (value !== undefined) newlyDropped.add(value);
      }
      if (newlyDropped.size === 0) break;
      droppedValues = newlyDropped;
    }
    return set.filter((i) => !gone.has(i));
  }

  /** True when `set` follows the closure rule (for tests). */
  isClosed(set: readonly number[]): boolean {
    return this.without(set, []).length === set.length && this.missingWrites(set).length === 0;
  }

  private missingWrites(set: readonly number[]): number[] {
    const inSet = new Set(set);
    const needed = new Set<string>();
    let needsAll = false;
    for (const i of set) {
      const seen = observation(this.ops[i]!);
      if (seen === 'any-write') needsAll = true;
      else if (seen !== undefined && seen.value !== null) needed.add(seen.value);
    }
    const missing: number[] = [];
    this.ops.forEach((op, i) => {
      const value = writtenValue(op);
      if (value !== undefined && !inSet.has(i) && (needsAll || needed.has(value))) missing.push(i);
    });
    return missing;
  }
}

/**
 * True when `subset` (operations of one key of `history`) is closed in the sense of the module
 * comment, so that its failing proves the history fails. Exported for tests.
 */
export function isClosedSubHistory(history: readonly Operation[], subset: readonly IndexedOperation[]): boolean {
  const key = subset[0]?.operation.key;
  if (key === undefined) return true;
  const positions = new Map<number, number>();
  const ops: Operation[] = [];
  history.forEach((operation, index) => {
    if (operation.key !== key || registerCommandOf(operation) === undefined) return;
    positions.set(index, ops.length);
    ops.push(operation);
  });
  const set = subset.map(({ index }) => positions.get(index));
  if (set.some((i) => i === undefined)) return false;
  return new Dependencies(ops).isClosed(set as number[]);
}

/**
 * The violation in words: the common case, a read (or a cas's compare) that saw a value already
 * overwritten, or one never written, is named as such; anything else gets the general account.
 */
function explainViolation(
  key: string,
  operations: readonly IndexedOperation[],
  blocked: IndexedOperation,
  minimal: boolean,
  formatTime: (time: number) => string,
): string {
  const size = `${operations.length} operation${operations.length === 1 ? '' : 's'} of key ${JSON.stringify(key)} that cannot be linearized${minimal ? '' : ' (the shrink ran out of time: small, not proven minimal)'}`;
  const b = blocked.operation;
  // Append lists grow long; what tells them apart is their end.
  const show = (value: RegisterValue): string => (value === null ? 'nil (absent)' : value.length > valueCharsMax ? `"…${value.slice(-valueCharsMax)}"` : JSON.stringify(value));
  const writes = operations.filter(({ operation }) => writtenValue(operation) !== undefined);
  const doneBefore = writes.filter(({ operation }) => operation.outcome === 'ok' && operation.completeTime < b.invokeTime);
  const last = doneBefore.reduce<IndexedOperation | undefined>((best, w) => (best === undefined || w.operation.completeTime > best.operation.completeTime ? w : best), undefined);
  const seen = observation(b);
  const subject =
    b.kind === 'get'
      ? `The read of ${JSON.stringify(key)} at ${formatTime(b.invokeTime)} (#${blocked.index}, p${b.process})`
      : `The cas of ${JSON.stringify(key)} at ${formatTime(b.invokeTime)} (#${blocked.index}, p${b.process})`;
  const verb = b.kind === 'get' ? 'returned' : 'found';
  let reason: string | undefined;
  if (seen !== undefined && seen !== 'any-write') {
    const v = seen.value;
    const writesOfV = writes.filter(({ operation }) => writtenValue(operation) === v);
    if (v === null && last !== undefined) {
      reason = `${subject} ${verb} ${show(v)}, but the write of ${show(writtenValue(last.operation)!)} (#${last.index}) completed at ${formatTime(last.operation.completeTime)}, before it was invoked, and nothing deletes the key.`;
    } else if (v !== null && writesOfV.length === 0) {
      reason = `${subject} ${verb} ${show(v)}, but no operation wrote ${show(v)}.`;
    } else if (v !== null && last !== undefined && writtenValue(last.operation) !== v && writesOfV.every(({ operation }) => operation.completeTime < last.operation.invokeTime)) {
      const named = writesOfV.slice(-4).map(({ index, operation }) => `#${index} completed at ${formatTime(operation.completeTime)}`);
      const list = [...(writesOfV.length > named.length ? [`${writesOfV.length - named.length} earlier`] : []), ...named].join(', ');
      reason =
        `${subject} ${verb} ${show(v)}, but the last write to complete before it, #${last.index}, wrote ${show(writtenValue(last.operation)!)} ` +
        `(completed at ${formatTime(last.operation.completeTime)}), and every write of ${show(v)} (${list}) completed before that write was invoked ` +
        `at ${formatTime(last.operation.invokeTime)}: no write of ${show(v)} can be ordered between them.`;
    } else if (v !== null && writesOfV.every(({ operation }) => operation.invokeTime > b.completeTime)) {
      reason = `${subject} ${verb} ${show(v)}, but every write of ${show(v)} was invoked after it completed at ${formatTime(b.completeTime)}.`;
    }
  }
  const twin = b.kind === 'cas' && b.outcome === 'ok' && b.expected !== b.value ? swapTwin(operations, blocked) : undefined;
  if (reason === undefined && twin !== undefined && b.kind === 'cas') {
    const from = b.expected === null ? 'the absent key' : `${show(b.expected)}, which only #${twin.writer!.index} wrote`;
    reason = `Both #${twin.other.index} (p${twin.other.operation.process}, at ${formatTime(twin.other.operation.invokeTime)}) and #${blocked.index} (p${b.process}, at ${formatTime(b.invokeTime)}) swapped from ${from}: after the first of them the register no longer held it, so one of the two acknowledged swaps cannot have happened.`;
  }
  reason ??=
    `No order of these operations respects both real time (one that completed before another was invoked comes first) and the register's answers: ` +
    `every order gets stuck before the completion of #${blocked.index} (${describeOperation(b)}) at ${formatTime(b.completeTime)}.`;
  return `${size}. ${reason}`;
}

/** Characters of a value an explanation quotes; longer ones show their end. */
const valueCharsMax = 40;

/**
 * Another acknowledged swap from the same value as `blocked` (itself an acknowledged swap that
 * changes the value), when that value was written at most once (never, for nil): only one of
 * the two can have seen it. Undefined otherwise.
 */
function swapTwin(operations: readonly IndexedOperation[], blocked: IndexedOperation): { other: IndexedOperation; writer: IndexedOperation | undefined } | undefined {
  const b = blocked.operation;
  if (b.kind !== 'cas') return undefined;
  const writers = operations.filter(({ operation }) => writtenValue(operation) === b.expected);
  if (b.expected === null ? writers.length > 0 : writers.length !== 1) return undefined;
  const other = operations.find(
    ({ index, operation }) => index !== blocked.index && operation.kind === 'cas' && operation.outcome === 'ok' && operation.expected === b.expected && operation.value !== operation.expected,
  );
  return other === undefined ? undefined : { other, writer: writers[0] };
}
