/**
 * What watchers are told: the changes applying committed entries made, in revision order. The
 * state machine reports them as batches become visible (live) and reads them back from its
 * history (catching up); both give the same events for the same revisions.
 */
import type { Index } from '../raft/index.js';
import type { KeyValue } from './key-record.js';

/** One change to one key. Revisions are log indexes; a transaction's changes share one revision. */
export type KvEvent =
  | {
      readonly type: 'put';
      readonly revision: Index;
      /** The key after the write (its modRevision is `revision`). */
      readonly kv: KeyValue;
      /** The key before the write; null when it was absent. */
      readonly prevKv: KeyValue | null;
    }
  | {
      readonly type: 'delete';
      readonly revision: Index;
      readonly key: Uint8Array;
      /** The key before the delete (a delete of an absent key is no event). */
      readonly prevKv: KeyValue;
    };

/** What a listener of the state machine's changes is told, in apply order. */
export type StateChange =
  /**
   * One apply batch became visible: its events (possibly none: no-ops, session entries) and the
   * applied index after it, the revision up to which every event has now been reported.
   */
  | { readonly kind: 'events'; readonly events: readonly KvEvent[]; readonly revision: Index }
  /**
   * A snapshot was installed: the state jumped to `revision` without reporting the events in
   * between. A listener reads them from history (readEvents) or gives up with CompactedError.
   */
  | { readonly kind: 'reset'; readonly revision: Index };
