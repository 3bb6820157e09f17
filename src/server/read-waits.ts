import type { Index, ReadIndexResult, ReadState } from '../raft/index.js';
import { deferred, type Deferred } from '../shared/deferred.js';
import { LeaderChangedError, NotLeaderError, OverloadedError, TimeoutError } from '../shared/errors.js';

/** Asks the core for a read point under `context` (RaftCore.readIndex), and wakes the drive loop. */
export type RequestReadIndex = (context: string) => ReadIndexResult;

/** How long a sent batch may stay unanswered before its request goes again (etcd's readIndexRetryTime). */
export const readIndexResendMsDefault = 500;

interface PendingRead {
  readonly result: Deferred<void>;
  readonly timer: NodeJS.Timeout;
  readonly batch: ReadBatch;
}

interface ReadBatch {
  /** Cluster-unique: the node id and incarnation, then a sequence number. */
  readonly context: string;
  // Invariant: only reads not yet settled (a read that timed out leaves its batch).
  readonly reads: Set<PendingRead>;
}

/**
 * Linearizable reads in flight, in batches (thesis §6.4, as etcd's linearizableReadLoop): at
 * most one ReadIndex request per node is outstanding. Reads that arrive while it is go into the
 * next batch, which is sent, under one context, as soon as the outstanding one is answered. So a
 * follower sends the leader one message per batch, not per read, and the leader confirms a batch
 * with one heartbeat round. A batch's read point is obtained after every read in it arrived,
 * which is what makes serving them at it linearizable; a read arriving while a request is out
 * must not use that request's answer (its index may predate a write the read must see), hence it
 * waits for the next. Once answered, the batch's reads are released together when the state
 * machine has applied up to its index (step 4).
 *
 * Every read still has its own deadline. A lost request or answer is sent again after
 * `resendMs` under the same context (the leader ignores a context it is already confirming; a
 * second answer is ignored here). A leadership change fails the outstanding batch at once
 * (LeaderChangedError; nothing was read, retrying is safe): the old leader forgot it.
 */
export class ReadWaits {
  // Invariant: null, or the batch whose request is sent and unanswered.
  private outstanding: ReadBatch | null = null;
  private resendTimer: NodeJS.Timeout | null = null;
  /** Reads that arrived after the outstanding request went: they go with the next one. */
  private next: ReadBatch | null = null;
  /** Answered batches waiting for the state machine to apply their index, in answer order. */
  private readonly confirmed: { readonly batch: ReadBatch; readonly index: Index }[] = [];
  // Invariant: the number of unsettled reads in next, outstanding and confirmed.
  private pending = 0;
  private sequence = 0;
  /** Reads registered and ReadIndex requests made (resends included), since start. */
  readonly counts = { reads: 0, requests: 0 };

  constructor(
    private readonly contextPrefix: string,
    private readonly pendingMax: number,
    private readonly request: RequestReadIndex,
    private readonly resendMs: number = readIndexResendMsDefault,
  ) {}

  /** Unsettled reads. */
  get size(): number {
    return this.pending;
  }

  /**
   * Registers a read; resolves when local state may be read, rejects with TimeoutError after
   * `timeoutMs`, NotLeaderError (no leader known), OverloadedError or LeaderChangedError. The
   * prefix (node id and start time) keeps contexts unique across restarts.
   */
  begin(timeoutMs: number): Promise<void> {
    if (this.pending >= this.pendingMax) {
      return Promise.reject(new OverloadedError(`${this.pending} linearizable reads are already waiting`));
    }
    this.next ??= { context: `${this.contextPrefix}:${++this.sequence}`, reads: new Set() };
    const batch = this.next;
    const result = deferred<void>();
    const timer = setTimeout(() => this.expire(read, timeoutMs), timeoutMs);
    timer.unref();
    const read: PendingRead = { result, timer, batch };
    batch.reads.add(read);
    this.pending++;
    this.counts.reads++;
    this.maybeSend();
    return result.promise;
  }

  /** Records answered read points, releases every read whose index is applied, and sends the next batch. */
  onReadStates(readStates: readonly ReadState[], applied: Index): void {
    const outstanding = this.outstanding;
    if (outstanding !== null) {
      const answer = readStates.find((state) => state.context === outstanding.context);
      if (answer !== undefined) {
        this.clearOutstanding();
        if (outstanding.reads.size > 0) this.confirmed.push({ batch: outstanding, index: answer.index });
      }
    }
    this.release(applied);
    this.maybeSend();
  }

  /** Releases every answered batch whose index the state machine has applied. */
  release(applied: Index): void {
    for (let i = 0; i < this.confirmed.length; ) {
      const { batch, index } = this.confirmed[i] as { batch: ReadBatch; index: Index };
      if (index > applied) {
        i++;
        continue;
      }
      this.confirmed.splice(i, 1);
      this.settle(batch, null);
    }
  }

  /** Role, leader or term changed: the outstanding request is lost with the old leader's queue. */
  onLeadershipChange(): void {
    const outstanding = this.outstanding;
    if (outstanding === null) return;
    this.clearOutstanding();
    this.settle(outstanding, new LeaderChangedError('the leader changed while this read waited for its confirmation; nothing was read, retry'));
    this.maybeSend();
  }

  failAll(error: Error): void {
    const outstanding = this.outstanding;
    this.clearOutstanding();
    if (outstanding !== null) this.settle(outstanding, error);
    if (this.next !== null) this.settle(this.next, error);
    this.next = null;
    for (const { batch } of this.confirmed.splice(0)) this.settle(batch, error);
  }

  /** Sends the next batch if no request is outstanding; a refused request fails the batch. */
  private maybeSend(): void {
    if (this.outstanding !== null || this.next === null) return;
    const batch = this.next;
    this.next = null;
    if (batch.reads.size === 0) return;
    this.outstanding = batch;
    this.send(batch);
  }

  private send(batch: ReadBatch): void {
    this.counts.requests++;
    const result = this.request(batch.context);
    if (!result.ok) {
      this.clearOutstanding();
      this.settle(
        batch,
        result.reason === 'too-many-pending-reads' ? new OverloadedError('too many reads are waiting for confirmation') : new NotLeaderError(null, null),
      );
      this.maybeSend();
      return;
    }
    if (this.resendTimer !== null) clearTimeout(this.resendTimer);
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (this.outstanding === batch) this.send(batch);
    }, this.resendMs);
    this.resendTimer.unref();
  }

  private expire(read: PendingRead, timeoutMs: number): void {
    if (!read.batch.reads.delete(read)) return;
    this.pending--;
    read.result.reject(new TimeoutError(`read not confirmed by a quorum within ${timeoutMs} ms`));
    // A request no read waits for any more need not hold up the next batch.
    if (read.batch === this.outstanding && read.batch.reads.size === 0) {
      this.clearOutstanding();
      this.maybeSend();
    }
  }

  private clearOutstanding(): void {
    this.outstanding = null;
    if (this.resendTimer !== null) clearTimeout(this.resendTimer);
    this.resendTimer = null;
  }

  /** Resolves (error null) or rejects every read left in the batch. */
  private settle(batch: ReadBatch, error: Error | null): void {
    for (const read of batch.reads) {
      clearTimeout(read.timer);
      if (error === null) read.result.resolve();
      else read.result.reject(error);
    }
    this.pending -= batch.reads.size;
    batch.reads.clear();
  }
}
