/**
 * Configuration changes (thesis ch. 4): what a caller may ask for, how the leader checks it, and
 * the configuration it leads to.
 *
 * THE RULES (design level):
 *
 * 1. A change travels through the log as a `conf-change` entry. Its data (conf-change-codec.ts)
 *    holds the operations, the caller's opaque `context`, and the COMPLETE configuration in
 *    force from that entry on. Nothing is ever replayed as a delta: the configuration at index i
 *    is the one in the newest conf-change entry at or below i, else the base configuration (the
 *    snapshot's the log starts from, or the bootstrap one). A node joining with no
 *    configuration at all learns a complete one from the first conf-change entry or snapshot.
 *
 * 2. A configuration takes effect on every node as soon as its entry is APPENDED to that node's
 *    log, committed or not (thesis §4.1); a node whose log loses the entry (a new leader
 *    overwrites it) falls back to the configuration before it. We chose this over etcd's
 *    apply-time rule because it makes a node's configuration a pure function of its log, and
 *    because it is what keeps a lagging node safe: with apply-time semantics a node whose log
 *    already holds C_new, but whose commit index lags, still campaigns under C_old; after C_new
 *    commits, a majority of C_old (now removed, still answering votes) can elect it while C_new
 *    elects its own leader in the same term. Under the append rule a node never campaigns under
 *    a configuration older than the newest one it holds. Consequences: a restart rebuilds the
 *    configuration from RestoredState (snapshot or bootstrap membership) plus the log, with no
 *    write at apply time; a snapshot records the configuration at ITS index
 *    (`RaftCore.membershipAt(index)`), not the newest one.
 *
 * 3. Joint consensus (thesis §4.3). A change that adds or removes more than one voter first
 *    moves to the joint configuration C_old,new (`outgoingVoters` = C_old's voters), in which
 *    every decision (elections, commit, CheckQuorum, ReadIndex and lease acknowledgements) needs
 *    a majority of both voter sets. As soon as the joint entry is committed the leader itself
 *    appends the entry that leaves it (C_new), as etcd's auto-leave; a new leader that finds
 *    itself joint does the same once it has committed an entry of its term. A change of at most
 *    one voter (with any number of learner changes) goes straight to C_new: two majorities of
 *    voter sets one member apart always overlap (thesis §4.1), given rule 4.
 *
 * 4. One change at a time. A leader refuses a change while it is joint or while a conf-change
 *    entry in its log is not yet applied, and refuses any change until it has committed an entry
 *    of its own term (the fix to single-server changes, Ongaro, raft-dev 2015: otherwise a change
 *    appended by an earlier leader and never committed can be overtaken by a conflicting one).
 *
 * 5. Learners never vote, campaign, or count toward commit, CheckQuorum, ReadIndex or lease
 *    acknowledgements. A learner is promoted only once its match index is within
 *    `promoteLagEntriesMax` of the leader's last index (thesis §4.2.1: a new voter must not
 *    stall commits while it catches up). One added with `autoPromote` is promoted by the leader
 *    itself once caught up; the flag lives in the replicated configuration, so a new leader
 *    carries on.
 *
 * 6. A leader that the configuration leaves out keeps leading, without counting itself, until
 *    that configuration is committed (thesis §4.2.2); then it sends TimeoutNow to the most
 *    up-to-date remaining voter once that voter holds its whole log, and steps down. A node its
 *    newest configuration leaves out reports `removed: true`. It may still campaign (votes
 *    counted under the newest configuration) while it votes in the configuration at its commit
 *    index, i.e. until it knows its removal committed: it can be the only node able to win (it
 *    alone holds the entry removing it, and the joint C_old needs its vote; thesis §4.2.2).
 *    The leader keeps replicating to a removed node until it holds the removal entry and then
 *    tells it the entry committed, after which it never campaigns. A node that misses that word
 *    campaigns to no effect: PreVote and CheckQuorum leases keep it from disrupting (§4.2.3).
 *
 * 7. A configuration carries an opaque `context` the core never reads (the driver keeps the
 *    members' addresses there, so an address is in force exactly where its configuration is).
 *    A requested change with a non-empty `ConfChange.context` gives the new configuration that
 *    context; with an empty one the previous context is kept; auto-promotion and leaving joint
 *    consensus always keep it. It travels wherever a configuration does: conf-change entries,
 *    stored membership, snapshot metadata.
 */
import { allMembers, autoPromoteOf, contextOf, isJoint, isVoterIn, normalizeMembership } from './membership.js';
import type { Index, Membership, NodeId } from './types.js';

/** One operation of a change. Adding always goes through a learner, so a new voter never starts empty. */
export type ConfChangeOp =
  /** Add a node as a learner; with `autoPromote`, the leader promotes it once it is caught up. */
  | { readonly type: 'add-learner'; readonly node: NodeId; readonly autoPromote: boolean }
  /** Make a learner a voter; refused until it is caught up. */
  | { readonly type: 'promote'; readonly node: NodeId }
  /** Remove a voter or a learner, the leader included. */
  | { readonly type: 'remove'; readonly node: NodeId };

export type ConfChangeOpType = ConfChangeOp['type'];

/** What a caller proposes. All its operations form one atomic change (joint if more than one voter changes). */
export interface ConfChange {
  readonly ops: readonly ConfChangeOp[];
  /**
   * Opaque to the core; handed back in the committed entry and, when non-empty, the new
   * configuration's context (rule 7; the driver puts members' addresses here).
   */
  readonly context: Uint8Array;
}

/** Who made a conf-change entry: a caller, the leader promoting a caught-up learner, or the leader leaving joint consensus. */
export type ConfChangeKind = 'requested' | 'auto-promote' | 'leave-joint';

