import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/mulberry32.js';
import {
  checkLinearizability,
  describeViolation,
  InvalidHistoryError,
  type CasOperation,
  type GetOperation,
  type IndexedOperation,
  type KeyCheck,
  type Operation,
  type PutOperation,
  type RegisterValue,
} from '../../chaos/checker/index.js';

// Histories are written as one call per operation: the value(s), then [invokeTime, completeTime].
type Span = readonly [invokeTime: number, completeTime: number];
const never = Infinity;
let processCounter = 0;
const timing = ([invokeTime, completeTime]: Span, key: string) => ({ process: processCounter++, key, invokeTime, completeTime });

function get(value: RegisterValue, span: Span, key = 'x'): GetOperation {
  return { ...timing(span, key), kind: 'get', outcome: 'ok', value };
}
function getWithout(outcome: 'indeterminate' | 'aborted', span: Span, key = 'x'): GetOperation {
  return { ...timing(span, key), kind: 'get', outcome };
}
function put(value: string, span: Span, outcome: PutOperation['outcome'] = 'ok', key = 'x'): PutOperation {
  return { ...timing(span, key), kind: 'put', value, outcome };
}
function cas(expected: RegisterValue, value: string, span: Span, outcome: CasOperation['outcome'] = 'ok', key = 'x'): CasOperation {
  return { ...timing(span, key), kind: 'cas', expected, value, outcome };
}

const limits = { timeLimitMs: 10_000 };
const verdictOf = (history: readonly Operation[]): string => checkLinearizability(history, limits).verdict;

/**
 * An independent oracle for small histories: tries every subset of the indeterminate writes as
 * "took effect" and every order of the rest that respects real time, running the register
 * semantics written out again here.
 */
function bruteForceLinearizable(history: readonly Operation[]): boolean {
  const relevant = history.filter((op) => op.outcome !== 'aborted' && !(op.kind === 'get' && op.outcome === 'indeterminate'));
  const maybe = relevant.filter((op) => op.outcome === 'indeterminate');
  const certain = relevant.filter((op) => op.outcome !== 'indeterminate');
  const end = (op: Operation): number => (op.outcome === 'indeterminate' ? Infinity : op.completeTime);
  const apply = (state: RegisterValue, op: Operation): RegisterValue | undefined => {
    if (op.kind === 'get') return op.outcome === 'ok' && op.value === state ? state : undefined;
    if (op.kind === 'put') return op.value;
    if (op.outcome === 'fail') return state === op.expected ? undefined : state;
    return state === op.expected ? op.value : undefined; // ok, or indeterminate that took effect
  };
  const search = (remaining: readonly Operation[], state: RegisterValue): boolean => {
    if (remaining.length === 0) return true;
    return remaining.some((op, i) => {
      const others = remaining.filter((_, j) => j !== i);
      if (others.some((other) => end(other) < op.invokeTime)) return false; // another must come first
      const after = apply(state, op);
      return after !== undefined && search(others, after);
    });
  };
  for (let mask = 0; mask < 1 << maybe.length; mask += 1) {
    const tookEffect = maybe.filter((_, bit) => (mask & (1 << bit)) !== 0);
    if (search([...certain, ...tookEffect], null)) return true;
  }
  return false;
}

/** Checks a witness: every operation once, real-time order respected, the register agrees. */
function expectValidWitness(history: readonly Operation[], check: KeyCheck): void {
  if (check.verdict !== 'linearizable') throw new Error(`expected linearizable, got ${check.verdict}`);
  const order = check.linearization;
  expect(order.length).toBe(check.stats.operationsChecked);
  expect(new Set(order.map(({ index }) => index)).size).toBe(order.length);
  expectLegalSequence(history, order);
}

