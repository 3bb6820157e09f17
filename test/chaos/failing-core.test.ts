import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkLinearizability,
  isClosedSubHistory,
  parseJepsenLog,
  shrinkViolation,
  type FailingCore,
  type KeyCheck,
  type Operation,
} from '../../chaos/checker/index.js';

type Timing = { process: number; start: number; end: number };
const put = (value: string, t: Timing, outcome: 'ok' | 'indeterminate' = 'ok'): Operation => ({ kind: 'put', key: 'k', process: t.process, invokeTime: t.start, completeTime: outcome === 'ok' ? t.end : Infinity, value, outcome });
const get = (value: string | null, t: Timing): Operation => ({ kind: 'get', key: 'k', process: t.process, invokeTime: t.start, completeTime: t.end, value, outcome: 'ok' });
const cas = (expected: string | null, value: string, outcome: 'ok' | 'fail', t: Timing): Operation => ({ kind: 'cas', key: 'k', process: t.process, invokeTime: t.start, completeTime: t.end, expected, value, outcome });
const at = (process: number, start: number, end: number): Timing => ({ process, start, end });

function violationOf(history: readonly Operation[], key = 'k'): Extract<KeyCheck, { verdict: 'not-linearizable' }> {
  const check = checkLinearizability(history, { timeLimitMs: 10_000 }).perKey.find((entry) => entry.key === key);
  if (check?.verdict !== 'not-linearizable') throw new Error(`expected ${key} not linearizable, got ${check?.verdict}`);
  return check;
}

function shrink(history: readonly Operation[], timeLimitMs = 10_000): FailingCore {
  return shrinkViolation(history, violationOf(history), { timeLimitMs });
}

/** The core's own properties: it fails by itself, is part of the history, and proves the history fails. */
function expectSound(history: readonly Operation[], core: FailingCore): void {
  expect(checkLinearizability(core.operations.map((op) => op.operation), { timeLimitMs: 10_000 }).verdict).toBe('not-linearizable');
  for (const { index, operation } of core.operations) expect(history[index]).toBe(operation);
  expect(isClosedSubHistory(history, core.operations)).toBe(true);
}

