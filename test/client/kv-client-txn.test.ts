import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient, txnCompare, txnOp, type TxnCompare } from '../../src/client/index.js';
import type { TxnRequest as WireTxnRequest } from '../../src/server/kv-service.js';
import { FakeNode, closedAfterEach } from '../server/fake-node.js';

const answer = {
  header: { memberId: 'fake', term: 1, revision: 7 },
  succeeded: true,
  revision: 7,
  responses: [
    { put: { version: 2, modRevision: 7 } },
    { deleteRange: { deleted: 3 } },
    { range: { kvs: [{ key: Buffer.from('a'), value: Buffer.from('1'), version: 1, createRevision: 4, modRevision: 4 }], more: false } },
  ],
};

/** client.txn against a fake node: what it sends, and how it reads the answer. */
describe('RaftKvClient.txn', () => {
  const track = closedAfterEach();

  it('sends a writing transaction with a session, and types the answer', async () => {
    const node = track(await FakeNode.start({ txn: async () => answer }));
    const client = track(new RaftKvClient({ endpoints: [node.address] }));
    const result = await client.txn({
      compare: [txnCompare.version('a', 'equal', 1), txnCompare.value('b', 'not_equal', 'x')],
      success: [txnOp.put('a', '2'), txnOp.delete('p/', { prefix: true }), txnOp.get('a')],
      failure: [txnOp.get('a', { rangeEnd: 'b', limit: 5 })],
    });
    expect(result).toEqual({
      succeeded: true,
      revision: 7,
      responses: [
        { put: { revision: 7, version: 2 } },
        { delete: { deleted: 3 } },
        // The fake answers without a count, as a server older than counts: 0.
        { get: { kvs: [{ key: Buffer.from('a'), value: Buffer.from('1'), version: 1, createRevision: 4, modRevision: 4 }], more: false, count: 0 } },
      ],
    });
    const sent = node.seen.find((op) => op.kind === 'txn')?.request as unknown as WireTxnRequest;
    expect(sent.session?.clientId).toMatch(/^fake-/);
    expect(sent.compare.map((c) => [c.target, c.result])).toEqual([['VERSION', 'EQUAL'], ['VALUE', 'NOT_EQUAL']]);
    expect(sent.success.map((op) => op.request)).toEqual(['put', 'deleteRange', 'range']);
    expect(sent.success[1]?.deleteRange).toMatchObject({ key: Buffer.from('p/'), prefix: true });
    expect(sent.failure[0]?.range).toMatchObject({ key: Buffer.from('a'), rangeEnd: Buffer.from('b'), limit: 5 });
  });

  it('sends a read-only transaction as a read: no session, no registration', async () => {
    const node = track(await FakeNode.start({ txn: async () => ({ ...answer, responses: [] }) }));
    const client = track(new RaftKvClient({ endpoints: [node.address] }));
    await client.txn({ compare: [txnCompare.mod('a', 'greater', 3)], success: [txnOp.get('a')], failure: [txnOp.get('b')] });
    expect(node.seen.map((op) => op.kind)).toEqual(['txn']);
    expect((node.seen[0]?.request as unknown as WireTxnRequest).session).toBeNull();
  });

  it.each([
    [{ compare: [{ key: 'a', target: 'size', result: 'equal', value: 1 } as unknown as TxnCompare] }, 'compare[0].target'],
    [{ compare: [{ key: 'a', target: 'version', result: 'about', value: 1 } as unknown as TxnCompare] }, 'compare[0].result'],
    [{ compare: [txnCompare.version('a', 'equal', -1)] }, 'compare[0].value'],
    [{ failure: [{ rename: { key: 'a' } } as never] }, 'failure[0]'],
  ])('refuses a malformed transaction before sending anything (%#)', async (request, field) => {
    const node = track(await FakeNode.start({ txn: async () => answer }));
    const client = track(new RaftKvClient({ endpoints: [node.address] }));
    await expect(client.txn(request)).rejects.toThrow(InvalidArgumentError);
    await expect(client.txn(request)).rejects.toThrow(expect.objectContaining({ field }));
    expect(node.seen.filter((op) => op.kind === 'txn')).toEqual([]);
  });
});
