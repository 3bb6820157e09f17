/**
 * Runs a workload with N concurrent clients, each with its own SDK client (its own session)
 * over every node's endpoint, its own seeded RNG, and a think time between steps that keeps
 * the request rate, and so the history the checker must search, bounded.
 */
import { RaftKvClient, type ClientTls } from '../../src/client/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import type { HistoryRecorder } from '../history-recorder.js';
import { pause, withDeadline } from '../wait.js';
import type { Workload, WorkerContext } from './workload.js';

export interface DriverOptions {
  readonly clients: number;
  readonly seed: number;
  readonly endpoints: readonly string[];
  readonly recorder: HistoryRecorder;
  /** Deadline of one call (SDK retries included). */
  readonly opTimeoutMs: number;
  /** The longest one attempt may take before the SDK tries another node. */
  readonly attemptTimeoutMs: number;
  /** Target steps per second per client; the think time is drawn from [0, 2/rate). */
  readonly ratePerClient: number;
  readonly transport: 'stream' | 'unary';
  /** TLS to the nodes, when they run with it. */
  readonly tls?: ClientTls | undefined;
  /** The user every client calls as, when the cluster has auth on. */
  readonly auth?: { readonly user: string; readonly password: string } | undefined;
  /** A harness bug in a step (e.g. an argument the server rejects) is reported here; the run fails. */
  readonly onHarnessError: (error: Error) => void;
}

interface Worker {
  readonly client: RaftKvClient;
  /** One per node, each starting at a different one (see WorkerContext.reader). */
  readonly readers: readonly RaftKvClient[];
  done: Promise<void> | null;
}

export class WorkloadDriver {
  private readonly workload: Workload;
  private readonly options: DriverOptions;
  private readonly stopController = new AbortController();
  private readonly workers: Worker[] = [];
  private readonly errorCounts = new Map<string, number>();

  constructor(workload: Workload, options: DriverOptions) {
    this.workload = workload;
    this.options = options;
  }

  /** Starts every client; returns at once. */
  start(): void {
    if (this.workers.length > 0) throw new Error('the workload is already running');
    const { endpoints } = this.options;
    const newClient = (first: number): RaftKvClient =>
      new RaftKvClient({
        endpoints: [...endpoints.slice(first), ...endpoints.slice(0, first)],
        timeoutMs: this.options.opTimeoutMs,
        attemptTimeoutMs: this.options.attemptTimeoutMs,
        transport: this.options.transport,
        ...(this.options.tls === undefined ? {} : { tls: this.options.tls }),
        ...(this.options.auth === undefined ? {} : { auth: this.options.auth }),
      });
    for (let worker = 0; worker < this.options.clients; worker++) {
      const entry: Worker = { client: newClient(0), readers: endpoints.map((_, first) => newClient(first)), done: null };
      this.workers.push(entry);
      entry.done = this.runWorker(worker, entry);
    }
  }

  /**
   * Stops every client after its current step (whose calls end by their own deadlines), closes
   * the SDK clients, and resolves; rejects with DeadlineError if a step overruns `timeoutMs`.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopController.abort();
    try {
      await withDeadline(Promise.all(this.workers.map((worker) => worker.done)), timeoutMs, 'the workload clients');
    } finally {
      for (const worker of this.workers) {
        worker.client.close();
        for (const reader of worker.readers) reader.close();
      }
    }
  }

  /** Errors the SDK raised, by name ("TimeoutError": 12, ...). */
  errors(): Record<string, number> {
    return Object.fromEntries(this.errorCounts);
  }

  private async runWorker(worker: number, { client, readers }: Worker): Promise<void> {
    const { clients, recorder, ratePerClient, opTimeoutMs } = this.options;
    const stopping = this.stopController.signal;
    let process = worker;
    let sequence = 0;
    const rng = new SeededRng(workerSeed(this.options.seed, worker));
    const context: WorkerContext = {
      worker,
      get process() {
        return process;
      },
      client,
      reader: () => rng.pick(readers),
      rng,
      recorder,
      opTimeoutMs,
      stopping,
      nextValue: () => `${worker}-${++sequence}`,
      retire: () => {
        process += clients;
      },
      noteError: (error) => {
        const name = error instanceof Error ? error.name : typeof error;
        this.errorCounts.set(name, (this.errorCounts.get(name) ?? 0) + 1);
      },
    };
    const thinkMsMax = Math.max(1, Math.floor(2000 / ratePerClient));
    while (!stopping.aborted) {
      if (!(await pause(rng.int(thinkMsMax), stopping))) return;
      try {
        await this.workload.step(context);
      } catch (error) {
        this.options.onHarnessError(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
  }
}

/** Each client's RNG stream, distinct from the others and from the nemesis's. */
export function workerSeed(seed: number, worker: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(worker + 1, 0x85ebca6b)) >>> 0;
}
