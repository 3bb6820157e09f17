import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../shared/proto.js';
import { SnapshotStreamTally } from '../shared/snapshot-stream.js';
import { AuthenticationError, CancelledError, InvalidArgumentError, OverloadedError, ServerError, SnapshotIntegrityError, TimeoutError, UnavailableError, permissionDenied } from './errors.js';
import { leaderAddressMetadataKey } from './metadata-keys.js';

export interface SnapshotOptions {
  /** Stream from this node; by default the first of the client's endpoints that serves it. */
  readonly endpoint?: string;
  /** Deadline of the whole download, from the call to the last chunk (default 10 minutes). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Where a snapshot comes from and what it holds: the stream's header. */
export interface SnapshotInfo {
  /** The log index the keyspace was read at: every write up to it, none after. */
  readonly revision: number;
  /** The term of the entry at `revision`. */
  readonly term: number;
  readonly memberId: string;
  readonly clusterId: string;
  /** The layout of the chunks' records (src/kv/snapshot-format.ts). */
  readonly format: number;
  /** The node that streams it. */
  readonly endpoint: string;
}

/**
 * A snapshot being downloaded: its header, and its chunks (whole records each) as they arrive,
 * paced by gRPC's flow control to how fast they are consumed. Iterate `chunks()` once; it ends
 * only after the trailer's SHA-256 and counts matched (then `verified` is set), or throws
 * SnapshotIntegrityError, or the typed error of a failed call.
 */
export interface SnapshotDownload extends SnapshotInfo {
  chunks(): AsyncIterable<Uint8Array>;
  /** Set once every chunk arrived and the trailer matched them. */
  readonly verified: { readonly sha256: string; readonly chunks: number; readonly bytes: number } | null;
  /** Ends the download; the iteration throws CancelledError. */
  cancel(): void;
}

export const defaultSnapshotTimeoutMs = 10 * 60 * 1000;

/** How the SDK reaches a node for a snapshot. */
export interface SnapshotDownloadContext {
  /** The endpoints to try, in order. */
  readonly endpoints: readonly string[];
  /** A channel to `endpoint` (shared with the client's other calls). */
  readonly channel: (endpoint: string) => ReturnType<grpc.Client['getChannel']>;
  /** The caller's auth token (empty: none); absent: none. */
  readonly token?: (deadline: number, signal: AbortSignal | undefined) => Promise<string>;
}

type SnapshotPart =
  | { part: 'header'; header: { revision: number; term: number; memberId: string; clusterId: string; format: number } }
  | { part: 'data'; data: Buffer }
  | { part: 'trailer'; trailer: { sha256: Buffer; chunks: number; bytes: number } };

/**
 * Opens `Maintenance.Snapshot` on the first endpoint that answers with a header: a node that is
 * unreachable, has no leader or is busy is skipped (after a short pause once every endpoint was
 * tried), until the deadline. Once the header arrived the download is bound to that node: a
 * failure later is the download's, not retried (a snapshot is not resumable).
 */
export async function openSnapshotDownload(context: SnapshotDownloadContext, options: SnapshotOptions = {}): Promise<SnapshotDownload> {
  const timeoutMs = options.timeoutMs ?? defaultSnapshotTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const endpoints = [...context.endpoints];
  let lastError: unknown = null;
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw new CancelledError('the snapshot was cancelled', { cause: options.signal.reason });
    if (Date.now() >= deadline) {
      throw lastError === null ? new TimeoutError(`no node began a snapshot within ${timeoutMs} ms`) : new UnavailableError(`no node could stream a snapshot: ${describe(lastError)}`, { cause: lastError });
    }
    const endpoint = endpoints[attempt % endpoints.length] as string;
    try {
      return await open(context, endpoint, deadline, options.signal);
    } catch (error) {
      const code = grpcCode(error);
      if (code === null || !retryableBeforeHeader(code) || options.signal?.aborted) throw toClientError(error, options.signal);
      lastError = error;
      const hint = (error as grpc.ServiceError).metadata?.get(leaderAddressMetadataKey)[0];
      if (typeof hint === 'string' && hint !== '' && !endpoints.includes(hint)) endpoints.push(hint);
      if ((attempt + 1) % endpoints.length === 0) await pause(Math.min(500, Math.max(0, deadline - Date.now())), options.signal);
    }
  }
}

