/**
 * The recorded history of a register workload: what each client asked of one key, when, and
 * what it learned. The checkers read it; the workload writes it; JSON lines keep it on disk so
 * a run can be checked again later.
 */
import { readFile, writeFile } from 'node:fs/promises';

/** A register's content: a string, or null when the key is absent (never written). */
export type RegisterValue = string | null;

/**
 * How an operation ended, as far as the client knows.
 * - `ok`: it took effect (for a get: it read `value`).
 * - `fail`: only for cas: the compare failed, so it read a value other than `expected` and
 *   changed nothing. It constrains the history like a read.
 * - `indeterminate`: the client never learned the outcome (timeout, lost connection): it may
 *   take effect at any time after its invocation, or never.
 * - `aborted`: it definitely had no effect and observed nothing (rejected before being
 *   proposed, a read that timed out). The checkers ignore it.
 */
export type Outcome = 'ok' | 'fail' | 'indeterminate' | 'aborted';

/** When and by whom an operation ran; times are in one monotonic clock of the recorder. */
export interface OperationTiming {
  /** The client that ran it; one client runs one operation at a time. */
  readonly process: number;
  readonly key: string;
  /** Finite. */
  readonly invokeTime: number;
  /**
   * When the client learned the outcome, or gave up. Invariant: `>= invokeTime`; finite unless
   * the outcome is `indeterminate` (Infinity: never completed). The checkers place the end of
   * an indeterminate operation at +Infinity whatever this says.
   */
  readonly completeTime: number;
}

/** A read of the register. Only a completed read carries the value it saw. */
export type GetOperation = OperationTiming & { readonly kind: 'get' } & (
  | { readonly outcome: 'ok'; readonly value: RegisterValue }
  | { readonly outcome: 'indeterminate' | 'aborted' }
);

/** An unconditional write of `value`. */
export type PutOperation = OperationTiming & {
  readonly kind: 'put';
  readonly value: string;
  readonly outcome: 'ok' | 'indeterminate' | 'aborted';
};

/** Compare-and-set: write `value` if and only if the register holds `expected`. */
export type CasOperation = OperationTiming & {
  readonly kind: 'cas';
  /** null: swap only if the key is absent. */
  readonly expected: RegisterValue;
  readonly value: string;
  readonly outcome: 'ok' | 'fail' | 'indeterminate' | 'aborted';
};

/** One operation on one key of the register workload. */
export type Operation = GetOperation | PutOperation | CasOperation;

export type OperationKind = Operation['kind'];

/** An operation with its position in the history it came from, for reports. */
export interface IndexedOperation {
  readonly index: number;
  readonly operation: Operation;
}

/** A history that does not follow the rules above; `line` is set when it came from a file. */
export class InvalidHistoryError extends Error {
  override readonly name = 'InvalidHistoryError';
  readonly code = 'ERR_INVALID_HISTORY';
  /** 1-based line of the JSON-lines input, when there was one. */
  readonly line: number | undefined;

