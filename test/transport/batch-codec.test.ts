import { describe, expect, it } from 'vitest';
import { nodeId } from '../../src/raft/index.js';
import { decodeBatch, encodeBatch, type BatchReceiver } from '../../src/transport/batch-codec.js';
import { PeerProtocolError, type PeerRefusal } from '../../src/transport/errors.js';
import { refusalStatus } from '../../src/transport/peer-receiver.js';
import { status } from '@grpc/grpc-js';
import { heartbeat, oneOfEach } from './fixtures.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const n3 = nodeId('n3');
const receiver: BatchReceiver = { clusterId: 'alpha', selfId: n2, isKnownPeer: (id) => id === 'n1' || id === 'n3' };

function refusalOf(wire: unknown): PeerProtocolError {
  try {
    decodeBatch(wire, receiver);
  } catch (error) {
    if (error instanceof PeerProtocolError) return error;
    throw error;
  }
  throw new Error('decodeBatch accepted it');
}

describe('decodeBatch', () => {
  it('accepts a batch from a known peer to this node and keeps the order', () => {
    const messages = oneOfEach(n1, n2);
    expect(decodeBatch(encodeBatch('alpha', n1, messages), receiver)).toEqual({ from: n1, messages, senderClientAddress: '' });
  });

  it("carries the sender's client address, and refuses an absurd one", () => {
    const batch = encodeBatch('alpha', n1, [heartbeat(n1, n2, 1)], '10.0.0.1:8001');
    expect(decodeBatch(batch, receiver).senderClientAddress).toBe('10.0.0.1:8001');
    expect(() => decodeBatch({ ...batch, senderClientAddress: 'x'.repeat(301) }, receiver)).toThrow(/senderClientAddress/);
  });

  const cases: { name: string; wire: unknown; refusal: PeerRefusal; field: string; says: string }[] = [
    { name: 'another cluster', wire: encodeBatch('beta', n1, [heartbeat(n1, n2, 1)]), refusal: 'wrong-cluster', field: 'batch.clusterId', says: '"beta"' },
    { name: 'an unknown sender', wire: encodeBatch('alpha', nodeId('n9'), [heartbeat(nodeId('n9'), n2, 1)]), refusal: 'unknown-peer', field: 'batch.from', says: '"n9"' },
    { name: 'a sender claiming to be us', wire: encodeBatch('alpha', n2, [heartbeat(n2, n2, 1)]), refusal: 'unknown-peer', field: 'batch.from', says: '"n2"' },
    {
      name: 'a message from someone else than the batch',
      wire: encodeBatch('alpha', n1, [heartbeat(n1, n2, 1), heartbeat(n3, n2, 2)]),
      refusal: 'misaddressed',
      field: 'batch.messages[1].from',
      says: '"n3"',
    },
    { name: 'a message for another node', wire: encodeBatch('alpha', n1, [heartbeat(n1, n3, 1)]), refusal: 'misaddressed', field: 'batch.messages[0].to', says: '"n3"' },
    {
      name: 'one malformed message among good ones',
      wire: { ...encodeBatch('alpha', n1, [heartbeat(n1, n2, 1)]), messages: [...encodeBatch('alpha', n1, [heartbeat(n1, n2, 1)]).messages, { type: 'HEARTBEAT', from: 'n1', to: 'n2', term: -1 }] },
      refusal: 'malformed',
      field: 'batch.messages[1].term',
      says: '-1',
    },
    { name: 'a batch that is not a message', wire: 7, refusal: 'malformed', field: 'batch', says: '7' },
    { name: 'a missing message list', wire: { clusterId: 'alpha', from: 'n1' }, refusal: 'malformed', field: 'batch.messages', says: 'expected a list' },
  ];
  for (const { name, wire, refusal, field, says } of cases) {
    it(`refuses ${name}`, () => {
      const error = refusalOf(wire);
      expect(error.refusal).toBe(refusal);
      expect(error.field).toBe(field);
      expect(error.message).toContain(says);
    });
  }

  it('maps a wrong cluster to PERMISSION_DENIED and every other refusal to INVALID_ARGUMENT', () => {
    expect(refusalStatus('wrong-cluster')).toBe(status.PERMISSION_DENIED);
    for (const refusal of ['unknown-peer', 'misaddressed', 'malformed'] as const) expect(refusalStatus(refusal)).toBe(status.INVALID_ARGUMENT);
  });
});
