import { Etcd3 } from 'etcd3';
import { RaftKvClient } from '../../src/client/index.js';
import type { SystemName } from './options.js';

/** The two operations of the matrix through one system's usual client. */
export interface KvDriver {
  put(key: string, value: Buffer): Promise<void>;
  /** Resolves with whether the key was found. */
  get(key: string, serializable: boolean): Promise<boolean>;
  close(): void;
}

/** The deadline of each call, both clients alike: etcd3 sets none of its own. */
const callTimeoutMs = 10_000;

/** A client per system, given these client addresses (host:port), with the client's defaults otherwise (but the deadline). */
export function createDriver(system: SystemName, endpoints: readonly string[]): KvDriver {
  switch (system) {
    case 'etcd': {
      const client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`), defaultCallOptions: () => ({ deadline: Date.now() + callTimeoutMs }) });
      return {
        put: async (key, value) => {
          await client.put(key).value(value).exec();
        },
        get: async (key, serializable) => (await client.get(key).serializable(serializable).buffer()) !== null,
        close: () => client.close(),
      };
    }
    case 'raftkv': {
      const client = new RaftKvClient({ endpoints, timeoutMs: callTimeoutMs });
      return {
        put: async (key, value) => {
          await client.put(key, value);
        },
        get: async (key, serializable) => (await client.get(key, { consistency: serializable ? 'serializable' : 'linearizable' })) !== null,
        close: () => client.close(),
      };
    }
  }
}

/** The i-th key of the key space: 16 bytes, a fixed prefix and a zero-padded number. */
export function benchKey(i: number): string {
  return `bench/${String(i).padStart(10, '0')}`;
}

export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  /** The first error's message, or null. */
  readonly firstError: string | null;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface LoadOptions {
  readonly op: 'put' | 'get' | 'serializable-get';
  readonly concurrency: number;
  readonly durationMs: number;
  readonly keys: number;
  readonly value: Buffer;
  readonly signal?: AbortSignal;
}

/**
 * Closed loop: `concurrency` workers, each issuing its next operation as soon as the last one
 * returns, on keys drawn uniformly from the key space, until the duration is over. A get that
 * finds no key counts as an error: every key was written before the gets.
 */
export async function runLoad(driver: KvDriver, options: LoadOptions): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const endAt = started + options.durationMs;
  const fail = (message: string): void => {
    errors++;
    firstError ??= message;
  };
  const worker = async (): Promise<void> => {
    while (performance.now() < endAt && options.signal?.aborted !== true) {
      const key = benchKey(Math.floor(Math.random() * options.keys));
      const t0 = performance.now();
      try {
        if (options.op === 'put') {
          await driver.put(key, options.value);
        } else if (!(await driver.get(key, options.op === 'serializable-get'))) {
          fail(`get ${key}: not found`);
          continue;
        }
        latenciesMs.push(performance.now() - t0);
      } catch (error) {
        fail((error as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latenciesMs.sort((a, b) => a - b);
  return { ops: latenciesMs.length, errors, firstError, seconds, p50Ms: percentile(latenciesMs, 0.5), p99Ms: percentile(latenciesMs, 0.99) };
}

/** The p-quantile of sorted values (nearest rank), 0 when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/** Writes every key once, `concurrency` puts in flight; throws on the first failure. */
export async function preload(driver: KvDriver, keys: number, value: Buffer, concurrency: number, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys) {
      signal?.throwIfAborted();
      const i = next++;
      await driver.put(benchKey(i), value);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys) }, worker));
}