  constructor(message: string, options: { line?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.line = options.line;
  }
}

/** Throws if the caller hands a never-to-happen value; the compiler proves the switch total. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

/**
 * Why `op` breaks the invariants of {@link OperationTiming}, or undefined if it does not.
 * The checkers rely on these: a completion before its invocation would corrupt the search.
 */
export function operationProblem(op: Operation): string | undefined {
  if (!Number.isSafeInteger(op.process) || op.process < 0) {
    return `process must be a non-negative integer, got ${op.process}`;
  }
  if (!Number.isFinite(op.invokeTime)) return `invokeTime must be finite, got ${op.invokeTime}`;
  if (Number.isNaN(op.completeTime)) return 'completeTime must be a number, got NaN';
  if (op.completeTime < op.invokeTime) {
    return `completeTime ${op.completeTime} is before invokeTime ${op.invokeTime}`;
  }
  if (op.outcome !== 'indeterminate' && !Number.isFinite(op.completeTime)) {
    return `completeTime must be finite for outcome '${op.outcome}'`;
  }
  return undefined;
}

/** Throws {@link InvalidHistoryError} naming the first operation that breaks the invariants. */
export function assertWellFormedHistory(history: readonly Operation[]): void {
  history.forEach((op, index) => {
    const problem = operationProblem(op);
    if (problem !== undefined) throw new InvalidHistoryError(`history[${index}]: ${problem}`);
  });
}

/** One canonical line per operation, for reports and test failures: `p3 cas x "1"->"2" ok [4, 9]`. */
export function describeOperation(op: Operation): string {
  const show = (value: RegisterValue): string => (value === null ? 'nil' : JSON.stringify(value));
  const span = `[${op.invokeTime}, ${op.completeTime}]`;
  const key = JSON.stringify(op.key);
  switch (op.kind) {
    case 'get':
      return op.outcome === 'ok'
        ? `p${op.process} get ${key} -> ${show(op.value)} ok ${span}`
        : `p${op.process} get ${key} ${op.outcome} ${span}`;
    case 'put':
      return `p${op.process} put ${key} ${show(op.value)} ${op.outcome} ${span}`;
    case 'cas':
      return `p${op.process} cas ${key} ${show(op.expected)}->${show(op.value)} ${op.outcome} ${span}`;
    default:
      return assertNever(op);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON lines: one operation per line, the fields exactly as in the types above. JSON has no
// Infinity (JSON.stringify writes null), so `"completeTime": null` stands for +Infinity and is
// accepted only for an indeterminate operation. Blank lines are ignored.

/** The JSON-lines text of a history, one operation per line, ending with a newline. */
export function formatHistoryJsonLines(history: readonly Operation[]): string {
  return history.map((op) => `${JSON.stringify(op)}\n`).join('');
}

/**
 * Parses JSON-lines text into operations, checking every field.
 * Throws {@link InvalidHistoryError} with `line` set; `source` (a file name) prefixes messages.
 */
export function parseHistoryJsonLines(text: string, source = '<history>'): Operation[] {
  const history: Operation[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((lineText, i) => {
    const line = i + 1;
    if (lineText.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (cause) {
      throw new InvalidHistoryError(`${source}:${line}: not valid JSON: ${(cause as Error).message}`, { line, cause });
    }
    try {
      history.push(operationFromJson(value));
    } catch (cause) {
      if (!(cause instanceof InvalidHistoryError)) throw cause;
      throw new InvalidHistoryError(`${source}:${line}: ${cause.message}`, { line, cause });
    }
  });
  return history;
}

/** Writes `history` to `path` as JSON lines, replacing the file. */
export async function writeHistoryFile(path: string, history: readonly Operation[]): Promise<void> {
  await writeFile(path, formatHistoryJsonLines(history), 'utf8');
}

/** Reads a JSON-lines history; format errors name the file and line. */
export async function readHistoryFile(path: string): Promise<Operation[]> {
  return parseHistoryJsonLines(await readFile(path, 'utf8'), path);
}

type JsonObject = Readonly<Record<string, unknown>>;

function operationFromJson(value: unknown): Operation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidHistoryError(`expected an object, got ${JSON.stringify(value)}`);
  }
  const json = value as JsonObject;
  const kind = json['kind'];
  const timing: OperationTiming = {
    process: numberField(json, 'process'),
    key: stringField(json, 'key'),
    invokeTime: numberField(json, 'invokeTime'),
    completeTime: json['completeTime'] === null ? Infinity : numberField(json, 'completeTime'),
  };
  let op: Operation;
  switch (kind) {
    case 'get': {
      const outcome = oneOf(json, 'outcome', ['ok', 'indeterminate', 'aborted'] as const);
      op = outcome === 'ok'
        ? { ...timing, kind, outcome, value: valueField(json, 'value') }
        : { ...timing, kind, outcome };
      break;
    }
    case 'put':
      op = {
        ...timing,
        kind,
        value: stringField(json, 'value'),
        outcome: oneOf(json, 'outcome', ['ok', 'indeterminate', 'aborted'] as const),
      };
      break;
    case 'cas':
      op = {
        ...timing,
        kind,
        expected: valueField(json, 'expected'),
        value: stringField(json, 'value'),
        outcome: oneOf(json, 'outcome', ['ok', 'fail', 'indeterminate', 'aborted'] as const),
      };
      break;
    default:
      throw new InvalidHistoryError(`field "kind" must be one of get, put, cas; got ${JSON.stringify(kind)}`);
  }
  if (json['completeTime'] === null && op.outcome !== 'indeterminate') {
    throw new InvalidHistoryError(
      'field "completeTime" may be null (never completed) only for an indeterminate operation',
    );
  }
  const problem = operationProblem(op);
  if (problem !== undefined) throw new InvalidHistoryError(problem);
  return op;
}

function numberField(json: JsonObject, name: string): number {
  const value = json[name];
  if (typeof value !== 'number') throw fieldError(name, 'a number', value);
  return value;
}

function stringField(json: JsonObject, name: string): string {
  const value = json[name];
  if (typeof value !== 'string') throw fieldError(name, 'a string', value);
  return value;
}

function valueField(json: JsonObject, name: string): RegisterValue {
  const value = json[name];
  if (typeof value !== 'string' && value !== null) throw fieldError(name, 'a string or null', value);
  return value;
}

function oneOf<const T extends string>(json: JsonObject, name: string, allowed: readonly T[]): T {
  const value = json[name];
  const found = allowed.find((candidate) => candidate === value);
  if (found === undefined) throw fieldError(name, `one of ${allowed.join(', ')}`, value);
  return found;
}

function fieldError(name: string, wanted: string, got: unknown): InvalidHistoryError {
  return new InvalidHistoryError(
    `field "${name}" must be ${wanted}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`,
  );
}