describe('shrinkViolation', () => {
  it('reduces a stale read among unrelated operations to the read and the two writes it straddles', () => {
    const history = [
      put('1', at(0, 0, 10)),
      get('1', at(1, 12, 14)),
      put('2', at(0, 20, 30)),
      get('2', at(2, 31, 33)),
      get('1', at(1, 40, 45)), // stale: 2 overwrote 1 before this read began
      put('3', at(2, 50, 55)),
      get('3', at(0, 60, 61)),
    ];
    const core = shrink(history);
    expect(core.operations.map((op) => op.index)).toEqual([0, 2, 4]);
    expect(core.blocked.index).toBe(4);
    expect(core.minimal).toBe(true);
    expectSound(history, core);
    expect(core.explanation).toContain('The read of "k" at 0.040 s (#4, p1) returned "1"');
    expect(core.explanation).toContain('the last write to complete before it, #2, wrote "2"');
    expect(core.explanation).toContain('no write of "1" can be ordered between them');
  });

  it('keeps the write a read observed: a read alone, without its write, would prove nothing', () => {
    // Deleting put(1) would leave a read of a value nobody wrote: failing, but not a witness.
    const history = [put('1', at(0, 0, 10)), put('2', at(1, 20, 30)), get('1', at(2, 40, 45)), get('2', at(0, 50, 51))];
    const core = shrink(history);
    expect(core.operations.map((op) => op.index)).toEqual([0, 1, 2]);
    expectSound(history, core);
  });

  it('keeps every write of an observed value, and the writes a swap depends on', () => {
    const history = [
      put('a', at(0, 0, 5)),
      cas('a', 'b', 'ok', at(1, 10, 15)),
      put('c', at(2, 20, 25)),
      get('b', at(0, 30, 35)), // stale: c overwrote b
    ];
    const core = shrink(history);
    expect(core.operations.map((op) => op.index)).toEqual([0, 1, 2, 3]);
    expectSound(history, core);
  });

  it('keeps every write when a failed compare is part of the set', () => {
    const history = [put('1', at(0, 0, 5)), put('2', at(1, 10, 15)), cas('2', '3', 'fail', at(2, 20, 25))];
    const core = shrink(history);
    expect(core.operations.map((op) => op.index)).toEqual([0, 1, 2]);
    expectSound(history, core);
    expect(core.explanation).toContain('No order of these operations respects both real time');
  });

  it('names a read of a value nobody wrote, and a read of nil after a write completed', () => {
    const never = [put('1', at(0, 0, 5)), get('9', at(1, 10, 12))];
    const neverCore = shrink(never);
    expect(neverCore.operations.map((op) => op.index)).toEqual([1]);
    expect(neverCore.explanation).toContain('returned "9", but no operation wrote "9"');

    const absent = [put('1', at(0, 0, 5)), get(null, at(1, 10, 12))];
    const absentCore = shrink(absent);
    expect(absentCore.operations.map((op) => op.index)).toEqual([0, 1]);
    expect(absentCore.explanation).toContain('returned nil (absent), but the write of "1" (#0) completed at 0.005 s');
  });

  it('names two acknowledged swaps from the same value, which only one can have seen', () => {
    const history = [put('a', at(0, 0, 5)), cas('a', 'b', 'ok', at(1, 10, 20)), cas('a', 'c', 'ok', at(2, 12, 22)), get('c', at(0, 30, 31))];
    const core = shrink(history);
    expect(core.operations.map((op) => op.index)).toEqual([0, 1, 2]);
    expectSound(history, core);
    expect(core.explanation).toMatch(/Both #[12] \(p[12], at 0\.01\d s\) and #[12] \(p[12], at 0\.01\d s\) swapped from "a", which only #0 wrote/);
  });

  it('quotes the end of a long value', () => {
    const long = `${'x'.repeat(50)} tail`;
    const history = [put(long, at(0, 0, 5)), put('2', at(1, 10, 15)), get(long, at(2, 20, 25))];
    expect(shrink(history).explanation).toContain(`returned "…${long.slice(-40)}"`);
  });

  it('leaves out operations that constrain nothing, and indeterminate writes that do not matter', () => {
    const history: Operation[] = [
      put('1', at(0, 0, 10)),
      { kind: 'get', key: 'k', process: 3, invokeTime: 1, completeTime: 2, outcome: 'aborted' },
      put('x', at(4, 3, 0), 'indeterminate'),
      put('2', at(1, 20, 30)),
      get('1', at(2, 40, 45)),
    ];
    const core = shrink(history);
    expect(core.operations.map((op) => op.index)).toEqual([0, 3, 4]);
    expectSound(history, core);
  });

  it('out of time: returns a failing closed set and says it is not proven minimal', () => {
    const history = [put('1', at(0, 0, 10)), get('1', at(1, 12, 14)), put('2', at(0, 20, 30)), get('1', at(1, 40, 45))];
    let clock = 0;
    const core = shrinkViolation(history, violationOf(history), { timeLimitMs: 5, now: () => (clock += 10) });
    expect(core.minimal).toBe(false);
    expect(core.explanation).toContain('small, not proven minimal');
    expectSound(history, core);
  });

  it('works per key: other keys are never part of the set', () => {
    const other = (op: Operation): Operation => ({ ...op, key: 'other' });
    const history = [other(put('1', at(3, 0, 1))), put('1', at(0, 0, 10)), put('2', at(1, 20, 30)), other(get('1', at(3, 31, 32))), get('1', at(2, 40, 45))];
    const core = shrinkViolation(history, violationOf(history), { timeLimitMs: 10_000 });
    expect(core.key).toBe('k');
    expect(core.operations.map((op) => op.index)).toEqual([1, 2, 4]);
  });
});

// The fixtures live beside the project: ../shared/fixtures/jepsen-etcd from its root.
const fixturesDir = fileURLToPath(new URL('../../../shared/fixtures/jepsen-etcd/', import.meta.url));
const expectedPath = join(fixturesDir, 'expected.tsv');

describe('shrinkViolation on the Jepsen etcd fixtures', () => {
  it('are present', () => {
    expect(existsSync(expectedPath), `Jepsen fixtures not found: expected ${expectedPath}`).toBe(true);
  });

  const rows = existsSync(expectedPath)
    ? readFileSync(expectedPath, 'utf8').trimEnd().split('\n').slice(1).map((row) => row.split('\t') as [string, string])
    : [];
  const failing = rows.filter(([, linearizable]) => linearizable === 'false').map(([file]) => file);

  it('cover the 79 histories known not linearizable', () => {
    expect(failing).toHaveLength(79);
  });

  it.each(failing)('%s: a smaller, closed set that fails by itself, 1-minimal', (file) => {
    const history = parseJepsenLog(readFileSync(join(fixturesDir, file), 'utf8'), { source: file, key: 'k' });
    const core = shrinkViolation(history, violationOf(history), { timeLimitMs: 10_000, formatTime: (line) => `line ${line}` });
    expectSound(history, core);
    expect(core.minimal).toBe(true);
    expect(core.operations.length).toBeLessThan(history.length);
    expect(core.explanation).toMatch(/^\d+ operations? of key "k" that cannot be linearized\. /);
  });
});
