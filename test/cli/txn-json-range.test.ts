import { describe, expect, it } from 'vitest';
import { parseTxnJson } from '../../cli/txn-json.js';

describe('raftkv txn JSON: a get with range options', () => {
  it('carries sort, keys only, count only and the revision filters (etcd field names)', () => {
    const request = parseTxnJson(
      '{"success":[{"get":{"key":"q/","prefix":true,"limit":1,"sort_target":"create","sort_order":"descend","keys_only":true,"count_only":false,' +
        '"min_mod_revision":2,"max_mod_revision":9,"min_create_revision":1,"max_create_revision":8}},{"get":{"key":"q/","prefix":true,"sort_target":"value"}}]}',
    );
    expect(request.success).toEqual([
      {
        get: {
          key: 'q/',
          prefix: true,
          limit: 1,
          sort: { target: 'create', order: 'descend' },
          keysOnly: true,
          countOnly: false,
          minModRevision: 2,
          maxModRevision: 9,
          minCreateRevision: 1,
          maxCreateRevision: 8,
        },
      },
      // A target alone ascends (as etcdctl).
      { get: { key: 'q/', prefix: true, sort: { target: 'value', order: 'ascend' } } },
    ]);
  });

  it.each([
    ['"sort_target":"size"', 'success\\[0\\]\\.get\\.sort_target: expected one of'],
    ['"sort_order":"up"', 'success\\[0\\]\\.get\\.sort_order: expected one of'],
    ['"keys_only":1', 'success\\[0\\]\\.get\\.keys_only: expected true or false'],
    ['"min_mod_revision":-1', 'success\\[0\\]\\.get\\.min_mod_revision: expected a non-negative integer'],
    ['"max_create_revision":"7"', 'success\\[0\\]\\.get\\.max_create_revision: expected a non-negative integer'],
    ['"sort":"key"', 'success\\[0\\]\\.get\\.sort: unknown field'],
  ])('refuses %s, naming the field', (field, message) => {
    expect(() => parseTxnJson(`{"success":[{"get":{"key":"q/","prefix":true,${field}}}]}`)).toThrow(new RegExp(message));
  });
});
