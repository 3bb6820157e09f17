import { join } from 'node:path';
import { startEtcd, startRaftKv, type Children, type ClusterPorts, type RunningCluster } from './clusters.js';
import { createDriver, preload, runLoad } from './load.js';
import type { SystemName, Workload } from './options.js';
import { processCpuMs, processRssKiB } from './proc-stats.js';
import type { RunRecord } from './summary.js';

/** What one system's session needs: how to start it and what load to put on it. */
export interface SessionOptions {
  readonly system: SystemName;
  readonly round: number;
  readonly workloads: readonly Workload[];
  readonly durationS: number;
  readonly warmupS: number;
  readonly serverWarmupS: number;
  readonly keys: number;
  readonly value: Buffer;
  readonly preloadConcurrency: number;
  /** Data directories and node logs of this session go here. */
  readonly root: string;
  readonly ports: ClusterPorts;
  readonly etcdBinary: string;
  /** argv prefix of the raftkv CLI, e.g. [node, dist/cli/raftkv.js]; `start ...` is appended. */
  readonly raftkvCommand: readonly string[];
  readonly cwd: string;
  readonly signal?: AbortSignal;
  readonly progress: (line: string) => void;
}

/**
 * Starts the system's 3 nodes on fresh data directories, runs the workloads against its leader
 * (gets after every key was written once), and stops the nodes, also when something fails.
 */
export async function runSession(children: Children, options: SessionOptions, onRecord: (record: RunRecord) => void): Promise<void> {
  const start = { root: options.root, ports: options.ports, leaderTimeoutMs: 60_000, ...(options.signal === undefined ? {} : { signal: options.signal }) };
  const cluster: RunningCluster = options.system === 'etcd'
    ? await startEtcd(children, options.etcdBinary, start)
    : await startRaftKv(children, options.raftkvCommand, options.cwd, start);
  try {
    options.progress(`round ${options.round} ${options.system}: leader ${cluster.leader.id} (${cluster.leader.clientAddress}), pids ${cluster.nodes.map((n) => `${n.id}=${n.pid}`).join(' ')}`);
    if (options.serverWarmupS > 0) {
      const driver = createDriver(options.system, [cluster.leader.clientAddress]);
      try {
        const load = { op: 'put', concurrency: 64, keys: options.keys, value: options.value, durationMs: options.serverWarmupS * 1000 } as const;
        await runLoad(driver, options.signal === undefined ? load : { ...load, signal: options.signal });
      } finally {
        driver.close();
      }
      options.progress(`round ${options.round} ${options.system}: warmed up with ${options.serverWarmupS} s of puts at 64 in flight`);
    }
    let preloaded = false;
    for (const workload of options.workloads) {
      options.signal?.throwIfAborted();
      if (workload.op !== 'put' && !preloaded) {
        const driver = createDriver(options.system, [cluster.leader.clientAddress]);
        const t0 = performance.now();
        try {
          await preload(driver, options.keys, options.value, options.preloadConcurrency, options.signal);
        } finally {
          driver.close();
        }
        preloaded = true;
        options.progress(`round ${options.round} ${options.system}: preloaded ${options.keys} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      const record = await measure(cluster, workload, options);
      onRecord(record);
      options.progress(
        `round ${options.round} ${options.system} ${workload.name}: ${record.opsPerSecond.toFixed(0)} ops/s, p50 ${record.p50Ms.toFixed(2)} ms, p99 ${record.p99Ms.toFixed(2)} ms, ` +
          `servers ${record.serverCpuUsPerOp?.toFixed(0) ?? '—'} µs CPU/op${record.errors > 0 ? `, ${record.errors} ERRORS (${record.firstError})` : ''}`,
      );
    }
  } finally {
    await cluster.stop();
  }
}

/** One workload: an unmeasured warm-up, then the measured run with each server's CPU and RSS. */
export async function measure(cluster: RunningCluster, workload: Workload, options: Pick<SessionOptions, 'system' | 'round' | 'durationS' | 'warmupS' | 'keys' | 'value' | 'signal'>): Promise<RunRecord> {
  const endpoints = workload.endpoints === 'leader' ? [cluster.leader.clientAddress] : cluster.nodes.map((n) => n.clientAddress);
  const driver = createDriver(options.system, endpoints);
  try {
    const load = { op: workload.op, concurrency: workload.concurrency, keys: options.keys, value: options.value, ...(options.signal === undefined ? {} : { signal: options.signal }) };
    if (options.warmupS > 0) await runLoad(driver, { ...load, durationMs: options.warmupS * 1000 });
    const cpuBefore = cluster.nodes.map((n) => processCpuMs(n.pid));
    const generatorBefore = process.cpuUsage();
    const result = await runLoad(driver, { ...load, durationMs: options.durationS * 1000 });
    options.signal?.throwIfAborted(); // a cut-short run is no figure, and its nodes may be gone
    const generator = process.cpuUsage(generatorBefore);
    const servers = cluster.nodes.map((n, i) => ({
      id: n.id,
      leader: n.pid === cluster.leader.pid,
      cpuMs: processCpuMs(n.pid) - (cpuBefore[i] as number),
      rssKiB: processRssKiB(n.pid),
    }));
    const generatorCpuMs = (generator.user + generator.system) / 1000;
    const serverCpuMs = servers.reduce((sum, s) => sum + s.cpuMs, 0);
    return {
      type: 'run',
      round: options.round,
      system: options.system,
      workload: workload.name,
      op: workload.op,
      concurrency: workload.concurrency,
      endpoints: workload.endpoints,
      ops: result.ops,
      errors: result.errors,
      firstError: result.firstError,
      seconds: result.seconds,
      opsPerSecond: result.ops / result.seconds,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      servers,
      serverCpuUsPerOp: result.ops > 0 ? (1000 * serverCpuMs) / result.ops : null,
      generatorCpuMs,
      generatorCpuUsPerOp: result.ops > 0 ? (1000 * generatorCpuMs) / result.ops : null,
    };
  } finally {
    driver.close();
  }
}

/** The session directory of a round's system under the --out directory. */
export function sessionRoot(outDir: string, round: number, system: SystemName): string {
  return join(outDir, `round${round}-${system}`);
}
