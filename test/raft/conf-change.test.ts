import { describe, expect, it } from 'vitest';
import {
  ConfChangeDecodeError,
  defaultRaftTunables,
  validateRaftConfig,
  decodeConfChange,
  describeConfChange,
  encodeConfChange,
  hasJointQuorum,
  jointMatchIndex,
  jointQuorumAckTick,
  jointVoteResult,
  leaveJoint,
  membershipProblem,
  nodeId,
  planConfChange,
  sameMembership,
  type ConfChange,
  type ConfChangeOp,
  type ConfChangeRecord,
  type Membership,
  type NodeId,
} from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { bytes, n1, n2, n3, n4, n5, n6 } from './helpers.js';

const none = new Uint8Array(0);
const three: Membership = { voters: [n1, n2, n3], learners: [] };
const withLearners: Membership = { voters: [n1, n2, n3], learners: [n4, n5], autoPromote: [n5] };
const change = (...ops: ConfChangeOp[]): ConfChange => ({ ops, context: none });
const addLearner = (node: NodeId, autoPromote = false): ConfChangeOp => ({ type: 'add-learner', node, autoPromote });
const promote = (node: NodeId): ConfChangeOp => ({ type: 'promote', node });
const remove = (node: NodeId): ConfChangeOp => ({ type: 'remove', node });
const allCaughtUp = (): boolean => true;

describe('planConfChange (thesis ch. 4): checks a change and computes the configuration it leads to', () => {
  const accepted: { name: string; from: Membership; change: ConfChange; to: Membership; joint: boolean }[] = [
    { name: 'add a learner', from: three, change: change(addLearner(n4)), to: { voters: [n1, n2, n3], learners: [n4] }, joint: false },
    {
      name: 'add an auto-promote learner',
      from: three,
      change: change(addLearner(n4, true)),
      to: { voters: [n1, n2, n3], learners: [n4], autoPromote: [n4] },
      joint: false,
    },
    {
      name: '§4.1 promote one learner: one voter apart, no joint phase',
      from: withLearners,
      change: change(promote(n5)),
      to: { voters: [n1, n2, n3, n5], learners: [n4] },
      joint: false,
    },
    { name: '§4.1 remove one voter', from: three, change: change(remove(n3)), to: { voters: [n1, n2], learners: [] }, joint: false },
    { name: 'remove a learner', from: withLearners, change: change(remove(n5)), to: { voters: [n1, n2, n3], learners: [n4] }, joint: false },
    {
      name: '§4.1 replace one voter (one add, one remove) needs joint consensus: two voters change',
      from: withLearners,
      change: change(promote(n4), remove(n1)),
      to: { voters: [n2, n3, n4], learners: [n5], autoPromote: [n5], outgoingVoters: [n1, n2, n3] },
      joint: true,
    },
    {
      name: '§4.3 replace two voters at once: joint',
      from: withLearners,
      change: change(promote(n4), promote(n5), remove(n1), remove(n2)),
      to: { voters: [n3, n4, n5], learners: [], outgoingVoters: [n1, n2, n3] },
      joint: true,
    },
    {
      name: '§4.3 replace every voter: joint with disjoint halves',
      from: withLearners,
      change: change(promote(n4), remove(n1), remove(n2), remove(n3)),
      to: { voters: [n4], learners: [n5], autoPromote: [n5], outgoingVoters: [n1, n2, n3] },
      joint: true,
    },
  ];
  for (const row of accepted) {
    it(row.name, () => {
      const plan = planConfChange(row.from, row.change, allCaughtUp);
      expect(plan.ok).toBe(true);
      if (!plan.ok) return;
      expect(plan.joint).toBe(row.joint);
      expect(sameMembership(plan.membership, row.to)).toBe(true);
      expect(membershipProblem(plan.membership)).toBeNull();
    });
  }

  const refused: { name: string; from: Membership; change: ConfChange; caughtUp?: (id: NodeId) => boolean; reason: string; says: string }[] = [
    { name: 'no operations', from: three, change: change(), reason: 'invalid', says: 'at least one operation' },
    { name: 'a node named twice', from: withLearners, change: change(promote(n4), remove(n4)), reason: 'invalid', says: 'n4 is named by more than one' },
    { name: 'an empty node id', from: three, change: change(addLearner('' as NodeId)), reason: 'invalid', says: 'empty node id' },
    { name: 'promoting a voter', from: three, change: change(promote(n2)), reason: 'invalid', says: 'n2 is already a voter' },
    { name: 'too large a context', from: three, change: { ops: [addLearner(n4)], context: new Uint8Array(64 * 1024 + 1) }, reason: 'invalid', says: 'context' },
    { name: 'adding a voter as learner', from: three, change: change(addLearner(n1)), reason: 'member-exists', says: 'n1 is already a member' },
    { name: 'adding a learner twice', from: withLearners, change: change(addLearner(n4)), reason: 'member-exists', says: 'n4' },
    { name: 'promoting a stranger', from: three, change: change(promote(n6)), reason: 'unknown-member', says: 'n6 is not a learner' },
    { name: 'removing a stranger', from: three, change: change(remove(n6)), reason: 'unknown-member', says: 'n6 is not a member' },
    {
      name: '§4.2.1 promoting a learner that lags',
      from: withLearners,
      change: change(promote(n4)),
      caughtUp: (id) => id !== n4,
      reason: 'learner-not-caught-up',
      says: 'n4',
    },
    {
      name: 'removing every voter',
      from: { voters: [n1], learners: [n4] },
      change: change(remove(n1)),
      reason: 'would-remove-last-voter',
      says: 'no voter',
    },
    {
      name: '§4.3 any change while joint',
      from: { voters: [n2, n3, n4], learners: [], outgoingVoters: [n1, n2, n3] },
      change: change(remove(n4)),
      reason: 'change-pending',
      says: 'joint',
    },
  ];
  for (const row of refused) {
    it(`refuses ${row.name}`, () => {
      const plan = planConfChange(row.from, row.change, row.caughtUp ?? allCaughtUp);
      expect(plan).toMatchObject({ ok: false, reason: row.reason });
      if (!plan.ok) expect(plan.detail).toContain(row.says);
    });
  }

  it('leaveJoint keeps C_new alone', () => {
    const joint: Membership = { voters: [n3, n4], learners: [n5], autoPromote: [n5], outgoingVoters: [n1, n2, n3] };
    expect(leaveJoint(joint)).toEqual({ voters: [n3, n4], learners: [n5], autoPromote: [n5] });
  });
});

