import * as grpc from '@grpc/grpc-js';
import type { WireStreamResult } from '../shared/kv-stream-wire.js';
import type { Logger } from '../shared/logger.js';
import { classifyError } from './grpc-errors.js';
import { requestTimeoutMsMax } from './config.js';
import type { KvOperations } from './kv-service.js';

/** One operation of a StreamRequest, as proto-loader decodes it (oneof `request` names the set field). */
interface WireStreamOperation {
  id: number;
  timeoutMs: number;
  request?: 'put' | 'get' | 'delete' | 'range' | 'compareAndSwap' | 'registerSession';
  put?: unknown;
  get?: unknown;
  delete?: unknown;
  range?: unknown;
  compareAndSwap?: unknown;
  registerSession?: unknown;
}

export interface KvStreamOptions {
  readonly requestTimeoutMs: number;
  /** Operations in flight on one stream; beyond it they are answered RESOURCE_EXHAUSTED. */
  readonly inflightMax: number;
  readonly logger: Logger;
}

/**
 * KV.Stream: many operations over one bidirectional stream. Each operation runs through the
 * same code as its unary RPC; results are written as they complete, and all results completed
 * in one turn of the event loop share one frame (the throughput path of DESIGN.md).
 */
export function kvStreamHandler(operations: KvOperations, options: KvStreamOptions): grpc.handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    let inflight = 0;
    let clientDone = false;
    let pendingResults: WireStreamResult[] = [];
    let flushScheduled = false;

    const flush = (): void => {
      flushScheduled = false;
      if (pendingResults.length === 0 || call.cancelled || call.destroyed) return;
      const results = pendingResults;
      pendingResults = [];
      if (!call.write({ results })) {
        // The client is not reading: stop taking its operations until it catches up, so
        // answers cannot pile up without bound.
        call.pause();
        call.once('drain', () => call.resume());
      }
      if (clientDone && inflight === 0) call.end();
    };
    const answer = (result: WireStreamResult): void => {
      pendingResults.push(result);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flush);
      }
    };
    const fail = (id: number, code: grpc.status, message: string, leaderId = '', leaderAddress = ''): void =>
      answer({ id, code, message, leaderId, leaderAddress });

    const run = (operation: WireStreamOperation): void => {
      const kind = operation.request;
      if (kind === undefined || operations[kind] === undefined) {
        fail(operation.id, grpc.status.INVALID_ARGUMENT, 'request: one of put, get, delete, range, compare_and_swap, register_session is required');
        return;
      }
      if (inflight >= options.inflightMax) {
        fail(operation.id, grpc.status.RESOURCE_EXHAUSTED, `${inflight} operations are already in flight on this stream`);
        return;
      }
      inflight++;
      const timeoutMs = operation.timeoutMs > 0 ? Math.min(operation.timeoutMs, requestTimeoutMsMax) : options.requestTimeoutMs;
      operations[kind](operation[kind] as never, timeoutMs).then(
        (response) => answer({ id: operation.id, code: grpc.status.OK, message: '', leaderId: '', leaderAddress: '', [kind]: response }),
        (error: unknown) => {
          const api = classifyError(error, options.logger);
          fail(operation.id, api.code, api.details, api.leaderId ?? '', api.leaderAddress ?? '');
        },
      ).finally(() => {
        inflight--;
        if (clientDone && inflight === 0 && !flushScheduled) call.end();
      });
    };

    call.on('data', (request: { operations?: WireStreamOperation[] }) => {
      for (const operation of request.operations ?? []) run(operation);
    });
    call.on('end', () => {
      clientDone = true;
      if (inflight === 0 && !flushScheduled) call.end();
    });
    call.on('error', (error) => options.logger.debug({ err: error }, 'client stream failed'));
  };
}
