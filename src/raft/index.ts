/** The Raft core: pure and synchronous. Everything the rest of raftkv may use from it. */
export { RaftCore } from './raft-core.js';
export type {
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
export { describeEntries, describeMessage, describeReady } from './describe.js';
export { InvariantError, assertNever, invariant } from './assert.js';
export { committedIndex, isLogUpToDate, quorumMatchIndex, quorumSize, voteResult } from './election.js';
