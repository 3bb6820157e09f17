import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkLinearizability,
  InvalidHistoryError,
  nextRegisterState,
  parseJepsenLog,
  registerCommandOf,
  type IndexedOperation,
  type Operation,
  type RegisterValue,
} from '../../chaos/checker/index.js';

// The fixtures live beside the project: ../shared/fixtures/jepsen-etcd from its root.
const fixturesDir = fileURLToPath(new URL('../../../shared/fixtures/jepsen-etcd/', import.meta.url));
const expectedPath = join(fixturesDir, 'expected.tsv');
const fixturesPresent = existsSync(expectedPath);
const perFixtureLimitMs = 10_000;

interface Expectation {
  readonly file: string;
  readonly linearizable: boolean;
}

function readExpectations(): Expectation[] {
  const [header, ...rows] = readFileSync(expectedPath, 'utf8').trimEnd().split('\n');
  expect(header).toBe('file\tlinearizable');
  return rows.map((row) => {
    const [file, verdict] = row.split('\t');
    if (file === undefined || (verdict !== 'true' && verdict !== 'false')) throw new Error(`bad expected.tsv row: ${row}`);
    return { file, linearizable: verdict === 'true' };
  });
}

const expectations = fixturesPresent ? readExpectations() : [];
const readFixture = (file: string): Operation[] => parseJepsenLog(readFileSync(join(fixturesDir, file), 'utf8'), { source: file });

/** Replays operations in the given order on the register model; returns the final state. */
function replay(order: readonly IndexedOperation[]): RegisterValue {
  let state: RegisterValue = null;
  let latestInvokeTime = -Infinity;
  for (const { index, operation } of order) {
    const end = operation.outcome === 'indeterminate' ? Infinity : operation.completeTime;
    if (end < latestInvokeTime) throw new Error(`#${index} placed after an operation invoked after it completed`);
    latestInvokeTime = Math.max(latestInvokeTime, operation.invokeTime);
    const command = registerCommandOf(operation);
    if (command === undefined) throw new Error(`#${index} constrains nothing and should not be placed`);
    const after = nextRegisterState(state, command);
    if (after === undefined) throw new Error(`#${index} is illegal in state ${state}`);
    state = after;
  }
  return state;
}

describe('Jepsen etcd fixtures', () => {
  let totalCheckMs = 0;
  afterAll(() => {
    console.info(`checked ${expectations.length} Jepsen etcd histories in ${totalCheckMs.toFixed(0)} ms`);
  });

  it('are at ../shared/fixtures/jepsen-etcd from the project root', () => {
    expect(fixturesPresent, `Jepsen fixtures not found: expected ${expectedPath}`).toBe(true);
  });

  it('give a verdict for 102 histories (23 linearizable), and none for the empty etcd_095.log', () => {
    expect(expectations).toHaveLength(102);
    expect(expectations.filter((e) => e.linearizable)).toHaveLength(23);
    const logs = readdirSync(fixturesDir).filter((file) => file.endsWith('.log'));
    const withoutVerdict = logs.filter((file) => !expectations.some((e) => e.file === file));
    expect(withoutVerdict).toEqual(['etcd_095.log']);
    const history = readFixture('etcd_095.log');
    expect(history).toEqual([]);
    expect(checkLinearizability(history, { timeLimitMs: perFixtureLimitMs }).verdict).toBe('linearizable');
  });

  it.each(expectations)('$file: linearizable is $linearizable', ({ file, linearizable }) => {
    const history = readFixture(file);
    expect(history.length).toBeGreaterThan(0);
    const result = checkLinearizability(history, { timeLimitMs: perFixtureLimitMs });
    totalCheckMs += result.elapsedMs;
    expect(result.verdict).toBe(linearizable ? 'linearizable' : 'not-linearizable');
    expect(result.elapsedMs).toBeLessThan(perFixtureLimitMs);
    const check = result.perKey[0]!;
    if (check.verdict === 'linearizable') {
      expect(check.linearization).toHaveLength(check.stats.operationsChecked);
      replay(check.linearization);
    } else if (check.verdict === 'not-linearizable') {
      const { violation } = check;
      expect(replay(violation.longestPrefix)).toBe(violation.stateAfterPrefix);
      expect(violation.pending.map(({ index }) => index)).toContain(violation.blocked.index);
    }
  });
});

