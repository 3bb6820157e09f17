import { describe, expect, it } from 'vitest';
import { checkTxnLinearizability, describeTxnViolation, nextTxnState, txnComponents, type TxnOperation, type TxnState } from '../../chaos/checker/index.js';

type Span = readonly [invokeTime: number, completeTime: number];
let processCounter = 0;

/** A transfer: if both keys are at the versions given, write both values. */
function transfer(
  span: Span,
  from: [key: string, version: number, value: string],
  to: [key: string, version: number, value: string],
  outcome: TxnOperation['outcome'] = 'ok',
): TxnOperation {
  return {
    process: processCounter++,
    invokeTime: span[0],
    completeTime: span[1],
    compare: [
      { key: from[0], target: 'version', expected: from[1] },
      { key: to[0], target: 'version', expected: to[1] },
    ],
    writes: [
      { key: from[0], value: from[2] },
      { key: to[0], value: to[2] },
    ],
    reads: [],
    outcome,
  };
}

/** A read-only transaction that saw these values and versions. */
function readAll(span: Span, seen: Record<string, [value: string | null, version: number]>): TxnOperation {
  return {
    process: processCounter++,
    invokeTime: span[0],
    completeTime: span[1],
    compare: [],
    writes: [],
    reads: Object.entries(seen).map(([key, [value, version]]) => ({ key, value, version })),
    outcome: 'ok',
  };
}

/** The accounts' creation: if every key is absent, write them all. */
function init(span: Span, values: Record<string, string>, outcome: TxnOperation['outcome'] = 'ok'): TxnOperation {
  return {
    process: processCounter++,
    invokeTime: span[0],
    completeTime: span[1],
    compare: Object.keys(values).map((key) => ({ key, target: 'version' as const, expected: 0 })),
    writes: Object.entries(values).map(([key, value]) => ({ key, value })),
    reads: [],
    outcome,
  };
}

const options = { timeLimitMs: 10_000 };
const verdictOf = (history: readonly TxnOperation[]): string => checkTxnLinearizability(history, options).verdict;

/** An oracle for small histories: every subset of indeterminate ops and every real-time order. */
function bruteForce(history: readonly TxnOperation[]): boolean {
  const relevant = history.filter((op) => op.outcome !== 'aborted');
  const end = (op: TxnOperation): number => (op.outcome === 'indeterminate' ? Infinity : op.completeTime);
  const search = (remaining: readonly TxnOperation[], state: TxnState): boolean => {
    if (remaining.every((op) => op.outcome === 'indeterminate')) return true;
    return remaining.some((op, i) => {
      const others = remaining.filter((_, j) => j !== i);
      if (others.some((other) => end(other) < op.invokeTime)) return false;
      const after = nextTxnState(state, op);
      return after !== undefined && search(others, after);
    });
  };
  return search(relevant, new Map());
}

describe('nextTxnState', () => {
  it('applies the writes when every compare holds, counting versions', () => {
    const state = nextTxnState(new Map(), init([0, 1], { a: '5', b: '5' }));
    expect(state).toEqual(new Map([['a', { value: '5', version: 1 }], ['b', { value: '5', version: 1 }]]));
    const after = nextTxnState(state as TxnState, transfer([2, 3], ['a', 1, '4'], ['b', 1, '6']));
    expect(after?.get('a')).toEqual({ value: '4', version: 2 });
  });

  it('refuses an ok whose compares fail, and a fail whose compares hold', () => {
    expect(nextTxnState(new Map(), transfer([0, 1], ['a', 1, '4'], ['b', 1, '6']))).toBeUndefined();
    expect(nextTxnState(new Map(), init([0, 1], { a: '1' }, 'fail'))).toBeUndefined();
  });
});

