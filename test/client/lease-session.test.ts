import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CancelledError, LeaseExpiredError, LeaseSession, LeaseSessionExpiredError, type RaftKvClient } from '../../src/client/index.js';
import { prefixEnd, queueHead } from '../../src/client/key-queue.js';
import type { KeyValue } from '../../src/client/key-value.js';
import type { KeepAliveOptions } from '../../src/client/lease-api.js';

/** A client whose lease API grants lease 7 and lets the test drive the keep-alive. */
function fakeClient(ttlSeconds: number): { client: RaftKvClient; renew: () => void; gone: () => void; revoked: number[] } {
  let options: KeepAliveOptions = {};
  let fail: (error: unknown) => void = () => undefined;
  const revoked: number[] = [];
  const lease = {
    grant: async () => ({ id: 7, ttlSeconds }),
    revoke: async (id: number) => {
      revoked.push(id);
      return { deleted: 0 };
    },
    keepAlive: (_id: number, keepAliveOptions: KeepAliveOptions) => {
      options = keepAliveOptions;
      return { done: new Promise<void>((_resolve, reject) => (fail = reject)), stop: () => undefined };
    },
  };
  return {
    client: { lease } as unknown as RaftKvClient,
    renew: () => options.onRenewal?.({ id: 7, ttlSeconds }),
    gone: () => fail(new LeaseExpiredError(7)),
    revoked,
  };
}

describe('LeaseSession', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stays alive while renewals come, and ends as expired a TTL after the last renewal was sent', async () => {
    const fake = fakeClient(3);
    const session = await LeaseSession.open(fake.client, { ttlSeconds: 3 });
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      fake.renew();
    }
    expect(session.ended).toBe(false);
    // The last renewal was sent no earlier than the one before it was answered, 1 s before it: 2 s left.
    await vi.advanceTimersByTimeAsync(1900);
    expect(session.ended).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(session.expired).toBe(true);
    expect(session.signal.reason).toBeInstanceOf(LeaseSessionExpiredError);
  });

  it('ends as expired when the keep-alive learns the lease is gone; close() then revokes nothing', async () => {
    const fake = fakeClient(60);
    const session = await LeaseSession.open(fake.client);
    fake.gone();
    await vi.advanceTimersByTimeAsync(0);
    expect(session.expired).toBe(true);
    await session.close();
    expect(fake.revoked).toEqual([]);
  });

  it('close() revokes the lease and ends the session as cancelled, not expired', async () => {
    const fake = fakeClient(60);
    const session = await LeaseSession.open(fake.client);
    await session.close();
    expect(fake.revoked).toEqual([7]);
    expect(session.ended).toBe(true);
    expect(session.expired).toBe(false);
    expect(session.signal.reason).toBeInstanceOf(CancelledError);
  });
});

describe('the lock queue', () => {
  it('prefixEnd is the first key after the prefix', () => {
    expect(prefixEnd(Buffer.from('lock/'))).toEqual(Buffer.from('lock0'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
  });

  it('the head is the key created first, whatever the key order', () => {
    const kv = (key: string, createRevision: number): KeyValue => ({ key: Buffer.from(key), value: Buffer.alloc(0), version: 1, createRevision, modRevision: createRevision });
    expect(queueHead([kv('l/a', 9), kv('l/b', 4), kv('l/c', 6)])?.key.toString()).toBe('l/b');
    expect(queueHead([])).toBeNull();
  });
});
