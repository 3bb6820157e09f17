/**
 * The ways storage fails that callers must tell apart. Broken invariants (a caller violating a
 * contract) are not here: they throw InvariantError from src/raft/assert.ts.
 */

/**
 * - STORAGE_OPEN: the data directory is missing (and not to be created), not a directory, or
 *   LevelDB refused to open it.
 * - STORAGE_LOCKED: another process (or another NodeStore in this one) holds LevelDB's LOCK.
 * - STORAGE_WRITE: a write failed. What reached the disk is unknown, so the store refuses every
 *   later write: restart the node, which reloads what is durable.
 * - STORAGE_CLOSED: the store was closed.
 */
import { RaftKvError } from '../shared/errors.js';

export type StorageErrorCode = 'STORAGE_OPEN' | 'STORAGE_LOCKED' | 'STORAGE_WRITE' | 'STORAGE_CLOSED';

/** An operating error of the node's LevelDB; `path` names the database directory. */
export class StorageError extends RaftKvError {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Stored data that cannot be what raftkv wrote: undecodable bytes, a gap in the log, a commit
 * index beyond the log. `location` names the sublevel and key (e.g. `raft-log/00000000000000ff`).
 * The node must not start on it: repair or replace the data directory.
 */
export class StorageCorruptError extends RaftKvError {
  override readonly name = 'StorageCorruptError';
  readonly code = 'STORAGE_CORRUPT';

  constructor(
    readonly location: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${location}: ${message}`, options);
  }
}
