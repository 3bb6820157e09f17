import { describe, expect, it } from 'vitest';
import { txnFromWire, txnResultToWire, type WireTxnOp, type WireTxnRequest } from '../../src/server/txn-wire.js';
import { InvalidArgumentError } from '../../src/shared/errors.js';

const keys = (key: string, rangeEnd: Buffer | string = '', prefix = false): { key: Buffer; rangeEnd: Buffer; prefix: boolean } => ({
  key: Buffer.from(key),
  rangeEnd: typeof rangeEnd === 'string' ? Buffer.from(rangeEnd) : rangeEnd,
  prefix,
});
const request = (success: WireTxnOp[], compare: WireTxnRequest['compare'] = []): WireTxnRequest => ({ compare, success, failure: [] });

describe('txnFromWire', () => {
  it('maps compares and the three ways to name keys, etcd\'s "\\0" range end meaning to the end', () => {
    const command = txnFromWire(
      request(
        [
          { request: 'deleteRange', deleteRange: keys('a') },
          { request: 'deleteRange', deleteRange: keys('p/', '', true) },
          { request: 'range', range: { ...keys('m', Buffer.from([0])), limit: 0 } },
          { request: 'range', range: { ...keys('m', 'n'), limit: 50_000 } },
          { request: 'put', put: { key: Buffer.from('k'), value: Buffer.from('v') } },
        ],
        [
          { key: Buffer.from('a'), target: 'VALUE', result: 'NOT_EQUAL', value: Buffer.from('x'), number: 0 },
          { key: Buffer.from('b'), target: 'LEASE', result: 'GREATER', value: Buffer.alloc(0), number: 3 },
        ],
      ),
      10_000,
    );
    expect(command.compare).toEqual([
      { key: Buffer.from('a'), target: 'value', result: 'not-equal', value: Buffer.from('x') },
      { key: Buffer.from('b'), target: 'lease', result: 'greater', number: 3 },
    ]);
    expect(command.success).toEqual([
      { kind: 'delete', keys: { kind: 'key', key: Buffer.from('a') } },
      { kind: 'delete', keys: { kind: 'prefix', prefix: Buffer.from('p/') } },
      // A limit of 0, or above the server's, is the server's.
      { kind: 'get', keys: { kind: 'interval', start: Buffer.from('m'), end: Buffer.alloc(0) }, limit: 10_000 },
      { kind: 'get', keys: { kind: 'interval', start: Buffer.from('m'), end: Buffer.from('n') }, limit: 10_000 },
      { kind: 'put', key: Buffer.from('k'), value: Buffer.from('v') },
    ]);
  });

  it.each([
    [request([{}]), 'success[0].request'],
    [request([{ request: 'deleteRange', deleteRange: keys('a', 'b', true) }]), 'success[0].delete_range.range_end'],
    [request([{ request: 'range', range: { ...keys(''), limit: 0 } }]), 'success[0].range.key'],
    [request([], [{ key: Buffer.from('a'), target: 'SIZE', result: 'EQUAL', value: Buffer.alloc(0), number: 0 }]), 'compare[0].target'],
  ])('refuses a malformed request naming %#: %s', (wire, field) => {
    expect(() => txnFromWire(wire, 10_000)).toThrow(InvalidArgumentError);
    expect(() => txnFromWire(wire, 10_000)).toThrow(expect.objectContaining({ field }));
  });
});

describe('txnResultToWire', () => {
  it('names each response by its oneof member', () => {
    const wire = txnResultToWire({
      kind: 'txn',
      succeeded: false,
      revision: 9,
      responses: [
        { kind: 'put', version: 2, modRevision: 9 },
        { kind: 'delete-range', deleted: 3 },
        { kind: 'get', kvs: [{ key: Buffer.from('a'), value: Buffer.from('1'), version: 1, createRevision: 4, modRevision: 4 }], more: true, count: 2 },
      ],
    });
    expect(wire).toEqual({
      succeeded: false,
      revision: 9,
      responses: [
        { put: { version: 2, modRevision: 9 } },
        { deleteRange: { deleted: 3 } },
        { range: { kvs: [{ key: Buffer.from('a'), value: Buffer.from('1'), version: 1, createRevision: 4, modRevision: 4, lease: 0 }], more: true, count: 2 } },
      ],
    });
  });
});
