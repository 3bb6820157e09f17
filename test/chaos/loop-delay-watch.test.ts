import { describe, expect, it } from 'vitest';
import { LoopDelayTally, LoopDelayWatch, describeLoopDelay } from '../../chaos/loop-delay-watch.js';
import type { ClusterStatus } from '../../src/client/index.js';

function status(maxMs: number, recentMaxMs: number, stalls: number): ClusterStatus {
  return { loopDelayMaxMs: maxMs, loopDelayRecentMaxMs: recentMaxMs, loopDelayWindowMs: 10_000, loopStalls: stalls, loopStallThresholdMs: 100 } as ClusterStatus;
}

describe('LoopDelayTally', () => {
  it('keeps each node\'s worst delay over the run and the worst overall', () => {
    const tally = new LoopDelayTally(['n1', 'n2', 'n3']);
    tally.record(new Map([['n1', status(40, 10, 0)], ['n2', status(90, 90, 0)], ['n3', null]]));
    tally.record(new Map([['n1', status(40, 5, 0)], ['n2', status(182, 182, 1)], ['n3', null]]));
    const report = tally.report(1000);
    expect(report).toEqual({
      nodes: [
        { id: 'n1', worstMs: 40, stalls: 0, samples: 2 },
        { id: 'n2', worstMs: 182, stalls: 1, samples: 2 },
        { id: 'n3', worstMs: null, stalls: 0, samples: 0 },
      ],
      worstMs: 182,
      worstNode: 'n2',
      stallThresholdMs: 100,
      electionTimeoutMs: 1000,
    });
  });

  it('keeps what an incarnation reported before it was killed, and sums stalls over incarnations', () => {
    const tally = new LoopDelayTally(['n1']);
    tally.record(new Map([['n1', status(700, 700, 3)]]));
    // Restarted: its counters begin again.
    tally.record(new Map([['n1', status(30, 30, 1)]]));
    tally.record(new Map([['n1', status(30, 20, 2)]]));
    expect(tally.report(1000).nodes).toEqual([{ id: 'n1', worstMs: 700, stalls: 5, samples: 3 }]);
  });

  it('reports nothing when no node ever answered', () => {
    const report = new LoopDelayTally(['n1']).report(500);
    expect(report.worstMs).toBeNull();
    expect(describeLoopDelay(report)).toBe('no node reported (election timeout 500 ms); n1 -');
  });
});

describe('describeLoopDelay', () => {
  it('names the worst node and each node\'s worst, with its stalls', () => {
    const tally = new LoopDelayTally(['n1', 'n2', 'n3']);
    tally.record(new Map([['n1', status(40, 0, 0)], ['n2', status(182, 0, 1)], ['n3', status(120, 0, 2)]]));
    expect(describeLoopDelay(tally.report(1000))).toBe(
      'worst 182 ms on n2 (election timeout 1000 ms); n1 40 ms, n2 182 ms (1 stall > 100 ms), n3 120 ms (2 stalls > 100 ms)',
    );
  });
});

describe('LoopDelayWatch', () => {
  it('takes a last poll when it finishes, and survives a poll that fails', async () => {
    let calls = 0;
    const watch = new LoopDelayWatch(['n1'], async () => {
      calls += 1;
      if (calls === 1) throw new Error('unreachable');
      return new Map([['n1', status(55, 55, 0)]]);
    }, 5);
    watch.start();
    const deadline = Date.now() + 5000;
    while (calls < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await watch.finish();
    const callsAtFinish = calls;
    expect(watch.tally.report(1000).worstMs).toBe(55);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(calls).toBe(callsAtFinish);
  });
});
