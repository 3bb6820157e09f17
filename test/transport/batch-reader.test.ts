import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../support/mulberry32.js';
import { nodeId, type Entry, type Message } from '../../src/raft/index.js';
import { encodeBatch } from '../../src/transport/batch-codec.js';
import { BatchReadError, readMessageBatch } from '../../src/transport/batch-reader.js';
import { raftPeerProto } from '../../src/transport/proto.js';
import { serviceClient } from '../../src/shared/proto.js';
import { oneOfEach } from './fixtures.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const { serializeBatch } = raftPeerProto().send;
/** protobufjs's own reading, through proto-loader (what the receiver used before). */
const protobufjsRead = (serviceClient('raftkv/v1/raft.proto', 'RaftPeer').service['Send'] as unknown as { requestDeserialize: (bytes: Buffer) => unknown }).requestDeserialize;


describe('readMessageBatch', () => {
  it('is what the Send method reads with (service definition and receiver alike)', () => {
    expect(raftPeerProto().send.deserializeBatch).toBe(readMessageBatch);
    expect((raftPeerProto().service['Send'] as unknown as { requestDeserialize: unknown }).requestDeserialize).toBe(readMessageBatch);
  });

  it('reads every message type into what proto-loader gives', () => {
    const bytes = serializeBatch(encodeBatch('raftkv', n1, oneOfEach(n1, n2), '127.0.0.1:8001'));
    expect(readMessageBatch(bytes)).toEqual(protobufjsRead(bytes));
    const empty = serializeBatch({ clusterId: '', from: '', messages: [], senderClientAddress: '' });
    expect(readMessageBatch(empty)).toEqual(protobufjsRead(empty));
  });

  it('reads random appends as proto-loader does (seeded)', () => {
    const random = mulberry32(5);
    const number = (): number => (random() < 0.2 ? 0 : Math.floor(random() * 2 ** (1 + Math.floor(random() * 53))));
    for (let round = 0; round < 200; round++) {
      const term = number();
      const entries: Entry[] = Array.from({ length: Math.floor(random() * 10) }, (_, i) => ({
        term,
        index: i + 1,
        type: random() < 0.1 ? 'conf-change' : 'normal',
        data: Buffer.from(Array.from({ length: Math.floor(random() * 100) }, () => Math.floor(random() * 256))),
      }));
      const messages: Message[] = [{ type: 'append', from: n1, to: n2, term, prevLogIndex: number(), prevLogTerm: number(), entries, commit: number() }];
      const bytes = serializeBatch(encodeBatch(`c${round}`, n1, messages, ''));
      expect(readMessageBatch(bytes), `round ${round}`).toEqual(protobufjsRead(bytes));
    }
  });

  it('on damaged bytes, reads what proto-loader reads, or refuses (never reads something else)', () => {
    const valid = serializeBatch(encodeBatch('raftkv', n1, oneOfEach(n1, n2), '127.0.0.1:8001'));
    const random = mulberry32(9);
    let refused = 0;
    for (let round = 0; round < 3000; round++) {
      const damaged = Buffer.from(valid);
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++) damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
      const cut = random() < 0.2 ? damaged.subarray(0, Math.floor(random() * damaged.length)) : damaged;
      let mine: unknown;
      try {
        mine = readMessageBatch(cut);
      } catch (error) {
        expect(error).toBeInstanceOf(BatchReadError);
        refused++;
        continue;
      }
      expect(mine, `round ${round}`).toEqual(protobufjsRead(cut));
    }
    expect(refused).toBeGreaterThan(0);
  });
});
