import { describe, expect, it } from 'vitest';
import {
  findLostAppends,
  findLostRegisterWrites,
  InvalidHistoryError,
  type CasOperation,
  type GetOperation,
  type Operation,
  type PutOperation,
  type RegisterValue,
} from '../../chaos/checker/index.js';

type Span = readonly [invokeTime: number, completeTime: number];
let processCounter = 0;
const timing = ([invokeTime, completeTime]: Span, key: string) => ({ process: processCounter++, key, invokeTime, completeTime });

function put(value: string, span: Span, outcome: PutOperation['outcome'] = 'ok', key = 'x'): PutOperation {
  return { ...timing(span, key), kind: 'put', value, outcome };
}
function cas(expected: RegisterValue, value: string, span: Span, outcome: CasOperation['outcome'] = 'ok', key = 'x'): CasOperation {
  return { ...timing(span, key), kind: 'cas', expected, value, outcome };
}
function get(value: RegisterValue, span: Span, key = 'x'): GetOperation {
  return { ...timing(span, key), kind: 'get', outcome: 'ok', value };
}

const finalRead = (entries: Record<string, RegisterValue>): Map<string, RegisterValue> => new Map(Object.entries(entries));
const statusOf = (history: Operation[], final: RegisterValue): string => findLostRegisterWrites(history, finalRead({ x: final })).perKey[0]!.status;

describe('findLostRegisterWrites', () => {
  it('finds nothing lost when the final value is the last acknowledged write', () => {
    const report = findLostRegisterWrites([put('1', [0, 1]), put('2', [2, 3])], finalRead({ x: '2' }));
    expect(report.lostCount).toBe(0);
    expect(report.perKey).toEqual([{ status: 'intact', key: 'x', finalValue: '2' }]);
  });

  it('counts a write lost when the register went back to an older value', () => {
    const history = [put('1', [0, 1]), put('2', [2, 3])];
    const report = findLostRegisterWrites(history, finalRead({ x: '1' }));
    expect(report.lostCount).toBe(1);
    expect(report.perKey).toEqual([{ status: 'lost', key: 'x', finalValue: '1', suspects: [{ index: 1, operation: history[1] }] }]);
  });

  it('counts a write lost when the key is absent after it was acknowledged', () => {
    expect(statusOf([put('1', [0, 1])], null)).toBe('lost');
  });

  it('accepts either of two concurrent last writes, and suspects both when neither is there', () => {
    const history = [put('0', [0, 1]), put('1', [2, 10]), put('2', [5, 15])];
    expect(statusOf(history, '1')).toBe('intact');
    expect(statusOf(history, '2')).toBe('intact');
    const report = findLostRegisterWrites(history, finalRead({ x: '0' }));
    expect(report.lostCount).toBe(1);
    const entry = report.perKey[0]!;
    expect(entry.status === 'lost' && entry.suspects.map(({ index }) => index)).toEqual([1, 2]);
  });

  it('treats writes that touch (complete == invoke) as concurrent', () => {
    expect(statusOf([put('1', [0, 5]), put('2', [5, 6])], '1')).toBe('intact');
    expect(statusOf([put('1', [0, 4]), put('2', [5, 6])], '1')).toBe('lost');
  });

  it('lets an indeterminate write explain the final value, even one invoked before the last acknowledged write', () => {
    expect(statusOf([put('1', [0, 1]), put('3', [2, Infinity], 'indeterminate')], '3')).toBe('intact');
    expect(statusOf([put('3', [0, Infinity], 'indeterminate'), put('1', [5, 6])], '3')).toBe('intact');
    expect(statusOf([put('1', [0, 1]), cas('1', '3', [2, 3], 'indeterminate')], '3')).toBe('intact');
  });

  it('does not let an aborted write or a failed cas explain the final value', () => {
    expect(statusOf([put('1', [0, 1]), put('3', [2, 3], 'aborted')], '3')).toBe('lost');
    expect(statusOf([put('1', [0, 1]), cas('9', '3', [2, 3], 'fail')], '3')).toBe('lost');
  });

  it('counts a successful cas as a write', () => {
    const history = [put('1', [0, 1]), cas('1', '2', [2, 3])];
    expect(statusOf(history, '2')).toBe('intact');
    const entry = findLostRegisterWrites(history, finalRead({ x: '1' })).perKey[0]!;
    expect(entry.status === 'lost' && entry.suspects.map(({ operation }) => operation)).toEqual([history[1]]);
  });

  it('tells a repeated value apart by when it was written', () => {
    const history = [put('1', [0, 1]), put('2', [2, 3]), put('1', [4, 5])];
    expect(statusOf(history, '1')).toBe('intact');
    expect(statusOf(history, '2')).toBe('lost');
  });

  it('ignores reads: only writes can be lost', () => {
    expect(statusOf([put('1', [0, 1]), get('1', [2, 3]), get('7', [4, 5])], '1')).toBe('intact');
  });

  it('calls a value nobody could have written unexplained, not lost, when nothing was acknowledged', () => {
    expect(statusOf([], null)).toBe('intact');
    expect(statusOf([put('5', [0, Infinity], 'indeterminate')], null)).toBe('intact');
    expect(statusOf([put('5', [0, Infinity], 'indeterminate')], '5')).toBe('intact');
    const report = findLostRegisterWrites([put('5', [0, 1], 'aborted')], finalRead({ x: '7' }));
    expect(report.lostCount).toBe(0);
    expect(report.perKey).toEqual([{ status: 'unexplained', key: 'x', finalValue: '7' }]);
  });

  it('reports acknowledged writes without a final read, and skips keys that only have reads', () => {
    const history = [put('1', [0, 1], 'ok', 'a'), put('2', [0, 1], 'ok', 'a'), get(null, [0, 1], 'b'), put('1', [0, 1], 'ok', 'c')];
    const report = findLostRegisterWrites(history, finalRead({ c: '1' }));
    expect(report.lostCount).toBe(0);
    expect(report.perKey).toEqual([
      { status: 'no-final-read', key: 'a', acknowledgedWrites: 2 },
      { status: 'intact', key: 'c', finalValue: '1' },
    ]);
  });

  it('checks every key on its own and counts one lost write per key', () => {
    const history = [put('1', [0, 1], 'ok', 'a'), put('2', [2, 3], 'ok', 'a'), put('1', [0, 1], 'ok', 'b'), put('1', [0, 1], 'ok', 'c')];
    const report = findLostRegisterWrites(history, finalRead({ a: '1', b: null, c: '1', d: null }));
    expect(report.lostCount).toBe(2);
    expect(report.perKey.map(({ key, status }) => [key, status])).toEqual([
      ['a', 'lost'],
      ['b', 'lost'],
      ['c', 'intact'],
      ['d', 'intact'],
    ]);
  });
});

