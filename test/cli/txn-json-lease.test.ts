import { describe, expect, it } from 'vitest';
import { parseTxnJson } from '../../cli/txn-json.js';

describe('raftkv txn JSON: a put with a lease', () => {
  it('carries the lease; 0 or none means no lease', () => {
    const request = parseTxnJson('{"success":[{"put":{"key":"k","value":"v","lease":7}},{"put":{"key":"j","value":"w","lease":0}},{"put":{"key":"i","value":"x"}}]}');
    expect(request.success).toEqual([{ put: { key: 'k', value: 'v', lease: 7 } }, { put: { key: 'j', value: 'w' } }, { put: { key: 'i', value: 'x' } }]);
  });

  it.each(['"7"', '-1', '1.5', '9007199254740993'])('refuses lease %s, naming the field', (lease) => {
    expect(() => parseTxnJson(`{"success":[{"put":{"key":"k","value":"v","lease":${lease}}}]}`)).toThrow(/success\[0\]\.put\.lease: expected a lease id/);
  });
});