/** Replays `order` on a register, checking real time and answers; returns the final value. */
function expectLegalSequence(history: readonly Operation[], order: readonly IndexedOperation[]): RegisterValue {
  const problems: string[] = [];
  let state: RegisterValue = null;
  let latestInvokeTime = -Infinity;
  order.forEach(({ index, operation }) => {
    if (history[index] !== operation) problems.push(`#${index} is not history[${index}]`);
    // Each operation must not have completed before one placed earlier was invoked.
    const end = operation.outcome === 'indeterminate' ? Infinity : operation.completeTime;
    if (end < latestInvokeTime) problems.push(`#${index} completed before an earlier-placed operation began`);
    latestInvokeTime = Math.max(latestInvokeTime, operation.invokeTime);
    switch (operation.kind) {
      case 'get':
        if (operation.outcome !== 'ok' || operation.value !== state) problems.push(`#${index} cannot read at state ${state}`);
        break;
      case 'put':
        state = operation.value;
        break;
      case 'cas':
        if (operation.outcome === 'fail' && state === operation.expected) problems.push(`#${index} compare cannot fail`);
        if (operation.outcome === 'ok' && state !== operation.expected) problems.push(`#${index} compare cannot succeed`);
        if (operation.outcome !== 'fail' && state === operation.expected) state = operation.value;
        break;
    }
  });
  expect(problems).toEqual([]);
  return state;
}

/** Deterministic PRNG for generated histories. */
const rng = mulberry32;

/**
 * A history a correct register produced: each operation takes effect at a random instant of
 * its interval; some writes are indeterminate and take effect or not.
 */
function generateLinearizableHistory(
  random: () => number,
  options: { processes: number; operations: number; values: number; indeterminateShare: number },
): Operation[] {
  const int = (n: number): number => Math.floor(random() * n);
  const planned: { op: Operation; at: number; effective: boolean }[] = [];
  const clocks = Array.from({ length: options.processes }, () => 0);
  for (let i = 0; i < options.operations; i += 1) {
    const process = i % options.processes;
    const invokeTime = clocks[process]! + 1 + int(5);
    const completeTime = invokeTime + 1 + int(20);
    clocks[process] = completeTime;
    const at = invokeTime + random() * (completeTime - invokeTime);
    const base = { process, key: 'x', invokeTime, completeTime };
    const value = String(int(options.values));
    const roll = random();
    const indeterminate = random() < options.indeterminateShare;
    const span = indeterminate ? { completeTime: Infinity } : {};
    const effective = !indeterminate || random() < 0.5;
    if (roll < 0.35) planned.push({ op: { ...base, ...span, kind: 'put', value, outcome: indeterminate ? 'indeterminate' : 'ok' }, at, effective });
    else if (roll < 0.6) planned.push({ op: { ...base, ...span, kind: 'cas', expected: String(int(options.values)), value, outcome: indeterminate ? 'indeterminate' : 'ok' }, at, effective });
    else planned.push({ op: { ...base, kind: 'get', outcome: 'ok', value: null }, at, effective: true });
  }
  let state: RegisterValue = null;
  const resolved = new Map<Operation, Operation>();
  for (const { op, effective } of [...planned].sort((a, b) => a.at - b.at)) {
    if (!effective) continue;
    if (op.kind === 'get') resolved.set(op, { ...op, outcome: 'ok', value: state });
    else if (op.kind === 'put') state = op.value;
    else if (state === op.expected) state = op.value;
    else if (op.outcome === 'ok') resolved.set(op, { ...op, outcome: 'fail' });
  }
  return planned.map(({ op }) => resolved.get(op) ?? op);
}