describe('findLostAppends', () => {
  const map = (entries: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(entries));

  it('finds nothing when every acknowledged value is there once', () => {
    const report = findLostAppends(map({ k: ['a', 'b'] }), map({ k: ['b', 'x', 'a'] }));
    expect(report).toEqual({ lostCount: 0, duplicatedCount: 0, perKey: [{ status: 'checked', key: 'k', missing: [], duplicated: [] }] });
  });

  it('reports every acknowledged value that is missing', () => {
    const report = findLostAppends(map({ k: ['a', 'b', 'c'], j: ['z'] }), map({ k: ['b'], j: [] }));
    expect(report.lostCount).toBe(3);
    expect(report.perKey).toEqual([
      { status: 'checked', key: 'k', missing: ['a', 'c'], duplicated: [] },
      { status: 'checked', key: 'j', missing: ['z'], duplicated: [] },
    ]);
  });

  it('reports a value present twice, acknowledged or not', () => {
    const report = findLostAppends(map({ k: ['a'] }), map({ k: ['a', 'u', 'a', 'u', 'a'] }));
    expect(report.lostCount).toBe(0);
    expect(report.duplicatedCount).toBe(2);
    expect(report.perKey[0]).toEqual({ status: 'checked', key: 'k', missing: [], duplicated: ['a', 'u'] });
  });

  it('reports a key with acknowledged appends but no final read', () => {
    const report = findLostAppends(map({ k: ['a'] }), map({}));
    expect(report.lostCount).toBe(0);
    expect(report.perKey).toEqual([{ status: 'no-final-read', key: 'k', acknowledgedAppends: 1 }]);
  });

  it('refuses acknowledged values that repeat, since a duplicate could not be seen', () => {
    expect(() => findLostAppends(map({ k: ['a', 'a'] }), map({ k: ['a'] }))).toThrowError(InvalidHistoryError);
    expect(() => findLostAppends(map({ k: ['a', 'a'] }), map({ k: ['a'] }))).toThrowError(/key "k" repeat \["a"\]/);
  });
});
