import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { reservePorts } from '../../chaos/process-backend.js';
import { Children } from '../../bench/vs-etcd/clusters.js';
import { workloads } from '../../bench/vs-etcd/options.js';
import { processAlive } from '../../bench/vs-etcd/proc-stats.js';
import { runSession } from '../../bench/vs-etcd/runner.js';
import type { RunRecord } from '../../bench/vs-etcd/summary.js';

const projectRoot = resolve(import.meta.dirname, '..', '..');

describe('vs-etcd on real raftkv processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'vs-etcd-it-'));
  const children = new Children();
  afterAll(async () => {
    await children.stopAll();
    rmSync(root, { recursive: true, force: true });
  });

  it('starts 3 nodes, measures a workload with the servers CPU, and leaves no process behind', async () => {
    const reservation = await reservePorts(6);
    await reservation.release();
    const [c1, c2, c3, p1, p2, p3] = reservation.ports as [number, number, number, number, number, number];
    const put = workloads.find((w) => w.name === 'put-64');
    const get = workloads.find((w) => w.name === 'get-64-all');
    if (put === undefined || get === undefined) throw new Error('matrix changed');
    const records: RunRecord[] = [];
    const progress: string[] = [];
    await runSession(children, {
      system: 'raftkv',
      round: 1,
      workloads: [put, get],
      durationS: 1.5,
      warmupS: 0.2,
      serverWarmupS: 0.5,
      keys: 200,
      value: Buffer.alloc(256, 'v'),
      preloadConcurrency: 32,
      root,
      ports: { client: [c1, c2, c3], peer: [p1, p2, p3] },
      etcdBinary: 'etcd',
      raftkvCommand: [process.execPath, '--import', 'tsx', join(projectRoot, 'cli', 'raftkv.ts')],
      cwd: projectRoot,
      progress: (line) => progress.push(line),
    }, (record) => records.push(record));

    expect(records.map((r) => r.workload)).toEqual(['put-64', 'get-64-all']);
    for (const record of records) {
      expect(record.ops).toBeGreaterThan(0);
      expect(record.errors, record.firstError ?? '').toBe(0);
      expect(record.p50Ms).toBeGreaterThan(0);
      expect(record.servers).toHaveLength(3);
      expect(record.servers.filter((s) => s.leader)).toHaveLength(1);
      expect(record.servers.reduce((sum, s) => sum + s.cpuMs, 0)).toBeGreaterThan(0);
      expect(record.serverCpuUsPerOp).toBeGreaterThan(0);
      for (const server of record.servers) expect(server.rssKiB).toBeGreaterThan(0);
    }
    expect(progress.some((line) => line.includes('preloaded 200 keys'))).toBe(true);
    expect(progress.findIndex((line) => line.includes('warmed up with 0.5 s of puts'))).toBeLessThan(progress.findIndex((line) => line.includes('put-64')));
    expect(progress.some((line) => line.includes('warmed up with 0.5 s of puts'))).toBe(true);
    // Every process it started has exited, and the data directories are gone (the logs stay).
    expect(children.started).toHaveLength(3);
    expect(children.pids).toEqual([]);
    for (const pid of children.started) expect(processAlive(pid)).toBe(false);
    expect(existsSync(join(root, 'n1'))).toBe(false);
    expect(existsSync(join(root, 'n1.log'))).toBe(true);
  });
});
