import * as grpc from '@grpc/grpc-js';
import type { WireStreamResult } from '../shared/kv-stream-wire.js';
import { leaderAddressMetadataKey, leaderIdMetadataKey } from './metadata-keys.js';

/** The KV operations the stream carries, by their oneof names in kv.proto. */
export type StreamKind = 'put' | 'get' | 'delete' | 'range' | 'compareAndSwap' | 'registerSession' | 'txn';

interface Pending {
  readonly kind: StreamKind;
  readonly resolve: (response: Record<string, unknown>) => void;
  readonly reject: (error: grpc.ServiceError) => void;
  readonly timer: NodeJS.Timeout;
  readonly onAbort: (() => void) | null;
  readonly signal: AbortSignal | undefined;
}

/**
 * One endpoint's KV.Stream: operations issued in the same turn of the event loop go out in one
 * frame, results come back in frames and are matched by id. Failures look exactly like the
 * unary RPC's (a ServiceError with code, details and leader metadata), so the client's retry
 * logic does not care which path carried a call. A broken stream fails what it carried with
 * UNAVAILABLE and is reopened by the next call.
 */
export class StreamChannel {
  private call: grpc.ClientDuplexStream<unknown, unknown> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: { readonly operation: Record<string, unknown>; readonly token: string }[] = [];
  private flushScheduled = false;

  constructor(private readonly client: grpc.Client) {}

  /** `token`: the caller's auth token, sent in the operation's frame (empty: none). */
  request(kind: StreamKind, request: Record<string, unknown>, timeoutMs: number, signal: AbortSignal | undefined, token = ''): Promise<Record<string, unknown>> {
    const call = this.open();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, null, serviceError(grpc.status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = signal === undefined ? null : (): void => this.settle(id, null, serviceError(grpc.status.CANCELLED, 'cancelled by the caller'));
      if (onAbort !== null) signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { kind, resolve, reject, timer, onAbort, signal });
      this.queue.push({ operation: { id, timeoutMs, [kind]: request }, token });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush(call));
      }
    });
  }

  /** Ends the stream; what is in flight fails with UNAVAILABLE. */
  close(): void {
    const call = this.call;
    this.call = null;
    call?.cancel();
    this.failAll('the client closed the stream');
  }

  private open(): grpc.ClientDuplexStream<unknown, unknown> {
    if (this.call !== null) return this.call;
    const method = (this.client as unknown as { stream: () => grpc.ClientDuplexStream<unknown, unknown> }).stream;
    const call = method.call(this.client);
    call.on('data', (response: { results?: WireStreamResult[] }) => {
      for (const result of response.results ?? []) this.onResult(result);
    });
    const broken = (reason: string): void => {
      if (this.call === call) this.call = null;
      this.failAll(reason);
    };
    // A stopping node ends its streams with UNAVAILABLE ("node shutting down"): what the stream
    // carried fails with that status, and the client retries it elsewhere.
    call.on('error', (error: grpc.ServiceError) => broken(error.details || error.message));
    call.on('end', () => broken('the server ended the stream'));
    this.call = call;
    return call;
  }

  private flush(call: grpc.ClientDuplexStream<unknown, unknown>): void {
    this.flushScheduled = false;
    if (this.queue.length === 0) return;
    const operations = this.queue;
    this.queue = [];
    if (call !== this.call) {
      for (const { operation } of operations) this.settle(operation.id as number, null, serviceError(grpc.status.UNAVAILABLE, 'stream closed before sending'));
      return;
    }
    // Frames stay well under the server's request size limit, or it would end the whole stream;
    // a frame carries one token, so a token renewed meanwhile starts a new frame.
    let frame: Record<string, unknown>[] = [];
    let frameBytes = 0;
    let frameToken = operations[0]?.token ?? '';
    const write = (): void => {
      call.write(frameToken === '' ? { operations: frame } : { operations: frame, token: frameToken });
    };
    for (const { operation, token } of operations) {
      const bytes = payloadBytes(operation);
      if (frame.length > 0 && (frameBytes + bytes > streamFrameBytesMax || token !== frameToken)) {
        write();
        frame = [];
        frameBytes = 0;
      }
      frameToken = token;
      frame.push(operation);
      frameBytes += bytes;
    }
    write();
  }

  private onResult(result: WireStreamResult): void {
    const pending = this.pending.get(result.id);
    if (pending === undefined) return; // timed out or cancelled already
    if (result.code === grpc.status.OK) {
      this.settle(result.id, (result[pending.kind] ?? {}) as Record<string, unknown>, null);
      return;
    }
    const metadata = new grpc.Metadata();
    if (result.code === grpc.status.FAILED_PRECONDITION) {
      metadata.set(leaderIdMetadataKey, result.leaderId);
      metadata.set(leaderAddressMetadataKey, result.leaderAddress);
    }
    this.settle(result.id, null, serviceError(result.code, result.message, metadata));
  }

  private settle(id: number, response: Record<string, unknown> | null, error: grpc.ServiceError | null): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.onAbort !== null) pending.signal?.removeEventListener('abort', pending.onAbort);
    if (error !== null) pending.reject(error);
    else pending.resolve(response as Record<string, unknown>);
  }

  private failAll(reason: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, null, serviceError(grpc.status.UNAVAILABLE, reason));
  }
}

/** The most payload one StreamRequest frame carries (the server refuses requests over 1.5 MiB by default). */
const streamFrameBytesMax = 1024 * 1024;
/** Operations larger than this travel as unary RPCs, so that an oversized one fails alone. */
export const streamOperationBytesMax = 256 * 1024;

/** The bytes of keys and values in a request: what its encoded size is made of. */
export function payloadBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object') return 8;
  let bytes = 0;
  for (const field of Object.values(value)) bytes += payloadBytes(field);
  return bytes;
}

function serviceError(code: grpc.status, details: string, metadata = new grpc.Metadata()): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}
