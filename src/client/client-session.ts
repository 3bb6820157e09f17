import * as grpc from '@grpc/grpc-js';

/**
 * The client's exactly-once session (Raft thesis §6.3): an id the cluster assigned when the
 * session was registered through the log, and a sequence number per write. acked_sequence tells
 * the server every sequence below the oldest one still in flight has been answered (or given up
 * on), so it may forget their results.
 */
export class ClientSession {
  private nextSequence = 1;
  // Invariant: every sequence issued and not yet finished (answered or given up on).
  private readonly inFlight = new Set<number>();

  /**
   * `clientId`: what RegisterSession answered. `unacknowledgedSpanMax`: how far the span may
   * grow before the client moves new writes to a new session (see `unacknowledgedSpanMaxFor`).
   */
  constructor(
    readonly clientId: string,
    readonly unacknowledgedSpanMax: number,
  ) {}

  begin(): number {
    const sequence = this.nextSequence++;
    this.inFlight.add(sequence);
    return sequence;
  }

  end(sequence: number): void {
    this.inFlight.delete(sequence);
  }

  /**
   * How many sequences the server may hold results of for this session: from the oldest write
   * still in flight to the newest issued (not only those in flight: answered ones above the
   * oldest are not acknowledged yet).
   */
  get unacknowledgedSpan(): number {
    return this.nextSequence - this.oldestInFlight();
  }

  /** Whether new writes should go to a new session, so that the oldest result is never dropped. */
  get full(): boolean {
    return this.unacknowledgedSpan >= this.unacknowledgedSpanMax;
  }

  /**
   * Whether to register the next session now, in the background, so that writes do not wait a
   * round-trip for it once this one is full. At three quarters: a client with many writes in
   * flight (256 keep the span at 256 and above) should not churn through sessions.
   */
  get nearlyFull(): boolean {
    return this.unacknowledgedSpan >= Math.ceil((this.unacknowledgedSpanMax * 3) / 4);
  }

  header(sequence: number): { clientId: string; sequence: number; ackedSequence: number } {
    return { clientId: this.clientId, sequence, ackedSequence: this.oldestInFlight() - 1 };
  }

  private oldestInFlight(): number {
    let oldest = this.nextSequence;
    for (const s of this.inFlight) if (s < oldest) oldest = s;
    return oldest;
  }
}

/**
 * Half the cluster's results remembered per session (RegisterSession answers it; 1024 by
 * default): the server keeps every result above the acknowledged sequence, answered or not, so
 * one slow write holds all later ones; moving to a new session at half the bound leaves the
 * slow write's result remembered.
 */
export function unacknowledgedSpanMaxFor(resultsPerSessionMax: number): number {
  return Math.max(1, Math.floor(resultsPerSessionMax / 2));
}

/** What one failed attempt of a write says about whether that attempt was applied. */
export type AttemptOutcome = 'not-applied' | 'unknown';

/**
 * What a failed attempt's gRPC status says (kv.proto). Only refusals the server gives before it
 * proposes anything, or the state machine's refusal of an unknown session, are definite:
 * FAILED_PRECONDITION (not the leader), RESOURCE_EXHAUSTED (overloaded, or too large to send),
 * INVALID_ARGUMENT, ABORTED (session not registered). Anything else (a deadline, a broken
 * connection, a node shutting down, OUT_OF_RANGE, an internal error) may have followed a
 * proposal that commits: unknown.
 */
export function attemptOutcome(code: grpc.status | undefined): AttemptOutcome {
  switch (code) {
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.RESOURCE_EXHAUSTED:
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.ABORTED:
      return 'not-applied';
    default:
      return 'unknown';
  }
}

/**
 * The attempts of one write, across sessions, and the decision when its session is found gone.
 *
 * The cluster refuses a write naming a session it does not hold (ABORTED) and never reuses a
 * session id, so once the session is gone no attempt under it can be applied any more. An
 * earlier attempt may still have been applied before the session went. Hence:
 * (a) every earlier attempt failed definitely (or there was none): the write was never applied,
 *     and sending it again under a new session is safe: `resend`;
 * (b) some earlier attempt's outcome is unknown: sending it again could apply it twice, so the
 *     write ends with its outcome unknown: `outcome-unknown`.
 */
export class WriteAttempts {
  private maybeApplied = false;
  private maybeAppliedBeforeLast = false;

  /** Records one failed attempt. */
  failed(outcome: AttemptOutcome): void {
    this.maybeAppliedBeforeLast = this.maybeApplied;
    if (outcome === 'unknown') this.maybeApplied = true;
  }

  /** Whether an attempt so far may have been applied. */
  get mayHaveApplied(): boolean {
    return this.maybeApplied;
  }

  /** Whether an attempt before the last failed one may have been applied (the last one's refusal is being judged). */
  get mayHaveAppliedBeforeLast(): boolean {
    return this.maybeAppliedBeforeLast;
  }

  /** What to do now that the write's session is gone (see the class comment). */
  afterSessionGone(): 'resend' | 'outcome-unknown' {
    return this.maybeApplied ? 'outcome-unknown' : 'resend';
  }
}
