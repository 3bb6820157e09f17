import * as grpc from '@grpc/grpc-js';
import { assertNever, type Index } from '../raft/index.js';
import { prefixInterval, type KeyInterval, type KeySelector, type KeyValue, type KvEvent } from '../kv/index.js';
import type { Logger } from '../shared/logger.js';
import type { AuthGuard, Caller } from './auth-guard.js';
import { classifyError } from './grpc-errors.js';
import { shuttingDownStatus } from './kv-stream.js';
import type { WatchHub, WatchOutput, WatchSpec, WatchStream } from './watch-hub.js';

/** A WatchRequest as proto-loader decodes it (oneof `requestUnion` names the set field). */
interface WireWatchRequest {
  requestUnion?: 'createRequest' | 'cancelRequest' | 'progressRequest';
  createRequest?: { key: Buffer; rangeEnd: Buffer; prefix: boolean; startRevision: number; prevKv: boolean; progressNotify: boolean; watchId: number };
  cancelRequest?: { watchId: number };
  progressRequest?: Record<string, never>;
}

export interface WatchServiceDeps {
  readonly hub: WatchHub;
  readonly guard: AuthGuard;
  readonly keyBytesMax: number;
  /** The header of every response: this member and its term. */
  readonly header: (revision: Index) => { memberId: string; term: number; revision: number };
  readonly logger: Logger;
}

export interface WatchService {
  readonly handlers: { watch: grpc.handleBidiStreamingCall<unknown, unknown> };
  /** Ends every watch stream with UNAVAILABLE ("node shutting down"): clients resume elsewhere. */
  shutdown(): void;
}

/** Watch.Watch: the gRPC side of the hub (watch-hub.ts): decodes requests, checks them, encodes outputs. */
export function watchService(deps: WatchServiceDeps): WatchService {
  const live = new Set<() => void>();
  let closing = false;

  const watch: grpc.handleBidiStreamingCall<unknown, unknown> = (call) => {
    if (closing) {
      call.emit('error', shuttingDownStatus);
      return;
    }
    let caller: Caller;
    try {
      caller = deps.guard.resolveCall(call);
    } catch (error) {
      const api = classifyError(error, deps.logger);
      call.emit('error', { code: api.code, details: api.details });
      return;
    }
    let ended = false;
    const stream: WatchStream = deps.hub.openStream({ write: (output) => call.write(toWire(output, deps.header)) });
    const end = (): void => {
      if (ended) return;
      ended = true;
      live.delete(stopStream);
      stream.close();
    };
    const stopStream = (): void => {
      end();
      if (!call.cancelled && !call.destroyed) call.emit('error', shuttingDownStatus);
    };
    live.add(stopStream);
    call.on('drain', () => stream.drained());
    call.on('data', (request: WireWatchRequest) => {
      if (ended) return;
      switch (request.requestUnion) {
        case 'createRequest': {
          const create = request.createRequest;
          if (create === undefined) return;
          const parsed = parseCreate(create, deps.keyBytesMax);
          if (typeof parsed === 'string') {
            stream.refuse(create.watchId, parsed);
            return;
          }
          try {
            checkRead(deps.guard, caller, parsed.selector);
          } catch (error) {
            stream.refuse(create.watchId, classifyError(error, deps.logger).details);
            return;
          }
          stream.create(parsed);
          return;
        }
        case 'cancelRequest':
          stream.cancel(request.cancelRequest?.watchId ?? 0);
          return;
        case 'progressRequest':
          stream.progress();
          return;
        case undefined:
          end();
          call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'request_union: one of create_request, cancel_request, progress_request is required' });
          return;
        default:
          assertNever(request.requestUnion, 'watch request');
      }
    });
    call.on('end', () => {
      end();
      if (!call.cancelled && !call.destroyed) call.end();
    });
    call.on('cancelled', end);
    call.on('error', (error) => {
      deps.logger.debug({ err: error }, 'watch stream failed');
      end();
    });
  };

  return {
    handlers: { watch },
    shutdown() {
      closing = true;
      for (const stop of [...live]) stop();
    },
  };
}

