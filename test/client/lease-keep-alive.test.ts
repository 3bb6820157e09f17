import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AuthenticationError, LeaseApi, LeaseExpiredError } from '../../src/client/index.js';
import type { LeaseApiDeps } from '../../src/client/lease-api.js';

/** A keep-alive stream the test answers: `written` holds each request, `answer`/`fail` drive it. */
class FakeStream extends EventEmitter {
  readonly written: unknown[] = [];
  cancelled = false;
  write(request: unknown): boolean {
    this.written.push(request);
    return true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  answer(ttl: number): void {
    this.emit('data', { id: 7, ttl });
  }
  fail(code: number, details = 'refused'): void {
    this.emit('error', Object.assign(new Error(details), { code, details }));
  }
}

function harness() {
  const streams: { endpoint: string; stream: FakeStream }[] = [];
  const failures: { endpoint: string; code: number }[] = [];
  let endpoint = 'n1';
  const deps: LeaseApiDeps = {
    call: () => Promise.reject(new Error('not used')),
    write: () => Promise.reject(new Error('not used')),
    openKeepAlive: async () => {
      const stream = new FakeStream();
      streams.push({ endpoint, stream });
      return { endpoint, stream: stream as never };
    },
    keepAliveFailed: (at, error) => {
      failures.push({ endpoint: at, code: (error as { code: number }).code });
      endpoint = 'n2'; // the client followed the leader hint
    },
  };
  return { api: new LeaseApi(deps), streams, failures };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(check()).toBe(true);
};

describe('LeaseKeepAlive', () => {
  it('renews, reports each renewal, moves to the new leader after a "not the leader", and stops', async () => {
    const { api, streams, failures } = harness();
    const renewals: number[] = [];
    const keepAlive = api.keepAlive(7, { onRenewal: (renewal) => renewals.push(renewal.ttlSeconds) });
    await until(() => streams.length === 1 && streams[0]?.stream.written.length === 1);
    expect(streams[0]?.stream.written).toEqual([{ id: 7 }]);
    streams[0]?.stream.answer(30);
    expect(renewals).toEqual([30]);
    streams[0]?.stream.fail(9, 'not the leader');
    await until(() => streams.length === 2);
    expect(failures).toEqual([{ endpoint: 'n1', code: 9 }]);
    expect(streams[1]?.endpoint).toBe('n2');
    await until(() => streams[1]?.stream.written.length === 1);
    streams[1]?.stream.answer(30);
    expect(keepAlive.renewals).toBe(2);
    keepAlive.stop();
    await expect(keepAlive.done).resolves.toBeUndefined();
    expect(streams[1]?.stream.cancelled).toBe(true);
  });

  it('ends with LeaseExpiredError when the cluster answers TTL 0', async () => {
    const { api, streams } = harness();
    const keepAlive = api.keepAlive(7);
    await until(() => streams[0]?.stream.written.length === 1);
    streams[0]?.stream.answer(0);
    await expect(keepAlive.done).rejects.toBeInstanceOf(LeaseExpiredError);
  });

  it('ends with AuthenticationError after UNAUTHENTICATED three times in a row, not retrying forever', async () => {
    const { api, streams } = harness();
    const keepAlive = api.keepAlive(7);
    for (let i = 0; i < 3; i++) {
      await until(() => streams[i]?.stream.written.length === 1);
      streams[i]?.stream.fail(16, 'invalid auth token');
    }
    await expect(keepAlive.done).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('refuses ids beyond 2^53-1 before sending anything', () => {
    const { api, streams } = harness();
    expect(() => api.keepAlive(Number.MAX_SAFE_INTEGER + 1)).toThrow(/2\^53-1/);
    expect(() => api.keepAlive(0)).toThrow(/from 1/);
    expect(streams).toEqual([]);
  });
});
