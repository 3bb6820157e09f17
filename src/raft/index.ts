/** The Raft core: pure and synchronous. Everything the rest of raftkv may use from it. */
export { RaftCore } from './raft-core.js';
export type {
  MemberProgress,
  ProposeRefusal,
  ProposeResult,
  RaftStatus,
  ReadIndexRefusal,
  ReadIndexResult,
  TransferRefusal,
  TransferResult,
} from './raft-core.js';
export { defaultRaftTunables, freshState, validateRaftConfig } from './config.js';
export type { RaftConfig, ReadMode, RestoredState } from './config.js';
export type { Ready, SoftState } from './ready.js';
export { isEmptyReady } from './ready.js';
export type * from './message.js';
export { isLeaderMessage } from './message.js';
export * from './types.js';
export type { Rng } from './rng.js';
export { describeConfChange, describeEntries, describeMessage, describeReady } from './describe.js';
export { confChangeContextBytesMax, confChangeOpsMax, leaveJoint, planConfChange, votersChanged } from './conf-change.js';
export type {
  ConfChange,
  ConfChangeKind,
  ConfChangeOp,
  ConfChangeOpType,
  ConfChangePlan,
  ConfChangeRecord,
  ConfChangeRefusal,
  ConfChangeResult,
} from './conf-change.js';
export { ConfChangeDecodeError, decodeConfChange, encodeConfChange } from './conf-change-codec.js';
export {
  allMembers,
  autoPromoteOf,
  describeMembership,
  isJoint,
  isMemberOf,
  isVoterIn,
  membershipProblem,
  normalizeMembership,
  outgoingVotersOf,
  sameMembership,
} from './membership.js';
export { hasJointQuorum, jointMatchIndex, jointQuorumAckTick, jointVoteResult, voterSets } from './joint-quorum.js';
export { InvariantError, assertNever, invariant } from './assert.js';
export { committedIndex, isLogUpToDate, quorumMatchIndex, quorumSize, voteResult } from './election.js';
