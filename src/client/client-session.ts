import { randomUUID } from 'node:crypto';

/** Half the server's 1024 remembered results per session (src/kv/sessions.ts). */
export const sessionUnacknowledgedSpanMax = 512;

/**
 * The client's exactly-once session (Raft thesis §6.3): a random id and a sequence number per
 * write. acked_sequence tells the server every sequence below the oldest one still in flight has
 * been answered (or given up on), so it may forget their results.
 */
export class ClientSession {
  readonly clientId = randomUUID();
  private nextSequence = 1;
  // Invariant: every sequence issued and not yet finished (answered or given up on).
  private readonly inFlight = new Set<number>();

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

  header(sequence: number): { clientId: string; sequence: number; ackedSequence: number } {
    return { clientId: this.clientId, sequence, ackedSequence: this.oldestInFlight() - 1 };
  }

  private oldestInFlight(): number {
    let oldest = this.nextSequence;
    for (const s of this.inFlight) if (s < oldest) oldest = s;
    return oldest;
  }
}