describe('checkLinearizability: register semantics', () => {
  it('accepts the empty history', () => {
    const result = checkLinearizability([], limits);
    expect(result.verdict).toBe('linearizable');
    expect(result.perKey).toEqual([]);
  });

  it.each<[string, Operation[], 'linearizable' | 'not-linearizable']>([
    ['a read of an absent key sees nil', [get(null, [0, 1])], 'linearizable'],
    ['a sequential write then read', [put('1', [0, 1]), get('1', [2, 3])], 'linearizable'],
    ['a read of a value never written', [put('1', [0, 1]), get('9', [2, 3])], 'not-linearizable'],
    ['a read of nil after an acknowledged write', [put('1', [0, 1]), get(null, [2, 3])], 'not-linearizable'],
    ['a stale read', [put('1', [0, 1]), put('2', [2, 3]), get('1', [4, 5])], 'not-linearizable'],
    ['a read concurrent with a write may see the new value', [put('1', [0, 10]), get('1', [2, 3])], 'linearizable'],
    ['a read concurrent with a write may see the old value', [put('1', [0, 10]), get(null, [2, 3])], 'linearizable'],
    ['a read cannot go back once a later read saw the write', [put('1', [0, 10]), get('1', [2, 3]), get(null, [4, 5])], 'not-linearizable'],
    ['operations that touch (complete == invoke) are concurrent', [put('1', [0, 5]), get(null, [5, 6])], 'linearizable'],
    ['two concurrent writes may land in either order', [put('1', [0, 10]), put('2', [0, 10]), get('1', [11, 12])], 'linearizable'],
    ['a cas from the current value', [put('1', [0, 1]), cas('1', '2', [2, 3]), get('2', [4, 5])], 'linearizable'],
    ['a cas that claims success from the wrong value', [put('1', [0, 1]), cas('5', '2', [2, 3])], 'not-linearizable'],
    ['a cas from nil on an absent key', [cas(null, '1', [0, 1]), get('1', [2, 3])], 'linearizable'],
  ])('%s', (_name, history, expected) => {
    expect(verdictOf(history)).toBe(expected);
  });

  it('lets an indeterminate write take effect long after its client gave up', () => {
    const history = [put('1', [0, 1]), put('2', [2, 3], 'indeterminate'), get('1', [4, 5]), get('1', [6, 7]), get('2', [50, 51]), get('2', [52, 53])];
    expect(verdictOf(history)).toBe('linearizable');
  });

  it('lets an indeterminate write never take effect', () => {
    const history = [put('1', [0, 1]), put('2', [2, never], 'indeterminate'), get('1', [4, 5]), get('1', [100, 101])];
    expect(verdictOf(history)).toBe('linearizable');
  });

  it('does not let an indeterminate write take effect before it was invoked', () => {
    expect(verdictOf([get('2', [0, 1]), put('2', [2, never], 'indeterminate')])).toBe('not-linearizable');
  });

  it('does not let an indeterminate write be undone once seen', () => {
    const history = [put('1', [0, 1]), put('2', [2, never], 'indeterminate'), get('2', [3, 4]), get('1', [5, 6])];
    expect(verdictOf(history)).toBe('not-linearizable');
  });

  it('does not let an indeterminate write take effect twice', () => {
    const history = [put('2', [0, never], 'indeterminate'), get('2', [1, 2]), put('1', [3, 4]), get('2', [5, 6])];
    expect(verdictOf(history)).toBe('not-linearizable');
  });

  it('lets an indeterminate cas swap only where the register held its expected value', () => {
    expect(verdictOf([put('1', [0, 1]), cas('1', '2', [2, never], 'indeterminate'), get('2', [3, 4])])).toBe('linearizable');
    expect(verdictOf([put('1', [0, 1]), cas('5', '2', [2, never], 'indeterminate'), get('2', [3, 4])])).toBe('not-linearizable');
  });

  it('does not let two concurrent cas from the same value both succeed', () => {
    const both = [put('0', [0, 1]), cas('0', '1', [2, 10]), cas('0', '2', [3, 11])];
    expect(verdictOf(both)).toBe('not-linearizable');
    const oneFails = [put('0', [0, 1]), cas('0', '1', [2, 10]), cas('0', '2', [3, 11], 'fail'), get('1', [12, 13])];
    expect(verdictOf(oneFails)).toBe('linearizable');
  });

  it('chains concurrent cas in the only order that works', () => {
    const history = [put('0', [0, 1]), cas('1', '2', [2, 10]), cas('2', '3', [2, 10]), cas('0', '1', [2, 10]), get('3', [11, 12])];
    const result = checkLinearizability(history, limits);
    expect(result.verdict).toBe('linearizable');
    const check = result.perKey[0]!;
    expectValidWitness(history, check);
    if (check.verdict === 'linearizable') {
      expect(check.linearization.map(({ index }) => index)).toEqual([0, 3, 1, 2, 4]);
    }
  });

  it('treats a failed cas as a read that saw a different value', () => {
    expect(verdictOf([put('1', [0, 1]), cas('1', '2', [2, 3], 'fail')])).toBe('not-linearizable');
    expect(verdictOf([put('1', [0, 1]), cas('5', '2', [2, 3], 'fail'), get('1', [4, 5])])).toBe('linearizable');
    expect(verdictOf([cas(null, '2', [0, 1], 'fail')])).toBe('not-linearizable');
  });

  it('lets a failed cas decide the order of concurrent writes', () => {
    const writes = [put('1', [0, 10]), put('2', [0, 10])];
    expect(verdictOf([...writes, get('1', [20, 21])])).toBe('linearizable');
    // The compare failed, so at that point the register held 2, not 1: 1 came first.
    expect(verdictOf([...writes, cas('1', '3', [11, 12], 'fail'), get('1', [20, 21])])).toBe('not-linearizable');
  });

  it('drops aborted operations and indeterminate reads, which constrain nothing', () => {
    const history = [put('9', [0, 1], 'aborted'), getWithout('aborted', [2, 3]), getWithout('indeterminate', [4, never]), get(null, [5, 6])];
    const result = checkLinearizability(history, limits);
    expect(result.verdict).toBe('linearizable');
    expect(result.perKey[0]?.stats).toMatchObject({ operationsChecked: 1, operationsDropped: 3 });
    expect(verdictOf([put('9', [0, 1], 'aborted'), get('9', [2, 3])])).toBe('not-linearizable');
    expect(verdictOf([cas(null, '9', [0, 1], 'aborted'), get('9', [2, 3])])).toBe('not-linearizable');
  });
});

