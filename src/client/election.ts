/** Leader election on a lease session (etcd's concurrency.Election). */
import { CompactedError } from '../kv/errors.js';
import { dequeue, enqueue, monitorHeldKey, queueHead, queuePrefix, readHead, readPrefix, sessionLost, waitForTurn, withinScope } from './key-queue.js';
import { CancelledError, ElectionNoLeaderError, ElectionNotLeaderError } from './errors.js';
import type { Bytes, KeyValue } from './key-value.js';
import type { LeaseSession } from './lease-session.js';
import { txnCompare, txnOp } from './txn.js';

/** The leader of an election: its campaign key, value and revisions. */
export interface ElectionLeader {
  /** `<name>/<lease id in hex>` of the leader's session. */
  readonly key: Buffer;
  readonly value: Buffer;
  /** When it entered the campaign: larger for every later leader (a fencing revision). */
  readonly createRevision: number;
  /** The last proclaim (or the campaign's put). */
  readonly modRevision: number;
}

export interface CampaignOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

interface Leadership {
  readonly key: Buffer;
  readonly createRevision: number;
  readonly monitor: { stop(): void };
}

/**
 * An election named `name` among the sessions that campaign in it: the candidate whose key was
 * created first leads, the others wait in line (each watching the one before it). Leadership
 * lasts until resign(), or until the session's lease is lost.
 */
export class Election {
  readonly prefix: string;
  /** Aborted when this candidate stops leading: resign (CancelledError) or lost (ElectionNotLeaderError). Replaced by each campaign. */
  private controller = new AbortController();
  private leadership: Leadership | null = null;

  constructor(
    readonly session: LeaseSession,
    readonly name: string,
  ) {
    this.prefix = queuePrefix(name);
    this.controller.abort(new ElectionNotLeaderError(`not leading election ${JSON.stringify(name)}: no campaign`));
  }

  /** Aborted once this candidate no longer leads (before a campaign: already aborted). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** This candidate leads, as far as it knows (its key is there and its session alive). */
  get isLeader(): boolean {
    return this.leadership !== null && !this.controller.signal.aborted;
  }

  /**
   * Enters the election with `value` and waits to lead. If the session already campaigns here
   * its key is reused (its value updated). Cancelled (signal, timeout) or failed, it removes its
   * key. Resolves with the key as it leads.
   */
  async campaign(value: Bytes, options: CampaignOptions = {}): Promise<ElectionLeader> {
    return withinScope(`campaign ${JSON.stringify(this.name)}`, this.session, options, async (signal) => {
      const queued = await enqueue(this.session, this.prefix, value, signal);
      let kv = queued.kv;
      try {
        if (!queued.created && !kv.value.equals(toBuffer(value))) kv = await this.put(kv, value, signal);
        if (queued.first) {
          this.lead(kv, queued.revision);
          return leaderOf(kv);
        }
        const turn = await waitForTurn(this.session.client, this.prefix, kv, signal);
        if (turn.own === undefined) throw sessionLost(this.session, new Error(`the campaign key ${kv.key.toString()} is gone`));
        this.lead(turn.own, turn.revision);
        return leaderOf(turn.own);
      } catch (error) {
        await dequeue(this.session.client, kv.key, kv.createRevision, { timeoutMs: 5000 }).catch(() => false);
        throw error;
      }
    });
  }

  /** Sets the leader's value, only while this candidate leads (compared on its key's create revision); else ElectionNotLeaderError. */
  async proclaim(value: Bytes, options: CampaignOptions = {}): Promise<ElectionLeader> {
    const leadership = this.leadership;
    if (leadership === null || this.controller.signal.aborted) throw new ElectionNotLeaderError(`not leading election ${JSON.stringify(this.name)}`);
    const key: KeyValue = { key: leadership.key, value: Buffer.alloc(0), version: 0, createRevision: leadership.createRevision, modRevision: 0 };
    return leaderOf(await this.put(key, value, options.signal, options.timeoutMs));
  }

  /** Stops leading (deletes the key if it is still ours), so the next candidate leads. Not leading: does nothing. */
  async resign(options: CampaignOptions = {}): Promise<void> {
    const leadership = this.leadership;
    if (leadership === null) return;
    this.leadership = null;
    leadership.monitor.stop();
    if (!this.controller.signal.aborted) this.controller.abort(new CancelledError(`resigned from election ${JSON.stringify(this.name)}`));
    await dequeue(this.session.client, leadership.key, leadership.createRevision, options);
  }

