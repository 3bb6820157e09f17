import { describe, expect, it } from 'vitest';
import type { LeaseCheckpoint } from '../../src/kv/index.js';
import { LeaseKeeper } from '../../src/server/lease-keeper.js';
import { leaseId, leaseTtlSecondsMin } from '../../src/server/lease-service.js';
import { createLogger } from '../../src/shared/logger.js';

/**
 * A keeper over a fake clock, leadership and lease table (id -> TTL; checkpoints in `remaining`);
 * revokes and checkpoints are recorded and settled by hand.
 */
function harness(electionTimeoutMs = 1000, checkpointIntervalMs = 0) {
  const clock = { now: 0, nowMs: () => clock.now };
  const state = { role: 'leader', term: 2 };
  const leases = new Map<number, number>();
  const remaining = new Map<number, number>();
  const revokes: { id: number; settle: (ok: boolean) => void }[] = [];
  const checkpoints: { checkpoints: readonly LeaseCheckpoint[]; settle: (ok: boolean) => void }[] = [];
  const applied = (id: number): number => remaining.get(id) ?? 0;
  const keeper = new LeaseKeeper({
    clock,
    leadership: () => state,
    leases: () => [...leases].map(([id, ttlSeconds]) => ({ id, ttlSeconds, remainingSeconds: applied(id) })),
    lease: (id) => (leases.has(id) ? { ttlSeconds: leases.get(id) ?? 0, remainingSeconds: applied(id) } : undefined),
    revoke: (id) =>
      new Promise((resolve, reject) => {
        revokes.push({ id, settle: (ok) => (ok ? resolve(undefined) : reject(new Error('proposal dropped'))) });
      }),
    checkpoint: (batch) =>
      new Promise((resolve, reject) => {
        checkpoints.push({
          checkpoints: batch,
          // Applied: every replica records the checkpoints (0 clears one), as the state machine does.
          settle: (ok) => {
            if (!ok) return reject(new Error('proposal dropped'));
            for (const { id, remainingSeconds } of batch) if (leases.has(id)) remaining.set(id, remainingSeconds);
            resolve(undefined);
          },
        });
      }),
    checkpointIntervalMs,
    electionTimeoutMs,
    logger: createLogger({ level: 'silent' }),
  });
  return { clock, state, leases, remaining, revokes, checkpoints, keeper };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LeaseKeeper', () => {
  it('a lease granted on this leader expires after its TTL, and its revoke is proposed once', () => {
    const { clock, leases, revokes, keeper } = harness();
    leases.set(7, 5);
    keeper.granted(7, 5);
    clock.now = 4999;
    keeper.tick();
    expect(revokes).toEqual([]);
    clock.now = 5000;
    keeper.tick();
    keeper.tick();
    expect(revokes.map((r) => r.id)).toEqual([7]);
  });

  it('a keep-alive renews the deadline for the TTL from now and answers the TTL; a gone lease answers 0', () => {
    const { clock, leases, revokes, keeper } = harness();
    leases.set(1, 10);
    keeper.granted(1, 10);
    clock.now = 9000;
    expect(keeper.keepAlive(1)).toEqual({ ttlSeconds: 10, ready: null });
    clock.now = 18_999;
    keeper.tick();
    expect(revokes).toEqual([]);
    expect(keeper.deadline(1)).toEqual({ remainingSeconds: 1 });
    clock.now = 19_000;
    keeper.tick();
    expect(revokes.map((r) => r.id)).toEqual([1]);
    expect(keeper.keepAlive(99)).toEqual({ ttlSeconds: 0, ready: null });
  });

  it('a failed revoke is proposed again on a later tick', async () => {
    const { clock, leases, revokes, keeper } = harness();
    leases.set(3, 1);
    keeper.granted(3, 1);
    clock.now = 1000;
    keeper.tick();
    revokes[0]?.settle(false);
    await settled();
    keeper.tick();
    expect(revokes.map((r) => r.id)).toEqual([3, 3]);
  });

  it('a new leader extends every lease to its TTL plus an election timeout (takeover), rather than expiring it', () => {
    const { clock, state, leases, revokes, keeper } = harness(1500);
    leases.set(4, 2);
    state.role = 'follower';
    clock.now = 100_000;
    keeper.tick();
    expect(keeper.deadline(4)).toBeNull();
    // Promoted long after the grant: the old leader's deadline is unknown here.
    state.role = 'leader';
    state.term = 3;
    keeper.tick();
    clock.now = 100_000 + 2000 + 1499;
    keeper.tick();
    expect(revokes).toEqual([]);
    clock.now = 100_000 + 3500;
    keeper.tick();
    expect(revokes.map((r) => r.id)).toEqual([4]);
  });

  it('losing leadership drops the deadlines; leading a new term starts them afresh', () => {
    const { clock, state, leases, revokes, keeper } = harness(1000);
    leases.set(5, 1);
    keeper.granted(5, 1);
    state.role = 'follower';
    clock.now = 5000;
    keeper.tick();
    expect(revokes).toEqual([]);
    expect(keeper.keepAlive(5).ttlSeconds).toBe(0);
    state.role = 'leader';
    state.term = 9;
    keeper.tick();
    clock.now = 6999;
    keeper.tick();
    expect(revokes).toEqual([]);
    clock.now = 7000;
    keeper.tick();
    expect(revokes.map((r) => r.id)).toEqual([5]);
  });

  it('forgets a lease that was revoked', () => {
    const { clock, leases, revokes, keeper } = harness();
    leases.set(6, 1);
    keeper.granted(6, 1);
    leases.delete(6);
    clock.now = 10_000;
    keeper.tick();
    expect(revokes).toEqual([]);
    expect(keeper.deadline(6)).toBeNull();
  });
});