describe('checkLinearizability: keys and reports', () => {
  it('checks each key on its own and reports them in order of first appearance', () => {
    const history = [put('1', [0, 1], 'ok', 'y'), put('1', [0, 1], 'ok', 'x'), get('1', [2, 3], 'y'), get(null, [2, 3], 'x'), get('1', [4, 5], 'z')];
    const result = checkLinearizability(history, limits);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.perKey.map(({ key, verdict }) => [key, verdict])).toEqual([
      ['y', 'linearizable'],
      ['x', 'not-linearizable'],
      ['z', 'not-linearizable'],
    ]);
  });

  it('is linearizable only when every key is', () => {
    const history = [put('1', [0, 1], 'ok', 'a'), get('1', [2, 3], 'a'), put('2', [0, 1], 'ok', 'b'), get('2', [2, 3], 'b')];
    const result = checkLinearizability(history, limits);
    expect(result.verdict).toBe('linearizable');
    for (const check of result.perKey) expectValidWitness(history, check);
  });

  it('reports where the search got stuck on a stale read', () => {
    const history = [put('1', [0, 1]), put('2', [2, 3]), get('2', [4, 5]), put('3', [6, 20]), get('1', [7, 8])];
    const check = checkLinearizability(history, limits).perKey[0]!;
    if (check.verdict !== 'not-linearizable') throw new Error(`expected a violation, got ${check.verdict}`);
    const { violation } = check;
    // The furthest it got: everything but the read, which neither 2 nor 3 lets through.
    expect(violation.blocked.index).toBe(4);
    expect(violation.longestPrefix.map(({ index }) => index)).toEqual([0, 1, 2, 3]);
    expect(violation.stateAfterPrefix).toBe('3');
    expect(violation.pending.map(({ index }) => index)).toEqual([4]);
    expect(expectLegalSequence(history, violation.longestPrefix)).toBe('3');
    const text = describeViolation(check.key, violation);
    expect(text).toContain('key "x" is not linearizable');
    expect(text).toContain(`#4 p${history[4]!.process} get "x" -> "1" ok [7, 8]`);
  });

  it('refuses a history whose operation completes before it was invoked', () => {
    const bad = { ...put('1', [0, 1]), invokeTime: 5 };
    expect(() => checkLinearizability([get(null, [0, 1]), bad], limits)).toThrowError(InvalidHistoryError);
    expect(() => checkLinearizability([get(null, [0, 1]), bad], limits)).toThrowError(/history\[1\]: completeTime 1 is before invokeTime 5/);
  });
});

