import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/server/event-log.js';
import { LiveStats } from '../../src/server/live-stats.js';

describe('LiveStats: the per-second ring of the live page', () => {
  function stats(samplesMax = 300): { stats: LiveStats; clock: { nowMs: number } } {
    const clock = { nowMs: 1_000_000 };
    return { stats: new LiveStats({ samplesMax, clock: () => clock.nowMs }), clock };
  }

  it('counts writes, reads and errors per second, and ignores methods that are not data operations', () => {
    const { stats: s, clock } = stats();
    s.observe('put', true, 0.001);
    s.observe('delete', true, 0.001);
    s.observe('compareAndSwap', false, 0.001);
    s.observe('get', true, 0.001);
    s.observe('range', false, 0.001);
    s.observe('status', true, 0.001);
    s.observe('memberList', false, 0.001);
    clock.nowMs += 1000;
    s.closeSecond();
    expect(s.recent()).toEqual([{ atMs: 1_000_000, writes: 3, reads: 2, errors: 2, p50Ms: expect.any(Number), p99Ms: expect.any(Number) }]);
  });

  it('p50 and p99 are within 19% above the true quantiles', () => {
    const { stats: s, clock } = stats();
    // 98 fast operations of 1 ms, two slow ones of 200 ms: p50 is 1 ms, p99 is 200 ms.
    for (let i = 0; i < 98; i++) s.observe('get', true, 0.001);
    s.observe('put', true, 0.2);
    s.observe('put', true, 0.2);
    clock.nowMs += 1000;
    s.closeSecond();
    const [sample] = s.recent();
    expect(sample?.p50Ms).toBeGreaterThanOrEqual(1);
    expect(sample?.p50Ms).toBeLessThanOrEqual(1.19);
    expect(sample?.p99Ms).toBeGreaterThanOrEqual(200);
    expect(sample?.p99Ms).toBeLessThanOrEqual(238);
  });

  it('a second without operations has zero counts and zero quantiles; a second not yet over is not closed', () => {
    const { stats: s, clock } = stats();
    clock.nowMs += 999;
    s.closeSecond();
    expect(s.recent()).toEqual([]);
    clock.nowMs += 1;
    s.closeSecond();
    expect(s.recent()).toEqual([{ atMs: 1_000_000, writes: 0, reads: 0, errors: 0, p50Ms: 0, p99Ms: 0 }]);
  });

  it('keeps at most samplesMax seconds, dropping the oldest; recent(n) gives the newest n', () => {
    const { stats: s, clock } = stats(3);
    for (let i = 0; i < 5; i++) {
      for (let k = 0; k <= i; k++) s.observe('put', true, 0.001);
      clock.nowMs += 1000;
      s.closeSecond();
    }
    expect(s.recent().map((x) => x.writes)).toEqual([3, 4, 5]);
    expect(s.recent(2).map((x) => x.writes)).toEqual([4, 5]);
  });

  it('seconds start on whole seconds of the clock, and a held loop leaves a gap, not made-up zeros', () => {
    const { stats: s, clock } = stats();
    clock.nowMs = 1_000_400;
    s.observe('put', true, 0.001);
    clock.nowMs = 1_004_100; // the timer ran 3 s late
    s.closeSecond();
    clock.nowMs = 1_005_000;
    s.closeSecond();
    expect(s.recent().map((x) => x.atMs)).toEqual([1_000_000, 1_004_000]);
  });

  it('refuses a ring size that is not a positive integer', () => {
    expect(() => new LiveStats({ samplesMax: 0 })).toThrow('samplesMax must be a positive integer, not 0');
  });
});

describe('EventLog: the live page event list', () => {
  it('numbers and timestamps events, and keeps only the newest eventsMax', () => {
    let nowMs = 5000;
    const log = new EventLog(2, () => nowMs);
    log.record({ kind: 'leader-changed', leader: 'n1', term: 1 });
    nowMs += 10;
    log.record({ kind: 'snapshot-taken', index: 100, compactedTo: 50 });
    nowMs += 10;
    log.record({ kind: 'members-changed', voters: ['n1', 'n2'], learners: [] });
    expect(log.list()).toEqual([
      { kind: 'snapshot-taken', index: 100, compactedTo: 50, seq: 2, atMs: 5010 },
      { kind: 'members-changed', voters: ['n1', 'n2'], learners: [], seq: 3, atMs: 5020 },
    ]);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new EventLog(0)).toThrow('eventsMax must be a positive integer, not 0');
  });
});
