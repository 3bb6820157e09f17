import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, RaftKvClient, txnCompare, txnOp, type TxnRequest } from '../../src/client/index.js';
import { ProcessCluster, projectRoot, runCli } from './process-cluster.js';
import { tempDir } from '../support/temp-dir.js';

/** Multi-key transactions (issue 15) on a 3-node cluster of real processes, through the SDK and the CLI. */
describe('transactions on a 3-node cluster', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  const dir = tempDir('raftkv-txn-');

  beforeAll(async () => {
    // A low limit, so that the over-limit refusal needs only a few operations.
    cluster = await ProcessCluster.create(3, { extraArgs: ['--max-txn-ops', '4'] });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
    await cluster.waitForLeader(client);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  /** Moves one unit from `from` to `to` if neither changed since it was read. */
  async function transfer(sdk: RaftKvClient, from: string, to: string): Promise<boolean> {
    const [a, b] = [await sdk.mustGet(from), await sdk.mustGet(to)];
    const result = await sdk.txn({
      compare: [txnCompare.version(from, 'equal', a.version), txnCompare.version(to, 'equal', b.version)],
      success: [txnOp.put(from, String(Number(a.value.toString()) - 1)), txnOp.put(to, String(Number(b.value.toString()) + 1))],
    });
    if (result.succeeded) {
      // Both writes at the transaction's revision.
      expect(result.responses).toEqual([{ put: { revision: result.revision, version: a.version + 1 } }, { put: { revision: result.revision, version: b.version + 1 } }]);
    }
    return result.succeeded;
  }

  it('moves a unit between two keys atomically through the SDK, on the stream and on unary RPCs', async () => {
    await client.put('bank/a', '10');
    await client.put('bank/b', '10');
    expect(await transfer(client, 'bank/a', 'bank/b')).toBe(true);
    const unary = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000, transport: 'unary' });
    try {
      expect(await transfer(unary, 'bank/b', 'bank/a')).toBe(true);
      expect(await transfer(unary, 'bank/b', 'bank/a')).toBe(true);
    } finally {
      unary.close();
    }
    const all = await client.txn({ success: [txnOp.get('bank/', { prefix: true })] });
    const got = all.responses[0];
    expect(got !== undefined && 'get' in got ? got.get.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`) : null).toEqual(['bank/a=11', 'bank/b=9']);
  });

  it('runs the failure branch when a compare does not hold, and writes nothing else', async () => {
    await client.put('f/x', '1');
    const result = await client.txn({
      compare: [{ key: 'f/x', target: 'value', result: 'equal', value: 'not-1' }],
      success: [txnOp.put('f/x', 'wrong')],
      failure: [txnOp.put('f/failed', 'yes'), txnOp.get('f/x')],
    });
    expect(result.succeeded).toBe(false);
    expect(result.responses[1]).toMatchObject({ get: { kvs: [{ value: Buffer.from('1') }], more: false } });
    expect((await client.mustGet('f/x')).value.toString()).toBe('1');
    expect((await client.mustGet('f/failed')).modRevision).toBe(result.revision);
  });

  it('serves a read-only transaction on a follower without a log entry (ReadIndex), where a writing one needs the leader', async () => {
    const written = await client.put('ro/k', 'v');
    const { leader, follower } = await cluster.waitForLeaderAndFollower(client);
    const endpoint = follower.clientAddress;
    const leaderEndpoint = leader.clientAddress;
    const pinned = new RaftKvClient({ endpoints: [endpoint], pinned: true, timeoutMs: 5000 });
    try {
      // The leader's last index: a log entry for the read would move it.
      const before = (await client.status(leaderEndpoint)).lastIndex;
      const result = await pinned.txn({ compare: [txnCompare.value('ro/k', 'equal', 'v')], success: [txnOp.get('ro/k')] });
      expect(result.succeeded).toBe(true);
      // Linearizable: it sees the write acknowledged before it began.
      expect(result.revision).toBeGreaterThanOrEqual(written.revision);
      expect(result.responses[0]).toMatchObject({ get: { kvs: [{ value: Buffer.from('v'), modRevision: written.revision }] } });
      // No entry was appended for it (nothing else writes meanwhile).
      expect((await client.status(leaderEndpoint)).lastIndex).toBe(before);
      await expect(pinned.txn({ success: [txnOp.put('ro/k', 'w')] })).rejects.toThrow(/leader/i);
    } finally {
      pinned.close();
    }
  });

  it('refuses more operations than --max-txn-ops with INVALID_ARGUMENT naming the limit, applying nothing', async () => {
    const tooMany: TxnRequest = { success: Array.from({ length: 5 }, (_, i) => txnOp.put(`limit/${i}`, 'x')) };
    await expect(client.txn(tooMany)).rejects.toThrow(InvalidArgumentError);
    await expect(client.txn(tooMany)).rejects.toThrow(/success: 5 given \(at most 4 per transaction \(max-txn-ops\)\)/);
    expect(await client.get('limit/0')).toBeNull();
    // At the limit: accepted.
    const atLimit = await client.txn({ success: tooMany.success?.slice(0, 4) ?? [] });
    expect(atLimit.succeeded).toBe(true);
  });

  it('runs a transaction from a file and from stdin through the CLI, printing the branch and results', async () => {
    const endpoints = cluster.endpoints.join(',');
    const file = join(dir, 'txn.json');
    writeFileSync(
      file,
      JSON.stringify({
        compare: [{ key: 'cli/a', target: 'version', result: 'equal', value: 0 }],
        success: [{ put: { key: 'cli/a', value: '1' } }, { put: { key: 'cli/b', value: '2' } }, { get: { key: 'cli/', prefix: true } }],
        failure: [{ get: { key: 'cli/a' } }],
      }),
    );
    const first = await runCli(['txn', '--file', file, '--endpoints', endpoints, '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const printed = JSON.parse(first.stdout) as { succeeded: boolean; revision: number; responses: unknown[] };
    expect(printed.succeeded).toBe(true);
    expect(printed.responses).toEqual([
      { put: { revision: printed.revision, version: 1 } },
      { put: { revision: printed.revision, version: 1 } },
      {
        get: {
          kvs: [
            { key: 'cli/a', value: '1', version: 1, createRevision: printed.revision, modRevision: printed.revision },
            { key: 'cli/b', value: '2', version: 1, createRevision: printed.revision, modRevision: printed.revision },
          ],
          more: false,
          count: 2,
        },
      },
    ]);
    // The same transaction again, on stdin: cli/a exists now, so the failure branch runs.
    const second = await runCli(['txn', '--endpoints', endpoints], { stdin: JSON.stringify({ compare: [{ key: 'cli/a', target: 'version', result: 'equal', value: 0 }], failure: [{ delete: { key: 'cli/', prefix: true } }] }) });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^FAILURE: a compare did not hold, the failure operations ran \(revision \d+\)\ndelete: 2 deleted\n$/);
    expect(await client.get('cli/a')).toBeNull();
  }, 60_000);

  it.each([
    ['not JSON', '{"compare": [', /^raftkv: txn: not JSON: /],
    ['a bad compare target', JSON.stringify({ compare: [{ key: 'a', target: 'version', result: 'equal', value: 1 }, { key: 'a', target: 'size', result: 'equal', value: 1 }] }), /^raftkv: txn: compare\[1\]\.target: expected one of value, version, create, mod, lease, got "size"\n$/],
    ['a string version', JSON.stringify({ compare: [{ key: 'a', target: 'version', result: 'equal', value: '1' }] }), /compare\[0\]\.value: expected a non-negative integer for target "version", got "1"/],
    ['an op with two kinds', JSON.stringify({ success: [{ put: { key: 'a', value: '1' }, get: { key: 'a' } }] }), /success\[0\]: expected exactly one of put, delete, get, got put, get/],
    ['prefix and range_end together', JSON.stringify({ failure: [{ delete: { key: 'a', prefix: true, range_end: 'b' } }] }), /failure\[0\]\.delete\.range_end: give prefix or range_end, not both/],
    ['an unknown field', JSON.stringify({ succes: [] }), /succes: unknown field/],
  ])('refuses %s with exit code 2 naming the path, sending nothing', async (_name, input, message) => {
    // An endpoint where nothing listens: had the CLI sent anything, it would report that instead.
    const result = await runCli(['txn', '--endpoints', '127.0.0.1:1', '--timeout', '500'], { stdin: input });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a --file it cannot read with exit code 2 naming it', async () => {
    const result = await runCli(['txn', '--file', join(dir, 'missing.json'), '--endpoints', '127.0.0.1:1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`raftkv: txn: --file ${join(dir, 'missing.json')}: cannot read it (ENOENT)\n`);
  });

  it('reports an over-limit transaction through the CLI with exit code 2 naming --max-txn-ops', async () => {
    const input = JSON.stringify({ compare: Array.from({ length: 5 }, (_, i) => ({ key: `c${i}`, target: 'version', result: 'equal', value: 0 })) });
    const result = await runCli(['txn', '--endpoints', cluster.endpoints.join(',')], { stdin: input });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('compare: 5 given (at most 4 per transaction (max-txn-ops))');
  });

  it('runs examples/transfer.ts (the README\'s SDK example) twice, conserving the total', () => {
    for (const [run, balances] of [[1, 'acct/alice=90 acct/bob=110'], [2, 'acct/alice=80 acct/bob=120']] as const) {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'examples/transfer.ts', cluster.endpoints.join(',')], { cwd: projectRoot, encoding: 'utf8', timeout: 30_000 });
      expect(result.stderr, `run ${run}`).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^moved 10 from alice to bob at revision \\d+ \\(attempt 1\\)\n${balances}\n$`));
    }
  }, 60_000);
});
