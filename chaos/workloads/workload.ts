/**
 * A workload: what each concurrent client does in a step, and how the final state is judged for
 * lost writes. Both workloads speak the register model (get, put, cas on keys), so their whole
 * history goes to the linearizability checker; the append workload adds an exactly-once check.
 */
import { InvalidArgumentError, type RaftKvClient } from '../../src/client/index.js';
import type { SeededRng } from '../../src/shared/seeded-rng.js';
import type { AppendLostWrites, Operation, RegisterLostWrites, RegisterValue } from '../checker/index.js';
import type { HistoryRecorder } from '../history-recorder.js';

export const workloadNames = ['register', 'append', 'txn', 'watch', 'lease'] as const;
export type WorkloadName = (typeof workloadNames)[number];

/** One client of the workload, as a step sees it. */
export interface WorkerContext {
  /** 0-based, fixed for the run. */
  readonly worker: number;
  /**
   * The history's process id. Changes after an indeterminate operation (Jepsen's rule: that
   * operation stays open forever, and one process runs one operation at a time).
   */
  readonly process: number;
  /** For writes: follows the leader. */
  readonly client: RaftKvClient;
  /**
   * For reads: a client that starts at a node chosen at random per call, so linearizable reads
   * are served by followers (ReadIndex) and by nodes on the wrong side of a partition, not only
   * by the leader the writer client settled on. A stale read anywhere then shows in the history.
   */
  reader(): RaftKvClient;
  readonly rng: SeededRng;
  readonly recorder: HistoryRecorder;
  /** Deadline of one call, retries inside the SDK included. */
  readonly opTimeoutMs: number;
  /** Fires when the run stops; a step with several operations stops between them. */
  readonly stopping: AbortSignal;
  /** A value no client of this run has written or will write. */
  nextValue(): string;
  /** Takes a fresh process id (after an indeterminate operation). */
  retire(): void;
  /** Counts an error by name, for the report. */
  noteError(error: unknown): void;
}

/** What the final read says about acknowledged writes. */
export type Durability = (
  | { readonly workload: 'register'; readonly detail: RegisterLostWrites }
  | { readonly workload: 'append'; readonly detail: AppendLostWrites }
) & {
  /** Acknowledged writes missing from the final state. */
  readonly lost: number;
  /** One line per key with lost writes. */
  readonly losses: readonly string[];
  /** Everything else that fails the run: duplicates, values nobody wrote, keys without a final read. */
  readonly problems: readonly string[];
};

export interface Workload {
  readonly name: WorkloadName;
  /** Every key the workload has used so far; the final reads cover exactly these. */
  readonly keys: readonly string[];
  /** One step of one client: one operation (register) or a read and a few cas (append). Never throws for cluster errors. */
  step(context: WorkerContext): Promise<void>;
  /**
   * Judges `finalValues` (a linearizable read of every key after the cluster healed and every
   * operation settled; null = absent) against the history.
   */
  durability(history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability;
}

/**
 * An error from a call the cluster may or may not have executed. Everything but a rejected
 * argument: a timeout, an unavailable cluster and a server error all leave a write's fate
 * unknown (an earlier attempt may have been applied), so they make the operation indeterminate.
 * A rejected argument is a harness bug and is rethrown.
 */
export function assertNotHarnessBug(error: unknown): void {
  if (error instanceof InvalidArgumentError) throw error;
}

/** The keys of a workload: "<prefix>0".."<prefix>N-1". */
export function workloadKeys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}