describe('joint quorums (thesis §4.3): a majority of each voter set', () => {
  const joint: Membership = { voters: [n3, n4, n5], learners: [n6], outgoingVoters: [n1, n2, n3] };
  const matches = new Map<NodeId, number>([
    [n1, 10],
    [n2, 9],
    [n3, 8],
    [n4, 5],
    [n5, 4],
    [n6, 100],
  ]);
  const matchOf = (id: NodeId): number => matches.get(id) ?? 0;

  it('§4.3 the commit index is the smaller of the two majorities, and learners never count', () => {
    expect(jointMatchIndex(three, matchOf)).toBe(9);
    expect(jointMatchIndex(joint, matchOf)).toBe(5); // C_old could commit 9, C_new only 5
    expect(jointMatchIndex({ voters: [n3, n4, n5], learners: [n6] }, matchOf)).toBe(5);
    expect(jointMatchIndex({ voters: [], learners: [n6] }, matchOf)).toBe(0);
  });

  it('§4.3 an election needs both majorities; losing either loses it', () => {
    const votes = (granted: NodeId[], rejected: NodeId[] = []): Map<NodeId, boolean> =>
      new Map([...granted.map((id) => [id, true] as const), ...rejected.map((id) => [id, false] as const)]);
    expect(jointVoteResult(joint, votes([n1, n2, n3]))).toBe('pending'); // C_old only
    expect(jointVoteResult(joint, votes([n1, n3, n4]))).toBe('won');
    expect(jointVoteResult(joint, votes([n1, n3, n6]))).toBe('pending'); // the learner's vote is ignored
    expect(jointVoteResult(joint, votes([n1, n2, n3], [n4, n5]))).toBe('lost');
    expect(jointVoteResult({ voters: [], learners: [] }, votes([n1]))).toBe('lost');
  });

  it('§4.3 CheckQuorum and ReadIndex acks need both majorities', () => {
    expect(hasJointQuorum(joint, (id) => [n1, n2, n3].includes(id))).toBe(false);
    expect(hasJointQuorum(joint, (id) => [n2, n3, n4].includes(id))).toBe(true);
    expect(hasJointQuorum(joint, (id) => [n3, n6, n1].includes(id))).toBe(false);
    expect(hasJointQuorum({ voters: [n1], learners: [] }, (id) => id === n1)).toBe(true);
  });

  it('thesis §6.4.1 the lease tick is the older of the two majorities\' acknowledged ticks', () => {
    const ticks = new Map<NodeId, number>([
      [n1, 50],
      [n2, 40],
      [n3, 30],
      [n4, 20],
      [n5, 10],
    ]);
    expect(jointQuorumAckTick(joint, (id) => ticks.get(id) ?? -Infinity)).toBe(20);
    expect(jointQuorumAckTick(three, (id) => ticks.get(id) ?? -Infinity)).toBe(40);
  });
});

