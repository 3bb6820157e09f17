import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReadIndexResult } from '../../src/raft/index.js';
import { LeaderChangedError, NotLeaderError, OverloadedError, TimeoutError } from '../../src/shared/errors.js';
import { ReadWaits } from '../../src/server/read-waits.js';

/** A ReadWaits whose requests are recorded; `answer` makes the core's ReadState for the newest one. */
function batcher(options: { pendingMax?: number; refuse?: ReadIndexResult } = {}) {
  const requests: string[] = [];
  const waits = new ReadWaits('n2:test', options.pendingMax ?? 1000, (context) => {
    requests.push(context);
    return options.refuse ?? { ok: true };
  }, 500);
  return { waits, requests };
}

/** Settles the promises' state into a plain array for assertions. */
function track(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error: unknown } {
  const tracked: { state: 'pending' | 'resolved' | 'rejected'; error: unknown } = { state: 'pending', error: null };
  promise.then(
    () => void (tracked.state = 'resolved'),
    (error: unknown) => {
      tracked.state = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ReadWaits batches linearizable reads (thesis §6.4, one ReadIndex request outstanding per node)', () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => void vi.useRealTimers());

  it('sends one request for the first read; the 99 that arrive while it is out share the next one', async () => {
    const { waits, requests } = batcher();
    const reads = Array.from({ length: 100 }, () => track(waits.begin(5000)));
    expect(requests).toHaveLength(1);
    waits.onReadStates([{ context: requests[0] as string, index: 7 }], 7);
    expect(requests).toHaveLength(2);
    waits.onReadStates([{ context: requests[1] as string, index: 9 }], 9);
    await flush();
    expect(reads.every((r) => r.state === 'resolved')).toBe(true);
    expect(waits.counts).toEqual({ reads: 100, requests: 2 });
    expect(waits.size).toBe(0);
  });

  it('never serves a read from an answer to a request sent before it arrived', async () => {
    const { waits, requests } = batcher();
    const early = track(waits.begin(5000));
    const late = track(waits.begin(5000));
    // The first request's answer, with everything applied: only the read that preceded it goes.
    waits.onReadStates([{ context: requests[0] as string, index: 3 }], 10);
    await flush();
    expect(early.state).toBe('resolved');
    expect(late.state).toBe('pending');
    waits.onReadStates([{ context: requests[1] as string, index: 11 }], 11);
    await flush();
    expect(late.state).toBe('resolved');
  });

  it('releases a batch only once the state machine has applied its index (step 4)', async () => {
    const { waits, requests } = batcher();
    const reads = [track(waits.begin(5000)), track(waits.begin(5000))];
    waits.onReadStates([{ context: requests[0] as string, index: 12 }], 11);
    await flush();
    expect(reads.map((r) => r.state)).toEqual(['pending', 'pending']);
    waits.release(12);
    await flush();
    expect(reads[0]?.state).toBe('resolved');
  });

  it('fails every read of the outstanding batch together when the leader changes, and sends the next batch anew', async () => {
    const { waits, requests } = batcher();
    waits.begin(5000).catch(() => undefined);
    const batch = [track(waits.begin(5000)), track(waits.begin(5000))];
    const first = requests[0] as string;
    // The second and third reads wait for the next request; fail the first one's batch.
    waits.onLeadershipChange();
    expect(requests).toHaveLength(2);
    waits.onLeadershipChange();
    await flush();
    expect(batch.map((r) => r.state)).toEqual(['rejected', 'rejected']);
    expect(batch[0]?.error).toBeInstanceOf(LeaderChangedError);
    // A late answer to a failed batch's context releases nothing.
    const after = track(waits.begin(5000));
    waits.onReadStates([{ context: first, index: 1 }], 1);
    await flush();
    expect(after.state).toBe('pending');
    expect(waits.size).toBe(1);
  });

  it('sends a request again after resendMs under the same context (a lost message must not stall the node)', () => {
    const { waits, requests } = batcher();
    waits.begin(5000).catch(() => undefined);
    vi.advanceTimersByTime(499);
    expect(requests).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(requests).toEqual([requests[0], requests[0]]);
  });

  it('times reads out one by one; a request no read waits for any more lets the next batch go at once', async () => {
    const { waits, requests } = batcher();
    const old = track(waits.begin(100));
    vi.advanceTimersByTime(50);
    const young = track(waits.begin(5000));
    vi.advanceTimersByTime(50);
    await flush();
    expect(old.state).toBe('rejected');
    expect(old.error).toBeInstanceOf(TimeoutError);
    expect(requests).toHaveLength(2);
    waits.onReadStates([{ context: requests[1] as string, index: 4 }], 4);
    await flush();
    expect(young.state).toBe('resolved');
  });

  it('bounds the reads waiting (OverloadedError), and fails a batch the core refuses with the core\'s reason', async () => {
    const { waits } = batcher({ pendingMax: 2 });
    waits.begin(5000).catch(() => undefined);
    waits.begin(5000).catch(() => undefined);
    await expect(waits.begin(5000)).rejects.toBeInstanceOf(OverloadedError);
    const noLeader = batcher({ refuse: { ok: false, reason: 'no-leader', leader: null } });
    await expect(noLeader.waits.begin(5000)).rejects.toBeInstanceOf(NotLeaderError);
    expect(noLeader.waits.size).toBe(0);
    const full = batcher({ refuse: { ok: false, reason: 'too-many-pending-reads', leader: null } });
    await expect(full.waits.begin(5000)).rejects.toBeInstanceOf(OverloadedError);
  });

  it('failAll fails reads in every stage: sent, waiting for the next request, and answered but not applied', async () => {
    const { waits, requests } = batcher();
    const answered = track(waits.begin(5000));
    waits.onReadStates([{ context: requests[0] as string, index: 9 }], 1);
    const sent = track(waits.begin(5000));
    const queued = track(waits.begin(5000));
    waits.failAll(new Error('stopping'));
    await flush();
    expect([answered.state, sent.state, queued.state]).toEqual(['rejected', 'rejected', 'rejected']);
    expect(waits.size).toBe(0);
  });
});
