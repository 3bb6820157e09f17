import { describe, expect, it } from 'vitest';
import { describeEntries, describeMessage, describeReady, type Message, type Ready } from '../../src/raft/index.js';
import { Cluster, bytes, entries, n1, n2, n3 } from './helpers.js';

const emptyReady: Ready = {
  hardState: null,
  softState: null,
  membership: null,
  entries: [],
  snapshot: null,
  messages: [],
  committedEntries: [],
  readStates: [],
};

describe('describeMessage / describeReady (STYLE habit 12: one canonical text)', () => {
  const membership = { voters: [n1, n2, n3], learners: [] };
  const table: [Message, string][] = [
    [
      { type: 'vote-request', from: n1, to: n2, term: 3, preVote: true, transfer: false, lastLogIndex: 5, lastLogTerm: 2 },
      'n1->n2 vote-request t3 pre last=5/t2',
    ],
    [
      { type: 'vote-request', from: n2, to: n3, term: 4, preVote: false, transfer: true, lastLogIndex: 7, lastLogTerm: 3 },
      'n2->n3 vote-request t4 transfer last=7/t3',
    ],
    [{ type: 'vote-response', from: n2, to: n1, term: 3, preVote: true, granted: true }, 'n2->n1 vote-response t3 pre granted'],
    [{ type: 'vote-response', from: n3, to: n1, term: 3, preVote: false, granted: false }, 'n3->n1 vote-response t3 rejected'],
    [
      { type: 'append', from: n1, to: n2, term: 3, prevLogIndex: 4, prevLogTerm: 2, commit: 4, entries: [...entries(5, 6, 2), ...entries(7, 7, 3)] },
      'n1->n2 append t3 prev=4/t2 commit=4 entries=[5..6/t2 7/t3]',
    ],
    [
      { type: 'append-response', from: n2, to: n1, term: 3, success: true, index: 7, rejectHintIndex: 0, rejectHintTerm: 0 },
      'n2->n1 append-response t3 ok index=7',
    ],
    [
      { type: 'append-response', from: n2, to: n1, term: 3, success: false, index: 7, rejectHintIndex: 5, rejectHintTerm: 2 },
      'n2->n1 append-response t3 reject index=7 hint=5/t2',
    ],
    [{ type: 'heartbeat', from: n1, to: n2, term: 3, commit: 4, readContext: '', leaseTick: 9 }, 'n1->n2 heartbeat t3 commit=4 lease=9'],
    [{ type: 'heartbeat', from: n1, to: n2, term: 3, commit: 4, readContext: 'r1', leaseTick: 9 }, 'n1->n2 heartbeat t3 commit=4 lease=9 read=r1'],
    [{ type: 'heartbeat-response', from: n2, to: n1, term: 3, readContext: 'r1', leaseTick: 9 }, 'n2->n1 heartbeat-response t3 lease=9 read=r1'],
    [
      { type: 'snapshot', from: n1, to: n3, term: 3, snapshot: { meta: { index: 11, term: 1, membership }, data: bytes('') } },
      'n1->n3 snapshot t3 snapshot=11/t1 voters=n1,n2,n3',
    ],
    [{ type: 'timeout-now', from: n1, to: n2, term: 3 }, 'n1->n2 timeout-now t3'],
    [{ type: 'read-index', from: n2, to: n1, term: 3, context: 'f1' }, 'n2->n1 read-index t3 read=f1'],
    [{ type: 'read-index-response', from: n1, to: n2, term: 3, context: 'f1', index: 4 }, 'n1->n2 read-index-response t3 read=f1 index=4'],
  ];
  it.each(table)('describeMessage: %s', (message, expected) => {
    expect(describeMessage(message)).toBe(expected);
  });

  it('describeEntries groups runs of one term', () => {
    expect(describeEntries([])).toBe('[]');
    expect(describeEntries(entries(3, 3, 1))).toBe('[3/t1]');
    expect(describeEntries([...entries(1, 2, 1), ...entries(3, 3, 2), ...entries(4, 6, 4)])).toBe('[1..2/t1 3/t2 4..6/t4]');
  });

  it('describeReady: an empty Ready and a full one', () => {
    expect(describeReady(emptyReady)).toBe('ready: empty');
    const full: Ready = {
      hardState: { term: 3, vote: n1, commit: 4 },
      softState: { role: 'leader', leader: n1, term: 3 },
      membership: null,
      entries: entries(5, 5, 3),
      snapshot: { meta: { index: 2, term: 1, membership: { voters: [n1], learners: [] } }, data: bytes('') },
      messages: [{ type: 'timeout-now', from: n1, to: n2, term: 3 }],
      committedEntries: entries(4, 4, 2),
      readStates: [
        { context: 'r1', index: 4 },
        { context: 'r2', index: 4 },
      ],
    };
    expect(describeReady(full)).toBe(
      'ready: soft=leader/t3/leader=n1 hard=t3/vote=n1/commit=4 snapshot=2/t1 entries=[5/t3] apply=[4/t2] reads=r1@4,r2@4 messages=1',
    );
  });

  it('describeReady: the transcript of a single node electing itself and committing a proposal', () => {
    const cluster = new Cluster({ size: 1 });
    cluster.elect(n1);
    cluster.propose(n1, 'x');
    expect(cluster.readys.get(n1)!.map(describeReady)).toEqual([
      'ready: soft=leader/t1/leader=n1 hard=t1/vote=n1/commit=0 entries=[1/t1]',
      'ready: hard=t1/vote=n1/commit=1 apply=[1/t1]',
      'ready: entries=[2/t1]',
      'ready: hard=t1/vote=n1/commit=2 apply=[2/t1]',
    ]);
  });

  it('describeMessage: the transcript of a two-node election', () => {
    const cluster = new Cluster({ size: 2 });
    cluster.elect(n1);
    expect(cluster.sent.map(describeMessage).slice(0, 6)).toEqual([
      'n1->n2 vote-request t1 pre last=0/t0',
      'n2->n1 vote-response t1 pre granted',
      'n1->n2 vote-request t1 last=0/t0',
      'n2->n1 vote-response t1 granted',
      'n1->n2 append t1 prev=0/t0 commit=0 entries=[1/t1]',
      'n2->n1 append-response t1 ok index=1',
    ]);
  });
});
