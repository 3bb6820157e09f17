/**
 * The seam between the state machine (src/kv), which reads and stores snapshots, and the peer
 * transport (src/transport), which streams them: neither depends on the other, both on this.
 */

/** A consistent snapshot of the state machine, read out in chunks for a follower. */
export interface SnapshotReader {
  /** The last entry the snapshot's state includes: the index and term the follower installs at. */
  readonly applied: { readonly index: number; readonly term: number };
  /** The data (src/kv/snapshot-format.ts), lazily: at most one chunk in memory at a time. Ends (and closes) the reader. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Releases the database view. Idempotent. */
  close(): Promise<void>;
}

/** A snapshot being received: stored as it arrives, beside the state in force. */
export interface SnapshotWriter {
  /** Decodes, checks and stores one chunk; rejects with InvalidSnapshotError for data that is not a snapshot. */
  write(chunk: Uint8Array): Promise<void>;
  /** Every chunk arrived and the checksum matched: returns the token the Raft message carries as its data. */
  finish(): Uint8Array;
  /** Drops what was stored. Idempotent. */
  abort(): Promise<void>;
}
