/**
 * Reads the Jepsen register log format (as in ../shared/fixtures/jepsen-etcd) into a history
 * of one key, so the checker can be tried on histories nobody here wrote.
 *
 * Each line: `INFO  jepsen.util - <process> <type> <f> <value>`, fields separated by tabs or
 * spaces. Times in the resulting history are line numbers.
 */
import {
  assertNever,
  InvalidHistoryError,
  type Operation,
  type OperationTiming,
  type RegisterValue,
} from './history.js';

/** Options of {@link parseJepsenLog}. */
export interface JepsenLogOptions {
  /** The key every operation is recorded on; 'jepsen' by default. */
  readonly key?: string;
  /** Names the input in error messages, e.g. a file name. */
  readonly source?: string;
}

/**
 * Parses a Jepsen register log into operations, in order of invocation:
 * - `:invoke` starts an operation of its process; `:ok` completes it;
 * - `:fail` means it did not happen. For `:cas [FROM TO]` that is the compare failing (the
 *   register did not hold FROM), recorded as outcome 'fail'; any other `:fail` (such as
 *   `:fail :read :timed-out`) is 'aborted' and constrains nothing;
 * - `:info`, or an invoke never completed in the file, is 'indeterminate';
 * - values: `nil` is null (absent), integers become their decimal text.
 * Throws InvalidHistoryError naming the line for anything else, including a completion with no
 * invocation, a second invocation while one is open, a process reused after `:info`, and a
 * completion whose operation or argument differs from its invocation.
 */
export function parseJepsenLog(text: string, options: JepsenLogOptions = {}): Operation[] {
  const key = options.key ?? 'jepsen';
  const source = options.source ?? '<jepsen log>';
  const slots: (Operation | undefined)[] = [];
  const open = new Map<number, OpenCall>();
  const retired = new Set<number>();

  text.split(/\r?\n/).forEach((lineText, i) => {
    const line = i + 1;
    if (lineText.trim() === '') return;
    const fail = (message: string): never => {
      throw new InvalidHistoryError(`${source}:${line}: ${message}: ${lineText.trim()}`, { line });
    };
    const event = parseLine(lineText) ?? fail('not a Jepsen operation line');
    const value = parseValue(event.valueText) ?? fail(`unreadable value ${JSON.stringify(event.valueText)}`);
    if (event.type === 'invoke') {
      if (open.has(event.process)) fail(`process ${event.process} invoked while its previous operation is open`);
      if (retired.has(event.process)) fail(`process ${event.process} invoked again after an :info`);
      const slot = slots.length;
      slots.push(undefined);
      const argument = argumentOf(event.f, value) ?? fail(`bad argument for :${event.f}`);
      open.set(event.process, { slot, line, f: event.f, argument });
      return;
    }
    const call = open.get(event.process) ?? fail(`process ${event.process} completed an operation it never invoked`);
    if (call.f !== event.f) fail(`completion :${event.f} does not match invocation :${call.f} on line ${call.line}`);
    open.delete(event.process);
    if (event.type === 'info') retired.add(event.process);
    const timing: OperationTiming = { process: event.process, key, invokeTime: call.line, completeTime: line };
    slots[call.slot] =
      completedOperation(timing, call.argument, event.type, value) ?? fail('completion does not match its invocation');
  });

  for (const [process, call] of open) {
    const timing: OperationTiming = { process, key, invokeTime: call.line, completeTime: Infinity };
    slots[call.slot] = indeterminate(timing, call.argument);
  }
  return slots.map((op) => op!);
}

type EventType = 'invoke' | 'ok' | 'fail' | 'info';
type Fn = 'read' | 'write' | 'cas';

interface LogEvent {
  readonly process: number;
  readonly type: EventType;
  readonly f: Fn;
  readonly valueText: string;
}

/** A value of the log: nil, an integer (as text), a keyword such as :timed-out, or a pair. */
type LogValue =
  | { readonly kind: 'nil' }
  | { readonly kind: 'int'; readonly text: string }
  | { readonly kind: 'keyword'; readonly name: string }
  | { readonly kind: 'pair'; readonly from: RegisterValue; readonly to: RegisterValue };

