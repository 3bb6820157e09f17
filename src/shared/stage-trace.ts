/**
 * An opt-in tracer of the stages a write goes through (issue 11): `RAFTKV_TRACE_STAGES=<dir>`
 * makes this process record, for every log index it sees, when each stage happened, and write
 * them to `<dir>/stages-<pid>.jsonl` when it exits. Unset (production), `stageTraceOn` is false
 * and every call site is one branch on it: nothing is allocated, nothing is timed.
 *
 * Times are `performance.timeOrigin + performance.now()` in milliseconds: a wall-clock origin
 * with a monotonic, sub-microsecond offset, so the records of processes on one machine can be
 * compared with one another (their origins agree to well under 0.1 ms).
 *
 * test/integration/measure-put-stages.ts reads the files and prints the time between stages.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigError } from './errors.js';

/** The stages, in the order a sequential put goes through them. */
export type Stage =
  // Leader.
  | 'leader-receive'
  | 'leader-propose'
  | 'leader-ready'
  | 'leader-append-out'
  | 'leader-fsynced'
  | 'leader-ack-in'
  | 'leader-commit'
  | 'leader-applied'
  | 'leader-answer'
  // Follower.
  | 'follower-receive'
  | 'follower-ready'
  | 'follower-fsynced'
  | 'follower-ack-out';

const directory = process.env['RAFTKV_TRACE_STAGES'];

/** Whether this process traces: test it before calling anything here. */
export const stageTraceOn = directory !== undefined && directory !== '';

/** Records kept at most: a long run traces its beginning only. */
const recordsMax = 200_000;

// Invariant: records holds at most recordsMax lines.
const records: string[] = [];
/** The last write received from a client and the last answered: for stages that do not know their index. */
let lastReceivedAt = 0;
let lastSettledIndex = 0;

/** Now, comparable across processes of this machine. */
export function stageNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Records that the entry at `index` reached `stage` at `atMs` (default now). */
export function traceStage(stage: Stage, index: number, atMs: number = stageNowMs()): void {
  if (records.length < recordsMax) records.push(`{"s":"${stage}","i":${index},"t":${atMs.toFixed(4)}}`);
}

/** A write request arrived from a client (its index is known once it is proposed). */
export function traceWriteReceived(): void {
  lastReceivedAt = stageNowMs();
}

/** The write at `index` was proposed: it is the one received last (true of sequential writes). */
export function traceProposed(index: number): void {
  if (lastReceivedAt > 0) traceStage('leader-receive', index, lastReceivedAt);
  lastReceivedAt = 0;
  traceStage('leader-propose', index);
}

/** The write at `index` was applied and its proposal settled. */
export function traceSettled(index: number): void {
  lastSettledIndex = index;
}

/** Answers were written to a client: the last write settled is among them. */
export function traceAnswered(): void {
  if (lastSettledIndex > 0) traceStage('leader-answer', lastSettledIndex);
  lastSettledIndex = 0;
}

/**
 * At node start: when tracing, makes sure the directory exists and can be written (a ConfigError
 * naming the variable otherwise) and arranges for the records to be written there at exit.
 * Returns the file, or null when tracing is off.
 */
export function prepareStageTrace(): string | null {
  if (!stageTraceOn || directory === undefined) return null;
  const file = join(directory, `stages-${process.pid}.jsonl`);
  try {
    mkdirSync(directory, { recursive: true });
    appendFileSync(file, '');
  } catch (error) {
    throw new ConfigError(`RAFTKV_TRACE_STAGES: cannot write stage records to ${JSON.stringify(file)}: ${(error as Error).message}`, { cause: error });
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      try {
        if (records.length > 0) appendFileSync(file, `${records.join('\n')}\n`);
      } catch (error) {
        // A trace is not worth a failed exit.
        process.stderr.write(`RAFTKV_TRACE_STAGES: stage records not written to ${file}: ${(error as Error).message}\n`);
      }
    });
  }
  return file;
}

let exitHookInstalled = false;
