import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { HistoryCompactor, parseHistoryRetention, type HistoryRetention } from '../../src/server/history-retention.js';
import { ConfigError } from '../../src/shared/errors.js';

describe('parseHistoryRetention', () => {
  it.each([
    [undefined, { kind: 'duration', durationMs: 3_600_000 }],
    ['90s', { kind: 'duration', durationMs: 90_000 }],
    ['30m', { kind: 'duration', durationMs: 1_800_000 }],
    ['1h', { kind: 'duration', durationMs: 3_600_000 }],
    ['1000', { kind: 'revisions', revisions: 1000 }],
    [500, { kind: 'revisions', revisions: 500 }],
    ['0', { kind: 'off' }],
    ['0s', { kind: 'off' }],
  ])('%s', (value, expected) => {
    expect(parseHistoryRetention(value)).toEqual(expected);
  });

  it.each(['1d', '-5', 'abc', '1.5h', '', '500ms'])('refuses %j with a ConfigError naming the flag', (value) => {
    expect(() => parseHistoryRetention(value)).toThrow(ConfigError);
    expect(() => parseHistoryRetention(value)).toThrow(/history-retention/);
  });
});

describe('HistoryCompactor', () => {
  function harness(retention: HistoryRetention, leader = true) {
    const state = { nowMs: 0, applied: 0, compact: 0, leader, proposed: [] as number[] };
    const compactor = new HistoryCompactor({
      retention,
      isLeader: () => state.leader,
      appliedIndex: () => state.applied,
      compactRevision: () => state.compact,
      compact: (revision) => {
        state.proposed.push(revision);
        state.compact = revision;
        return Promise.resolve();
      },
      logger: pino({ level: 'silent' }),
      nowMs: () => state.nowMs,
    });
    return { state, compactor };
  }

  it('with a duration, compacts to the applied index of D ago, checking every D/10', async () => {
    const { state, compactor } = harness({ kind: 'duration', durationMs: 10_000 });
    expect(compactor.periodMs).toBe(1000);
    for (let second = 0; second <= 12; second++) {
      state.nowMs = second * 1000;
      state.applied = 100 + second * 10;
      compactor.check();
      await new Promise((resolve) => setImmediate(resolve));
    }
    // At 10 s the sample of 0 s (applied 100) is D old; at 11 s that of 1 s; at 12 s that of 2 s.
    expect(state.proposed).toEqual([100, 110, 120]);
  });

  it('with revisions, compacts to applied - N once it grew by N/10', async () => {
    const { state, compactor } = harness({ kind: 'revisions', revisions: 100 });
    for (const applied of [50, 100, 105, 110, 115, 119, 120]) {
      state.applied = applied;
      compactor.check();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(state.proposed).toEqual([10, 20]);
  });

  it('proposes nothing on a follower, or with retention off', async () => {
    const follower = harness({ kind: 'revisions', revisions: 10 }, false);
    follower.state.applied = 1000;
    follower.compactor.check();
    const off = harness({ kind: 'off' });
    off.state.applied = 1000;
    off.compactor.check();
    await Promise.resolve();
    expect(follower.state.proposed).toEqual([]);
    expect(off.state.proposed).toEqual([]);
    expect(off.compactor.periodMs).toBeNull();
  });
});
