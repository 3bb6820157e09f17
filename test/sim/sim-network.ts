import type { Message, NodeId } from '../../src/raft/index.js';
import type { SeededRng } from '../../src/shared/seeded-rng.js';

/** How unreliable the simulated network is right now. Probabilities are per mille. */
export interface NetworkConditions {
  dropPerMille: number;
  duplicatePerMille: number;
  /** Each message is delayed by 1..delayStepsMax steps, which also reorders them. */
  delayStepsMax: number;
}

/** Why the network did not deliver a message: tells the sender's transport what it would notice. */
export type DropCause = 'lost' | 'cut' | 'down';

/**
 * A fake network under the simulator's control: it delays, drops, duplicates and reorders
 * messages, and cuts links one way or both. Deterministic given the RNG.
 */
export class SimNetwork {
  private readonly inFlight = new Map<number, Message[]>();
  private readonly cutLinks = new Set<string>();
  conditions: NetworkConditions;

  constructor(
    private readonly rng: SeededRng,
    conditions: NetworkConditions,
  ) {
    this.conditions = { ...conditions };
  }

  /** Queues a message sent at step `now`; returns false if it was lost at once. */
  send(message: Message, now: number): boolean {
    if (this.rng.chance(this.conditions.dropPerMille, 1000)) return false;
    this.enqueue(message, now);
    if (this.rng.chance(this.conditions.duplicatePerMille, 1000)) this.enqueue(message, now);
    return true;
  }

  private enqueue(message: Message, now: number): void {
    const at = now + 1 + this.rng.int(this.conditions.delayStepsMax);
    const bucket = this.inFlight.get(at);
    if (bucket === undefined) this.inFlight.set(at, [message]);
    else bucket.push(message);
  }

  /** The messages due at step `now`, in a random order (a reordering network). */
  takeDue(now: number): Message[] {
    const due = this.inFlight.get(now);
    if (due === undefined) return [];
    this.inFlight.delete(now);
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [due[i], due[j]] = [due[j] as Message, due[i] as Message];
    }
    return due;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cutLinks.has(linkKey(from, to));
  }

  /** Cuts the link from `from` to `to` (one way). */
  cut(from: NodeId, to: NodeId): void {
    this.cutLinks.add(linkKey(from, to));
  }

  /** Cuts every link between the two groups, both ways. */
  split(groupA: readonly NodeId[], groupB: readonly NodeId[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.cut(a, b);
        this.cut(b, a);
      }
    }
  }

  healAll(): void {
    this.cutLinks.clear();
  }

  get cutLinkCount(): number {
    return this.cutLinks.size;
  }

  get inFlightCount(): number {
    let count = 0;
    for (const bucket of this.inFlight.values()) count += bucket.length;
    return count;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}
