/** One message of every type, for codec and transport tests. */
import { encodeConfChange, nodeId, type Message, type MessageType, type NodeId } from '../../src/raft/index.js';

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Every message type once, from `from` to `to`, with distinct non-default values in each field. */
export function oneOfEach(from: NodeId, to: NodeId, term = 7): Message[] {
  return [
    { type: 'vote-request', from, to, term, preVote: true, lastLogIndex: 41, lastLogTerm: 6, transfer: true },
    { type: 'vote-response', from, to, term, preVote: true, granted: true },
    {
      type: 'append',
      from,
      to,
      term,
      prevLogIndex: 10,
      prevLogTerm: 5,
      entries: [
        { term: 5, index: 11, type: 'normal', data: bytes('put a=1') },
        { term: 7, index: 12, type: 'normal', data: new Uint8Array(0) },
        { term: 7, index: 13, type: 'normal', data: new Uint8Array([0, 255, 1, 254]) },
      ],
      commit: 9,
    },
    { type: 'append', from, to, term, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 },
    { type: 'append-response', from, to, term, success: false, index: 12, rejectHintIndex: 8, rejectHintTerm: 4 },
    { type: 'append-response', from, to, term, success: true, index: 13, rejectHintIndex: 0, rejectHintTerm: 0 },
    { type: 'heartbeat', from, to, term, commit: 13, readContext: 'read-17', leaseTick: 1234 },
    { type: 'heartbeat-response', from, to, term, readContext: 'read-17', leaseTick: 1234 },
    {
      type: 'snapshot',
      from,
      to,
      term,
      snapshot: {
        meta: { index: 100, term: 6, membership: { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [nodeId('n4')] } },
        data: bytes('state machine image'),
      },
    },
    {
      type: 'append',
      from,
      to,
      term,
      prevLogIndex: 13,
      prevLogTerm: 7,
      entries: [{ term: 7, index: 14, type: 'conf-change', data: jointChange }],
      commit: 13,
    },
    {
      type: 'snapshot',
      from,
      to,
      term,
      snapshot: {
        meta: {
          index: 14,
          term: 7,
          membership: {
            voters: [nodeId('n3'), nodeId('n4')],
            learners: [nodeId('n5')],
            outgoingVoters: [nodeId('n1'), nodeId('n2'), nodeId('n3')],
            autoPromote: [nodeId('n5')],
            context: bytes('address book'),
          },
        },
        data: bytes('joint image'),
      },
    },
    { type: 'timeout-now', from, to, term },
    { type: 'read-index', from, to, term, context: 'client-9/3' },
    { type: 'read-index-response', from, to, term, context: 'client-9/3', index: 13 },
  ];
}

/** The data of a conf-change entry that moves to a joint configuration. */
export const jointChange = encodeConfChange({
  kind: 'requested',
  ops: [
    { type: 'promote', node: nodeId('n4') },
    { type: 'remove', node: nodeId('n1') },
    { type: 'remove', node: nodeId('n2') },
  ],
  context: bytes('n4=10.0.0.4:7001'),
  membership: {
    voters: [nodeId('n3'), nodeId('n4')],
    learners: [nodeId('n5')],
    outgoingVoters: [nodeId('n1'), nodeId('n2'), nodeId('n3')],
    autoPromote: [nodeId('n5')],
  },
});

export const allMessageTypes: readonly MessageType[] = [
  'vote-request',
  'vote-response',
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
  'snapshot',
  'timeout-now',
  'read-index',
  'read-index-response',
];

export function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { type: 'heartbeat', from, to, term: 3, commit, readContext: '', leaseTick: commit };
}

/** An empty AppendEntries (a probe) carrying `commit`: unlike heartbeats, queued ones never supersede each other. */
export function probe(from: NodeId, to: NodeId, commit: number): Message {
  return { type: 'append', from, to, term: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit };
}

export function snapshotMessage(from: NodeId, to: NodeId, index: number): Message {
  return {
    type: 'snapshot',
    from,
    to,
    term: 3,
    snapshot: { meta: { index, term: 2, membership: { voters: [from, to], learners: [] } }, data: bytes(`image-${index}`) },
  };
}
