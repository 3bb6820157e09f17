import { describe, expect, it } from 'vitest';
import { checkLeases, expiryLimit, protectedDeadline, type LeaseLog } from '../../chaos/checker/lease-check.js';

const options = { electionTimeoutMs: 500, slackMs: 1000, faults: [] };

function lease(overrides: Partial<LeaseLog> = {}): LeaseLog {
  return {
    id: 1,
    key: 'lease/w0-0',
    ttlMs: 2000,
    grantInvokeMs: 0,
    grantAckMs: 10,
    attachAckMs: 20,
    keepAliveStartMs: null,
    renewalsMs: [],
    keepAliveStopMs: null,
    revokeInvokeMs: null,
    revokeAckMs: null,
    reads: [],
    ...overrides,
  };
}

describe('lease checks', () => {
  it('each answered renewal protects the TTL from when its request could first have been sent', () => {
    expect(protectedDeadline(lease())).toBe(2000);
    // Renewals answered at 700 and 1400: the second was sent after 700 at the earliest.
    expect(protectedDeadline(lease({ keepAliveStartMs: 30, renewalsMs: [700, 1400] }))).toBe(2700);
  });

  it('rule 1: a key found missing while kept alive is a violation; after the protected deadline it is not', () => {
    const kept = { keepAliveStartMs: 30, renewalsMs: [700, 1400, 2100, 2800] };
    expect(checkLeases([lease({ ...kept, reads: [{ invokeMs: 2500, doneMs: 2600, present: false }] })], options).violations).toHaveLength(1);
    expect(checkLeases([lease({ ...kept, reads: [{ invokeMs: 4000, doneMs: 4200, present: false }] })], options).violations).toEqual([]);
    // Not attached before the read: nothing to protect.
    expect(checkLeases([lease({ ...kept, attachAckMs: null, reads: [{ invokeMs: 100, doneMs: 200, present: false }] })], options).violations).toEqual([]);
  });

  it('rule 2: a key seen after its revoke was acknowledged is a violation', () => {
    const revoked = { revokeInvokeMs: 500, revokeAckMs: 600 };
    expect(checkLeases([lease({ ...revoked, reads: [{ invokeMs: 650, doneMs: 700, present: true }] })], options).violations[0]).toMatch(/after its revoke/);
    // A read that began before the acknowledgement may see the key.
    expect(checkLeases([lease({ ...revoked, reads: [{ invokeMs: 550, doneMs: 700, present: true }] })], options).violations).toEqual([]);
  });

  it('rule 3: a key still there past 2 TTL + election timeout + slack after its last renewal is a violation', () => {
    // Not kept alive: base is the grant ack (10), limit 10 + 4000 + 500 + 1000 = 5510.
    expect(checkLeases([lease({ reads: [{ invokeMs: 5000, doneMs: 5100, present: true }] })], options).violations).toEqual([]);
    expect(checkLeases([lease({ reads: [{ invokeMs: 5600, doneMs: 5700, present: true }] })], options).violations[0]).toMatch(/should have expired/);
    const result = checkLeases([lease({ reads: [{ invokeMs: 3000, doneMs: 3100, present: false }] })], options);
    expect(result).toMatchObject({ leases: 1, keysAttached: 1, readsChecked: 1, expiredObserved: 1, violations: [] });
    // A fault in effect meanwhile (no leader, then a takeover) moves the limit past its heal.
    const faults = [{ startMs: 1000, endMs: 9000 }];
    expect(checkLeases([lease({ reads: [{ invokeMs: 9000, doneMs: 9100, present: true }] })], { ...options, faults }).violations).toEqual([]);
    expect(checkLeases([lease({ reads: [{ invokeMs: 15_000, doneMs: 15_100, present: true }] })], { ...options, faults }).violations).toHaveLength(1);
  });

  it('rule 3 limit: chained faults each move it; a fault outside the window does not', () => {
    expect(expiryLimit(0, 1000, [])).toBe(1000);
    expect(expiryLimit(0, 1000, [{ startMs: 500, endMs: 2000 }, { startMs: 2900, endMs: 5000 }])).toBe(6000);
    expect(expiryLimit(0, 1000, [{ startMs: 1500, endMs: 2000 }])).toBe(1000);
    expect(expiryLimit(0, 1000, [{ startMs: 500, endMs: Number.POSITIVE_INFINITY }])).toBe(Number.POSITIVE_INFINITY);
  });
});
