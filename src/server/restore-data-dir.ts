import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BackupFileError, readBackupFile, syncDirectory, type BackupSummary } from '../kv/index.js';
import type { Membership, NodeId } from '../raft/index.js';
import { ConfigError, RaftKvError } from '../shared/errors.js';
import { NodeStore, RaftLogStore, encodeLogPosition, smMetaKeys } from '../storage/index.js';
import { withAddressBook } from './address-book.js';

/** A restore that cannot proceed for a reason other than the file: the data directory is in the way. */
export class RestoreError extends RaftKvError {
  override readonly name = 'RestoreError';
  readonly code = 'RESTORE';
}

export interface RestoreOptions {
  /** The backup file (`raftkv snapshot save`). */
  readonly file: string;
  /** The new node's data directory: absent or empty. */
  readonly dataDir: string;
  readonly id: NodeId;
  /** Every member of the new cluster, this one included (the ids matter here; addresses at start). */
  readonly peers: ReadonlyMap<NodeId, string>;
}

export interface RestoreResult {
  readonly summary: BackupSummary;
  readonly membership: Membership;
  /** The data directory, absolute. */
  readonly dataDir: string;
}

/**
 * The membership of a cluster restored from a backup: every peer a voter, with the peers'
 * addresses as its address book (conf-change.ts rule 7). Client addresses are left unknown, so
 * every member restored with the same peers stores the very same configuration; nodes learn them
 * from each other's traffic, and the next membership change writes them into the book.
 */
export function restoredMembership(peers: ReadonlyMap<NodeId, string>): Membership {
  const book = new Map([...peers].map(([id, peerAddress]) => [id, { peerAddress, clientAddress: '' }]));
  return withAddressBook({ voters: [...peers.keys()], learners: [] }, book);
}

/**
 * Seeds the data directory of one member of a NEW cluster from a backup (etcd's `snapshot
 * restore`): every member is restored from the same file with the same peers, so all start from
 * the same point and agree on it:
 *
 * - the state machine holds the file's keyspace and its users and roles, applied at its revision (no client sessions);
 * - the Raft log is empty, compacted at the revision (with the term of that entry), with a
 *   snapshot there whose membership is the peers, all voters; no vote cast, commit at the
 *   revision. A leader is elected as in any cluster and its entries continue the revisions.
 *
 * The whole file is checked before anything is written; the directory is built beside the target
 * (`.<name>.restoring-<random>`) and renamed into place only once complete and durable, so a bad
 * file, a full disk or a crash never leaves a data directory behind. Throws ConfigError for an
 * id not among the peers, RestoreError for a data directory that exists and is not empty,
 * BackupFileError for a bad file.
 */
export async function restoreDataDir(options: RestoreOptions): Promise<RestoreResult> {
  if (!options.peers.has(options.id)) {
    throw new ConfigError(`id: "${options.id}" is not in peers (${[...options.peers.keys()].join(', ')})`);
  }
  const target = resolve(options.dataDir);
  await refuseUsedDirectory(target);
  const summary = await readBackupFile(options.file);
  const membership = restoredMembership(options.peers);
  const staging = join(dirname(target), `.${basename(target)}.restoring-${randomUUID().slice(0, 8)}`);
  try {
    await mkdir(dirname(target), { recursive: true });
    await mkdir(staging);
    const store = await NodeStore.open(staging, { createIfMissing: true });
    try {
      const log = new RaftLogStore(store);
      await log.load();
      const generation = store.generation(0);
      // Read (and checked) a second time as it is written: the file is never held in memory.
      const written = await readBackupFile(options.file, {
        // The final synced write below makes these durable: LevelDB has one ordered log.
        records: (records) =>
          store.write(records.map((record) => ({ type: 'put', sublevel: record.kind === 'auth' ? generation.auth : record.kind === 'lease' ? generation.lease : generation.kv, key: record.key, value: record.value })), { sync: false }),
      });
      if (written.sha256 !== summary.sha256) throw new BackupFileError('checksum', `${options.file}: the file changed while it was being restored`);
      const { revision, term } = summary.header;
      const position = { index: revision, term };
      await log.save(
        { hardState: { term, vote: null, commit: revision }, entries: [], snapshotMeta: { ...position, membership } },
        // Generation 0 is the one in force when none is named.
        [{ type: 'put', sublevel: store.sublevels.smMeta, key: smMetaKeys.applied, value: encodeLogPosition(position) }],
      );
    } finally {
      await store.close();
    }
    await refuseUsedDirectory(target);
    // Over an absent or empty directory, rename is atomic: the target is whole or not there.
    await rename(staging, target);
    await syncDirectory(dirname(target));
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { summary, membership, dataDir: target };
}

async function refuseUsedDirectory(target: string): Promise<void> {
  let entries: string[];
  try {
    const stats = await stat(target);
    if (!stats.isDirectory()) throw new RestoreError(`data directory ${target} exists and is not a directory; restore into a new one`);
    entries = await readdir(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (entries.length > 0) {
    throw new RestoreError(`data directory ${target} already exists and is not empty; a restore seeds a new member, so give it an empty or absent directory`);
  }
}
