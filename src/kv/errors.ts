/** Typed errors of the key-value state machine. Broken invariants throw InvariantError instead. */
import type { Index, Term } from '../raft/index.js';
import { InvalidArgumentError as SharedInvalidArgumentError, RaftKvError } from '../shared/errors.js';

/**
 * A command or read request that breaks a limit or rule (empty key, value too large, acked
 * sequence not below the sequence, range limit too high...). `field` names the offending field
 * and `limit` the bound, so the server can answer INVALID_ARGUMENT naming both. Nothing was done.
 */
export class InvalidArgumentError extends SharedInvalidArgumentError {
  constructor(
    field: string,
    readonly limit: string,
    message: string,
  ) {
    super(field, `${message} (${limit})`);
  }
}

/** Bytes that are not a command this version of raftkv can read; `cause` says why. */
export class CommandDecodeError extends RaftKvError {
  override readonly name = 'CommandDecodeError';
  readonly code = 'COMMAND_DECODE';
}

/**
 * A committed entry whose command cannot be decoded. Every replica holds the same entry, so
 * skipping it would be arbitrary and re-proposing impossible: this is a bug (a proposal that
 * bypassed encodeCommand) or corruption, and the node must stop.
 */
export class CorruptCommittedEntryError extends RaftKvError {
  override readonly name = 'CorruptCommittedEntryError';
  readonly code = 'KV_CORRUPT_ENTRY';

  constructor(
    readonly index: Index,
    readonly term: Term,
    options: { cause: unknown },
  ) {
    super(`committed entry ${index} (term ${term}) is not a valid command`, options);
  }
}

/**
 * An apply failed after it had changed in-memory state (sessions) that did not reach the disk,
 * so this state machine no longer matches its database: reopen it (restart the node). `cause`
 * is the original failure.
 */
export class StateMachineFailedError extends RaftKvError {
  override readonly name = 'StateMachineFailedError';
  readonly code = 'KV_FAILED';

  constructor(options: { cause: unknown }) {
    super('an earlier apply failed; the state machine must be reopened', options);
  }
}

/**
 * A read or watch at a revision older than the history the state machine still holds: the
 * versions below `compactRevision` were dropped by compaction. Nothing is returned rather than
 * a silent gap.
 */
export class CompactedError extends RaftKvError {
  override readonly name = 'CompactedError';
  readonly code = 'KV_COMPACTED';

  constructor(
    readonly requestedRevision: Index,
    /** The oldest revision still held: reads and watches from it on work. */
    readonly compactRevision: Index,
  ) {
    super(`revision ${requestedRevision} has been compacted; the oldest revision held is ${compactRevision}`);
  }
}

/** A read at a revision this node has not applied yet (etcd's "future revision"). */
export class FutureRevisionError extends RaftKvError {
  override readonly name = 'FutureRevisionError';
  readonly code = 'KV_FUTURE_REVISION';

  constructor(
    readonly requestedRevision: Index,
    readonly currentRevision: Index,
  ) {
    super(`revision ${requestedRevision} is a future revision; the current revision is ${currentRevision}`);
  }
}
