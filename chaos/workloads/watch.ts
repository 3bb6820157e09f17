/**
 * The watch workload: clients put unique values on keys under a few prefixes (and read them
 * back, so the register history and its linearizability check still apply), while SDK
 * watchers, two per prefix starting on different nodes, watch the prefixes from a revision
 * taken before the first write, resuming through every fault. After the run each watcher's
 * events are checked against the puts (checker/watch.ts).
 */
import { RaftKvClient, type ClientTls, type Watcher } from '../../src/client/index.js';
import { checkWatchers, type WatchCheckResult, type WatchedEvent, type WatcherRecord, type WatchWrite } from '../checker/watch.js';
import type { Operation, RegisterValue } from '../checker/index.js';
import { registerDurability } from './register.js';
import { assertNotHarnessBug, type Durability, type Workload, type WorkerContext } from './workload.js';

export interface WatchWorkloadOptions {
  /** Keys per prefix. */
  readonly keys: number;
  readonly prefixes?: number;
  /** Watchers per prefix, each starting on a different node. */
  readonly watchersPerPrefix?: number;
}

interface RunningWatcher {
  readonly name: string;
  readonly prefix: string;
  readonly startRevision: number;
  readonly client: RaftKvClient;
  readonly watcher: Watcher;
  readonly events: WatchedEvent[];
  error: string | null;
  done: Promise<void>;
}

export class WatchWorkload implements Workload {
  readonly name = 'watch';
  readonly keys: readonly string[];
  private readonly prefixes: readonly string[];
  private readonly watchersPerPrefix: number;
  private readonly writes: WatchWrite[] = [];
  private readonly watchers: RunningWatcher[] = [];

  constructor(options: WatchWorkloadOptions) {
    this.prefixes = Array.from({ length: options.prefixes ?? 3 }, (_, p) => `w${p}/`);
    this.keys = this.prefixes.flatMap((prefix) => Array.from({ length: options.keys }, (_, k) => `${prefix}k${k}`));
    this.watchersPerPrefix = options.watchersPerPrefix ?? 2;
  }

  /**
   * Starts the watchers from the revision after every node's applied index: before the first
   * write of the workload, so every write is in their window.
   */
  async startWatchers(endpoints: readonly string[], access: { tls?: ClientTls | undefined; auth?: { user: string; password: string } | undefined }): Promise<number> {
    const probe = new RaftKvClient({ endpoints: [...endpoints], timeoutMs: 10_000, ...(access.tls === undefined ? {} : { tls: access.tls }), ...(access.auth === undefined ? {} : { auth: access.auth }) });
    let applied = 0;
    try {
      for (const endpoint of endpoints) applied = Math.max(applied, (await probe.status(endpoint, { timeoutMs: 10_000 })).appliedIndex);
    } finally {
      probe.close();
    }
    const startRevision = applied + 1;
    let n = 0;
    for (const prefix of this.prefixes) {
      for (let w = 0; w < this.watchersPerPrefix; w++, n++) {
        const first = n % endpoints.length;
        const client = new RaftKvClient({
          endpoints: [...endpoints.slice(first), ...endpoints.slice(0, first)],
          timeoutMs: 10_000,
          ...(access.tls === undefined ? {} : { tls: access.tls }),
          ...(access.auth === undefined ? {} : { auth: access.auth }),
        });
        const watcher = client.watch(prefix, { prefix: true, startRevision });
        const running: RunningWatcher = { name: `${prefix}#${w}`, prefix, startRevision, client, watcher, events: [], error: null, done: Promise.resolve() };
        running.done = (async () => {
          try {
            for await (const batch of watcher) {
              if (batch.kind !== 'events') continue;
              for (const event of batch.events) running.events.push({ revision: event.revision, key: event.key.toString('utf8'), value: event.value.toString('utf8'), type: event.type });
            }
          } catch (error) {
            running.error = `${(error as Error).name}: ${(error as Error).message}`;
          }
        })();
        this.watchers.push(running);
      }
    }
    return startRevision;
  }

  /**
   * Waits until every watcher has delivered up to the last acknowledged put under its prefix
   * (at most `timeoutMs`), stops them, and checks their events.
   */
  async finishWatchers(timeoutMs: number): Promise<WatchCheckResult> {
    // A watcher hears only of its prefix: it has caught up once past the last acknowledged put under it.
    const lastOf = (prefix: string): number => Math.max(0, ...this.writes.filter((write) => write.key.startsWith(prefix)).map((write) => write.revision ?? 0));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.watchers.some((w) => w.error === null && w.watcher.nextRevision <= lastOf(w.prefix))) await new Promise((resolve) => setTimeout(resolve, 100));
    const records: WatcherRecord[] = [];
    for (const running of this.watchers) {
      const endRevision = running.watcher.nextRevision - 1;
      running.watcher.cancel();
      await running.done;
      running.client.close();
      records.push({ name: running.name, prefix: running.prefix, startRevision: running.startRevision, endRevision, events: running.events, error: running.error });
    }
    return checkWatchers(records, this.writes);
  }

  /** Stops the watchers without checking (an interrupted run). */
  stopWatchers(): void {
    for (const running of this.watchers) {
      running.watcher.cancel();
      running.client.close();
    }
  }

  async step(context: WorkerContext): Promise<void> {
    const key = context.rng.pick(this.keys);
    if (context.rng.int(4) === 0) {
      await this.get(context, key);
      return;
    }
    const value = context.nextValue();
    const invocation = context.recorder.invoke(context.process, key);
    try {
      const result = await context.client.put(key, value, { timeoutMs: context.opTimeoutMs });
      context.recorder.complete(invocation, { kind: 'put', value, outcome: 'ok' });
      this.writes.push({ key, value, revision: result.revision });
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      context.recorder.complete(invocation, { kind: 'put', value, outcome: 'indeterminate' });
      this.writes.push({ key, value, revision: null });
      context.retire();
    }
  }

  durability(history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability {
    return registerDurability(history, finalValues);
  }

  private async get(context: WorkerContext, key: string): Promise<void> {
    const invocation = context.recorder.invoke(context.process, key);
    try {
      const kv = await context.reader().get(key, { timeoutMs: context.opTimeoutMs });
      context.recorder.complete(invocation, { kind: 'get', outcome: 'ok', value: kv === null ? null : kv.value.toString('utf8') });
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      context.recorder.complete(invocation, { kind: 'get', outcome: 'indeterminate' });
      context.retire();
    }
  }
}