/** A create request as a WatchSpec, or what is wrong with it. */
export function parseCreate(create: NonNullable<WireWatchRequest['createRequest']>, keyBytesMax: number): WatchSpec | string {
  const key = create.key ?? Buffer.alloc(0);
  const rangeEnd = create.rangeEnd ?? Buffer.alloc(0);
  if (!Number.isSafeInteger(create.watchId) || create.watchId < 0) return `watch_id must be 0 (the node picks one) or positive, not ${create.watchId}`;
  if (!Number.isSafeInteger(create.startRevision) || create.startRevision < 0) return `start_revision must be 0 or a revision, not ${create.startRevision}`;
  if (key.byteLength > keyBytesMax) return `key is ${key.byteLength} bytes; the limit is ${keyBytesMax}`;
  if (rangeEnd.byteLength > keyBytesMax) return `range_end is ${rangeEnd.byteLength} bytes; the limit is ${keyBytesMax}`;
  let selector: KeySelector;
  if (create.prefix) {
    if (rangeEnd.byteLength > 0) return 'prefix and range_end cannot both be set';
    selector = { kind: 'prefix', prefix: key };
  } else if (rangeEnd.byteLength > 0) {
    const toEnd = rangeEnd.byteLength === 1 && rangeEnd[0] === 0;
    if (!toEnd && Buffer.compare(rangeEnd, key) <= 0) return 'range_end must be after key (or "\\0": every key from key on)';
    selector = { kind: 'interval', start: key, end: toEnd ? Buffer.alloc(0) : rangeEnd };
  } else {
    if (key.byteLength === 0) return 'key must not be empty (watch every key with prefix set and an empty key)';
    selector = { kind: 'key', key };
  }
  return { selector, startRevision: create.startRevision, prevKv: create.prevKv, progressNotify: create.progressNotify, watchId: create.watchId };
}

/** A watch needs read permission on every key it may report (etcd's rule). */
function checkRead(guard: AuthGuard, caller: Caller, selector: KeySelector): void {
  switch (selector.kind) {
    case 'key':
      guard.checkKey(caller, 'read', selector.key);
      return;
    case 'prefix':
      guard.checkRange(caller, 'read', prefixInterval(selector.prefix));
      return;
    case 'interval': {
      const interval: KeyInterval = { start: selector.start, end: selector.end.byteLength === 0 ? null : selector.end };
      guard.checkRange(caller, 'read', interval);
      return;
    }
    default:
      assertNever(selector, 'key selector');
  }
}

function toWire(output: WatchOutput, header: WatchServiceDeps['header']): unknown {
  const base = { header: header(output.revision), watchId: output.watchId };
  switch (output.kind) {
    case 'created':
      return { ...base, created: true };
    case 'progress':
      return base;
    case 'canceled':
      return { ...base, created: output.created, canceled: true, cancelReason: output.reason, compactRevision: output.compactRevision };
    case 'events':
      return { ...base, events: output.events.map((event) => wireEvent(event, output.prevKv)) };
    default:
      return assertNever(output, 'watch output');
  }
}

function wireEvent(event: KvEvent, prevKv: boolean): unknown {
  const prev = prevKv && event.prevKv !== null ? wireKeyValue(event.prevKv) : null;
  if (event.type === 'put') return { type: 'PUT', kv: wireKeyValue(event.kv), prevKv: prev };
  return { type: 'DELETE', kv: { key: Buffer.from(event.key), value: Buffer.alloc(0), createRevision: 0, modRevision: event.revision, version: 0 }, prevKv: prev };
}

function wireKeyValue(kv: KeyValue): unknown {
  return { key: Buffer.from(kv.key), value: Buffer.from(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease ?? 0 };
}
