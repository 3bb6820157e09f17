import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  RaftCore,
  allMembers,
  defaultRaftTunables,
  describeMembership,
  encodeConfChange,
  isMemberOf,
  type ConfChangeOp,
  type Entry,
  type Index,
  type Membership,
  type NodeId,
  type Term,
} from '../raft/index.js';
import { RaftKvError } from '../shared/errors.js';
import { SeededRng } from '../shared/seeded-rng.js';
import { NodeStore, RaftLogStore, decodeLogPosition, decodeStored, smMetaKeys, sublevelNames } from '../storage/index.js';

/** A recovery that cannot proceed: no data directory there, or this node is not a member of it. */
export class RecoveryError extends RaftKvError {
  override readonly name = 'RecoveryError';
  readonly code = 'RECOVERY';
}

/** What a recovery would do, and what it may lose: read from the data directory, nothing written. */
export interface RecoveryPlan {
  /** The data directory, absolute. */
  readonly dataDir: string;
  readonly id: NodeId;
  /** The configuration in force in the log now (conf-change.ts rule 2). */
  readonly before: Membership;
  /** The configuration after: this node the only voter. */
  readonly after: Membership;
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** The newest index this node knows to be committed (its hard state, or what it applied). */
  readonly knownCommit: Index;
  /**
   * Entries this node holds but never learned were committed: recovery keeps and applies them,
   * although the lost majority may have overwritten them (they may never have been acknowledged).
   */
  readonly uncertainEntries: number;
  /** Where the forced configuration entry goes, and its term (above every term this node has seen). */
  readonly forcedEntry: { readonly index: Index; readonly term: Term };
}

/**
 * Reads what `recover` would do to the data directory of `id` (etcd's --force-new-cluster): its
 * configuration in force, its log, its commit point. Throws RecoveryError if `dataDir` holds no
 * node, or if `id` is not a member of its configuration (a wrong --id would recover a cluster its
 * own node is not in).
 */
export async function planRecovery(dataDir: string, id: NodeId): Promise<RecoveryPlan> {
  const directory = resolve(dataDir);
  if (!existsSync(join(directory, 'db'))) throw new RecoveryError(`--data ${directory}: no node data directory there (no db/)`);
  const store = await NodeStore.open(directory, { createIfMissing: false });
  try {
    return await readPlan(store, directory, id);
  } finally {
    await store.close();
  }
}

/**
 * Rewrites the data directory so that its node starts as the only voter of a one-node cluster,
 * keeping every entry it holds: one synced write appends a conf-change entry whose configuration
 * is this node alone, in a term above any it has seen, and marks every entry up to it committed.
 * The node then elects itself and serves; others are added back with `member add` / `--join`.
 *
 * Why an entry and not a rewrite of the stored membership: a configuration is a function of the
 * log (conf-change.ts rule 1), so a log entry is the one place a new configuration can live
 * without a conf-change entry later in the log overriding it. The term bump makes this log win
 * over any copy of the old cluster's log that comes back (§5.4.1: a higher last term is more up to
 * date), so a stale member restarted with old data cannot take over.
 */
export async function recoverDataDir(dataDir: string, id: NodeId): Promise<RecoveryPlan> {
  const directory = resolve(dataDir);
  if (!existsSync(join(directory, 'db'))) throw new RecoveryError(`--data ${directory}: no node data directory there (no db/)`);
  const store = await NodeStore.open(directory, { createIfMissing: false });
  try {
    const plan = await readPlan(store, directory, id);
    const logStore = new RaftLogStore(store);
    await logStore.load();
    const others = allMembers(plan.before).filter((member) => member !== id);
    const ops: ConfChangeOp[] = others.map((node) => ({ type: 'remove', node }));
    const forced: Entry = {
      term: plan.forcedEntry.term,
      index: plan.forcedEntry.index,
      type: 'conf-change',
      data: encodeConfChange({ kind: 'requested', ops, context: new Uint8Array(0), membership: plan.after }),
    };
    // One synced batch: the entry, the new term with this node's own vote in it, and the commit
    // index that makes every entry this node holds count as committed.
    await logStore.save({ hardState: { term: forced.term, vote: id, commit: forced.index }, entries: [forced], snapshotMeta: null });
    return plan;
  } finally {
    await store.close();
  }
}

async function readPlan(store: NodeStore, directory: string, id: NodeId): Promise<RecoveryPlan> {
  const persisted = await new RaftLogStore(store).load();
  // Read, not opened: opening the state machine would clear half-written generations, and a plan writes nothing.
  const appliedBytes = await store.sublevels.smMeta.get(smMetaKeys.applied);
  const applied = appliedBytes === undefined ? 0 : decodeStored(sublevelNames.smMeta, smMetaKeys.applied, () => decodeLogPosition(appliedBytes)).index;
  const base = persisted.snapshotMeta?.membership ?? persisted.membership;
  if (base === null) throw new RecoveryError(`--data ${directory}: the node never stored a configuration; there is nothing to recover`);
  // The configuration in force is what the core derives from the base and the log: ask it.
  const core = new RaftCore(
    { ...defaultRaftTunables, id, rng: new SeededRng(0) },
    {
      hardState: persisted.hardState,
      snapshot: persisted.snapshotMeta === null ? null : { meta: persisted.snapshotMeta, data: new Uint8Array(0) },
      compactedTo: persisted.compactedTo,
      entries: persisted.entries,
      membership: base,
      applied,
    },
  );
  const status = core.status();
  const before = status.membership;
  if (!isMemberOf(before, id)) {
    throw new RecoveryError(`--id ${id}: not a member of the configuration in ${directory} (${describeMembership(before)}); give this node's own id`);
  }
  const { context } = before as Membership & { readonly context?: Uint8Array };
  const after: Membership = { voters: [id], learners: [], ...(context === undefined ? {} : { context }) };
  const knownCommit = Math.max(persisted.hardState.commit, applied, persisted.compactedTo.index);
  return {
    dataDir: directory,
    id,
    before,
    after,
    lastIndex: status.lastIndex,
    lastTerm: status.lastTerm,
    knownCommit,
    uncertainEntries: Math.max(0, status.lastIndex - knownCommit),
    forcedEntry: { index: status.lastIndex + 1, term: Math.max(status.term, status.lastTerm) + 1 },
  };
}
