import type { Message } from './message.js';
import type { Entry, HardState, Membership, NodeId, ReadState, Role, Snapshot, Term } from './types.js';

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
  /**
   * Set when the configuration in force changed: a conf-change entry was appended (or, on a
   * follower, overwritten), or a snapshot replaced the log (conf-change.ts rule 2). Informational:
   * it is a function of the log, which the driver persists anyway; use it to connect to new
   * members early. Not a sign of commit: that is the entry in `committedEntries`.
   */
  readonly membership: Membership | null;
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
    ready.membership === null &&
    ready.entries.length === 0 &&
    ready.snapshot === null &&
    ready.messages.length === 0 &&
    ready.committedEntries.length === 0 &&
    ready.readStates.length === 0
  );
}
