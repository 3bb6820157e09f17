import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Children } from '../../bench/vs-etcd/clusters.js';
import { processAlive } from '../../bench/vs-etcd/proc-stats.js';

describe('vs-etcd child processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'vs-etcd-children-'));
  const children = new Children(500);
  afterAll(async () => {
    await children.stopAll();
    rmSync(root, { recursive: true, force: true });
  });

  it('stops with SIGTERM, and with SIGKILL a process that ignores it past the deadline', async () => {
    const polite = children.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], join(root, 'polite.log'), root);
    const stubborn = children.spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)"], join(root, 'stubborn.log'), root);
    // The handler must be installed before the signal comes, or SIGTERM alone would do.
    const deadline = Date.now() + 30_000;
    while (!readFileSync(join(root, 'stubborn.log'), 'utf8').includes('ready')) {
      if (Date.now() > deadline) throw new Error('the stubborn process never started');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const t0 = performance.now();
    await children.stopAll();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450);
    expect(polite.signalCode).toBe('SIGTERM');
    expect(stubborn.signalCode).toBe('SIGKILL');
    expect(children.pids).toEqual([]);
    for (const pid of children.started) expect(processAlive(pid)).toBe(false);
  });
});
