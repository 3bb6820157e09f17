import { describe, expect, it, vi } from 'vitest';
import { ProposalTracker } from '../../src/server/proposals.js';
import { OverloadedError, ProposalDroppedError, TimeoutError } from '../../src/shared/errors.js';

const entry = (index: number, term: number) => ({ index, term, type: 'normal' as const, data: new Uint8Array() });

describe('proposals waiting to apply', () => {
  it('resolves with the outcome when the entry of its term applies, and drops it when another term took the index', async () => {
    const tracker = new ProposalTracker<string>(10);
    const kept = tracker.track(5, 2, 10_000);
    const lost = tracker.track(6, 2, 10_000);
    tracker.settle([entry(5, 2), entry(6, 3)], ['ok-5', 'ok-6']);
    await expect(kept).resolves.toBe('ok-5');
    await expect(lost).rejects.toThrow(ProposalDroppedError);
    expect(tracker.size).toBe(0);
  });

  it('times out with an unknown outcome', async () => {
    vi.useFakeTimers();
    try {
      const tracker = new ProposalTracker<string>(10);
      const waiting = tracker.track(1, 1, 500);
      vi.advanceTimersByTime(501);
      await expect(waiting).rejects.toThrow(TimeoutError);
      expect(tracker.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('when a new term reuses an index, the old proposal is dropped and its timer cannot remove the new one', async () => {
    vi.useFakeTimers();
    try {
      const tracker = new ProposalTracker<string>(10);
      const old = tracker.track(11, 3, 1000);
      const fresh = tracker.track(11, 5, 5000);
      await expect(old).rejects.toThrow(ProposalDroppedError);
      vi.advanceTimersByTime(1500); // past the old proposal's deadline
      expect(tracker.size).toBe(1);
      tracker.settle([entry(11, 5)], ['applied']);
      await expect(fresh).resolves.toBe('applied');
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps one timer for every pending proposal, and still times each out at its own deadline', async () => {
    vi.useFakeTimers();
    try {
      const tracker = new ProposalTracker<string>(1000);
      const outcomes = new Map<number, string>();
      const waiting = Array.from({ length: 100 }, (_, i) => {
        const index = i + 1;
        // Deadlines out of order: 1000 ms for odd indexes, 500 ms for even ones.
        return tracker.track(index, 1, index % 2 === 0 ? 500 : 1000).then(
          (outcome) => outcomes.set(index, outcome),
          (error: unknown) => outcomes.set(index, (error as Error).name),
        );
      });
      expect(vi.getTimerCount()).toBe(1);
      tracker.settle([entry(1, 1), entry(2, 1)], ['applied', 'applied']);
      vi.advanceTimersByTime(499);
      await Promise.resolve();
      expect(tracker.size).toBe(98);
      vi.advanceTimersByTime(2);
      expect(tracker.size).toBe(49);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(500);
      await Promise.all(waiting);
      expect(tracker.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      expect(outcomes.get(1)).toBe('applied');
      expect(outcomes.get(2)).toBe('applied');
      expect(outcomes.get(3)).toBe('TimeoutError');
      expect(outcomes.get(4)).toBe('TimeoutError');
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses new proposals beyond its bound', () => {
    const tracker = new ProposalTracker<string>(1);
    void tracker.track(1, 1, 10_000).catch(() => undefined);
    expect(() => tracker.ensureCapacity()).toThrow(OverloadedError);
    tracker.failAll(new Error('stop'));
    expect(() => tracker.ensureCapacity()).not.toThrow();
  });
});