/** The data of a `conf-change` entry (rule 1). Decode it with `decodeConfChange`. */
export interface ConfChangeRecord {
  readonly kind: ConfChangeKind;
  /** Empty for 'leave-joint'. */
  readonly ops: readonly ConfChangeOp[];
  readonly context: Uint8Array;
  /** The configuration in force from this entry on. */
  readonly membership: Membership;
}

/** Why a configuration change was refused. Nothing was appended. */
export type ConfChangeRefusal =
  | 'not-leader'
  | 'transferring-leadership'
  /** The leader has not yet committed an entry of its own term (rule 4); retry shortly. */
  | 'leader-not-ready'
  /** Another change is not yet applied, or the configuration is still joint (rule 4). */
  | 'change-pending'
  /** A promoted or removed node is not a member. */
  | 'unknown-member'
  /** An added node is already a member. */
  | 'member-exists'
  /** A promoted learner is more than promoteLagEntriesMax entries behind the leader (rule 5). */
  | 'learner-not-caught-up'
  /** The change would leave no voter. */
  | 'would-remove-last-voter'
  /** The change is malformed: no operations, a node named twice, promoting a voter. */
  | 'invalid';

export type ConfChangeResult =
  | { readonly ok: true; readonly index: Index; readonly term: number; readonly membership: Membership }
  | { readonly ok: false; readonly reason: ConfChangeRefusal; readonly detail: string; readonly leader: NodeId | null };

/** The outcome of checking a change against a configuration. */
export type ConfChangePlan =
  | { readonly ok: true; readonly membership: Membership; readonly joint: boolean }
  | { readonly ok: false; readonly reason: ConfChangeRefusal; readonly detail: string };

/** Upper bound on operations in one change, and on the bytes of its context. */
export const confChangeOpsMax = 64;
export const confChangeContextBytesMax = 64 * 1024;

/**
 * Checks `change` against the configuration in force (which must not be joint) and computes the
 * configuration it leads to. `caughtUp(id)` says whether learner `id` is within
 * promoteLagEntriesMax of the leader. Pure: the table test in conf-change.test.ts covers it.
 */
export function planConfChange(current: Membership, change: ConfChange, caughtUp: (id: NodeId) => boolean): ConfChangePlan {
  if (isJoint(current)) return refuse('change-pending', 'the configuration is joint; wait until it is left');
  if (change.ops.length === 0) return refuse('invalid', 'a change needs at least one operation');
  if (change.ops.length > confChangeOpsMax) return refuse('invalid', `at most ${confChangeOpsMax} operations, got ${change.ops.length}`);
  if (change.context.byteLength > confChangeContextBytesMax) {
    return refuse('invalid', `context is ${change.context.byteLength} bytes, at most ${confChangeContextBytesMax}`);
  }
  const seen = new Set<NodeId>();
  for (const op of change.ops) {
    if (typeof op.node !== 'string' || op.node.length === 0) return refuse('invalid', `${op.type}: empty node id`);
    if (seen.has(op.node)) return refuse('invalid', `${op.node} is named by more than one operation`);
    seen.add(op.node);
  }

  let voters = [...current.voters];
  let learners = [...current.learners];
  let autoPromote = [...autoPromoteOf(current)];
  for (const op of change.ops) {
    const id = op.node;
    switch (op.type) {
      case 'add-learner':
        if (allMembers(current).includes(id)) return refuse('member-exists', `${id} is already a member`);
        learners.push(id);
        if (op.autoPromote) autoPromote.push(id);
        break;
      case 'promote':
        if (isVoterIn(current, id)) return refuse('invalid', `${id} is already a voter`);
        if (!current.learners.includes(id)) return refuse('unknown-member', `${id} is not a learner`);
        if (!caughtUp(id)) return refuse('learner-not-caught-up', `${id} is not caught up with the leader`);
        learners = learners.filter((l) => l !== id);
        autoPromote = autoPromote.filter((l) => l !== id);
        voters.push(id);
        break;
      case 'remove':
        if (!allMembers(current).includes(id)) return refuse('unknown-member', `${id} is not a member`);
        voters = voters.filter((v) => v !== id);
        learners = learners.filter((l) => l !== id);
        autoPromote = autoPromote.filter((l) => l !== id);
        break;
      default:
        return refuse('invalid', `unknown operation ${JSON.stringify((op as { type: unknown }).type)}`);
    }
  }
  if (voters.length === 0) return refuse('would-remove-last-voter', 'the change would leave no voter');

  const joint = votersChanged(current.voters, voters) > 1;
  const next: Membership = normalizeMembership({
    voters,
    learners,
    autoPromote,
    outgoingVoters: joint ? [...current.voters] : [],
    // Rule 7: a change's context replaces the configuration's; an empty one keeps it.
    context: change.context.byteLength > 0 ? change.context : contextOf(current),
  });
  return { ok: true, membership: next, joint };
}

/** The configuration that leaving `joint` leads to: C_new alone. */
export function leaveJoint(joint: Membership): Membership {
  return normalizeMembership({ voters: joint.voters, learners: joint.learners, autoPromote: autoPromoteOf(joint), context: contextOf(joint) });
}

/** How many voters one voter set adds or removes relative to another. */
export function votersChanged(before: readonly NodeId[], after: readonly NodeId[]): number {
  return after.filter((id) => !before.includes(id)).length + before.filter((id) => !after.includes(id)).length;
}

function refuse(reason: ConfChangeRefusal, detail: string): ConfChangePlan {
  return { ok: false, reason, detail };
}
