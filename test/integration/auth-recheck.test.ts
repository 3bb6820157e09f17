/**
 * The race the apply's second permission check closes (src/kv/auth-recheck.ts), on real
 * `raftkv` processes, made deterministic: with both followers stopped (SIGSTOP) the leader can
 * append but commit nothing, so its applied auth state stays as it was. Root revokes alice's
 * role: the revoke is appended, not applied. Alice's put is then checked on the leader against
 * the old state, allowed, and appended after the revoke. Once the followers run again both
 * commit in that order; the put's entry applies after the revoke and must be refused. Before
 * the check at apply existed, the put was applied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermissionDeniedError, RaftKvClient, type ClusterStatus } from '../../src/client/index.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';

describe('a write checked just before a revoke commits is refused at apply', () => {
  let cluster: ProcessCluster;
  let anonymous: RaftKvClient;
  const clients: RaftKvClient[] = [];
  const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--endpoints', cluster.endpoints.join(',')], { timeoutMs: 60_000 });

  beforeAll(async () => {
    // A 6 s election timeout (120 ticks of 50 ms): the leader keeps leading, without hearing
    // from its followers, for the few hundred milliseconds they stay stopped.
    cluster = await ProcessCluster.create(3, { extraArgs: ['--election-ticks', '120'] });
    anonymous = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000 });
    await cluster.waitForLeader(anonymous, 60_000);
  }, 90_000);

  afterAll(async () => {
    for (const client of [anonymous, ...clients]) client?.close();
    await cluster?.destroy();
  });

  it('refuses the put with PERMISSION_DENIED, and writes nothing', async () => {
    for (const args of [
      ['user', 'add', 'root:rootpw'],
      ['role', 'add', 'writer'],
      ['role', 'grant', 'writer', 'readwrite', 'w/', '--prefix'],
      ['user', 'add', 'alice:alicepw'],
      ['user', 'grant-role', 'alice', 'writer'],
      ['auth', 'enable'],
    ]) {
      const result = await cli(args);
      expect(result.stderr, args.join(' ')).toBe('');
      expect(result.code, args.join(' ')).toBe(0);
    }
    const leaderId = await cluster.waitForLeader(anonymous, 60_000);
    const leader = cluster.node(leaderId);
    const status = (): Promise<ClusterStatus> => anonymous.status(leader.clientAddress, { timeoutMs: 2000 });
    // Both talk to the leader only: a stopped follower would hold a call until its attempt timed out.
    const connect = (user: string, password: string): RaftKvClient => {
      const client = new RaftKvClient({ endpoints: [leader.clientAddress], pinned: true, timeoutMs: 30_000, auth: { user, password } });
      clients.push(client);
      return client;
    };
    const root = connect('root', 'rootpw');
    const alice = connect('alice', 'alicepw');
    // Alice's token and session exist before the followers stop (a session registration must commit).
    await alice.put('w/x', 'before');
    await root.get('w/x');
    const settled = await waitFor('the leader with nothing unapplied', async () => {
      const now = await status();
      return now.role === 'leader' && now.lastIndex === now.appliedIndex ? now : undefined;
    });
    const followers = cluster.nodes.filter((node) => node.id !== leaderId);
    for (const follower of followers) cluster.pause(follower.id);
    let revoke: Promise<unknown>;
    let put: Promise<unknown>;
    try {
      revoke = root.auth.revokeRole('alice', 'writer').then(() => 'revoked', (error: unknown) => error);
      await waitFor('the revoke appended', async () => ((await status()).lastIndex === settled.lastIndex + 1 ? true : undefined), 5000);
      put = alice.put('w/x', 'after the revoke').then(() => 'put', (error: unknown) => error);
      const appended = await waitFor('the put appended after it', async () => {
        const now = await status();
        return now.lastIndex === settled.lastIndex + 2 ? now : undefined;
      }, 5000);
      // Neither is committed, so the leader checked the put against the state before the revoke.
      expect(appended.appliedIndex).toBe(settled.appliedIndex);
      expect(appended.role).toBe('leader');
    } finally {
      for (const follower of followers) cluster.resume(follower.id);
    }
    expect(await revoke).toBe('revoked');
    const refused = await put;
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect((refused as PermissionDeniedError).message).toBe('permission denied: user "alice" lacks write permission on key "w/x"');
    expect((refused as PermissionDeniedError).permission).toBe('write');
    expect((refused as PermissionDeniedError).key).toBe('"w/x"');
    expect((await root.get('w/x'))?.value.toString()).toBe('before');
    // Both entries were committed and applied, in the order appended.
    const after = await status();
    expect(after.appliedIndex).toBeGreaterThanOrEqual(settled.lastIndex + 2);
  }, 180_000);
});
