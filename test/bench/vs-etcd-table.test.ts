import { describe, expect, it } from 'vitest';
import { formatStat, goalText, renderComparison, renderReport, type RunContext } from '../../bench/vs-etcd/table.js';
import { stat } from '../../bench/vs-etcd/summary.js';
import { run } from './run-record.js';

const context: RunContext = {
  startedAt: '2026-12-07T12:00:00Z', nproc: 2, cpuModel: 'Test CPU', loadStart: [1, 0.5, 0.25], loadEnd: [2, 1, 0.5],
  nodeVersion: 'v20.20.2', etcdVersion: '3.4.23', raftkvCommit: 'abc1234', command: 'bench/vs-etcd.sh --rounds 2',
  rounds: 2, durationS: 10, warmupS: 1, serverWarmupS: 10, keys: 100_000, valueBytes: 256,
};

describe('vs-etcd table', () => {
  it('formats a median with its range only when there are several rounds', () => {
    expect(formatStat(stat([5300, 5100, 5400]), 0)).toBe('5,300 (5,100-5,400)');
    expect(formatStat(stat([1.234]), 2)).toBe('1.23');
    expect(formatStat(null, 0)).toBe('—');
  });

  it('writes a goal as its checks, or — without one', () => {
    expect(goalText([{ metric: 'opsPerSecond', bound: 'min', ratio: 1.5 }, { metric: 'p50Ms', bound: 'max', ratio: 0.7 }])).toBe('ops/s ≥ 1.5×, p50 ≤ 0.7×');
    expect(goalText([])).toBe('—');
  });

  it('renders a row per workload with both systems, the ratio and whether the goal is met', () => {
    const records = [
      run({ system: 'etcd', workload: 'put-64', round: 1, opsPerSecond: 5000, p50Ms: 12 }),
      run({ system: 'etcd', workload: 'put-64', round: 2, opsPerSecond: 6000, p50Ms: 10 }),
      run({ system: 'raftkv', workload: 'put-64', round: 1, opsPerSecond: 14_000, p50Ms: 4 }),
      run({ system: 'raftkv', workload: 'put-64', round: 2, opsPerSecond: 15_000, p50Ms: 4 }),
      run({ system: 'etcd', workload: 'put-256', opsPerSecond: 6000, serverCpuUsPerOp: 100 }),
      run({ system: 'raftkv', workload: 'put-256', opsPerSecond: 6000, serverCpuUsPerOp: 150 }),
    ];
    const lines = renderComparison(context, records).split('\n');
    expect(lines[0]).toBe('| workload (client → leader) | etcd 3.4.23 | raftkv | ratio | goal | met |');
    expect(lines).toContain('| put, 64 in flight | 5,500 (5,000-6,000) ops/s, p50 11.00 (10.00-12.00) ms | 14,500 (14,000-15,000) ops/s, p50 4.00 (4.00-4.00) ms | ops/s 2.64×, p50 0.36× | ops/s ≥ 2.5× | yes |');
    expect(lines).toContain('| put, 256 in flight | 6,000 ops/s, p50 1.00 ms | 6,000 ops/s, p50 1.00 ms | ops/s 1.00×, p50 1.00× | ops/s ≥ 2.5× | no |');
    expect(lines).toContain("| servers' CPU per put at 256 (sum of 3 nodes) | 100 µs | 150 µs | 1.50× | CPU/op ≤ 0.5× | no |");
    expect(lines.some((l) => l.startsWith('| put, 1 in flight'))).toBe(false); // not run
  });

  it('shows — for a system that did not run, and how reads spread over all endpoints', () => {
    const records = [run({ system: 'raftkv', workload: 'get-64-all', op: 'get', opsPerSecond: 40_000 })];
    expect(renderComparison(context, records)).toContain('| linearizable get, 64, client given all endpoints | — | 40,000 ops/s, p50 1.00 ms; CPU leader 60% / 20% / 20% | ops/s —, p50 — | ops/s ≥ 8× | — |');
  });

  it('heads the report with date, machine, load, versions and command, and flags runs with errors', () => {
    const records = [
      run({ system: 'etcd', workload: 'put-1' }),
      run({ system: 'raftkv', workload: 'put-1', round: 2, errors: 3, firstError: 'DEADLINE_EXCEEDED', generatorCpuMs: 5000, generatorCpuUsPerOp: 5000 }),
    ];
    const report = renderReport(context, records);
    expect(report).toContain('## raftkv vs etcd, 2026-12-07T12:00:00Z');
    expect(report).toContain('- Machine: 2 cores (Test CPU), load average 1.00 0.50 0.25 at start, 2.00 1.00 0.50 at end');
    expect(report).toContain('- Node v20.20.2, etcd 3.4.23, raftkv abc1234');
    expect(report).toContain('- Command: `bench/vs-etcd.sh --rounds 2`');
    expect(report).toContain('| 100 ops/s, p50 1.00 ms ⚠ |');
    expect(report).toContain('- round 2, raftkv put-1: 3 errors, 1000 ops; first: DEADLINE_EXCEEDED');
    expect(report).toContain('| raftkv | put-1 | 1 | 100 | 1.00 | 2.00 | 100: 60 / 20 / 20 | 5,000 | 50 | 1 / 1 / 1 | 3 |');
  });
});
