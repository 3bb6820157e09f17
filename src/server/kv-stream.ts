import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { WireStreamResult } from '../shared/kv-stream-wire.js';
import type { Logger } from '../shared/logger.js';
import { stageTraceOn, traceAnswered, traceWriteReceived } from '../shared/stage-trace.js';
import { classifyError } from './grpc-errors.js';
import { requestTimeoutMsMax } from './config.js';

/** One operation of a StreamRequest, as proto-loader decodes it (oneof `request` names the set field). */
interface WireStreamOperation {
  id: number;
  timeoutMs: number;
  request?: 'put' | 'get' | 'delete' | 'range' | 'compareAndSwap' | 'registerSession' | 'txn';
  put?: unknown;
  get?: unknown;
  delete?: unknown;
  range?: unknown;
  compareAndSwap?: unknown;
  registerSession?: unknown;
  txn?: unknown;
}

/**
 * What the stream runs each operation through: the unary RPCs' own handlers (kv-service's
 * KvOperations fits), so an operation behaves the same on either path.
 */
export type StreamOperations = {
  readonly [K in NonNullable<WireStreamOperation['request']>]: (request: never, timeoutMs: number, caller: string | null) => Promise<unknown>;
};

export interface KvStreamOptions {
  readonly requestTimeoutMs: number;
  /** Operations in flight on one stream; beyond it they are answered RESOURCE_EXHAUSTED. */
  readonly inflightMax: number;
  readonly logger: Logger;
  /** Called once per operation answered, with its kind, status code and time in seconds (metrics). */
  readonly onAnswered?: (method: string, code: grpc.status, seconds: number) => void;
  /**
   * Who sends a frame's operations (auth-guard.ts): from the frame's token, else the stream's
   * metadata or client certificate; throws UnauthenticatedError, which fails the frame's
   * operations. Absent: null (no auth).
   */
  readonly resolveCaller?: (call: grpc.ServerDuplexStream<unknown, unknown>, frameToken: string) => string | null;
}

/** The KV.Stream handler of one server, and the way to end its streams when the node stops. */
export interface KvStreams {
  readonly handler: grpc.handleBidiStreamingCall<unknown, unknown>;
  /**
   * For shutdown: operations that arrive from now on are answered UNAVAILABLE ("node shutting
   * down"), operations in flight get up to `drainMs` to finish, then every stream ends with
   * UNAVAILABLE, which the SDK reads as "retry elsewhere". Streams opened later end at once.
   * Resolves once every stream has ended.
   */
  shutdown(drainMs: number): Promise<void>;
}

/** The status a stopping node ends its streams with (and answers new operations with). */
export const shuttingDownStatus = { code: grpc.status.UNAVAILABLE, details: 'node shutting down' } as const;

interface LiveStream {
  /** Ends the stream now if nothing is in flight (or `force`); otherwise when the last operation is answered. */
  finish(force: boolean): void;
}

/**
 * KV.Stream: many operations over one bidirectional stream. Each operation runs through the
 * same code as its unary RPC; results are written as they complete, and all results completed
 * in one turn of the event loop share one frame (the throughput path of DESIGN.md).
 */
