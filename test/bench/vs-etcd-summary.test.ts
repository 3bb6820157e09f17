import { describe, expect, it } from 'vitest';
import { percentile } from '../../bench/vs-etcd/load.js';
import { parseStatCpuTicks } from '../../bench/vs-etcd/proc-stats.js';
import { checkMet, cpuSpread, goalMet, metricStat, ratio, rowSpecs, stat } from '../../bench/vs-etcd/summary.js';
import { run } from './run-record.js';

describe('vs-etcd summary', () => {
  it('takes the median (mean of the middle two for an even count) with the range', () => {
    expect(stat([])).toBeNull();
    expect(stat([5])).toEqual({ median: 5, min: 5, max: 5, n: 1 });
    expect(stat([9, 1, 5])).toEqual({ median: 5, min: 1, max: 9, n: 3 });
    expect(stat([4, 1, 3, 10])).toEqual({ median: 3.5, min: 1, max: 10, n: 4 });
  });

  it('takes latency percentiles by nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBe(0);
  });

  it('leaves runs without a successful operation out of the medians', () => {
    const runs = [run({ system: 'raftkv', workload: 'put-1', opsPerSecond: 100 }), run({ system: 'raftkv', workload: 'put-1', ops: 0, opsPerSecond: 0, serverCpuUsPerOp: null })];
    expect(metricStat(runs, 'opsPerSecond')).toEqual({ median: 100, min: 100, max: 100, n: 1 });
    expect(metricStat(runs.slice(1), 'serverCpuUsPerOp')).toBeNull();
  });

  it('puts raftkv over etcd in the ratio, unknown when a side is missing or zero', () => {
    expect(ratio(stat([300]), stat([100]))).toBe(3);
    expect(ratio(null, stat([100]))).toBeNull();
    expect(ratio(stat([1]), stat([0]))).toBeNull();
  });

  it('checks a goal as at least or at most the ratio, bounds included', () => {
    expect(checkMet({ metric: 'opsPerSecond', bound: 'min', ratio: 2.5 }, 2.5)).toBe(true);
    expect(checkMet({ metric: 'opsPerSecond', bound: 'min', ratio: 2.5 }, 2.4)).toBe(false);
    expect(checkMet({ metric: 'p50Ms', bound: 'max', ratio: 0.7 }, 0.7)).toBe(true);
    expect(checkMet({ metric: 'p50Ms', bound: 'max', ratio: 0.7 }, 0.71)).toBe(false);
    expect(checkMet({ metric: 'p50Ms', bound: 'max', ratio: 0.7 }, null)).toBeNull();
  });

  it('meets the sequential put goal only when both throughput and p50 reach it', () => {
    const spec = rowSpecs.find((s) => s.workload === 'put-1');
    if (spec === undefined) throw new Error('no put-1 row');
    const etcd = run({ system: 'etcd', workload: 'put-1', opsPerSecond: 800, p50Ms: 1.2 });
    expect(goalMet(spec, [etcd, run({ system: 'raftkv', workload: 'put-1', opsPerSecond: 1200, p50Ms: 0.8 })])).toBe(true);
    expect(goalMet(spec, [etcd, run({ system: 'raftkv', workload: 'put-1', opsPerSecond: 2000, p50Ms: 0.9 })])).toBe(false);
    expect(goalMet(spec, [etcd, run({ system: 'raftkv', workload: 'put-1', opsPerSecond: 1100, p50Ms: 0.5 })])).toBe(false);
    expect(goalMet(spec, [etcd])).toBeNull();
  });

  it('meets the CPU goal on the servers CPU per put at 256, lower being better', () => {
    const spec = rowSpecs.find((s) => s.shows === 'cpu');
    if (spec === undefined) throw new Error('no cpu row');
    const etcd = run({ system: 'etcd', workload: 'put-256', serverCpuUsPerOp: 100 });
    expect(goalMet(spec, [etcd, run({ system: 'raftkv', workload: 'put-256', serverCpuUsPerOp: 50 })])).toBe(true);
    expect(goalMet(spec, [etcd, run({ system: 'raftkv', workload: 'put-256', serverCpuUsPerOp: 51 })])).toBe(false);
  });

  it('describes how the CPU spread over the members, the leader first', () => {
    const spread = run({ system: 'etcd', workload: 'get-64-all', servers: [
      { id: 'a', leader: false, cpuMs: 25, rssKiB: null }, { id: 'b', leader: true, cpuMs: 50, rssKiB: null }, { id: 'c', leader: false, cpuMs: 25, rssKiB: null },
    ] });
    expect(cpuSpread([spread])).toBe('leader 50% / 25% / 25%');
    expect(cpuSpread([run({ system: 'etcd', workload: 'x', servers: [{ id: 'a', leader: true, cpuMs: 0, rssKiB: null }] })])).toBeNull();
  });

  it('reads utime + stime from /proc/PID/stat even with spaces and parentheses in the command name', () => {
    const stat = '4242 (node (main) x) S 1 4242 4242 0 -1 4194304 1000 0 0 0 1234 567 0 0 20 0 11 0 100 1000000 5000 18446744073709551615';
    expect(parseStatCpuTicks(stat)).toBe(1234 + 567);
    expect(() => parseStatCpuTicks('garbage')).toThrow('unreadable');
  });
});
