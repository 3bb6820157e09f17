import type { AppliedResult, CasCompare, KeyCommand } from './commands.js';
import type { KeyRecord } from './key-record.js';
import { assertNever, invariant, type Index } from '../raft/index.js';
import { bytesEqual } from '../shared/binary-codec.js';

/** The effect of one command on its key. */
export interface CommandEffect {
  readonly result: AppliedResult;
  /** The key's record afterwards; null means absent (delete it if it was present). */
  readonly next: KeyRecord | null;
  /** Whether the key must be written: false when `next` is what was already stored. */
  readonly changed: boolean;
}

/**
 * Applies `command` at log index `index` to the key's `current` record (null: absent). Pure and
 * deterministic: every replica computes the same effect from the same inputs.
 *
 * Semantics (proto KeyValue): a write to an absent key creates it at version 1 with
 * createRevision = modRevision = index; a write to a present key keeps createRevision,
 * increments version and sets modRevision = index; a delete removes the key, so a later put
 * creates it afresh. A CAS on version 0 holds exactly when the key is absent; a CAS on value
 * never holds for an absent key. A put attaches the key to its lease, or to none without one
 * (the caller has checked that the lease exists). `index` must be above the key's modRevision.
 */
export function applyCommand(current: KeyRecord | null, command: KeyCommand, index: Index): CommandEffect {
  invariant(Number.isSafeInteger(index) && index > 0, () => `apply at invalid index ${index}`);
  invariant(current === null || current.modRevision < index, () => `apply at ${index}, not after modRevision ${current?.modRevision}`);
  switch (command.kind) {
    case 'put': {
      const next = written(current, command.value, index, command.lease ?? 0);
      return { result: { kind: 'put', version: next.version, modRevision: index }, next, changed: true };
    }
    case 'delete':
      return { result: { kind: 'delete', deleted: current !== null }, next: null, changed: current !== null };
    case 'cas': {
      if (!compareHolds(current, command.compare)) {
        const result = { kind: 'cas', succeeded: false, previous: current, modRevision: current?.modRevision ?? 0 } as const;
        return { result, next: current, changed: false };
      }
      const result = { kind: 'cas', succeeded: true, previous: current, modRevision: index } as const;
      switch (command.action.kind) {
        case 'put':
          // A swap's put names no lease, so it detaches the key from its lease, as a plain put does.
          return { result, next: written(current, command.action.value, index, 0), changed: true };
        case 'delete':
          return { result, next: null, changed: current !== null };
        default:
          return assertNever(command.action, 'cas action');
      }
    }
    default:
      return assertNever(command, 'command');
  }
}

/** Whether a CAS comparison holds for the key's current record. */
export function compareHolds(current: KeyRecord | null, compare: CasCompare): boolean {
  switch (compare.kind) {
    case 'value':
      return current !== null && bytesEqual(current.value, compare.value);
    case 'version':
      return (current?.version ?? 0) === compare.version;
    default:
      return assertNever(compare, 'cas compare');
  }
}

/** The key after a put at `index` attaching it to `lease` (0: none). */
export function written(current: KeyRecord | null, value: Uint8Array, index: Index, lease: number): KeyRecord {
  const base = current === null
    ? { value, version: 1, createRevision: index, modRevision: index }
    : { value, version: current.version + 1, createRevision: current.createRevision, modRevision: index };
  // No lease field at all without a lease: the record stays what it was before leases existed.
  return lease === 0 ? base : { ...base, lease };
}