export function kvStreams(operations: StreamOperations, options: KvStreamOptions): KvStreams {
  const live = new Set<LiveStream>();
  let closing = false;
  let allEnded: (() => void) | null = null;
  const forget = (stream: LiveStream): void => {
    live.delete(stream);
    if (live.size === 0) allEnded?.();
  };

  const handler: grpc.handleBidiStreamingCall<unknown, unknown> = (call) => {
    let inflight = 0;
    let clientDone = false;
    let ended = false;
    let pendingResults: WireStreamResult[] = [];
    let flushScheduled = false;

    const writeResults = (): void => {
      if (pendingResults.length === 0 || call.cancelled || call.destroyed) return;
      const results = pendingResults;
      pendingResults = [];
      const writable = call.write({ results });
      if (stageTraceOn) traceAnswered();
      if (!writable) {
        // The client is not reading: stop taking its operations until it catches up, so
        // answers cannot pile up without bound.
        call.pause();
        call.once('drain', () => call.resume());
      }
    };
    const stream: LiveStream = {
      finish(force) {
        if (ended || (!force && (inflight > 0 || flushScheduled))) return;
        ended = true;
        forget(stream);
        writeResults();
        if (call.cancelled || call.destroyed) return;
        // A client that ended its side gets a clean end; otherwise the node is going away.
        if (clientDone) call.end();
        else call.emit('error', shuttingDownStatus);
      },
    };
    live.add(stream);
    const flush = (): void => {
      flushScheduled = false;
      if (ended) return;
      writeResults();
      if ((clientDone || closing) && inflight === 0) stream.finish(false);
    };
    const answer = (result: WireStreamResult): void => {
      if (ended) return; // the stream ended under it: the client retries the operation elsewhere
      pendingResults.push(result);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flush);
      }
    };
    const fail = (id: number, code: grpc.status, message: string, leaderId = '', leaderAddress = ''): void =>
      answer({ id, code, message, leaderId, leaderAddress });

    const run = (operation: WireStreamOperation, caller: string | null): void => {
      const kind = operation.request;
      if (closing) {
        fail(operation.id, shuttingDownStatus.code, shuttingDownStatus.details);
        return;
      }
      if (kind === undefined || operations[kind] === undefined) {
        fail(operation.id, grpc.status.INVALID_ARGUMENT, 'request: one of put, get, delete, range, compare_and_swap, register_session, txn is required');
        return;
      }
      if (inflight >= options.inflightMax) {
        fail(operation.id, grpc.status.RESOURCE_EXHAUSTED, `${inflight} operations are already in flight on this stream`);
        return;
      }
      inflight++;
      const timeoutMs = operation.timeoutMs > 0 ? Math.min(operation.timeoutMs, requestTimeoutMsMax) : options.requestTimeoutMs;
      const startedAt = performance.now();
      // One then() with both handlers, each ending the operation itself: a finally() on top
      // would cost two more promises and closures per operation.
      operations[kind](operation[kind] as never, timeoutMs, caller).then(
        (response) => {
          try {
            options.onAnswered?.(kind, grpc.status.OK, (performance.now() - startedAt) / 1000);
            answer({ id: operation.id, code: grpc.status.OK, message: '', leaderId: '', leaderAddress: '', [kind]: response });
          } finally {
            operationEnded();
          }
        },
        (error: unknown) => {
          try {
            const api = classifyError(error, options.logger);
            options.onAnswered?.(kind, api.code, (performance.now() - startedAt) / 1000);
            fail(operation.id, api.code, api.details, api.leaderId ?? '', api.leaderAddress ?? '');
          } finally {
            operationEnded();
          }
        },
      );
    };
    const operationEnded = (): void => {
      inflight--;
      if ((clientDone || closing) && inflight === 0 && !flushScheduled) stream.finish(false);
    };

    call.on('data', (request: { operations?: WireStreamOperation[]; token?: string }) => {
      if (stageTraceOn) traceWriteReceived();
      let caller: string | null;
      try {
        caller = options.resolveCaller?.(call, request.token ?? '') ?? null;
      } catch (error) {
        const api = classifyError(error, options.logger);
        for (const operation of request.operations ?? []) fail(operation.id, api.code, api.details);
        return;
      }
      for (const operation of request.operations ?? []) run(operation, caller);
    });
    call.on('end', () => {
      clientDone = true;
      if (inflight === 0 && !flushScheduled) stream.finish(false);
    });
    call.on('cancelled', () => {
      ended = true;
      forget(stream);
    });
    call.on('error', (error) => options.logger.debug({ err: error }, 'client stream failed'));
    if (closing) stream.finish(false);
  };

  const shutdown = async (drainMs: number): Promise<void> => {
    closing = true;
    if (live.size > 0) {
      const ended = new Promise<void>((resolve) => {
        allEnded = resolve;
      });
      for (const stream of [...live]) stream.finish(false);
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([ended.then(() => true), new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), drainMs);
        timer.unref();
      })]);
      clearTimeout(timer);
      if (!drained) {
        options.logger.info({ streams: live.size }, 'operations still in flight at the drain deadline: ending their streams; clients retry them elsewhere');
        for (const stream of [...live]) stream.finish(true);
      }
    }
  };

  return { handler, shutdown };
}