async function open(context: SnapshotDownloadContext, endpoint: string, deadline: number, signal: AbortSignal | undefined): Promise<SnapshotDownload> {
  const Maintenance = serviceClient('raftkv/v1/kv.proto', 'Maintenance');
  const metadata = new grpc.Metadata();
  const token = (await context.token?.(deadline, signal)) ?? '';
  if (token !== '') metadata.set('token', token);
  const client = new Maintenance(endpoint, grpc.credentials.createInsecure(), { channelOverride: context.channel(endpoint) });
  const call = (client as unknown as { snapshot(request: object, metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientReadableStream<SnapshotPart> }).snapshot(
    {},
    metadata,
    { deadline },
  );
  const onAbort = (): void => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  const parts = call[Symbol.asyncIterator]() as AsyncIterator<SnapshotPart>;
  const release = (): void => signal?.removeEventListener('abort', onAbort);
  let first: IteratorResult<SnapshotPart>;
  try {
    first = await parts.next();
  } catch (error) {
    release();
    throw error;
  }
  if (first.done === true || first.value.part !== 'header') {
    call.cancel();
    release();
    throw new SnapshotIntegrityError(`${endpoint}: the snapshot stream did not begin with its header`);
  }
  const header = first.value.header;
  let verified: SnapshotDownload['verified'] = null;
  let iterated = false;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    if (iterated) throw new Error('SnapshotDownload.chunks() may be iterated once');
    iterated = true;
    const tally = new SnapshotStreamTally();
    try {
      for (;;) {
        let next: IteratorResult<SnapshotPart>;
        try {
          next = await parts.next();
        } catch (error) {
          throw toClientError(error, signal, true);
        }
        if (next.done === true) throw new SnapshotIntegrityError(`${endpoint}: the snapshot stream ended after ${tally.chunks} chunks without its trailer`);
        const part = next.value;
        if (part.part === 'data') {
          tally.add(part.data);
          yield part.data;
          continue;
        }
        if (part.part !== 'trailer') throw new SnapshotIntegrityError(`${endpoint}: unexpected ${part.part} after ${tally.chunks} chunks`);
        const mismatch = tally.mismatch({ sha256: part.trailer.sha256, chunks: part.trailer.chunks, bytes: part.trailer.bytes });
        if (mismatch !== null) throw new SnapshotIntegrityError(`${endpoint}: ${mismatch}`);
        verified = { sha256: Buffer.from(part.trailer.sha256).toString('hex'), chunks: tally.chunks, bytes: tally.bytes };
        return;
      }
    } finally {
      if (verified === null) call.cancel();
      release();
    }
  }
  return {
    revision: header.revision,
    term: header.term,
    memberId: header.memberId,
    clusterId: header.clusterId,
    format: header.format,
    endpoint,
    chunks,
    get verified() {
      return verified;
    },
    cancel: () => call.cancel(),
  };
}

/** Before any data: another node (or the same one, a moment later) may serve it. */
function retryableBeforeHeader(code: grpc.status): boolean {
  return code === grpc.status.UNAVAILABLE || code === grpc.status.FAILED_PRECONDITION || code === grpc.status.RESOURCE_EXHAUSTED;
}

/** The status code of a failed gRPC call; null for any other error (the SDK's own are typed already). */
function grpcCode(error: unknown): grpc.status | null {
  const code = (error as Partial<grpc.ServiceError> | null)?.code;
  return typeof code === 'number' ? code : null;
}

function toClientError(error: unknown, signal: AbortSignal | undefined, midStream = false): Error {
  const status = error as grpc.ServiceError;
  const where = midStream ? 'the snapshot stream failed: ' : '';
  switch (grpcCode(error)) {
    case null:
      return error as Error;
    case grpc.status.CANCELLED:
      return new CancelledError(`${where}the snapshot was cancelled`, { cause: signal?.reason ?? error });
    case grpc.status.DEADLINE_EXCEEDED:
      return new TimeoutError(`${where}the snapshot did not complete within its deadline`, { cause: error });
    case grpc.status.INVALID_ARGUMENT:
      return new InvalidArgumentError('snapshot', status.details);
    case grpc.status.PERMISSION_DENIED:
      return permissionDenied(status.details, error);
    case grpc.status.UNAUTHENTICATED:
      return new AuthenticationError(status.details, { cause: error });
    case grpc.status.RESOURCE_EXHAUSTED:
      return new OverloadedError(`${where}${status.details}`, { cause: error });
    case grpc.status.UNAVAILABLE:
      return new UnavailableError(`${where}${status.details}`, { cause: error });
    default:
      return new ServerError(`${where}${status.details ?? String(error)}`, status.code);
  }
}

function describe(error: unknown): string {
  const status = error as grpc.ServiceError;
  return status?.details ? `${grpc.status[status.code] ?? status.code}: ${status.details}` : String(error);
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