describe('checkTxnLinearizability', () => {
  it('accepts sequential transfers and reads that see them whole', () => {
    const history = [
      init([0, 1], { a: '5 i', b: '5 i' }),
      transfer([2, 3], ['a', 1, '4 t1'], ['b', 1, '6 t1']),
      readAll([4, 5], { a: ['4 t1', 2], b: ['6 t1', 2] }),
      transfer([6, 7], ['b', 2, '5 t2'], ['a', 2, '5 t2']),
      readAll([8, 9], { a: ['5 t2', 3], b: ['5 t2', 3] }),
    ];
    expect(verdictOf(history)).toBe('linearizable');
  });

  it('accepts concurrent transfers whose order is fixed only by what a read saw', () => {
    const history = [
      init([0, 1], { a: '5 i', b: '5 i', c: '5 i' }),
      transfer([2, 10], ['a', 1, '4 t1'], ['b', 1, '6 t1']),
      transfer([2, 10], ['b', 2, '5 t2'], ['c', 1, '6 t2']),
      readAll([3, 9], { a: ['4 t1', 2], b: ['6 t1', 2], c: ['5 i', 1] }),
    ];
    expect(verdictOf(history)).toBe('linearizable');
  });

  it('refuses a torn read: one key after a transfer, the other before it (a non-atomic apply)', () => {
    const history = [
      init([0, 1], { a: '5 i', b: '5 i' }),
      transfer([2, 3], ['a', 1, '4 t1'], ['b', 1, '6 t1']),
      readAll([4, 5], { a: ['4 t1', 2], b: ['5 i', 1] }),
    ];
    const result = checkTxnLinearizability(history, options);
    expect(result.verdict).toBe('not-linearizable');
    const component = result.components[0];
    expect(component?.violation?.blocked).toBe(2);
    expect(describeTxnViolation(history, component!)).toContain('stuck at the completion of:\n    #2 p');
  });

  it('refuses a torn read even when the transfer is concurrent with it', () => {
    const history = [init([0, 1], { a: '5 i', b: '5 i' }), transfer([2, 10], ['a', 1, '4 t1'], ['b', 1, '6 t1']), readAll([3, 9], { a: ['4 t1', 2], b: ['5 i', 1] })];
    expect(verdictOf(history)).toBe('not-linearizable');
  });

  it('refuses two transfers that both succeeded on the same versions (a lost update)', () => {
    const history = [init([0, 1], { a: '5 i', b: '5 i' }), transfer([2, 5], ['a', 1, '4 t1'], ['b', 1, '6 t1']), transfer([2, 5], ['a', 1, '4 t2'], ['b', 1, '6 t2'])];
    expect(verdictOf(history)).toBe('not-linearizable');
  });

  it('refuses a read of a state from before a completed transfer (a stale read)', () => {
    const history = [init([0, 1], { a: '5 i', b: '5 i' }), transfer([2, 3], ['a', 1, '4 t1'], ['b', 1, '6 t1']), readAll([4, 5], { a: ['5 i', 1], b: ['5 i', 1] })];
    expect(verdictOf(history)).toBe('not-linearizable');
  });

  it('lets an indeterminate transfer take effect or not, as the reads need', () => {
    const base = [init([0, 1], { a: '5 i', b: '5 i' }), transfer([2, 3], ['a', 1, '4 t1'], ['b', 1, '6 t1'], 'indeterminate')];
    expect(verdictOf([...base, readAll([4, 5], { a: ['4 t1', 2], b: ['6 t1', 2] })])).toBe('linearizable');
    expect(verdictOf([...base, readAll([4, 5], { a: ['5 i', 1], b: ['5 i', 1] })])).toBe('linearizable');
    // Even an indeterminate transfer is atomic: half of it is never visible.
    expect(verdictOf([...base, readAll([4, 5], { a: ['4 t1', 2], b: ['5 i', 1] })])).toBe('not-linearizable');
  });

  it('takes a failed transfer as a read that the versions were not both as compared', () => {
    const history = [init([0, 1], { a: '5 i', b: '5 i' }), transfer([2, 3], ['a', 1, '4 t1'], ['b', 1, '6 t1'], 'fail')];
    expect(verdictOf(history)).toBe('not-linearizable');
    expect(verdictOf([init([0, 1], { a: '5 i', b: '5 i' }), transfer([2, 3], ['a', 7, '4 t1'], ['b', 1, '6 t1'], 'fail')])).toBe('linearizable');
  });

  it('checks keys touched together as one component, and independent keys apart', () => {
    const history = [
      init([0, 1], { a: '1', b: '1' }),
      init([0, 1], { x: '1' }),
      transfer([2, 3], ['b', 1, '0'], ['c', 0, '1']),
      readAll([4, 5], { x: ['1', 1] }),
      { ...init([0, 1], { y: '1' }), outcome: 'aborted' as const },
    ];
    expect(txnComponents(history).map((c) => c.keys)).toEqual([['a', 'b', 'c'], ['x']]);
    const result = checkTxnLinearizability(history, options);
    expect(result.verdict).toBe('linearizable');
    expect(result.components.map((c) => c.operations)).toEqual([2, 2]);
  });

  it('agrees with a brute-force oracle on random small histories', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let disagreements = 0;
    let nonLinearizable = 0;
    for (let round = 0; round < 300; round++) {
      const history: TxnOperation[] = [init([0, 1], { a: '0', b: '0' })];
      for (let i = 0; i < 5; i++) {
        const start = 2 + random(8);
        const span: Span = [start, start + 1 + random(6)];
        const roll = random(3);
        if (roll === 0) history.push(readAll(span, { a: [String(random(3)), 1 + random(3)], b: [String(random(3)), 1 + random(3)] }));
        else history.push(transfer(span, ['a', 1 + random(3), String(random(3))], ['b', 1 + random(3), String(random(3))], (['ok', 'fail', 'indeterminate'] as const)[random(3)]));
      }
      const expected = bruteForce(history);
      if (!expected) nonLinearizable++;
      if ((verdictOf(history) === 'linearizable') !== expected) disagreements++;
    }
    expect(disagreements).toBe(0);
    // The random histories exercise both verdicts.
    expect(nonLinearizable).toBeGreaterThan(10);
    expect(nonLinearizable).toBeLessThan(300);
  });

  it('gives up as unknown when out of time', () => {
    let clock = 0;
    const result = checkTxnLinearizability([init([0, 1], { a: '1' })], { timeLimitMs: 5, now: () => (clock += 10) });
    expect(result.verdict).toBe('unknown');
  });
});
