import type { RunRecord } from '../../bench/vs-etcd/summary.js';

/** A run with the given figures; the rest plausible. */
export function run(fields: Partial<RunRecord> & Pick<RunRecord, 'system' | 'workload'>): RunRecord {
  return {
    type: 'run', round: 1, op: 'put', concurrency: 1, endpoints: 'leader',
    ops: 1000, errors: 0, firstError: null, seconds: 10, opsPerSecond: 100, p50Ms: 1, p99Ms: 2,
    servers: [{ id: 'a', leader: true, cpuMs: 60, rssKiB: 1024 }, { id: 'b', leader: false, cpuMs: 20, rssKiB: 1024 }, { id: 'c', leader: false, cpuMs: 20, rssKiB: 1024 }],
    serverCpuUsPerOp: 100, generatorCpuMs: 10, generatorCpuUsPerOp: 10,
    ...fields,
  };
}
