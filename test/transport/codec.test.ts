import { describe, expect, it } from 'vitest';
import { nodeId, type Message } from '../../src/raft/index.js';
import { decodeMessage, encodeMessage, messageBytesUpperBound } from '../../src/transport/codec.js';
import { PeerProtocolError } from '../../src/transport/errors.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import type { WireRaftMessage } from '../../src/transport/wire-types.js';
import { allMessageTypes, oneOfEach } from './fixtures.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');

/** Encodes, serializes to protobuf bytes, parses them back as a peer would, and decodes. */
function throughTheWire(message: Message): Message {
  const { serializeBatch, deserializeBatch } = raftPeerProto().send;
  const bytes = serializeBatch({ clusterId: 'c', from: message.from, messages: [encodeMessage(message)] });
  const parsed = deserializeBatch(bytes) as { messages: unknown[] };
  return decodeMessage(parsed.messages[0]);
}

/** What a peer's proto-loader would hand us for `message`, with `change` applied, after a real round trip. */
function wireWith(message: Message, change: (wire: Record<string, unknown>) => void): unknown {
  const { serializeBatch, deserializeBatch } = raftPeerProto().send;
  const parsed = deserializeBatch(serializeBatch({ clusterId: 'c', from: message.from, messages: [encodeMessage(message)] })) as {
    messages: Record<string, unknown>[];
  };
  const wire = parsed.messages[0] as Record<string, unknown>;
  change(wire);
  return wire;
}

function byType<T extends Message['type']>(type: T): Extract<Message, { type: T }> {
  const found = oneOfEach(n1, n2).find((message) => message.type === type);
  if (found === undefined) throw new Error(`no fixture for ${type}`);
  return found as Extract<Message, { type: T }>;
}

/** The fixture append that carries a conf-change entry. */
function confChangeAppend(): Message {
  const found = oneOfEach(n1, n2).find((m) => m.type === 'append' && m.entries.some((e) => e.type === 'conf-change'));
  if (found === undefined) throw new Error('no conf-change fixture');
  return found;
}

function refusal(wire: unknown): PeerProtocolError {
  try {
    decodeMessage(wire, 'm');
  } catch (error) {
    if (error instanceof PeerProtocolError) return error;
    throw error;
  }
  throw new Error('decodeMessage accepted it');
}

describe('codec round trip through protobuf bytes', () => {
  it('covers every message type', () => {
    const covered = new Set(oneOfEach(n1, n2).map((message) => message.type));
    expect([...covered].sort()).toEqual([...allMessageTypes].sort());
  });

  for (const message of oneOfEach(n1, n2)) {
    it(`${message.type} comes back equal`, () => {
      expect(throughTheWire(message)).toEqual(message);
    });
  }

  it('decodes entry and snapshot data into plain Uint8Arrays that do not share the receive buffer', () => {
    const append = throughTheWire(byType('append'));
    const snapshot = throughTheWire(byType('snapshot'));
    if (append.type !== 'append' || snapshot.type !== 'snapshot') throw new Error('type changed');
    const data = append.entries[0]?.data;
    expect(data?.constructor).toBe(Uint8Array);
    expect(data?.byteOffset).toBe(0);
    expect(data?.buffer.byteLength).toBe(data?.byteLength);
    expect(snapshot.snapshot.data.constructor).toBe(Uint8Array);
  });

  it('encodes only the fields a type uses', () => {
    expect(Object.keys(encodeMessage(byType('timeout-now'))).sort()).toEqual(['from', 'term', 'to', 'type']);
    expect(encodeMessage(byType('read-index'))).toEqual({ type: 'READ_INDEX', from: 'n1', to: 'n2', term: 7, context: 'client-9/3' });
  });

  it('bounds every fixture message size from above', () => {
    const { serializeBatch } = raftPeerProto().send;
    for (const message of oneOfEach(n1, n2)) {
      const actual = serializeBatch({ clusterId: '', from: '', messages: [encodeMessage(message)] }).byteLength;
      expect(messageBytesUpperBound(message), message.type).toBeGreaterThanOrEqual(actual);
    }
  });
});

