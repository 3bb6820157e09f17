import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  assertWellFormedHistory,
  describeOperation,
  formatHistoryJsonLines,
  InvalidHistoryError,
  parseHistoryJsonLines,
  readHistoryFile,
  writeHistoryFile,
  type Operation,
} from '../../chaos/checker/index.js';

const sample: Operation[] = [
  { process: 0, key: 'x', kind: 'put', value: '1', invokeTime: 0, completeTime: 3, outcome: 'ok' },
  { process: 1, key: 'x', kind: 'get', outcome: 'ok', value: null, invokeTime: 1, completeTime: 2 },
  { process: 2, key: 'y', kind: 'cas', expected: null, value: 'a', invokeTime: 2, completeTime: 5, outcome: 'fail' },
  { process: 3, key: 'y', kind: 'put', value: 'b', invokeTime: 4, completeTime: Infinity, outcome: 'indeterminate' },
  { process: 4, key: 'y', kind: 'cas', expected: 'b', value: 'c', invokeTime: 6, completeTime: 9, outcome: 'indeterminate' },
  { process: 5, key: 'x', kind: 'get', outcome: 'aborted', invokeTime: 7, completeTime: 8 },
];

describe('history JSON lines', () => {
  it('round-trips every kind and outcome, Infinity included', () => {
    const text = formatHistoryJsonLines(sample);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd().split('\n')).toHaveLength(sample.length);
    expect(parseHistoryJsonLines(text)).toEqual(sample);
  });

  it('writes a never-completed operation with completeTime null', () => {
    const line = formatHistoryJsonLines([sample[3]!]);
    expect(JSON.parse(line)).toMatchObject({ completeTime: null, outcome: 'indeterminate' });
  });

  it('skips blank lines, accepts CRLF, and still counts lines for errors', () => {
    const lines = formatHistoryJsonLines(sample.slice(0, 2)).trimEnd().split('\n');
    expect(parseHistoryJsonLines(`\r\n${lines[0]}\r\n\r\n${lines[1]}\r\n`)).toEqual(sample.slice(0, 2));
    const error = captureError(() => parseHistoryJsonLines(`\n${lines[0]}\n\n{oops\n`));
    expect(error.line).toBe(4);
  });

  it.each([
    ['not JSON', '{"process": 1,', /<history>:2: not valid JSON/],
    ['not an object', '[1, 2]', /<history>:2: expected an object, got \[1,2\]/],
    ['an unknown kind', '{"process":1,"key":"x","kind":"del","invokeTime":0,"completeTime":1,"outcome":"ok"}', /:2: field "kind" must be one of get, put, cas; got "del"/],
    ['a missing key', '{"process":1,"kind":"put","value":"1","invokeTime":0,"completeTime":1,"outcome":"ok"}', /:2: field "key" must be a string, got nothing/],
    ['a numeric value', '{"process":1,"key":"x","kind":"put","value":1,"invokeTime":0,"completeTime":1,"outcome":"ok"}', /:2: field "value" must be a string, got 1/],
    ['a failed get', '{"process":1,"key":"x","kind":"get","value":"1","invokeTime":0,"completeTime":1,"outcome":"fail"}', /:2: field "outcome" must be one of ok, indeterminate, aborted, got "fail"/],
    ['a failed put', '{"process":1,"key":"x","kind":"put","value":"1","invokeTime":0,"completeTime":1,"outcome":"fail"}', /:2: field "outcome" must be one of ok, indeterminate, aborted/],
    ['a get ok without its value', '{"process":1,"key":"x","kind":"get","invokeTime":0,"completeTime":1,"outcome":"ok"}', /:2: field "value" must be a string or null, got nothing/],
    ['a completion before the invocation', '{"process":1,"key":"x","kind":"put","value":"1","invokeTime":5,"completeTime":1,"outcome":"ok"}', /:2: completeTime 1 is before invokeTime 5/],
    ['a completed operation that never completed', '{"process":1,"key":"x","kind":"put","value":"1","invokeTime":5,"completeTime":null,"outcome":"ok"}', /:2: field "completeTime" may be null .* only for an indeterminate operation/],
    ['a negative process', '{"process":-1,"key":"x","kind":"put","value":"1","invokeTime":0,"completeTime":1,"outcome":"ok"}', /:2: process must be a non-negative integer, got -1/],
  ])('rejects %s, naming the line', (_name, badLine, message) => {
    const text = `${formatHistoryJsonLines(sample.slice(0, 1))}${badLine}\n${formatHistoryJsonLines(sample.slice(1, 2))}`;
    const error = captureError(() => parseHistoryJsonLines(text));
    expect(error).toBeInstanceOf(InvalidHistoryError);
    expect(error.name).toBe('InvalidHistoryError');
    expect(error.code).toBe('ERR_INVALID_HISTORY');
    expect(error.line).toBe(2);
    expect(error.message).toMatch(message);
  });

  it('keeps the JSON syntax error as the cause', () => {
    const error = captureError(() => parseHistoryJsonLines('{'));
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });
});

describe('history files', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'raftkv-history-'));
    dirs.push(dir);
    return dir;
  };

  it('saves a history and reads it back for checking again', async () => {
    const path = join(await tempDir(), 'run.jsonl');
    await writeHistoryFile(path, sample);
    expect(await readFile(path, 'utf8')).toBe(formatHistoryJsonLines(sample));
    expect(await readHistoryFile(path)).toEqual(sample);
  });

  it('names the file and line of a malformed operation', async () => {
    const path = join(await tempDir(), 'broken.jsonl');
    await writeFile(path, `${formatHistoryJsonLines(sample)}{"process":1}\n`);
    await expect(readHistoryFile(path)).rejects.toThrowError(`${path}:${sample.length + 1}: field "key" must be a string`);
  });
});

describe('describeOperation', () => {
  it('gives one canonical line per operation', () => {
    expect(sample.map(describeOperation)).toEqual([
      'p0 put "x" "1" ok [0, 3]',
      'p1 get "x" -> nil ok [1, 2]',
      'p2 cas "y" nil->"a" fail [2, 5]',
      'p3 put "y" "b" indeterminate [4, Infinity]',
      'p4 cas "y" "b"->"c" indeterminate [6, 9]',
      'p5 get "x" aborted [7, 8]',
    ]);
  });
});

describe('assertWellFormedHistory', () => {
  it('accepts a well-formed history', () => {
    expect(() => assertWellFormedHistory(sample)).not.toThrow();
  });

  it.each<[string, Partial<Operation>, RegExp]>([
    ['a completion before the invocation', { invokeTime: 10, completeTime: 4 }, /history\[1\]: completeTime 4 is before invokeTime 10/],
    ['an infinite invocation', { invokeTime: Infinity }, /history\[1\]: invokeTime must be finite/],
    ['a NaN completion', { completeTime: NaN }, /history\[1\]: completeTime must be a number, got NaN/],
    ['an ok operation that never completed', { completeTime: Infinity }, /history\[1\]: completeTime must be finite for outcome 'ok'/],
  ])('rejects %s with its index', (_name, change, message) => {
    const bad = [sample[0]!, { ...sample[0]!, ...change } as Operation];
    expect(() => assertWellFormedHistory(bad)).toThrowError(message);
  });
});

function captureError(action: () => unknown): InvalidHistoryError {
  try {
    action();
  } catch (error) {
    if (error instanceof InvalidHistoryError) return error;
    throw error;
  }
  throw new Error('expected an InvalidHistoryError, nothing was thrown');
}
