import { createHash, timingSafeEqual, type Hash } from 'node:crypto';

/**
 * The seam between the state machine (src/kv), which reads and stores snapshots, and what streams
 * them (the peer transport's InstallSnapshot, the client API's Maintenance.Snapshot for backups):
 * neither side depends on the other, both on this.
 */

/** The layout of a snapshot's chunks (src/kv/snapshot-format.ts), as stream headers name it. */
export const snapshotRecordFormat = 1;

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

/** What a snapshot stream's trailer says about the chunks before it. */
export interface SnapshotStreamTrailer {
  /** SHA-256 over every chunk, in order. */
  readonly sha256: Uint8Array;
  readonly chunks: number;
  readonly bytes: number;
}

/**
 * Counts and hashes a snapshot stream's chunks: the sender builds its trailer with it, the
 * receiver checks the trailer it got against its own.
 */
export class SnapshotStreamTally {
  private readonly hash: Hash = createHash('sha256');
  private digest: Buffer | null = null;
  chunks = 0;
  bytes = 0;

  add(chunk: Uint8Array): void {
    if (this.digest !== null) throw new Error('SnapshotStreamTally: a chunk after the trailer');
    this.hash.update(chunk);
    this.chunks += 1;
    this.bytes += chunk.byteLength;
  }

  /** The trailer of what was added; no chunk may follow. */
  trailer(): SnapshotStreamTrailer {
    this.digest ??= this.hash.digest();
    return { sha256: this.digest, chunks: this.chunks, bytes: this.bytes };
  }

  /** What differs between `received` and the chunks added, or null when they match. */
  mismatch(received: SnapshotStreamTrailer): string | null {
    const own = this.trailer();
    if (received.chunks !== own.chunks || received.bytes !== own.bytes) {
      return `the trailer says ${received.chunks} chunks of ${received.bytes} bytes, received ${own.chunks} of ${own.bytes}`;
    }
    if (received.sha256.byteLength !== own.sha256.byteLength || !timingSafeEqual(received.sha256, own.sha256)) {
      return 'checksum mismatch: the data was damaged in transit';
    }
    return null;
  }
}
