import { describe, expect, it } from 'vitest';
import { LeaseKeeper } from '../../src/server/lease-keeper.js';
import { leaseId, leaseTtlSecondsMin } from '../../src/server/lease-service.js';
import { createLogger } from '../../src/shared/logger.js';

/** A keeper over a fake clock, leadership and lease table; revokes are recorded and settled by hand. */
function harness(electionTimeoutMs = 1000) {
  const clock = { now: 0, nowMs: () => clock.now };
  const state = { role: 'leader', term: 2 };
  const leases = new Map<number, number>();
  const revokes: { id: number; settle: (ok: boolean) => void }[] = [];
  const keeper = new LeaseKeeper({
    clock,
    leadership: () => state,
    leases: () => [...leases].map(([id, ttlSeconds]) => ({ id, ttlSeconds })),
    lease: (id) => (leases.has(id) ? { ttlSeconds: leases.get(id) ?? 0 } : undefined),
    revoke: (id) =>
      new Promise((resolve, reject) => {
        revokes.push({ id, settle: (ok) => (ok ? resolve(undefined) : reject(new Error('proposal dropped'))) });
      }),
    electionTimeoutMs,
    logger: createLogger({ level: 'silent' }),
  });
  return { clock, state, leases, revokes, keeper };
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
    expect(keeper.keepAlive(1)).toBe(10);
    clock.now = 18_999;
    keeper.tick();
    expect(revokes).toEqual([]);
    expect(keeper.deadline(1)).toEqual({ remainingSeconds: 1 });
    clock.now = 19_000;
    keeper.tick();
    expect(revokes.map((r) => r.id)).toEqual([1]);
    expect(keeper.keepAlive(99)).toBe(0);
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
    expect(keeper.keepAlive(5)).toBe(0);
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
