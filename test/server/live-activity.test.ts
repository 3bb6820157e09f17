import { describe, expect, it } from 'vitest';
import { nodeId, type Membership, type Role } from '../../src/raft/index.js';
import { isLeaderChange, LiveActivity, type SeenLeader } from '../../src/server/live-activity.js';

describe('isLeaderChange: which soft states the live page logs as leader changes', () => {
  const cases: [string, SeenLeader | null, SeenLeader, boolean][] = [
    ['a node starting with no leader known', null, { leader: null, term: 0 }, false],
    ['the first leader seen', null, { leader: 'n1', term: 1 }, true],
    ['the same leader, same term (a role change of this node)', { leader: 'n1', term: 1 }, { leader: 'n1', term: 1 }, false],
    ['another leader', { leader: 'n1', term: 1 }, { leader: 'n2', term: 2 }, true],
    ['the same leader elected again in a new term', { leader: 'n1', term: 1 }, { leader: 'n1', term: 3 }, true],
    ['the leader lost (an election is on)', { leader: 'n1', term: 1 }, { leader: null, term: 2 }, true],
    ['still no leader, the term moving on (failed elections)', { leader: null, term: 2 }, { leader: null, term: 3 }, false],
  ];
  it.each(cases)('%s', (_name, seen, next, expected) => {
    expect(isLeaderChange(seen, next)).toBe(expected);
  });
});

describe('LiveActivity: the events a node records', () => {
  const soft = (leader: string | null, term: number, role: Role = 'follower') => ({ leader: leader === null ? null : nodeId(leader), term, role });
  const membership = (voters: string[], learners: string[] = []): Membership => ({ voters: voters.map(nodeId), learners: learners.map(nodeId) });

  it('records leader changes, snapshots and member changes, but not the configuration a node starts with', () => {
    const activity = new LiveActivity();
    activity.onCommittedConfiguration(membership(['n1', 'n2', 'n3']));
    activity.onSoftState(soft(null, 0));
    activity.onSoftState(soft('n1', 1));
    activity.onSoftState(soft('n1', 1, 'leader'));
    activity.onSnapshotTaken(100, 50);
    activity.onSnapshotInstalled(0.0123, { index: 200, term: 1 });
    activity.onCommittedConfiguration(membership(['n1', 'n2', 'n3']));
    activity.onCommittedConfiguration(membership(['n1', 'n2', 'n3'], ['n4']));
    expect(activity.events.list().map(({ seq: _seq, atMs: _atMs, ...event }) => event)).toEqual([
      { kind: 'leader-changed', leader: 'n1', term: 1 },
      { kind: 'snapshot-taken', index: 100, compactedTo: 50 },
      { kind: 'snapshot-installed', index: 200, term: 1, ms: 12 },
      { kind: 'members-changed', voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
    ]);
  });

  it('counts the operations answered with their status', () => {
    let nowMs = 0;
    const activity = new LiveActivity({ clock: () => nowMs });
    activity.observeRequest('put', 'OK', 0.001);
    activity.observeRequest('get', 'FAILED_PRECONDITION', 0.001);
    nowMs = 1000;
    activity.stats.closeSecond();
    expect(activity.stats.recent()).toMatchObject([{ atMs: 0, writes: 1, reads: 1, errors: 1 }]);
  });
});
