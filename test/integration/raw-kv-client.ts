import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../../src/shared/proto.js';

type Callback<T> = (error: grpc.ServiceError | null, response: T) => void;
type Generated = grpc.Client & {
  put: (request: unknown, options: grpc.CallOptions, callback: Callback<{ version: number; modRevision: number }>) => void;
  registerSession: (request: unknown, options: grpc.CallOptions, callback: Callback<{ clientId: string; resultsPerSessionMax: number }>) => void;
  range: (request: unknown, options: grpc.CallOptions, callback: Callback<Record<string, unknown>>) => void;
  txn: (request: unknown, options: grpc.CallOptions, callback: Callback<Record<string, unknown>>) => void;
};

/** A plain generated gRPC client, for what the SDK deliberately hides (raw statuses, explicit sessions). */
export interface RawKvClient {
  /** Rejects with the grpc.ServiceError the server answered. */
  put(request: { key: Buffer; value: Buffer; session?: { clientId: string; sequence: number; ackedSequence: number } }): Promise<{ version: number; modRevision: number }>;
  registerSession(): Promise<{ clientId: string; resultsPerSessionMax: number }>;
  /** A RangeRequest as proto-loader takes it (enums by name, or a number the .proto does not name). */
  range(request: Record<string, unknown>): Promise<Record<string, unknown>>;
  txn(request: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): void;
}

export function rawKvClient(address: string): RawKvClient {
  const KV = serviceClient('raftkv/v1/kv.proto', 'KV');
  const client = new KV(address, grpc.credentials.createInsecure()) as unknown as Generated;
  const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });
  return {
    put: (request) => new Promise((resolve, reject) => client.put(request, deadline(), (e, r) => (e ? reject(e) : resolve(r)))),
    registerSession: () => new Promise((resolve, reject) => client.registerSession({}, deadline(), (e, r) => (e ? reject(e) : resolve(r)))),
    range: (request) => new Promise((resolve, reject) => client.range(request, deadline(), (e, r) => (e ? reject(e) : resolve(r)))),
    txn: (request) => new Promise((resolve, reject) => client.txn(request, deadline(), (e, r) => (e ? reject(e) : resolve(r)))),
    close: () => client.close(),
  };
}
