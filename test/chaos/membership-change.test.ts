import { describe, expect, it } from 'vitest';
import {
  describeMembers,
  isRetryableChangeError,
  isVoterSet,
  membershipErrorReason,
  MembershipRefusedError,
  removeMember,
  type MemberListView,
  type MembershipApi,
} from '../../chaos/membership-change.js';
import { DeadlineError } from '../../chaos/wait.js';

class MembershipChangeError extends Error {
  override readonly name = 'MembershipChangeError';
  constructor(readonly reason: string) {
    super(`refused: ${reason}`);
  }
}

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

const member = (id: string, role: 'voter' | 'learner' = 'voter', extra: Partial<MemberListView['members'][number]> = {}) => ({
  id,
  peerAddress: '',
  clientAddress: '',
  role,
  autoPromote: false,
  leader: false,
  matchIndex: null,
  lag: null,
  ...extra,
});

const list = (members: MemberListView['members'], joint = false): MemberListView => ({ members, leaderId: null, joint });

describe('membership change helpers', () => {
  it('tells transient refusals and unanswered calls from refusals retrying cannot fix', () => {
    for (const reason of ['change-pending', 'leader-not-ready', 'learner-not-caught-up']) expect(isRetryableChangeError(new MembershipChangeError(reason))).toBe(true);
    for (const reason of ['would-remove-last-voter', 'address-in-use', 'invalid', 'cluster-id-mismatch']) expect(isRetryableChangeError(new MembershipChangeError(reason))).toBe(false);
    expect(isRetryableChangeError(new TimeoutError('no answer'))).toBe(true);
    expect(isRetryableChangeError(new Error('bug'))).toBe(false);
    expect(membershipErrorReason(new MembershipChangeError('member-exists'))).toBe('member-exists');
    expect(membershipErrorReason(new Error('x'))).toBeNull();
  });

  it('sees a voter set only when it is exactly those ids, all voters, out of joint', () => {
    const three = [member('n1'), member('n2'), member('n4')];
    expect(isVoterSet(list(three), ['n1', 'n2', 'n4'])).toBe(true);
    expect(isVoterSet(list(three, true), ['n1', 'n2', 'n4'])).toBe(false);
    expect(isVoterSet(list([member('n1'), member('n2'), member('n4', 'learner')]), ['n1', 'n2', 'n4'])).toBe(false);
    expect(isVoterSet(list([...three, member('n3')]), ['n1', 'n2', 'n4'])).toBe(false);
    expect(isVoterSet(list(three), ['n1', 'n2', 'n3'])).toBe(false);
  });

  it('describes a member list in one line', () => {
    expect(describeMembers(list([member('n1', 'voter', { leader: true }), member('n4', 'learner', { autoPromote: true, lag: 12 })], true))).toBe(
      'n1 voter leader, n4 learner (auto-promote, lag 12); joint',
    );
  });

  it('does not remove twice a member an unanswered call removed, and gives up at its deadline naming what it saw', async () => {
    let members = [member('n1'), member('n2'), member('n3')];
    const calls: string[] = [];
    const api: MembershipApi = {
      members: () => Promise.resolve(list(members)),
      addMember: () => Promise.reject(new Error('unused')),
      promoteMember: () => Promise.reject(new Error('unused')),
      removeMember: (id) => {
        calls.push(id);
        members = members.filter((entry) => entry.id !== id);
        return Promise.reject(new TimeoutError('the answer was lost'));
      },
    };
    const after = await removeMember(api, 'n2', { timeoutMs: 5000, intervalMs: 10 });
    expect(after.members.map((entry) => entry.id)).toEqual(['n1', 'n3']);
    expect(calls).toEqual(['n2']);

    const stuck: MembershipApi = { ...api, removeMember: () => Promise.reject(new MembershipChangeError('change-pending')) };
    await expect(removeMember(stuck, 'n3', { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(DeadlineError);
    await expect(removeMember(stuck, 'n3', { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(/n3 to leave the configuration \(members: n1 voter, n3 voter; last error: refused: change-pending\)/);
    const refused: MembershipApi = { ...api, removeMember: () => Promise.reject(new MembershipChangeError('would-remove-last-voter')) };
    await expect(removeMember(refused, 'n3', { timeoutMs: 5000, intervalMs: 10 })).rejects.toThrow(MembershipRefusedError);
  });
});
