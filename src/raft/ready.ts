import type { Message } from './message.js';
import type { Entry, HardState, NodeId, ReadState, Role, Snapshot, Term } from './types.js';

/** Volatile state worth telling the driver about when it changes. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: Term;
}

/**
 * Everything the driver must do, in this order (the contract of etcd's Ready):
 * 1. persist `snapshot`, then `entries` (overwriting any persisted entries at the same or higher
 *    indexes) and `hardState`, durably, in one atomic write;
 * 2. only then send `messages` (votes and acknowledgements promise what was just persisted);
 * 3. install `snapshot` into the state machine if there is one, then apply `committedEntries`
 *    in order, and serve `readStates` once the state machine has applied their index;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  /** Set when term, vote or commit changed since the last Ready. */
  readonly hardState: HardState | null;
  /** Set when the role, leader or term changed. */
  readonly softState: SoftState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** True when a Ready carries nothing to do. */
export function isEmptyReady(ready: Ready): boolean {
  return (
    ready.hardState === null &&
    ready.softState === null &&
    ready.entries.length === 0 &&
    ready.snapshot === null &&
    ready.messages.length === 0 &&
    ready.committedEntries.length === 0 &&
    ready.readStates.length === 0
  );
}
