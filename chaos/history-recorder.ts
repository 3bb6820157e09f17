/**
 * Records what the workload's clients did, in the checker's history format: one Operation per
 * call, with the time it was invoked and the time its outcome was learned, on one monotonic
 * clock (milliseconds since the run started). Operations are appended as they complete.
 */
import type { Operation, OperationKind, OperationTiming, Outcome } from './checker/index.js';

/** An operation in flight: who, on which key, since when. */
export interface Invocation {
  readonly process: number;
  readonly key: string;
  readonly invokeTime: number;
}

/** The kind-specific part of an Operation: what was asked and how it ended. */
export type OperationResult = Operation extends infer O ? (O extends Operation ? Omit<O, keyof OperationTiming> : never) : never;

/** Counts per kind and outcome. */
export type OperationCounts = Record<OperationKind, Record<Outcome, number>>;

export class HistoryRecorder {
  private readonly clock: () => number;
  private readonly history: Operation[] = [];
  private inFlight = 0;

  /** `clock`: the run's monotonic clock in milliseconds (the same one its logs and fault records use). */
  constructor(clock: () => number) {
    this.clock = () => round3(clock());
  }

  /** The run clock now, as the history records it. */
  now(): number {
    return this.clock();
  }

  invoke(process: number, key: string): Invocation {
    this.inFlight++;
    return { process, key, invokeTime: this.clock() };
  }

  /** Completes an invocation; the completion time is now. Returns the recorded operation. */
  complete(invocation: Invocation, result: OperationResult): Operation {
    this.inFlight--;
    const completeTime = Math.max(invocation.invokeTime, this.clock());
    const op = { ...invocation, completeTime, ...result } as Operation;
    this.history.push(op);
    return op;
  }

  /** Every completed operation, in order of completion. */
  operations(): readonly Operation[] {
    return this.history;
  }

  /** Invoked and not yet completed. */
  pending(): number {
    return this.inFlight;
  }

  counts(): OperationCounts {
    const zero = (): Record<Outcome, number> => ({ ok: 0, fail: 0, indeterminate: 0, aborted: 0 });
    const counts: OperationCounts = { get: zero(), put: zero(), cas: zero() };
    for (const op of this.history) counts[op.kind][op.outcome]++;
    return counts;
  }
}

/** Operations whose outcome is known (ok or fail): what the minimum-operations guard counts. */
export function completedCount(history: readonly Operation[]): number {
  return history.filter((op) => op.outcome === 'ok' || op.outcome === 'fail').length;
}

/** "get 120 ok / 3 indet, put 80 ok / 5 indet, cas 40 ok 31 fail / 2 indet" for progress lines. */
export function describeCounts(counts: OperationCounts): string {
  return (['get', 'put', 'cas'] as const)
    .map((kind) => {
      const c = counts[kind];
      return `${kind} ${c.ok} ok${kind === 'cas' ? ` ${c.fail} fail` : ''}${c.indeterminate > 0 ? ` ${c.indeterminate} indet` : ''}${c.aborted > 0 ? ` ${c.aborted} aborted` : ''}`;
    })
    .join(', ');
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