describe('the configuration context (conf-change.ts rule 7): carried forward untouched', () => {
  const book = bytes('book-1');
  const withBook: Membership = { ...three, context: book };
  const rows: { name: string; from: Membership; change: ConfChange; context: Uint8Array | undefined }[] = [
    { name: 'a requested change with a context gives it to the new configuration', from: withBook, change: { ops: [addLearner(n4)], context: bytes('book-2') }, context: bytes('book-2') },
    { name: 'a requested change with an empty context keeps the previous one', from: withBook, change: change(remove(n3)), context: book },
    { name: 'a configuration without a context takes the change\'s', from: three, change: { ops: [addLearner(n4)], context: book }, context: book },
    { name: 'no context before or in the change: none after', from: three, change: change(addLearner(n4)), context: undefined },
    {
      name: 'a joint change carries the context too',
      from: { ...withLearners, context: book },
      change: { ops: [promote(n4), remove(n1)], context: bytes('book-3') },
      context: bytes('book-3'),
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const plan = planConfChange(row.from, row.change, allCaughtUp);
      expect(plan.ok).toBe(true);
      if (plan.ok) expect(plan.membership.context).toEqual(row.context);
    });
  }

  it('leaving joint consensus keeps the context', () => {
    const joint: Membership = { voters: [n2, n3, n4], learners: [], outgoingVoters: [n1, n2, n3], context: book };
    expect(leaveJoint(joint)).toEqual({ voters: [n2, n3, n4], learners: [], context: book });
  });

  it('sameMembership compares the context bytes; an absent and an empty context are the same', () => {
    expect(sameMembership(withBook, { ...three, context: bytes('book-1') })).toBe(true);
    expect(sameMembership(withBook, { ...three, context: bytes('book-2') })).toBe(false);
    expect(sameMembership(withBook, three)).toBe(false);
    expect(sameMembership(three, { ...three, context: none })).toBe(true);
  });

  it('membershipProblem bounds the context', () => {
    expect(membershipProblem({ ...three, context: new Uint8Array(64 * 1024 + 1) })).toContain('context');
    expect(membershipProblem({ ...three, context: new Uint8Array(64 * 1024) })).toBeNull();
  });

  it('an auto-promotion keeps the context (the leader promotes by itself)', () => {
    const plan = planConfChange({ voters: [n1], learners: [n2], autoPromote: [n2], context: book }, change(promote(n2)), allCaughtUp);
    expect(plan.ok && plan.membership).toEqual({ voters: [n1, n2], learners: [], context: book });
  });
});

describe('the conf-change entry codec', () => {
  const record: ConfChangeRecord = {
    kind: 'requested',
    ops: [addLearner(n4, true), promote(n5), remove(n1)],
    context: bytes('peer=10.0.0.4:7000 client=10.0.0.4:8000'),
    membership: { voters: [n2, n3, n5], learners: [n4], autoPromote: [n4], outgoingVoters: [n1, n2, n3] },
  };

  it('round-trips every kind, operation and list', () => {
    expect(decodeConfChange(encodeConfChange(record))).toEqual(record);
    const leave: ConfChangeRecord = { kind: 'leave-joint', ops: [], context: none, membership: { voters: [nodeId('ü-1')], learners: [] } };
    expect(decodeConfChange(encodeConfChange(leave))).toEqual(leave);
    const withContext: ConfChangeRecord = { ...record, membership: { ...record.membership, context: bytes('book') } };
    expect(decodeConfChange(encodeConfChange(withContext))).toEqual(withContext);
  });

  it('describes a record in one line', () => {
    expect(describeConfChange(record)).toBe(
      'requested add-learner(n4,auto) promote(n5) remove(n1) -> voters=n2,n3,n5 outgoing=n1,n2,n3 learners=n4 auto=n4',
    );
  });

  const good = encodeConfChange(record);
  const bad: { name: string; data: Uint8Array; says: string }[] = [
    { name: 'empty', data: new Uint8Array(0), says: 'version: truncated' },
    { name: 'an unknown version', data: Uint8Array.of(9, ...good.subarray(1)), says: 'unknown format version 9' },
    { name: 'an unknown kind', data: Uint8Array.of(1, 7, ...good.subarray(2)), says: 'unknown kind 7' },
    { name: 'truncated', data: good.subarray(0, good.byteLength - 3), says: 'truncated' },
    { name: 'trailing bytes', data: Uint8Array.of(...good, 0), says: '1 bytes after the end' },
    {
      name: 'a membership with no voters',
      data: encodeConfChange({ ...record, membership: { voters: [], learners: [n4] } }),
      says: 'no voters',
    },
    {
      name: 'a learner that also votes',
      data: encodeConfChange({ ...record, membership: { voters: [n1], learners: [n1] } }),
      says: 'n1 is both a learner and a voter',
    },
  ];
  for (const row of bad) {
    it(`refuses ${row.name}, naming what is wrong`, () => {
      expect(() => decodeConfChange(row.data)).toThrow(ConfChangeDecodeError);
      expect(() => decodeConfChange(row.data)).toThrow(row.says);
    });
  }
});

describe('promoteLagEntriesMax', () => {
  it('must be a non-negative integer; 0 (fully caught up) is allowed', () => {
    const config = (promoteLagEntriesMax: number) => ({ ...defaultRaftTunables, id: n1, rng: new SeededRng(1), promoteLagEntriesMax });
    expect(() => validateRaftConfig(config(0))).not.toThrow();
    expect(() => validateRaftConfig(config(-1))).toThrow('promoteLagEntriesMax must be a non-negative integer, got -1');
    expect(() => validateRaftConfig(config(1.5))).toThrow('promoteLagEntriesMax');
  });
});
