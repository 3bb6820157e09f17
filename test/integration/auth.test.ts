/**
 * Authentication and roles end to end on real `raftkv` processes: set up with the CLI as an
 * etcdctl user would (user add root:pw, role grant, auth enable), then checked through the SDK
 * and raw gRPC: anonymous calls refused, a read-only user denied writes and other keys with
 * PERMISSION_DENIED naming the key, nothing changed by a denial, management for root only,
 * tokens valid on every member and revoked by a password change, and all of it surviving the
 * leader's death. Then client certificates: the common name is the user.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, PermissionDeniedError, RaftKvClient, txnCompare, txnOp, type ClientTls } from '../../src/client/index.js';
import { initCertificateDir } from '../../src/security/certificate-dir.js';
import { serviceClient } from '../../src/shared/proto.js';
import { nodeTlsFlags } from '../../src/shared/tls-flags.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';
import { tempDir } from '../support/temp-dir.js';

/** A KV.Get over a plain generated client, with `token` in the call metadata: the raw status, no SDK. */
function rawGet(address: string, key: string, token: string): Promise<{ found: boolean }> {
  const KV = serviceClient('raftkv/v1/kv.proto', 'KV');
  const client = new KV(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (token !== '') metadata.set('token', token);
  return new Promise((resolve, reject) => {
    (client as unknown as { get: (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { found: boolean }) => void) => void }).get(
      { key: Buffer.from(key), consistency: 'LINEARIZABLE' },
      metadata,
      { deadline: Date.now() + 10_000 },
      (error, response) => {
        client.close();
        if (error) reject(error);
        else resolve(response);
      },
    );
  });
}