describe('parseJepsenLog', () => {
  const line = (process: number, type: string, f: string, value: string): string => `INFO  jepsen.util - ${process}\t:${type}\t:${f}\t${value}`;

  it('reads invocations and completions into operations, with line numbers as times', () => {
    const log = [
      line(0, 'invoke', 'read', 'nil'),
      line(1, 'invoke', 'write', '3'),
      line(0, 'ok', 'read', 'nil'),
      line(1, 'ok', 'write', '3'),
      line(2, 'invoke', 'cas', '[3 4]'),
      line(3, 'invoke', 'cas', '[0 1]'),
      line(2, 'ok', 'cas', '[3 4]'),
      line(3, 'fail', 'cas', '[0 1]'),
      line(0, 'invoke', 'read', 'nil'),
      line(0, 'ok', 'read', '4'),
    ].join('\n');
    expect(parseJepsenLog(log, { key: 'r' })).toEqual([
      { process: 0, key: 'r', invokeTime: 1, completeTime: 3, kind: 'get', outcome: 'ok', value: null },
      { process: 1, key: 'r', invokeTime: 2, completeTime: 4, kind: 'put', value: '3', outcome: 'ok' },
      { process: 2, key: 'r', invokeTime: 5, completeTime: 7, kind: 'cas', expected: '3', value: '4', outcome: 'ok' },
      { process: 3, key: 'r', invokeTime: 6, completeTime: 8, kind: 'cas', expected: '0', value: '1', outcome: 'fail' },
      { process: 0, key: 'r', invokeTime: 9, completeTime: 10, kind: 'get', outcome: 'ok', value: '4' },
    ]);
  });

  it('makes :info and unanswered invocations indeterminate, and a timed-out read aborted', () => {
    const log = [
      line(0, 'invoke', 'write', '1'),
      line(1, 'invoke', 'cas', '[1 2]'),
      line(2, 'invoke', 'read', 'nil'),
      line(0, 'info', 'write', ':timed-out'),
      line(2, 'fail', 'read', ':timed-out'),
      line(5, 'invoke', 'read', 'nil'),
    ].join('\n');
    expect(parseJepsenLog(log)).toEqual([
      { process: 0, key: 'jepsen', invokeTime: 1, completeTime: 4, kind: 'put', value: '1', outcome: 'indeterminate' },
      { process: 1, key: 'jepsen', invokeTime: 2, completeTime: Infinity, kind: 'cas', expected: '1', value: '2', outcome: 'indeterminate' },
      { process: 2, key: 'jepsen', invokeTime: 3, completeTime: 5, kind: 'get', outcome: 'aborted' },
      { process: 5, key: 'jepsen', invokeTime: 6, completeTime: Infinity, kind: 'get', outcome: 'indeterminate' },
    ]);
  });

  it('accepts fields separated by spaces, and blank lines', () => {
    const log = 'INFO  jepsen.util - 17  :invoke :cas    [nil 2]\n\nINFO  jepsen.util - 17  :ok     :cas    [nil 2]\n';
    expect(parseJepsenLog(log)).toEqual([
      { process: 17, key: 'jepsen', invokeTime: 1, completeTime: 3, kind: 'cas', expected: null, value: '2', outcome: 'ok' },
    ]);
  });

  it.each([
    ['a line of another format', ['WARN something happened'], 1, /not a Jepsen operation line/],
    ['a completion never invoked', [line(0, 'ok', 'read', '1')], 1, /process 0 completed an operation it never invoked/],
    ['a second invocation while one is open', [line(0, 'invoke', 'read', 'nil'), line(0, 'invoke', 'read', 'nil')], 2, /process 0 invoked while its previous operation is open/],
    ['a process reused after :info', [line(0, 'invoke', 'write', '1'), line(0, 'info', 'write', ':timed-out'), line(0, 'invoke', 'read', 'nil')], 3, /process 0 invoked again after an :info/],
    ['a completion of another function', [line(0, 'invoke', 'read', 'nil'), line(0, 'ok', 'write', '1')], 2, /completion :write does not match invocation :read on line 1/],
    ['a write acknowledged with another value', [line(0, 'invoke', 'write', '1'), line(0, 'ok', 'write', '2')], 2, /completion does not match its invocation/],
    ['a cas answered with another pair', [line(0, 'invoke', 'cas', '[1 2]'), line(0, 'fail', 'cas', '[1 3]')], 2, /completion does not match its invocation/],
    ['a malformed cas argument', [line(0, 'invoke', 'cas', '[1]')], 1, /unreadable value "\[1\]"/],
    ['a read invoked with a value', [line(0, 'invoke', 'read', '3')], 1, /bad argument for :read/],
  ])('rejects %s, naming the line', (_name, lines, lineNumber, message) => {
    let thrown: unknown;
    try {
      parseJepsenLog(lines.join('\n'), { source: 'test.log' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidHistoryError);
    const error = thrown as InvalidHistoryError;
    expect(error.line).toBe(lineNumber);
    expect(error.message).toMatch(`test.log:${lineNumber}: `);
    expect(error.message).toMatch(message);
  });
});
