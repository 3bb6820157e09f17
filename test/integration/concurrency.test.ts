import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelledError,
  Election,
  ElectionNoLeaderError,
  ElectionNotLeaderError,
  InvalidArgumentError,
  LeaseSession,
  LeaseSessionExpiredError,
  Lock,
  LockLostError,
  RaftKvClient,
  TimeoutError,
  txnCompare,
  txnOp,
  type ElectionLeader,
  type LockHandle,
} from '../../src/client/index.js';
import { ProcessCluster, projectRoot, runCli, waitFor } from './process-cluster.js';

/** Locks and elections (issue 15) on leases, transactions and watch, on a 3-node cluster of real processes. */
describe('locks and elections on a 3-node cluster', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  const clients: RaftKvClient[] = [];
  const sessions: LeaseSession[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.create(3);
    client = newClient();
    await cluster.waitForLeader(client);
  }, 60_000);

  afterEach(async () => {
    for (const session of sessions.splice(0)) await session.close({ timeoutMs: 10_000 }).catch(() => undefined);
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.destroy();
  });

  function newClient(): RaftKvClient {
    const c = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000 });
    clients.push(c);
    return c;
  }

  async function newSession(ttlSeconds: number, on: RaftKvClient = newClient()): Promise<LeaseSession> {
    const session = await LeaseSession.open(on, { ttlSeconds });
    sessions.push(session);
    return session;
  }

  /** Starts concurrency-holder.ts and resolves with its one line once it holds the lock (or leads). */
  function holder(mode: 'lock' | 'campaign', name: string, ttlSeconds: number, value?: string): Promise<{ child: ChildProcess; line: Record<string, number> }> {
    return new Promise((resolve, reject) => {
      const args = [mode, cluster.endpoints.join(','), name, String(ttlSeconds), ...(value === undefined ? [] : [value])];
      const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'test', 'integration', 'concurrency-holder.ts'), ...args], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => reject(new Error(`holder ${args.join(' ')} printed nothing: ${stderr}`)), 45_000);
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n')[0];
        if (stdout.includes('\n') && line !== undefined) {
          clearTimeout(timer);
          resolve({ child, line: JSON.parse(line) as Record<string, number> });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`holder exited with ${String(code)} before holding: ${stderr}`));
      });
    });
  }

  /** The keys queued under a lock or election, in key order. */
  async function queued(prefix: string): Promise<string[]> {
    return (await client.range({ prefix })).kvs.map((kv) => kv.key.toString());
  }

  /** Increments `counter` only if the lock is still held: the txn compares the lock key's create revision with the fencing revision. */
  async function fencedIncrement(on: RaftKvClient, handle: LockHandle, counter: string): Promise<boolean> {
    const current = await on.get(counter);
    const next = Number(current?.value.toString() ?? '0') + 1;
    const result = await on.txn({ compare: [txnCompare.create(handle.key, 'equal', handle.fencingRevision)], success: [txnOp.put(counter, String(next))] });
    return result.succeeded;
  }

  it('mutual exclusion under contention: no two holders at once, no lost increment, fencing revisions increase', async () => {
    const workers = 5;
    const rounds = 4;
    let holding = 0;
    let overlaps = 0;
    const fences: number[] = [];
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const session = await newSession(30);
        const lock = new Lock(session, 'mutex/counter');
        for (let round = 0; round < rounds; round++) {
          const handle = await lock.lock({ timeoutMs: 60_000 });
          holding++;
          if (holding > 1) overlaps++;
          fences.push(handle.fencingRevision);
          try {
            expect(await fencedIncrement(session.client, handle, 'mutex/counter-value')).toBe(true);
          } finally {
            holding--;
            await handle.unlock();
          }
        }
      }),
    );
    expect(overlaps).toBe(0);
    expect((await client.get('mutex/counter-value'))?.value.toString()).toBe(String(workers * rounds));
    expect(fences).toEqual([...fences].sort((a, b) => a - b));
    expect(new Set(fences).size).toBe(workers * rounds);
    expect(await queued('mutex/counter/')).toEqual([]);
  }, 180_000);

  it('a killed holder releases the lock when its lease expires; the next holder fences it out', async () => {
    const { child, line } = await holder('lock', 'mutex/killed', 3);
    const session = await newSession(30);
    const waiting = new Lock(session, 'mutex/killed').lock({ timeoutMs: 60_000 });
    await waitFor('the waiter to queue behind the holder', async () => ((await queued('mutex/killed/')).length === 2 ? true : undefined));
    child.kill('SIGKILL');
    const handle = await waiting;
    expect(handle.fencingRevision).toBeGreaterThan(line.fencingRevision as number);
    // The dead holder's fenced write, had it woken up, is refused.
    const stale = await client.txn({ compare: [txnCompare.create(`mutex/killed/${(line.leaseId as number).toString(16)}`, 'equal', line.fencingRevision as number)], success: [txnOp.put('mutex/killed-value', 'stale')] });
    expect(stale.succeeded).toBe(false);
    await handle.unlock();
  }, 90_000);

  it('a holder whose keep-alive stops is told the lock is lost, and another session gets it', async () => {
    const session = await newSession(2);
    const handle = await new Lock(session, 'mutex/orphan').lock();
    expect(handle.lost).toBe(false);
    const other = await newSession(30);
    const waiting = new Lock(other, 'mutex/orphan').lock({ timeoutMs: 60_000 });
    session.orphan();
    await waitFor('the holder to learn it lost the lock', () => (handle.lost ? true : undefined), 30_000);
    expect(handle.signal.reason).toBeInstanceOf(LockLostError);
    expect(() => handle.throwIfLost()).toThrow(LockLostError);
    const next = await waiting;
    expect(next.fencingRevision).toBeGreaterThan(handle.fencingRevision);
    expect(session.expired).toBe(true);
    await expect(new Lock(session, 'mutex/orphan').lock()).rejects.toBeInstanceOf(LeaseSessionExpiredError);
    await next.unlock();
  }, 90_000);

  it('the lease revoked elsewhere: the holder learns it lost the lock (through its watch), the session that its lease is gone', async () => {
    const session = await newSession(30);
    const handle = await new Lock(session, 'mutex/revoked').lock();
    await client.lease.revoke(session.leaseId);
    await waitFor('the holder to learn it lost the lock', () => (handle.lost ? true : undefined), 20_000);
    expect((handle.signal.reason as Error).message).toMatch(/lost \(fencing revision \d+\)/);
    await waitFor('the session to learn its lease is gone', () => (session.expired ? true : undefined), 30_000);
  }, 60_000);

  it('cancelling or timing out a wait removes the waiting key; bad input is refused', async () => {
    const holderSession = await newSession(30);
    const handle = await new Lock(holderSession, 'mutex/cancel').lock();
    const session = await newSession(30);
    const controller = new AbortController();
    const waiting = new Lock(session, 'mutex/cancel').lock({ signal: controller.signal });
    await waitFor('the waiter to queue', async () => ((await queued('mutex/cancel/')).length === 2 ? true : undefined));
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    expect(await queued('mutex/cancel/')).toEqual([handle.key.toString()]);
    await expect(new Lock(session, 'mutex/cancel').lock({ timeoutMs: 500 })).rejects.toBeInstanceOf(TimeoutError);
    expect(await queued('mutex/cancel/')).toEqual([handle.key.toString()]);
    expect(handle.lost).toBe(false);
    // Re-entrant: the holder's session locking again gets the same key at once.
    const again = await new Lock(holderSession, 'mutex/cancel').lock({ timeoutMs: 10_000 });
    expect(again.fencingRevision).toBe(handle.fencingRevision);
    await handle.unlock();
    expect(handle.signal.reason).toBeInstanceOf(CancelledError);
    expect(handle.lost).toBe(false);
    expect(await queued('mutex/cancel/')).toEqual([]);
    expect(() => new Lock(session, '')).toThrow(InvalidArgumentError);
    await expect(new Lock(session, 'mutex/bad').lock({ timeoutMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(LeaseSession.open(client, { ttlSeconds: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await queued('mutex/bad/')).toEqual([]);
  }, 90_000);

  it('a waiter behind 200 keys reads at most two keys per wake (its own and its predecessor), not the whole queue', async () => {
    const prefix = 'mutex/long-queue/';
    // 200 keys ahead of the waiter, created in this order: the queue's order is their create revisions.
    const ahead: string[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `${prefix}ahead-${String(i).padStart(3, '0')}`;
      await client.put(key, '');
      ahead.push(key);
    }
    // The waiter's own client, whose transactions (every read the queue makes) are counted.
    const waiterClient = newClient();
    const reads: number[] = [];
    const readWaiters: { count: number; resolve: () => void }[] = [];
    const txn = waiterClient.txn.bind(waiterClient);
    waiterClient.txn = async (request, options) => {
      const result = await txn(request, options);
      reads.push(result.responses.reduce((keys, response) => keys + ('get' in response ? response.get.kvs.length : 0), 0));
      for (const waiter of readWaiters.filter((w) => reads.length >= w.count)) {
        readWaiters.splice(readWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      return result;
    };
    const readsReach = (count: number): Promise<void> =>
      reads.length >= count ? Promise.resolve() : new Promise((resolve) => readWaiters.push({ count, resolve }));
    const session = await newSession(30, waiterClient);
    const reading = reads.length;
    const locking = new Lock(session, 'mutex/long-queue').lock({ timeoutMs: 60_000 });
    // Enqueue, then the first look (predecessor: the last key ahead).
    await readsReach(reading + 2);
    // Delete the key just ahead of the waiter each time: every delete wakes it for one more look.
    for (let i = ahead.length - 1; i >= 0; i--) {
      const before = reads.length;
      await client.delete(ahead[i] as string);
      await readsReach(before + 1);
    }
    const handle = await locking;
    const queueReads = reads.slice(reading);
    // Enqueue + a look after each of the 200 deletes + the first look.
    expect(queueReads.length).toBe(202);
    // The old code read the whole queue on every look: 201, 200, ... keys; now never more than two.
    expect(Math.max(...queueReads)).toBeLessThanOrEqual(2);
    expect(queueReads.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2 * queueReads.length);
    await handle.unlock();
  }, 120_000);

  it('election: one leader at a time, proclaim only while leading, handover on resign and on the leader process dying; observe sees each leader once, in order', async () => {
    const name = 'election/main';
    const observerSession = await newSession(30);
    await expect(new Election(observerSession, name).leader()).rejects.toBeInstanceOf(ElectionNoLeaderError);
    const seen: string[] = [];
    const observing = new AbortController();
    const observed = (async () => {
      for await (const leader of new Election(observerSession, name).observe({ signal: observing.signal })) seen.push(`${leader.value.toString()}@${leader.createRevision}`);
    })();

    const { child, line } = await holder('campaign', name, 3, 'dying');
    const a = new Election(await newSession(30), name);
    const b = new Election(await newSession(30), name);
    const aLeads = a.campaign('a');
    await waitFor('a to queue', async () => ((await queued(`${name}/`)).length === 2 ? true : undefined));
    const bLeads = b.campaign('b');
    await waitFor('b to queue', async () => ((await queued(`${name}/`)).length === 3 ? true : undefined));
    expect((await a.leader()).value.toString()).toBe('dying');
    await expect(a.proclaim('not yet')).rejects.toBeInstanceOf(ElectionNotLeaderError);

    child.kill('SIGKILL');
    const aLeader: ElectionLeader = await aLeads;
    expect(aLeader.createRevision).toBeGreaterThan(line.createRevision as number);
    expect(a.isLeader).toBe(true);
    const proclaimed = await a.proclaim('a2');
    expect((await b.leader()).value.toString()).toBe('a2');
    expect(b.isLeader).toBe(false);

    await a.resign();
    expect(a.isLeader).toBe(false);
    await expect(a.proclaim('a3')).rejects.toBeInstanceOf(ElectionNotLeaderError);
    const bLeader = await bLeads;
    expect(bLeader.value.toString()).toBe('b');
    expect((await a.leader()).createRevision).toBe(bLeader.createRevision);
    await b.resign();
    await expect(b.leader()).rejects.toBeInstanceOf(ElectionNoLeaderError);

    const expected = [`dying@${line.createRevision}`, `a@${aLeader.createRevision}`, `a2@${proclaimed.createRevision}`, `b@${bLeader.createRevision}`];
    await waitFor('the observer to see every leader', () => (seen.length >= expected.length ? true : undefined), 20_000);
    observing.abort();
    await observed;
    expect(seen).toEqual(expected);
  }, 120_000);

  it('election: a leader whose lease runs out is told it lost the lead; a cancelled campaign leaves no key', async () => {
    const name = 'election/lost';
    const session = await newSession(2);
    const election = new Election(session, name);
    await election.campaign('first');
    expect(election.isLeader).toBe(true);
    const other = new Election(await newSession(30), name);
    const controller = new AbortController();
    const cancelled = other.campaign('cancelled', { signal: controller.signal });
    await waitFor('the second candidate to queue', async () => ((await queued(`${name}/`)).length === 2 ? true : undefined));
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
    expect(await queued(`${name}/`)).toHaveLength(1);
    const next = other.campaign('next');
    session.orphan();
    await waitFor('the leader to learn it lost the lead', () => (election.isLeader ? undefined : true), 30_000);
    expect(election.signal.reason).toBeInstanceOf(ElectionNotLeaderError);
    await expect(election.proclaim('too late')).rejects.toBeInstanceOf(ElectionNotLeaderError);
    expect((await next).value.toString()).toBe('next');
    expect((await other.leader()).value.toString()).toBe('next');
  }, 90_000);

  it('CLI: raftkv lock NAME -- COMMAND runs it holding the lock and exits with its code; raftkv elect; bad input exits 2', async () => {
    const endpoints = ['--endpoints', cluster.endpoints.join(',')];
    const ran = await runCli(['lock', 'cli/lock', ...endpoints, '--ttl', '10', '--', 'sh', '-c', 'echo "$RAFTKV_LOCK_KEY $RAFTKV_LOCK_REVISION"; exit 3'], { timeoutMs: 60_000 });
    expect(ran.code).toBe(3);
    const [key, revision] = ran.stdout.trim().split(' ');
    expect(key).toMatch(/^cli\/lock\/[0-9a-f]+$/);
    expect(Number(revision)).toBeGreaterThan(0);
    expect(await queued('cli/lock/')).toEqual([]);
    // Someone else holds it: the command waits until it is released.
    const session = await newSession(30);
    const handle = await new Lock(session, 'cli/lock').lock();
    const waiting = runCli(['lock', 'cli/lock', ...endpoints, '--', 'sh', '-c', 'echo "$RAFTKV_LOCK_REVISION"'], { timeoutMs: 60_000 });
    await waitFor('the CLI to queue', async () => ((await queued('cli/lock/')).length === 2 ? true : undefined));
    await handle.unlock();
    const after = await waiting;
    expect(after.code).toBe(0);
    expect(Number(after.stdout.trim())).toBeGreaterThan(handle.fencingRevision);

    // The lock lost while the command runs: the command gets SIGTERM, raftkv exits 1 naming the loss.
    const losing = runCli(['lock', 'cli/lost', ...endpoints, '--', 'sleep', '60'], { timeoutMs: 60_000 });
    const held = await waitFor('the CLI to hold the lock', async () => (await client.range({ prefix: 'cli/lost/' })).kvs[0]);
    await client.lease.revoke(held.lease as number);
    const lost = await losing;
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('lock cli/lost: lost while held');

    const none = await runCli(['elect', 'cli/none', ...endpoints]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('elect: VALUE is required (or --listen to observe)');
    const both = await runCli(['elect', 'cli/none', 'v', '--listen', ...endpoints]);
    expect(both.code).toBe(2);
    const ttl = await runCli(['lock', 'cli/none', '--ttl', '0', ...endpoints]);
    expect(ttl.code).toBe(2);
    expect(ttl.stderr).toContain('--ttl: must be an integer');
    expect(await queued('cli/none/')).toEqual([]);
  }, 120_000);

  it('a Raft leader change while a lock is held does not break mutual exclusion', async () => {
    const holderSession = await newSession(10);
    const handle = await new Lock(holderSession, 'mutex/failover').lock();
    const contenderSession = await newSession(10);
    let contenderHeld = false;
    const contending = new Lock(contenderSession, 'mutex/failover').lock({ timeoutMs: 90_000 }).then((held) => {
      contenderHeld = true;
      return held;
    });
    await waitFor('the contender to queue', async () => ((await queued('mutex/failover/')).length === 2 ? true : undefined));
    const raftLeader = await cluster.waitForLeader(client);
    await cluster.kill(raftLeader);
    const survivors = new RaftKvClient({ endpoints: cluster.nodes.filter((n) => n.id !== raftLeader).map((n) => n.clientAddress), timeoutMs: 20_000 });
    clients.push(survivors);
    const newLeader = await cluster.waitForLeader(survivors);
    expect(newLeader).not.toBe(raftLeader);
    // Past the old leader's term, for longer than the lease TTL: the holder still holds, the contender still waits.
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      expect(handle.lost).toBe(false);
      expect(contenderHeld).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await fencedIncrement(holderSession.client, handle, 'mutex/failover-value')).toBe(true);
    await handle.unlock();
    const next = await contending;
    expect(next.fencingRevision).toBeGreaterThan(handle.fencingRevision);
    expect(await fencedIncrement(contenderSession.client, next, 'mutex/failover-value')).toBe(true);
    expect(await fencedIncrement(holderSession.client, handle, 'mutex/failover-value')).toBe(false);
    expect((await survivors.get('mutex/failover-value'))?.value.toString()).toBe('2');
    await next.unlock();
  }, 150_000);
});