  /** The current leader (linearizable), or ElectionNoLeaderError when nobody campaigns. */
  async leader(options: CampaignOptions = {}): Promise<ElectionLeader> {
    const signal = options.signal ?? AbortSignal.timeout(options.timeoutMs ?? 30_000);
    const head = await readHead(this.session.client, this.prefix, signal);
    if (head === null) throw new ElectionNoLeaderError(this.name);
    return leaderOf(head);
  }

  /**
   * Leader changes, as they happen: the current leader first (if any), then each new leader and
   * each new value a leader proclaims, in revision order, each once. Built on one watch of the
   * election's keys (read again after a compaction the watch fell behind); the iteration ends
   * when `signal` aborts.
   */
  observe(options: { signal?: AbortSignal } = {}): AsyncIterable<ElectionLeader> {
    return observeElection(this.session, this.prefix, options.signal);
  }

  private async put(kv: KeyValue, value: Bytes, signal: AbortSignal | undefined, timeoutMs?: number): Promise<KeyValue> {
    const result = await this.session.client.txn(
      {
        compare: [txnCompare.create(kv.key, 'equal', kv.createRevision)],
        success: [txnOp.put(kv.key, value, { lease: this.session.leaseId }), txnOp.get(kv.key)],
      },
      { ...(signal === undefined ? {} : { signal }), ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    );
    const get = result.responses[1];
    const updated = result.succeeded && get !== undefined && 'get' in get ? get.get.kvs[0] : undefined;
    if (updated === undefined) {
      this.lose(new Error('its key was replaced or deleted'));
      throw new ElectionNotLeaderError(`not leading election ${JSON.stringify(this.name)}: its key ${kv.key.toString()} is gone`);
    }
    return updated;
  }

  private lead(kv: KeyValue, revision: number): void {
    this.leadership?.monitor.stop();
    this.controller = new AbortController();
    const monitor = monitorHeldKey(this.session, kv.key, revision, (cause) => this.lose(cause));
    this.leadership = { key: kv.key, createRevision: kv.createRevision, monitor };
  }

  private lose(cause: Error): void {
    this.leadership?.monitor.stop();
    this.leadership = null;
    if (!this.controller.signal.aborted) this.controller.abort(new ElectionNotLeaderError(`lost the lead of election ${JSON.stringify(this.name)}: ${cause.message}`, { cause }));
  }
}

async function* observeElection(session: LeaseSession, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<ElectionLeader> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  if (signal?.aborted) return;
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const candidates = new Map<string, KeyValue>();
    let shown: KeyValue | null = null;
    const changed = (): KeyValue | null => {
      const head = queueHead(candidates.values());
      if (head === null || (shown !== null && head.key.equals(shown.key) && head.createRevision === shown.createRevision && head.modRevision === shown.modRevision)) return null;
      shown = head;
      return head;
    };
    for (;;) {
      let read;
      try {
        read = await readPrefix(session.client, prefix, controller.signal);
      } catch (error) {
        if (controller.signal.aborted) return;
        throw error;
      }
      candidates.clear();
      for (const kv of read.kvs) candidates.set(kv.key.toString('hex'), kv);
      const current = changed();
      if (current !== null) yield leaderOf(current);
      const watcher = session.client.watch(prefix, { prefix: true, startRevision: read.revision + 1, signal: controller.signal });
      try {
        for await (const batch of watcher) {
          if (batch.kind !== 'events') continue;
          for (const event of batch.events) {
            if (event.type === 'delete') candidates.delete(event.key.toString('hex'));
            else if (event.kv !== null) candidates.set(event.key.toString('hex'), event.kv);
          }
          const next = changed();
          if (next !== null) yield leaderOf(next);
        }
        return;
      } catch (error) {
        // The watch fell behind a compaction: read the candidates again and go on from there (a
        // leader that came and went within the compacted revisions is not reported).
        if (!(error instanceof CompactedError)) throw error;
      } finally {
        watcher.cancel();
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

function leaderOf(kv: KeyValue): ElectionLeader {
  return { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision };
}

function toBuffer(bytes: Bytes): Buffer {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