/** What the invocation asked. */
type Argument =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: string }
  | { readonly f: 'cas'; readonly expected: RegisterValue; readonly value: string };

interface OpenCall {
  readonly slot: number;
  readonly line: number;
  readonly f: Fn;
  readonly argument: Argument;
}

const linePattern = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(\S.*?)\s*$/;

function parseLine(lineText: string): LogEvent | undefined {
  const match = linePattern.exec(lineText);
  if (match === null) return undefined;
  const [, process, type, f, valueText] = match;
  return { process: Number(process), type: type as EventType, f: f as Fn, valueText: valueText! };
}

function parseValue(text: string): LogValue | undefined {
  if (text === 'nil') return { kind: 'nil' };
  if (/^-?\d+$/.test(text)) return { kind: 'int', text: String(BigInt(text)) };
  if (/^:[\w-]+$/.test(text)) return { kind: 'keyword', name: text.slice(1) };
  const pair = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(text);
  if (pair === null) return undefined;
  const from = parseValue(pair[1]!);
  const to = parseValue(pair[2]!);
  const scalar = (value: LogValue | undefined): RegisterValue | undefined =>
    value?.kind === 'nil' ? null : value?.kind === 'int' ? value.text : undefined;
  const [fromValue, toValue] = [scalar(from), scalar(to)];
  if (fromValue === undefined || toValue === undefined) return undefined;
  return { kind: 'pair', from: fromValue, to: toValue };
}

function argumentOf(f: Fn, value: LogValue): Argument | undefined {
  switch (f) {
    case 'read':
      return value.kind === 'nil' ? { f } : undefined;
    case 'write':
      return value.kind === 'int' ? { f, value: value.text } : undefined;
    case 'cas':
      return value.kind === 'pair' && value.to !== null ? { f, expected: value.from, value: value.to } : undefined;
    default:
      return assertNever(f);
  }
}

/** The operation a completion closes, or undefined if its value contradicts the invocation. */
function completedOperation(
  timing: OperationTiming,
  argument: Argument,
  type: Exclude<EventType, 'invoke'>,
  value: LogValue,
): Operation | undefined {
  if (type === 'info') return indeterminate(timing, argument);
  switch (argument.f) {
    case 'read':
      if (type === 'fail') return { ...timing, kind: 'get', outcome: 'aborted' };
      if (value.kind === 'nil') return { ...timing, kind: 'get', outcome: 'ok', value: null };
      return value.kind === 'int' ? { ...timing, kind: 'get', outcome: 'ok', value: value.text } : undefined;
    case 'write': {
      if (type === 'fail') return { ...timing, kind: 'put', value: argument.value, outcome: 'aborted' };
      return value.kind === 'int' && value.text === argument.value
        ? { ...timing, kind: 'put', value: argument.value, outcome: 'ok' }
        : undefined;
    }
    case 'cas': {
      const cas = { ...timing, kind: 'cas', expected: argument.expected, value: argument.value } as const;
      if (value.kind === 'keyword') return type === 'fail' ? { ...cas, outcome: 'aborted' } : undefined;
      const echoes = value.kind === 'pair' && value.from === argument.expected && value.to === argument.value;
      if (!echoes) return undefined;
      return { ...cas, outcome: type === 'ok' ? 'ok' : 'fail' };
    }
    default:
      return assertNever(argument);
  }
}

function indeterminate(timing: OperationTiming, argument: Argument): Operation {
  switch (argument.f) {
    case 'read':
      return { ...timing, kind: 'get', outcome: 'indeterminate' };
    case 'write':
      return { ...timing, kind: 'put', value: argument.value, outcome: 'indeterminate' };
    case 'cas':
      return { ...timing, kind: 'cas', expected: argument.expected, value: argument.value, outcome: 'indeterminate' };
    default:
      return assertNever(argument);
  }
}