describe('auth on a 3-node cluster', () => {
  let cluster: ProcessCluster;
  let root: RaftKvClient;
  let alice: RaftKvClient;
  let anonymous: RaftKvClient;
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof runCli> => runCli([...args, '--endpoints', cluster.endpoints.join(',')], { timeoutMs: 60_000, env });

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3, { extraArgs: ['--auth-token-ttl', '60'] });
    anonymous = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000 });
    await cluster.waitForLeader(anonymous);
  }, 90_000);

  afterAll(async () => {
    for (const client of [root, alice, anonymous]) client?.close();
    await cluster?.destroy();
  });

  it('is set up with the CLI: enable refuses without root, then users, a role and auth enable', async () => {
    await anonymous.put('a/x', 'one');
    await anonymous.put('b/x', 'two');
    const refused = await cli(['auth', 'enable']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('there is no user root');
    for (const args of [
      ['user', 'add', 'root:rootpw'],
      ['role', 'add', 'reader'],
      ['role', 'grant', 'reader', 'read', 'a/', '--prefix'],
      ['user', 'add', 'alice:alicepw'],
      ['user', 'grant-role', 'alice', 'reader'],
      ['auth', 'enable'],
    ]) {
      const result = await cli(args);
      expect(result.stderr, args.join(' ')).toBe('');
      expect(result.code, args.join(' ')).toBe(0);
    }
    const status = await cli(['auth', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ enabled: true });
    root = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, auth: { user: 'root', password: 'rootpw' } });
    alice = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, auth: { user: 'alice', password: 'alicepw' } });
    expect((await root.auth.getRole('reader')).permissions).toEqual([{ type: 'read', key: Buffer.from('a/'), rangeEnd: Buffer.from('a0') }]);
  }, 300_000);

  it('refuses anonymous calls once enabled, and changes nothing', async () => {
    await expect(anonymous.put('a/x', 'anon')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(anonymous.get('a/x')).rejects.toBeInstanceOf(AuthenticationError);
    expect((await root.get('a/x'))?.value.toString()).toBe('one');
    // Status and MemberList hold no data: open to anyone.
    expect((await anonymous.members()).members).toHaveLength(3);
  });

  it('lets a reader of a/ read a/x and denies b/x and every write with PERMISSION_DENIED naming the key', async () => {
    expect((await alice.get('a/x'))?.value.toString()).toBe('one');
    expect((await alice.range({ prefix: 'a/' })).kvs.map((kv) => kv.key.toString())).toEqual(['a/x']);
    const denials: [string, () => Promise<unknown>, string, string][] = [
      ['get b/x', () => alice.get('b/x'), '"b/x"', 'read'],
      ['put a/x', () => alice.put('a/x', 'alice'), '"a/x"', 'write'],
      ['delete a/x', () => alice.delete('a/x'), '"a/x"', 'write'],
      ['cas a/x', () => alice.cas('a/x', { version: 1 }, { put: 'alice' }), '"a/x"', 'write'],
      ['range of every key', () => alice.range({ prefix: '' }), '[""', 'read'],
      // Counting or listing keys without values still reads the range (etcd checks the same).
      ['count of every key', () => alice.range({ prefix: '' }, { countOnly: true }), '[""', 'read'],
      ['keys of b/', () => alice.range({ prefix: 'b/' }, { keysOnly: true }), '["b/"', 'read'],
      ['txn count of b/', () => alice.txn({ success: [txnOp.get('b/', { prefix: true, countOnly: true })] }), '["b/"', 'read'],
    ];
    for (const [what, call, key, permission] of denials) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error, what).toBeInstanceOf(PermissionDeniedError);
      expect((error as PermissionDeniedError).key, what).toContain(key);
      expect((error as PermissionDeniedError).permission, what).toBe(permission);
      expect((error as Error).message, what).toContain(`lacks ${permission} permission`);
    }
    // The unary path checks the same.
    const unary = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, transport: 'unary', auth: { user: 'alice', password: 'alicepw' } });
    try {
      await expect(unary.put('b/y', 'x')).rejects.toBeInstanceOf(PermissionDeniedError);
      expect((await unary.get('a/x'))?.value.toString()).toBe('one');
    } finally {
      unary.close();
    }
    expect((await root.get('a/x'))?.value.toString()).toBe('one');
    expect(await root.get('b/y')).toBe(null);
  });

  it('checks a transaction whole: compares read, both branches by what they do, before anything applies', async () => {
    // A read-only transaction within a/: allowed (it runs as a linearizable read).
    const read = await alice.txn({ compare: [txnCompare.version('a/x', 'greater', 0)], success: [txnOp.get('a/x')], failure: [] });
    expect(read.succeeded).toBe(true);
    const denials: [string, Parameters<RaftKvClient['txn']>[0], string, string][] = [
      ['compare on b/x', { compare: [txnCompare.value('b/x', 'equal', 'root wrote')], success: [], failure: [] }, '"b/x"', 'read'],
      ['put a/x in the failure branch', { compare: [txnCompare.version('a/x', 'greater', 0)], success: [txnOp.get('a/x')], failure: [txnOp.put('a/x', 'alice')] }, '"a/x"', 'write'],
      ['delete of prefix a/', { compare: [], success: [txnOp.delete('a/', { prefix: true })], failure: [] }, '"a/"', 'write'],
      ['get of every key', { compare: [], success: [txnOp.get('', { prefix: true })], failure: [] }, '[""', 'read'],
    ];
    for (const [what, request, key, permission] of denials) {
      const error = await alice.txn(request).then(() => null, (e: unknown) => e);
      expect(error, what).toBeInstanceOf(PermissionDeniedError);
      expect((error as PermissionDeniedError).key, what).toContain(key);
      expect((error as PermissionDeniedError).permission, what).toBe(permission);
    }
    expect((await root.get('a/x'))?.value.toString()).toBe('one');
    // Root may do all of it.
    const rootTxn = await root.txn({ compare: [txnCompare.value('a/x', 'equal', 'one')], success: [txnOp.put('t/root', 'yes'), txnOp.get('a/', { prefix: true })], failure: [] });
    expect(rootTxn.succeeded).toBe(true);
    expect((await root.get('t/root'))?.value.toString()).toBe('yes');
  });

  it('leases: grant needs a user, a put with a lease write on its key, a revoke write on every attached key', async () => {
    await expect(anonymous.lease.grant(30)).rejects.toBeInstanceOf(AuthenticationError);
    const own = await alice.lease.grant(30);
    expect(own.ttlSeconds).toBe(30);
    await expect(alice.put('a/leased', 'v', { lease: own.id })).rejects.toBeInstanceOf(PermissionDeniedError);
    const rootLease = await root.lease.grant(30);
    await root.put('b/leased', 'v', { lease: rootLease.id });
    await expect(alice.lease.revoke(rootLease.id)).rejects.toThrow(/write permission on key "b\/leased"/);
    expect((await root.get('b/leased'))?.lease).toBe(rootLease.id);
    // Alice's own lease has no keys: revoking it needs no key permission.
    expect(await alice.lease.revoke(own.id)).toEqual({ deleted: 0 });
    expect(await root.lease.revoke(rootLease.id)).toEqual({ deleted: 1 });
    expect(await root.get('b/leased')).toBeNull();
  });

  it('lets root manage, and refuses management to others', async () => {
    await root.put('b/x', 'root wrote');
    expect((await root.get('b/x'))?.value.toString()).toBe('root wrote');
    const addMember = await alice.addMember({ id: 'n9', peerAddress: '127.0.0.1:1' }).then(() => null, (e: unknown) => e);
    expect(addMember).toBeInstanceOf(PermissionDeniedError);
    expect((addMember as PermissionDeniedError).permission).toBe('root');
    await expect(alice.auth.addUser('mallory', 'pw')).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(alice.snapshot()).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(alice.sessionLimits({ sessionsMax: 5 })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await anonymous.members()).members.map((m) => m.id)).not.toContain('n9');
    expect(await root.auth.listUsers()).toEqual(['alice', 'root']);
  });

  it('accepts a token from the leader on a follower, and a password change revokes it', async () => {
    const statuses = await cluster.statuses(anonymous);
    const leader = statuses.find((s) => s.role === 'leader');
    const follower = statuses.find((s) => s.role !== 'leader');
    if (leader === undefined || follower === undefined) throw new Error('no leader and follower');
    const address = (id: string): string => cluster.node(id).clientAddress;
    const pinned = new RaftKvClient({ endpoints: [address(leader.id)], pinned: true, timeoutMs: 20_000 });
    try {
      const { token } = await pinned.auth.authenticate('alice', 'alicepw');
      expect(token).not.toBe('');
      expect(await rawGet(address(follower.id), 'a/x', token)).toMatchObject({ found: true });
      await expect(rawGet(address(follower.id), 'b/x', token)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      await expect(rawGet(address(follower.id), 'a/x', 'v1.garbage.1.1.AA')).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      await expect(pinned.auth.authenticate('alice', 'wrong')).rejects.toBeInstanceOf(AuthenticationError);
      await root.auth.changePassword('alice', 'newpw');
      await waitFor('the follower to apply the change', async () => {
        const error = await rawGet(address(follower.id), 'a/x', token).then(() => null, (e: grpc.ServiceError) => e);
        return error?.code === grpc.status.UNAUTHENTICATED ? error : undefined;
      });
      // The client with the old password fails to authenticate again; one with the new one reads.
      await expect(alice.get('a/x')).rejects.toBeInstanceOf(AuthenticationError);
      alice.close();
      alice = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, auth: { user: 'alice', password: 'newpw' } });
      expect((await alice.get('a/x'))?.value.toString()).toBe('one');
    } finally {
      pinned.close();
    }
  }, 120_000);

  it('keeps users, roles and the flag when the leader is killed', async () => {
    const leader = await cluster.waitForLeader(anonymous);
    await cluster.kill(leader);
    await waitFor('a new leader', async () => (await cluster.statuses(anonymous)).find((s) => s.role === 'leader' && s.id !== leader)?.id, 60_000);
    expect((await alice.get('a/x'))?.value.toString()).toBe('one');
    await expect(alice.put('a/x', 'no')).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(anonymous.get('a/x')).rejects.toBeInstanceOf(AuthenticationError);
    expect((await root.auth.status()).enabled).toBe(true);
    cluster.start(leader);
    const pinned = new RaftKvClient({ endpoints: [cluster.node(leader).clientAddress], pinned: true, timeoutMs: 30_000, auth: { user: 'alice', password: 'newpw' } });
    try {
      // The restarted node holds the same users (its token check reads its own replica).
      expect((await waitFor('the restarted node to serve', () => pinned.get('a/x', { consistency: 'serializable' }), 60_000))?.value.toString()).toBe('one');
    } finally {
      pinned.close();
    }
  }, 180_000);

  it('CLI: --user, and bad input refused with a clear error', async () => {
    const read = await cli(['get', 'a/x', '--user', 'alice:newpw']);
    expect(read.stdout.trim()).toBe('one');
    const denied = await cli(['put', 'a/x', 'cli', '--user', 'alice:newpw']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('permission denied: user "alice" lacks write permission on key "a/x"');
    const fromEnv = await cli(['get', 'a/x', '--user', 'alice'], { RAFTKV_PASSWORD: 'newpw' });
    expect(fromEnv.stdout.trim()).toBe('one');
    const bad: [string[], number, string][] = [
      [['user', 'grant-role', 'alice', 'nosuch', '--user', 'root:rootpw'], 1, 'role nosuch does not exist'],
      [['role', 'grant', 'reader', 'reed', 'a', '--user', 'root:rootpw'], 2, 'permission: must be read, write or readwrite, not "reed"'],
      [['role', 'grant', 'reader', 'read', 'b', 'a', '--user', 'root:rootpw'], 2, 'must sort after the key'],
      [['role', 'grant', 'reader', 'read', 'a', 'b', '--prefix', '--user', 'root:rootpw'], 2, '--prefix and RANGE_END exclude each other'],
      [['user', 'add', 'bob', '--user', 'root:rootpw'], 2, 'give bob:PASSWORD or set RAFTKV_PASSWORD'],
      [['get', 'a/x', '--user', 'alice'], 2, 'give alice:PASSWORD or set RAFTKV_PASSWORD'],
      [['user', 'add', 'alice:pw', '--user', 'root:rootpw'], 1, 'user alice already exists'],
      [['get', 'a/x', '--user', 'alice:wrong'], 1, 'authentication failed'],
    ];
    for (const [args, code, message] of bad) {
      const result = await cli(args, { RAFTKV_PASSWORD: '' });
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.code, args.join(' ')).toBe(code);
    }
    expect(await root.auth.listUsers()).toEqual(['alice', 'root']);
  }, 300_000);
});

