import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient, txnOp } from '../../src/client/index.js';
import { ProcessCluster, runCli } from './process-cluster.js';
import { rawKvClient, type RawKvClient } from './raw-kv-client.js';

/** Range options (sort, filters, keys-only, count-only, count) on a 3-node cluster of real processes: the SDK, the wire and the CLI. */
describe('range options on a 3-node cluster', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  let raw: RawKvClient;
  /** The revision of each key's last put, and of its first (its create revision). */
  const revisions = new Map<string, number>();
  const creates = new Map<string, number>();

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(client);
    raw = rawKvClient(cluster.endpoints[0] as string);
    // Written out of key order, with values that sort differently again; r/b written twice.
    for (const [key, value] of [['r/c', 'mm'], ['r/a', 'zz'], ['r/b', 'aa'], ['r/d', 'k'], ['r/b', 'ab']] as const) {
      const { revision } = await client.put(key, value);
      revisions.set(key, revision);
      if (!creates.has(key)) creates.set(key, revision);
    }
  }, 60_000);

  afterAll(async () => {
    raw?.close();
    client?.close();
    await cluster?.destroy();
  });

  const keys = (kvs: readonly { key: Buffer }[]): string[] => kvs.map((kv) => kv.key.toString());

  it('sorts, filters and counts through the SDK, at the latest and at a past revision, and in a transaction', async () => {
    const byCreateDescending = await client.range({ prefix: 'r/' }, { sort: { target: 'create', order: 'descend' }, limit: 2 });
    expect(keys(byCreateDescending.kvs)).toEqual(['r/d', 'r/b']);
    expect(byCreateDescending).toMatchObject({ more: true, count: 4 });

    const byValue = await client.range({ prefix: 'r/' }, { sort: { target: 'value' } });
    expect(byValue.kvs.map((kv) => kv.value.toString())).toEqual(['ab', 'k', 'mm', 'zz']);

    const byMod = await client.range({ prefix: 'r/' }, { sort: { target: 'mod', order: 'descend' }, keysOnly: true, limit: 1 });
    expect(keys(byMod.kvs)).toEqual(['r/b']);
    expect(byMod.kvs[0]?.value.byteLength).toBe(0);
    expect(byMod.kvs[0]?.version).toBe(2);

    const created = revisions.get('r/a') as number;
    const filtered = await client.range({ prefix: 'r/' }, { minModRevision: created + 1, maxCreateRevision: revisions.get('r/d') as number });
    expect(keys(filtered.kvs)).toEqual(['r/b', 'r/d']);
    expect(filtered.count).toBe(2);

    expect(await client.range({ prefix: 'r/' }, { countOnly: true })).toEqual({ kvs: [], more: false, count: 4 });

    // As of the first r/b: r/d not yet written, r/b still at its first value.
    const past = await client.range({ prefix: 'r/' }, { revision: (revisions.get('r/d') as number) - 1, sort: { target: 'value', order: 'descend' } });
    expect(past.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`)).toEqual(['r/a=zz', 'r/c=mm', 'r/b=aa']);

    const txn = await client.txn({ success: [txnOp.get('r/', { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1 }), txnOp.get('r/', { prefix: true, countOnly: true })] });
    const [head, count] = txn.responses;
    expect(head !== undefined && 'get' in head ? keys(head.get.kvs) : null).toEqual(['r/c']);
    expect(head !== undefined && 'get' in head ? head.get.count : null).toBe(4);
    expect(count !== undefined && 'get' in count ? count.get : null).toEqual({ kvs: [], more: false, count: 4 });
  });

  it('answers a request without options as before (key order), now with the count', async () => {
    const result = (await raw.range({ prefix: Buffer.from('r/'), limit: 2 })) as { kvs: { key: Buffer }[]; more: boolean; count: number };
    expect(keys(result.kvs)).toEqual(['r/a', 'r/b']);
    expect(result.more).toBe(true);
    expect(result.count).toBe(4);
  });

  it.each([
    [{ sortOrder: 7 }, 'sort_order'],
    [{ sortTarget: 9 }, 'sort_target'],
    [{ minModRevision: 9, maxModRevision: 3 }, 'min_mod_revision'],
    [{ minCreateRevision: 9, maxCreateRevision: 3 }, 'min_create_revision'],
  ])('refuses a bad range option with INVALID_ARGUMENT naming the field (%#)', async (options, field) => {
    const refused = raw.range({ prefix: Buffer.from('r/'), ...options });
    await expect(refused).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(refused).rejects.toThrow(new RegExp(`${field}`));
    const inTxn = raw.txn({ success: [{ range: { key: Buffer.from('r/'), prefix: true, ...options } }] });
    await expect(inTxn).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(inTxn).rejects.toThrow(new RegExp(`success\\[0\\]\\.range\\.${field}`));
  });

  it('refuses bad options in the SDK before sending, naming the option', async () => {
    await expect(client.range({ prefix: 'r/' }, { sort: { target: 'size' as never } })).rejects.toThrow(InvalidArgumentError);
    await expect(client.range({ prefix: 'r/' }, { minModRevision: 5, maxModRevision: 2 })).rejects.toThrow(/minModRevision/);
    await expect(client.txn({ success: [txnOp.get('r/', { prefix: true, maxCreateRevision: -1 })] })).rejects.toThrow(/success\[0\]\.get\.maxCreateRevision/);
  });

  it('CLI: get with --prefix, --sort-by, --order, --keys-only, --count-only and the revision filters; bad values exit 2 naming the flag', async () => {
    const endpoints = ['--endpoints', cluster.endpoints.join(',')];
    const sorted = await runCli(['get', 'r/', '--prefix', '--sort-by', 'MODIFY', '--order', 'DESCEND', '--limit', '2', ...endpoints]);
    expect(sorted).toMatchObject({ code: 0, stdout: 'r/b=ab\nr/d=k\n(more keys; raise --limit)\n' });
    const keysOnly = await runCli(['get', 'r/a', 'r/c', '--keys-only', ...endpoints]);
    expect(keysOnly).toMatchObject({ code: 0, stdout: 'r/a\nr/b\n' });
    const counted = await runCli(['get', 'r/', '--prefix', '--count-only', '--min-create-revision', String(creates.get('r/b')), ...endpoints]);
    expect(counted).toMatchObject({ code: 0, stdout: '2\n' });
    const json = await runCli(['range', 'r/', '--sort-by', 'value', '--json', ...endpoints]);
    expect(JSON.parse(json.stdout)).toMatchObject({ kvs: [{ key: 'r/b' }, { key: 'r/d' }, { key: 'r/c' }, { key: 'r/a' }], more: false, count: 4 });
    // One key with a range flag: the range of that key alone.
    const one = await runCli(['get', 'r/b', '--count-only', ...endpoints]);
    expect(one).toMatchObject({ code: 0, stdout: '1\n' });
    // Plain get unchanged.
    expect(await runCli(['get', 'r/b', ...endpoints])).toMatchObject({ code: 0, stdout: 'ab\n' });

    for (const [args, flag] of [
      [['--sort-by', 'SIZE'], '--sort-by'],
      [['--order', 'SIDEWAYS'], '--order'],
      [['--min-mod-revision', 'x'], '--min-mod-revision'],
      [['--min-create-revision', '9', '--max-create-revision', '3'], '--min-create-revision'],
    ] as const) {
      const refused = await runCli(['get', 'r/', '--prefix', ...args, ...endpoints]);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr, args.join(' ')).toContain(flag);
    }
  });
});