describe('decodeMessage refuses what a correct peer never sends', () => {
  const append = byType('append');
  const cases: { name: string; wire: () => unknown; field: string; says: string }[] = [
    { name: 'not a message at all', wire: () => 'garbage', field: 'm', says: 'expected a message' },
    { name: 'null', wire: () => null, field: 'm', says: 'expected a message' },
    { name: 'an unknown enum number', wire: () => wireWith(append, (w) => (w['type'] = 42)), field: 'm.type', says: '42' },
    { name: 'MESSAGE_TYPE_UNSPECIFIED', wire: () => wireWith(append, (w) => (w['type'] = 'MESSAGE_TYPE_UNSPECIFIED')), field: 'm.type', says: 'MESSAGE_TYPE_UNSPECIFIED' },
    { name: 'an empty from', wire: () => wireWith(append, (w) => (w['from'] = '')), field: 'm.from', says: 'non-empty' },
    { name: 'an empty to', wire: () => wireWith(append, (w) => (w['to'] = '')), field: 'm.to', says: 'non-empty' },
    { name: 'a term beyond 2^53', wire: () => wireWith(append, (w) => (w['term'] = 2 ** 60)), field: 'm.term', says: String(2 ** 60) },
    { name: 'a negative number', wire: () => wireWith(append, (w) => (w['commit'] = -1)), field: 'm.commit', says: '-1' },
    { name: 'a fractional number', wire: () => wireWith(append, (w) => (w['prevLogIndex'] = 1.5)), field: 'm.prevLogIndex', says: '1.5' },
    { name: 'a number given as a string', wire: () => wireWith(append, (w) => (w['term'] = '7')), field: 'm.term', says: '"7"' },
    { name: 'a missing boolean', wire: () => wireWith(byType('vote-response'), (w) => delete w['granted']), field: 'm.granted', says: 'boolean' },
    {
      name: 'append entries with a gap',
      wire: () => wireWith(append, (w) => ((w['entries'] as Record<string, unknown>[])[1]!['index'] = 14)),
      field: 'm.entries[1].index',
      says: 'expected 12',
    },
    {
      name: 'append entries not starting right after prevLogIndex',
      wire: () => wireWith(append, (w) => (w['prevLogIndex'] = 11)),
      field: 'm.entries[0].index',
      says: 'expected 12',
    },
    {
      name: 'an entry term above the message term',
      wire: () => wireWith(append, (w) => ((w['entries'] as Record<string, unknown>[])[2]!['term'] = 8)),
      field: 'm.entries[2].term',
      says: '8 is above the message term 7',
    },
    {
      name: 'entry terms going down',
      wire: () => wireWith(append, (w) => ((w['entries'] as Record<string, unknown>[])[2]!['term'] = 6)),
      field: 'm.entries[2].term',
      says: '6 is below the previous term 7',
    },
    {
      name: 'an entry term below prevLogTerm',
      wire: () => wireWith(append, (w) => (w['prevLogTerm'] = 6)),
      field: 'm.entries[0].term',
      says: '5 is below the previous term 6',
    },
    { name: 'prevLogTerm above the term', wire: () => wireWith(append, (w) => (w['prevLogTerm'] = 9)), field: 'm.prevLogTerm', says: 'above the message term' },
    {
      name: 'an unknown entry type',
      wire: () => wireWith(append, (w) => ((w['entries'] as Record<string, unknown>[])[0]!['type'] = 3)),
      field: 'm.entries[0].type',
      says: 'unknown entry type 3',
    },
    {
      name: 'entry data that is not bytes',
      wire: () => wireWith(append, (w) => ((w['entries'] as Record<string, unknown>[])[0]!['data'] = 'put a=1')),
      field: 'm.entries[0].data',
      says: 'expected bytes',
    },
    { name: 'entries that are not a list', wire: () => wireWith(append, (w) => (w['entries'] = {})), field: 'm.entries', says: 'expected a list' },
    {
      name: 'a vote request whose last log term is above its term',
      wire: () => wireWith(byType('vote-request'), (w) => (w['lastLogTerm'] = 8)),
      field: 'm.lastLogTerm',
      says: 'above the message term',
    },
    { name: 'a snapshot message without a snapshot', wire: () => wireWith(byType('snapshot'), (w) => (w['snapshot'] = null)), field: 'm.snapshot', says: 'must carry a snapshot' },
    {
      name: 'a snapshot without meta',
      wire: () => wireWith(byType('snapshot'), (w) => ((w['snapshot'] as Record<string, unknown>)['meta'] = null)),
      field: 'm.snapshot.meta',
      says: 'metadata',
    },
    {
      name: 'a snapshot at index 0',
      wire: () => wireWith(byType('snapshot'), (w) => (((w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>)['index'] = 0)),
      field: 'm.snapshot.meta.index',
      says: 'at least index 1',
    },
    {
      name: 'a snapshot term above the message term',
      wire: () => wireWith(byType('snapshot'), (w) => (((w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>)['term'] = 99)),
      field: 'm.snapshot.meta.term',
      says: '99 is above',
    },
    {
      name: 'a snapshot without membership',
      wire: () => wireWith(byType('snapshot'), (w) => (((w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>)['membership'] = null)),
      field: 'm.snapshot.meta.membership',
      says: 'membership',
    },
    {
      name: 'a membership without voters',
      wire: () =>
        wireWith(byType('snapshot'), (w) => {
          const meta = (w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>;
          (meta['membership'] as Record<string, unknown>)['voters'] = [];
        }),
      field: 'm.snapshot.meta.membership.voters',
      says: 'at least one voter',
    },
    {
      name: 'a node both voter and learner',
      wire: () =>
        wireWith(byType('snapshot'), (w) => {
          const meta = (w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>;
          (meta['membership'] as Record<string, unknown>)['learners'] = ['n2'];
        }),
      field: 'm.snapshot.meta.membership.learners[0]',
      says: 'listed twice',
    },
    {
      name: 'an empty voter id',
      wire: () =>
        wireWith(byType('snapshot'), (w) => {
          const meta = (w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>;
          (meta['membership'] as Record<string, unknown>)['voters'] = ['n1', ''];
        }),
      field: 'm.snapshot.meta.membership.voters[1]',
      says: 'non-empty',
    },
    {
      name: 'a conf-change entry whose data is not a conf change',
      wire: () => wireWith(confChangeAppend(), (w) => ((w['entries'] as Record<string, unknown>[])[0]!['data'] = Buffer.from([1, 0, 0]))),
      field: 'm.entries[0].data',
      says: 'conf change',
    },
    {
      name: 'an unknown entry type',
      wire: () => wireWith(confChangeAppend(), (w) => ((w['entries'] as Record<string, unknown>[])[0]!['type'] = 7)),
      field: 'm.entries[0].type',
      says: 'unknown entry type',
    },
    {
      name: 'an auto-promote member that is not a learner',
      wire: () =>
        wireWith(byType('snapshot'), (w) => {
          const meta = (w['snapshot'] as Record<string, unknown>)['meta'] as Record<string, unknown>;
          (meta['membership'] as Record<string, unknown>)['autoPromote'] = ['n1'];
        }),
      field: 'm.snapshot.meta.membership',
      says: 'autoPromote: n1 is not a learner',
    },
    { name: 'a read index with a non-string context', wire: () => wireWith(byType('read-index'), (w) => (w['context'] = 5)), field: 'm.context', says: 'expected a string' },
    { name: 'a heartbeat with a bad lease tick', wire: () => wireWith(byType('heartbeat'), (w) => (w['leaseTick'] = -3)), field: 'm.leaseTick', says: '-3' },
  ];

  for (const { name, wire, field, says } of cases) {
    it(`refuses ${name}`, () => {
      const error = refusal(wire());
      expect(error.name).toBe('PeerProtocolError');
      expect(error.code).toBe('PEER_PROTOCOL');
      expect(error.refusal).toBe('malformed');
      expect(error.field).toBe(field);
      expect(error.message).toContain(field);
      expect(error.message).toContain(says);
    });
  }

  it('accepts the unmodified wire form of every fixture (the cases above break only what they name)', () => {
    for (const message of oneOfEach(n1, n2)) expect(decodeMessage(wireWith(message, () => undefined))).toEqual(message);
  });

  it('treats fields a type does not use as irrelevant', () => {
    const wire: WireRaftMessage = { ...encodeMessage(byType('timeout-now')), commit: 5, context: 'x' };
    expect(decodeMessage(wire)).toEqual(byType('timeout-now'));
  });
});