describe('auth with client certificates: the common name is the user', () => {
  const dir = join(tempDir('raftkv-auth-tls-'), 'tls');
  let cluster: ProcessCluster;
  const tls = (name: string): ClientTls => ({ ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) });
  const clients: RaftKvClient[] = [];
  const client = (name: string, auth?: { user: string; password: string }): RaftKvClient => {
    const made = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000, tls: tls(name), ...(auth === undefined ? {} : { auth }) });
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    await initCertificateDir(dir, { nodes: ['n1', 'n2', 'n3'], clients: ['admin', 'carol', 'stranger'], hosts: [], validDays: 30, caValidDays: 30, overwrite: false });
    // Tokens live 2 s here: the last test outlives one.
    cluster = await ProcessCluster.create(3, {
      extraArgs: ['--auth-token-ttl', '2'],
      nodeArgs: { n1: nodeTlsFlags(dir, 'n1'), n2: nodeTlsFlags(dir, 'n2'), n3: nodeTlsFlags(dir, 'n3') },
    });
    await cluster.waitForLeader(client('admin'));
  }, 90_000);

  afterAll(async () => {
    for (const made of clients) made.close();
    await cluster?.destroy();
  });

  it('takes the certificate name as the user when no token is given', async () => {
    const admin = client('admin');
    await admin.put('c/x', 'cert');
    await admin.auth.addUser('root', 'rootpw');
    await admin.auth.addUser('carol', null);
    await admin.auth.addRole('c-reader');
    await admin.auth.grantPermission('c-reader', 'read', { prefix: 'c/' });
    await admin.auth.grantRole('carol', 'c-reader');
    await admin.auth.enable();
    const carol = client('carol');
    expect((await carol.get('c/x'))?.value.toString()).toBe('cert');
    const denied = await carol.put('c/x', 'no').then(() => null, (e: unknown) => e);
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect((denied as PermissionDeniedError).key).toBe('"c/x"');
    const stranger = await client('stranger').get('c/x').then(() => null, (e: unknown) => e);
    expect(stranger).toBeInstanceOf(AuthenticationError);
    expect((stranger as Error).message).toContain('common name "stranger" is not a user');
    // A user without a password cannot authenticate with one; a token still wins over the certificate.
    await expect(client('carol', { user: 'carol', password: '' }).get('c/x')).rejects.toBeInstanceOf(AuthenticationError);
    const rootByPassword = client('stranger', { user: 'root', password: 'rootpw' });
    await rootByPassword.put('c/x', 'root');
    expect((await carol.get('c/x'))?.value.toString()).toBe('root');
    await expect(client('admin').auth.disable()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(client('stranger').auth.enable()).rejects.toBeInstanceOf(AuthenticationError);
  }, 120_000);

  it('refuses an expired token, and the SDK renews its own', async () => {
    const root = client('stranger', { user: 'root', password: 'rootpw' });
    await root.put('c/renew', '0');
    const { token, expiresAtMs } = await root.auth.authenticate('root', 'rootpw');
    expect(expiresAtMs - Date.now()).toBeLessThanOrEqual(2000);
    await waitFor('the token to expire', () => (Date.now() > expiresAtMs + 200 ? true : undefined), 10_000);
    // The expired token, sent by hand, is refused; the client's own was renewed.
    const KV = serviceClient('raftkv/v1/kv.proto', 'KV');
    const credentials = grpc.credentials.createSsl(tls('stranger').ca as Buffer, tls('stranger').key as Buffer, tls('stranger').cert as Buffer);
    const kv = new KV(cluster.endpoints[0] as string, credentials);
    const metadata = new grpc.Metadata();
    metadata.set('token', token);
    const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
      (kv as unknown as { get: (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void }).get(
        { key: Buffer.from('c/renew'), consistency: 'SERIALIZABLE' },
        metadata,
        { deadline: Date.now() + 10_000 },
        (error) => resolve(error),
      ),
    );
    kv.close();
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(refused?.details).toContain('invalid auth token: expired');
    await root.put('c/renew', '1');
    expect((await root.get('c/renew'))?.value.toString()).toBe('1');
  }, 60_000);
});
