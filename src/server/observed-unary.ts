import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../shared/logger.js';
import { toGrpcError } from './grpc-errors.js';
import type { NodeMetrics } from './metrics.js';

type Message = Record<string, unknown>;

/**
 * A unary handler of the Auth or Lease service: runs `handle` (whose throws, synchronous or not,
 * become the call's gRPC status), answers, and records the call's outcome and duration under
 * `name` in the node's request metrics.
 */
export function observedUnary(
  name: string,
  deps: { readonly logger: Logger; readonly metrics?: NodeMetrics },
  handle: (call: grpc.ServerUnaryCall<Message, Message>) => Promise<Message>,
): grpc.handleUnaryCall<Message, Message> {
  return (call, callback) => {
    const startedAt = performance.now();
    new Promise<Message>((resolve) => resolve(handle(call))).then(
      (response) => {
        deps.metrics?.observeRequest(name, 'OK', (performance.now() - startedAt) / 1000);
        callback(null, response);
      },
      (error: unknown) => {
        const status = toGrpcError(error, deps.logger);
        deps.metrics?.observeRequest(name, grpc.status[status.code ?? grpc.status.UNKNOWN] ?? 'UNKNOWN', (performance.now() - startedAt) / 1000);
        callback(status as grpc.ServiceError);
      },
    );
  };
}