describe('LeaseKeeper checkpoints', () => {
  const interval = 60_000;

  it('every interval, checkpoints how long each lease that outlives the next checkpoint has left; shorter ones are not', () => {
    const { clock, leases, checkpoints, keeper } = harness(1000, interval);
    leases.set(1, 3600);
    leases.set(2, 30);
    keeper.granted(1, 3600);
    keeper.granted(2, 30);
    clock.now = interval - 1;
    keeper.tick();
    expect(checkpoints).toEqual([]);
    clock.now = interval;
    keeper.tick();
    expect(checkpoints.map((c) => c.checkpoints)).toEqual([[{ id: 1, remainingSeconds: 3540 }]]);
    // One at a time: the next interval's waits for this one to apply.
    clock.now = 2 * interval;
    keeper.tick();
    expect(checkpoints).toHaveLength(1);
  });

  it('a new leader starts a checkpointed lease from what it had left, plus an election timeout, not from its full TTL', async () => {
    const { clock, state, leases, checkpoints, keeper } = harness(1500, interval);
    leases.set(1, 3600);
    keeper.granted(1, 3600);
    clock.now = interval;
    keeper.tick();
    checkpoints[0]?.settle(true);
    await settled();
    state.role = 'follower';
    keeper.tick();
    clock.now = interval + 10_000;
    state.role = 'leader';
    state.term = 3;
    keeper.tick();
    // 3540 s left at the checkpoint; promoted 10 s later: 3540 s + 1.5 s from now.
    expect(keeper.deadline(1)).toEqual({ remainingSeconds: 3542 });
  });

  it('a keep-alive of a checkpointed lease clears the checkpoint through the log before it is answered', async () => {
    const { clock, leases, remaining, checkpoints, keeper } = harness(1000, interval);
    leases.set(1, 3600);
    remaining.set(1, 100);
    keeper.tick();
    clock.now = 5000;
    const renewed = keeper.keepAlive(1);
    expect(renewed.ttlSeconds).toBe(3600);
    expect(renewed.ready).not.toBeNull();
    // A second keep-alive meanwhile shares the same clear.
    const again = keeper.keepAlive(1);
    expect(checkpoints.map((c) => c.checkpoints)).toEqual([[{ id: 1, remainingSeconds: 0 }]]);
    let answered = false;
    void renewed.ready?.then(() => (answered = true));
    await settled();
    expect(answered).toBe(false);
    checkpoints[0]?.settle(true);
    await renewed.ready;
    await again.ready;
    expect(remaining.get(1)).toBe(0);
    expect(keeper.keepAlive(1).ready).toBeNull();
  });

  it('a failed clear fails the keep-alive, and the next one tries again', async () => {
    const { leases, remaining, checkpoints, keeper } = harness(1000, interval);
    leases.set(1, 3600);
    remaining.set(1, 100);
    keeper.tick();
    const renewed = keeper.keepAlive(1);
    checkpoints[0]?.settle(false);
    await expect(renewed.ready).rejects.toThrow('proposal dropped');
    expect(keeper.keepAlive(1).ready).not.toBeNull();
    expect(checkpoints).toHaveLength(2);
  });

  it('a keep-alive while a checkpoint of its lease is on its way is answered once that checkpoint is applied and cleared', async () => {
    const { clock, leases, remaining, checkpoints, keeper } = harness(1000, interval);
    leases.set(1, 3600);
    keeper.granted(1, 3600);
    clock.now = interval;
    keeper.tick();
    const renewed = keeper.keepAlive(1);
    expect(renewed.ready).not.toBeNull();
    let answered = false;
    void renewed.ready?.then(() => (answered = true));
    checkpoints[0]?.settle(true);
    await settled();
    expect(remaining.get(1)).toBe(3540);
    expect(answered).toBe(false);
    expect(checkpoints.map((c) => c.checkpoints).at(-1)).toEqual([{ id: 1, remainingSeconds: 0 }]);
    checkpoints.at(-1)?.settle(true);
    await renewed.ready;
    expect(remaining.get(1)).toBe(0);
  });

  it('so is one while a checkpoint that then fails is on its way (it may still commit): the clear follows it', async () => {
    const { clock, leases, checkpoints, keeper } = harness(1000, interval);
    leases.set(1, 3600);
    keeper.granted(1, 3600);
    clock.now = interval;
    keeper.tick();
    const renewed = keeper.keepAlive(1);
    checkpoints[0]?.settle(false);
    await settled();
    expect(checkpoints.map((c) => c.checkpoints).at(-1)).toEqual([{ id: 1, remainingSeconds: 0 }]);
    checkpoints.at(-1)?.settle(true);
    await renewed.ready;
  });

  it('with the interval 0, never checkpoints', () => {
    const { clock, leases, checkpoints, keeper } = harness(1000, 0);
    leases.set(1, 3600);
    keeper.granted(1, 3600);
    for (clock.now = 0; clock.now < 10 * interval; clock.now += interval) keeper.tick();
    expect(checkpoints).toEqual([]);
  });
});

describe('lease limits', () => {
  it('the minimum TTL is 1.5 election timeouts, rounded up to whole seconds', () => {
    expect(leaseTtlSecondsMin({ electionTicks: 10, tickMs: 100 })).toBe(2);
    expect(leaseTtlSecondsMin({ electionTicks: 10, tickMs: 10 })).toBe(1);
    expect(leaseTtlSecondsMin({ electionTicks: 20, tickMs: 200 })).toBe(6);
  });

  it('lease ids are integers up to 2^53-1', () => {
    expect(leaseId(5, 'id', 1)).toBe(5);
    expect(leaseId(undefined, 'id', 0)).toBe(0);
    expect(() => leaseId(0, 'id', 1)).toThrow(/id: must be a lease id from 1/);
    expect(() => leaseId(2 ** 63, 'id', 1)).toThrow(/2\^53-1/);
    expect(() => leaseId(-3, 'id', 0)).toThrow(/got -3/);
    expect(() => leaseId(1.5, 'id', 0)).toThrow(/integer/);
  });
});
