import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/mulberry32.js';
import { nodeId, type Entry, type Message } from '../../src/raft/index.js';
import { encodeBatchBytes } from '../../src/transport/batch-bytes.js';
import { decodeBatch, encodeBatch } from '../../src/transport/batch-codec.js';
import { encodeMessage } from '../../src/transport/codec.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import type { WireMessageBatch } from '../../src/transport/wire-types.js';
import { oneOfEach } from './fixtures.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const { serializeBatch, deserializeBatch } = raftPeerProto().send;
const encodeOne = (message: Message): Buffer => serializeBatch({ messages: [encodeMessage(message)] } as unknown as WireMessageBatch);
const receiver = { clusterId: 'raftkv', selfId: n2, isKnownPeer: (id: string) => id === 'n1' };

/** The same batch both ways, as the receiver's protobufjs decodes it. */
function bothWays(messages: readonly Message[], clusterId = 'raftkv', address = '127.0.0.1:8001'): { direct: unknown; protobufjs: unknown; bytes: Buffer } {
  const bytes = encodeBatchBytes(clusterId, n1, messages, address, encodeOne);
  return { direct: deserializeBatch(bytes), protobufjs: deserializeBatch(serializeBatch(encodeBatch(clusterId, n1, messages, address))), bytes };
}


describe('MessageBatch encoded straight from the core messages', () => {
  it('decodes exactly as protobufjs encodes it, every message type (snapshots through protobufjs) and the batch fields', () => {
    const messages = oneOfEach(n1, n2);
    const { direct, protobufjs, bytes } = bothWays(messages);
    expect(direct).toEqual(protobufjs);
    expect(decodeBatch(deserializeBatch(bytes), receiver)).toEqual({ from: n1, messages, senderClientAddress: '127.0.0.1:8001' });
    // Empty strings and an empty batch are left out as proto3 leaves them.
    expect(bothWays([], '', '').direct).toEqual(bothWays([], '', '').protobufjs);
  });

  it('matches protobufjs for appends with large numbers and many entries (seeded)', () => {
    const random = mulberry32(11);
    const number = (): number => (random() < 0.2 ? 0 : Math.floor(random() * 2 ** (1 + Math.floor(random() * 53))));
    for (let round = 0; round < 200; round++) {
      const term = number();
      const prevLogIndex = number() % 2 ** 52;
      const entries: Entry[] = Array.from({ length: Math.floor(random() * 20) }, (_, i) => ({
        term,
        index: prevLogIndex + 1 + i,
        type: random() < 0.1 ? 'conf-change' : 'normal',
        data: Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256))),
      }));
      const messages: Message[] = [
        { type: 'append', from: n1, to: n2, term, prevLogIndex, prevLogTerm: Math.min(term, number()), entries, commit: number() },
        { type: 'heartbeat', from: n1, to: n2, term, commit: number(), readContext: random() < 0.5 ? '' : `r${round}`, leaseTick: number() },
        { type: 'read-index-response', from: n1, to: n2, term, index: number(), context: `c${round}` },
      ];
      const { direct, protobufjs } = bothWays(messages);
      expect(direct, `round ${round}`).toEqual(protobufjs);
    }
  });

  it('refuses a number protobuf cannot carry exactly rather than send another', () => {
    const bad: Message = { type: 'heartbeat', from: n1, to: n2, term: 2 ** 53, commit: 1, readContext: '', leaseTick: 0 };
    expect(() => encodeBatchBytes('raftkv', n1, [bad], '', encodeOne)).toThrow(RangeError);
  });
});