describe('checkLinearizability: against a brute-force oracle', () => {
  /** A random history of up to `sizeMax` operations on one key over three values. */
  function randomHistory(random: () => number, sizeMax: number, indeterminateShare: number): Operation[] {
    const int = (n: number): number => Math.floor(random() * n);
    const history: Operation[] = [];
    for (let i = 0, size = 2 + int(sizeMax - 1); i < size; i += 1) {
      const invokeTime = int(12);
      const span: Span = [invokeTime, invokeTime + int(6)];
      const value = String(int(3));
      const roll = random();
      const outcome = roll < indeterminateShare ? 'indeterminate' : roll < indeterminateShare + 0.05 ? 'aborted' : 'ok';
      const choice = int(3);
      if (choice === 0) history.push(put(value, span, outcome));
      else if (choice === 1) history.push(cas(random() < 0.2 ? null : String(int(3)), value, span, outcome === 'ok' && random() < 0.3 ? 'fail' : outcome));
      else history.push(outcome === 'ok' ? get(random() < 0.2 ? null : value, span) : getWithout(outcome, span));
    }
    return history;
  }

  it.each([
    { profile: 'mostly determinate', seed: 20240601, sizeMax: 7, indeterminateShare: 0.15 },
    { profile: 'mostly indeterminate', seed: 77, sizeMax: 6, indeterminateShare: 0.6 },
  ])('agrees on 500 random small histories, $profile', ({ seed, sizeMax, indeterminateShare }) => {
    const random = rng(seed);
    const verdicts = { linearizable: 0, 'not-linearizable': 0 };
    for (let round = 0; round < 500; round += 1) {
      const history = randomHistory(random, sizeMax, indeterminateShare);
      const expected = bruteForceLinearizable(history) ? 'linearizable' : 'not-linearizable';
      const result = checkLinearizability(history, limits);
      expect(result.verdict, JSON.stringify(history)).toBe(expected);
      if (result.verdict === 'linearizable') expectValidWitness(history, result.perKey[0]!);
      verdicts[expected] += 1;
    }
    // Both verdicts must be well represented, or the comparison proves little.
    expect(verdicts.linearizable).toBeGreaterThan(50);
    expect(verdicts['not-linearizable']).toBeGreaterThan(50);
  });
});

