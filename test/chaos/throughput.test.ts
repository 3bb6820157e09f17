import { describe, expect, it } from 'vitest';
import type { Operation } from '../../chaos/checker/index.js';
import { describeThroughput, faultThroughput } from '../../chaos/report.js';

const op = (completeTime: number, outcome: 'ok' | 'fail' | 'indeterminate' = 'ok'): Operation =>
  outcome === 'fail'
    ? { process: 0, key: 'k', invokeTime: completeTime - 1, completeTime, kind: 'cas', expected: null, value: 'v', outcome }
    : outcome === 'ok'
      ? { process: 0, key: 'k', invokeTime: completeTime - 1, completeTime, kind: 'put', value: 'v', outcome }
      : { process: 0, key: 'k', invokeTime: completeTime - 1, completeTime: Infinity, kind: 'put', value: 'v', outcome };

describe('faultThroughput', () => {
  it('counts completed operations while each injected fault was in effect, and the rest outside', () => {
    const history = [op(500), op(1500), op(1600, 'fail'), op(2500), op(3100), op(3200, 'indeterminate'), op(4500), op(9000), op(20_000)];
    const faults = [
      { index: 1, status: 'injected' as const, startedMs: 1000, healStartedMs: 2000 },
      { index: 2, status: 'skipped' as const, startedMs: null, healStartedMs: null },
      { index: 3, status: 'injected' as const, startedMs: 3000, healStartedMs: 5000 },
      { index: 4, status: 'failed' as const, startedMs: 6000, healStartedMs: 6500 },
    ];
    const throughput = faultThroughput(history, faults, 0, 10_000);
    expect(throughput).toEqual({
      faultMs: 3000,
      opsDuringFaults: 4,
      opsPerSecondDuringFaults: 4 / 3,
      quietMs: 7000,
      opsOutsideFaults: 3,
      opsPerSecondOutsideFaults: 3 / 7,
      perFault: [
        { index: 1, ms: 1000, ops: 2, opsPerSecond: 2 },
        { index: 3, ms: 2000, ops: 2, opsPerSecond: 1 },
      ],
    });
    expect(describeThroughput(throughput)).toBe('4 ops in 3.0 s under faults (1.3 ops/s); 3 ops in 7.0 s without (0.4 ops/s)');
  });

  it('has no rate under faults when none was injected', () => {
    const throughput = faultThroughput([op(10)], [], 0, 1000);
    expect(throughput.opsPerSecondDuringFaults).toBeNull();
    expect(throughput.opsOutsideFaults).toBe(1);
    expect(describeThroughput(throughput)).toContain('(- ops/s)');
  });
});
