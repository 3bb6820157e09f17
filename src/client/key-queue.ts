/**
 * The queue under locks and elections (etcd's concurrency package): each waiter owns one key
 * `<name>/<lease id in hex>` attached to its session's lease; the key with the smallest create
 * revision holds the lock (leads), and each waiter watches only the key created just before its
 * own, so a release wakes one waiter, not all of them.
 */
import { CompactedError } from '../kv/errors.js';
import { CancelledError, InvalidArgumentError, LeaseNotFoundError, LeaseSessionExpiredError, TimeoutError } from './errors.js';
import type { Bytes, KeyValue } from './key-value.js';
import type { RaftKvClient } from './kv-client.js';
import type { LeaseSession } from './lease-session.js';
import { txnCompare, txnOp, type TxnOp, type TxnOpResult } from './txn.js';

/** The keys under `prefix` as of `revision` (pages of a large queue may be read at later revisions). */
export interface PrefixRead {
  readonly kvs: readonly KeyValue[];
  readonly revision: number;
}

/** `<name>/`, checked. */
export function queuePrefix(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('name', 'must be a non-empty string');
  return name.endsWith('/') ? name : `${name}/`;
}

/** The first key after every key starting with `prefix` (empty: none is, read to the end). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Every key under `prefix`, through read-only (linearizable) transactions, which also name their revision. */
export async function readPrefix(client: RaftKvClient, prefix: string, signal: AbortSignal): Promise<PrefixRead> {
  const end = prefixEnd(Buffer.from(prefix, 'utf8'));
  const kvs: KeyValue[] = [];
  let from: Buffer = Buffer.from(prefix, 'utf8');
  let revision = 0;
  for (;;) {
    const result = await client.txn({ success: [txnOp.get(from, { rangeEnd: end })] }, { signal });
    const page = result.responses[0];
    if (page === undefined || !('get' in page)) throw new Error('a read-only txn answered without its get');
    if (revision === 0) revision = result.revision;
    kvs.push(...page.get.kvs);
    const last = page.get.kvs.at(-1);
    if (!page.get.more || last === undefined) return { kvs, revision };
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

/** The queue's head: the key with the smallest create revision, or null. */
export function queueHead(kvs: Iterable<KeyValue>): KeyValue | null {
  let head: KeyValue | null = null;
  for (const kv of kvs) if (head === null || kv.createRevision < head.createRevision) head = kv;
  return head;
}

/** A transaction get of the queue's head: the key under `prefix` created first (etcd's WithFirstCreate). */
export function headOp(prefix: string): TxnOp {
  return txnOp.get(prefix, { rangeEnd: prefixEnd(Buffer.from(prefix, 'utf8')), sort: { target: 'create', order: 'ascend' }, limit: 1 });
}

/**
 * A transaction get of the key under `prefix` created last before `createRevision` (etcd's
 * waitDeletes: max create revision, sorted by create revision descending, limit 1).
 */
export function predecessorOp(prefix: string, createRevision: number): TxnOp {
  return txnOp.get(prefix, { rangeEnd: prefixEnd(Buffer.from(prefix, 'utf8')), maxCreateRevision: createRevision - 1, sort: { target: 'create', order: 'descend' }, limit: 1 });
}

/**
 * The one key a head or predecessor get answered (null: none), or undefined when the server
 * ignored the range options: a server older than them answers in key order without a count,
 * so a non-empty answer with count 0 gives it away. The caller then reads the whole queue.
 */
function onlyKey(result: TxnOpResult | undefined): KeyValue | null | undefined {
  if (result === undefined || !('get' in result)) throw new Error('a queue read answered without its get');
  const { kvs, count } = result.get;
  if (kvs.length > 0 && count === 0) return undefined;
  return kvs[0] ?? null;
}

/** The queue's head (linearizable), through one small read: null when the queue is empty. */
export async function readHead(client: RaftKvClient, prefix: string, signal: AbortSignal): Promise<KeyValue | null> {
  const result = await client.txn({ success: [headOp(prefix)] }, { signal });
  const head = onlyKey(result.responses[0]);
  return head === undefined ? queueHead((await readPrefix(client, prefix, signal)).kvs) : head;
}

/** The session's key in the queue, as the transaction that queued it saw it. */
export interface Queued {
  readonly kv: KeyValue;
  /** The transaction created the key (else the session had it already). */
  readonly created: boolean;
  /** No key of the queue was created before it, as of `revision`: it holds the lock (leads) already. */
  readonly first: boolean;
  /** The transaction's revision. */
  readonly revision: number;
}

/**
 * Puts the session's key under `prefix` with `value` unless it exists (create revision 0
 * compare), and returns it as created or found, with whether it is first in line: the same
 * transaction reads the queue's head (one key, however long the queue), so an uncontended lock
 * costs one write. A key the session already has is returned as it is (re-entrance, as etcd):
 * its value is not changed.
 */
export async function enqueue(session: LeaseSession, prefix: string, value: Bytes, signal: AbortSignal): Promise<Queued> {
  const key = `${prefix}${session.leaseId.toString(16)}`;
  const head = headOp(prefix);
  try {
    const result = await session.client.txn(
      {
        compare: [txnCompare.create(key, 'equal', 0)],
        success: [txnOp.put(key, value, { lease: session.leaseId }), txnOp.get(key), head],
        failure: [txnOp.get(key), head],
      },
      { signal },
    );
    const [own, first] = result.responses.slice(-2);
    const kv = own !== undefined && 'get' in own ? own.get.kvs[0] : undefined;
    // Both branches read the key at the transaction's own revision, after the put or the compare: it is there.
    if (kv === undefined) throw new Error(`the queue key ${key} is missing from its own transaction's result`);
    const headKv = onlyKey(first);
    // A server that ignored the options (undefined): waitForTurn looks at the queue again.
    return { kv, created: result.succeeded, first: headKv !== undefined && headKv !== null && headKv.createRevision >= kv.createRevision, revision: result.revision };
  } catch (error) {
    if (error instanceof LeaseNotFoundError) throw sessionLost(session, error);
    throw error;
  }
}

/**
 * Waits until no key under `prefix` was created before `own`: watches the one just before it
 * until it is deleted, then looks again (the one before that may be gone too, or still there).
 * Each look is one read-only transaction returning at most two keys (`own` and its
 * predecessor), however long the queue. Resolves with the last look: `own` as it then was
 * (undefined: gone with its lease, which would look like our turn too) and the revision read.
 * Aborting `signal` ends the wait with its reason.
 */
export async function waitForTurn(client: RaftKvClient, prefix: string, own: KeyValue, signal: AbortSignal): Promise<{ own: KeyValue | undefined; revision: number }> {
  for (;;) {
    signal.throwIfAborted();
    // Revision 1 has no revision before it (and a max create revision of 0 would mean no bound).
    const lookBack = own.createRevision > 1;
    const result = await client.txn({ success: [txnOp.get(own.key), ...(lookBack ? [predecessorOp(prefix, own.createRevision)] : [])] }, { signal });
    const [ownRead, predecessorRead] = result.responses;
    if (ownRead === undefined || !('get' in ownRead)) throw new Error('a queue read answered without its get');
    const current = ownRead.get.kvs.find((kv) => kv.createRevision === own.createRevision);
    let predecessor = lookBack ? onlyKey(predecessorRead) : null;
    let revision = result.revision;
    if (predecessor === undefined) {
      // A server older than range options: read the whole queue, as before them.
      const read = await readPrefix(client, prefix, signal);
      revision = read.revision;
      predecessor = null;
      for (const kv of read.kvs) {
        if (kv.createRevision < own.createRevision && (predecessor === null || kv.createRevision > predecessor.createRevision)) predecessor = kv;
      }
      if (predecessor === null) return { own: read.kvs.find((kv) => kv.key.equals(own.key) && kv.createRevision === own.createRevision), revision };
    }
    if (predecessor === null) return { own: current, revision };
    await waitForDelete(client, predecessor, signal);
  }
}

/** Resolves once `kv.key` is deleted after `kv.modRevision` (or the history to tell was compacted: look again). */
async function waitForDelete(client: RaftKvClient, kv: KeyValue, signal: AbortSignal): Promise<void> {
  const watcher = client.watch(kv.key, { startRevision: kv.modRevision + 1, signal });
  try {
    for await (const batch of watcher) {
      if (batch.kind === 'events' && batch.events.some((event) => event.type === 'delete')) return;
    }
    // The iteration ends without a delete only when the signal aborted it.
    signal.throwIfAborted();
  } catch (error) {
    if (error instanceof CompactedError) return;
    throw error;
  } finally {
    watcher.cancel();
  }
}

/**
 * Runs `body` under one signal that aborts with a typed error when the caller's signal aborts
 * (CancelledError), the deadline passes (TimeoutError) or the session ends (its reason); errors
 * of calls cut short by it are replaced by that reason.
 */
export async function withinScope<T>(
  what: string,
  session: LeaseSession,
  options: { signal?: AbortSignal; timeoutMs?: number },
  body: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { timeoutMs } = options;
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) throw new InvalidArgumentError('timeoutMs', `must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  const controller = new AbortController();
  const onCancel = (): void => controller.abort(new CancelledError(`${what}: cancelled`, { cause: options.signal?.reason }));
  const onSessionEnd = (): void => controller.abort(session.signal.reason);
  const timer = timeoutMs === undefined ? null : setTimeout(() => controller.abort(new TimeoutError(`${what}: not done within ${timeoutMs} ms`)), timeoutMs);
  timer?.unref();
  if (options.signal?.aborted) onCancel();
  else options.signal?.addEventListener('abort', onCancel, { once: true });
  if (session.signal.aborted) onSessionEnd();
  else session.signal.addEventListener('abort', onSessionEnd, { once: true });
  try {
    controller.signal.throwIfAborted();
    return await body(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason as Error;
    throw error;
  } finally {
    if (timer !== null) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCancel);
    session.signal.removeEventListener('abort', onSessionEnd);
  }
}

/** Deletes the session's key if it is still the one created at `createRevision`; whether it was. */
export async function dequeue(client: RaftKvClient, key: Buffer, createRevision: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
  const result = await client.txn({ compare: [txnCompare.create(key, 'equal', createRevision)], success: [txnOp.delete(key)] }, options);
  return result.succeeded;
}

export function sessionLost(session: LeaseSession, cause: unknown): LeaseSessionExpiredError {
  return new LeaseSessionExpiredError(session.leaseId, `lease session ${session.leaseId.toString(16)}: its lease is gone, and with it the session's keys`, { cause });
}

/**
 * Watches a held key (from just after `revision`) and calls `onLost` once when it is deleted, or
 * when the session ends; `stop()` ends the watch without calling it.
 */
export function monitorHeldKey(session: LeaseSession, key: Buffer, revision: number, onLost: (cause: Error) => void): { stop(): void } {
  const controller = new AbortController();
  let stopped = false;
  const lose = (cause: Error): void => {
    if (stopped) return;
    stopped = true;
    controller.abort();
    session.signal.removeEventListener('abort', onSessionEnd);
    onLost(cause);
  };
  const onSessionEnd = (): void => lose(session.signal.reason as Error);
  if (session.signal.aborted) {
    onSessionEnd();
    return { stop: () => undefined };
  }
  session.signal.addEventListener('abort', onSessionEnd, { once: true });
  void (async () => {
    let from = revision + 1;
    while (!stopped) {
      let watcher: ReturnType<RaftKvClient['watch']> | null = null;
      try {
        watcher = session.client.watch(key, { startRevision: from, signal: controller.signal });
        for await (const batch of watcher) {
          const deleted = batch.kind === 'events' ? batch.events.find((event) => event.type === 'delete') : undefined;
          if (deleted !== undefined) return lose(new Error(`the key was deleted at revision ${deleted.revision}`));
        }
        return;
      } catch (error) {
        if (stopped) return;
        // Compacted past our resume point (or the watch failed for good): look at the key itself, then watch on from there.
        try {
          const result = await session.client.txn({ success: [txnOp.get(key)] }, { signal: controller.signal });
          const get = result.responses[0];
          if (get === undefined || !('get' in get) || get.get.kvs.length === 0) return lose(new Error('the key is gone', { cause: error }));
          from = result.revision + 1;
        } catch {
          // The cluster is out of reach: try again; the session's own expiry ends this if it lasts.
          if (stopped) return;
          await new Promise((resolve) => setTimeout(resolve, 1000).unref());
        }
      } finally {
        watcher?.cancel();
      }
    }
  })();
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      controller.abort();
      session.signal.removeEventListener('abort', onSessionEnd);
    },
  };
}