describe('checkLinearizability: limits and size', () => {
  // Every write is concurrent with every other and the final read can never be satisfied, so
  // the search must visit every subset of the writes: 2^24 sets.
  const pathological = [...Array.from({ length: 24 }, (_, i) => put(String(i), [0, 100])), get('never written', [200, 201])];

  it('gives up with unknown when the time limit runs out', () => {
    const startMs = performance.now();
    const result = checkLinearizability(pathological, { timeLimitMs: 50 });
    const elapsedMs = performance.now() - startMs;
    expect(result.verdict).toBe('unknown');
    expect(result.perKey[0]).toMatchObject({ verdict: 'unknown', reason: 'time-limit' });
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it('reads the injected clock, so a fake one decides when time is up', () => {
    let nowMs = 0;
    const result = checkLinearizability(pathological, { timeLimitMs: 3, now: () => nowMs++ });
    const check = result.perKey[0]!;
    expect(check).toMatchObject({ verdict: 'unknown', reason: 'time-limit' });
    expect(check.stats.searchSteps).toBeGreaterThan(0);
    expect(check.stats.searchSteps).toBeLessThan(20_000);
  });

  it('marks keys it had no time left for as unknown without searching them', () => {
    let nowMs = 0;
    const history = [...pathological, put('1', [0, 1], 'ok', 'later'), get('1', [2, 3], 'later')];
    const result = checkLinearizability(history, { timeLimitMs: 3, now: () => nowMs++ });
    expect(result.perKey.map(({ key, verdict }) => [key, verdict])).toEqual([
      ['x', 'unknown'],
      ['later', 'unknown'],
    ]);
    expect(result.perKey[1]?.stats.searchSteps).toBe(0);
  });

  it('still reports a violation on one key when another is unknown', () => {
    let nowMs = 0;
    const history = [put('1', [0, 1], 'ok', 'first'), get('2', [2, 3], 'first'), ...pathological];
    const result = checkLinearizability(history, { timeLimitMs: 5, now: () => nowMs++ });
    expect(result.perKey.map(({ verdict }) => verdict)).toEqual(['not-linearizable', 'unknown']);
    expect(result.verdict).toBe('not-linearizable');
  });

  it('gives up with unknown when the memo outgrows its memory budget', () => {
    const result = checkLinearizability(pathological, { timeLimitMs: 10_000, memoBytesMax: 64 * 1024 });
    expect(result.perKey[0]).toMatchObject({ verdict: 'unknown', reason: 'memo-limit' });
    expect(result.perKey[0]!.stats.memoEntries).toBeLessThanOrEqual((64 * 1024) / 36);
  });

  it('decides 1000 operations on one key, with indeterminate writes, well within the time limit', () => {
    const history = generateLinearizableHistory(rng(7), { processes: 8, operations: 1000, values: 5, indeterminateShare: 0.06 });
    expect(history.filter((op) => op.outcome === 'indeterminate').length).toBeGreaterThan(20);
    const result = checkLinearizability(history, limits);
    expect(result.verdict).toBe('linearizable');
    expect(result.elapsedMs).toBeLessThan(2_000);
    expectValidWitness(history, result.perKey[0]!);
  });

  it('finds a read of a value nobody wrote at the end of 1000 operations', () => {
    const history = generateLinearizableHistory(rng(7), { processes: 8, operations: 1000, values: 5, indeterminateShare: 0 });
    const readIndex = history.findLastIndex((op) => op.kind === 'get');
    const corrupted = history.map((op, i) => (i === readIndex ? { ...op, value: 'phantom' } : op));
    expect(checkLinearizability(history, limits).verdict).toBe('linearizable');
    const check = checkLinearizability(corrupted, limits).perKey[0]!;
    if (check.verdict !== 'not-linearizable') throw new Error(`expected a violation, got ${check.verdict}`);
    expect(check.violation.blocked.index).toBe(readIndex);
    expect(check.violation.longestPrefix.length).toBeGreaterThan(900);
  });

  it('finds a stale read hidden among 1000 operations with indeterminate writes', () => {
    const history = generateLinearizableHistory(rng(11), { processes: 5, operations: 1000, values: 1_000_000, indeterminateShare: 0.06 });
    // The first value written, written once, read again at the very end: stale for sure.
    const firstWrite = history.find((op): op is PutOperation => op.kind === 'put' && op.outcome === 'ok')!;
    expect(history.filter((op) => op.kind !== 'get' && op.value === firstWrite.value)).toHaveLength(1);
    const readIndex = history.findLastIndex((op) => op.kind === 'get' && op.outcome === 'ok' && op.value !== firstWrite.value);
    const stale = history.map((op, i) => (i === readIndex ? { ...op, value: firstWrite.value } : op));
    expect(checkLinearizability(history, limits).verdict).toBe('linearizable');
    expect(checkLinearizability(stale, limits).verdict).toBe('not-linearizable');
  });
});
