import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot, waitFor } from './process-cluster.js';

/** Whether nothing listens on `port` of 127.0.0.1 right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose peer, client (+1000) and HTTP (+2000) ports are free, below the ephemeral range. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 12_000 + Math.floor(Math.random() * 18_000);
    if ((await portFree(base)) && (await portFree(base + 1000)) && (await portFree(base + 2000))) return base;
  }
  throw new Error('no free base port for cluster up');
}

/** `raftkv cluster up` names each node's live cluster page, and the page is there. */
describe('raftkv cluster up: the live cluster page', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftkv-up-'));
  let up: ChildProcess | null = null;
  let nodePid: number | null = null;

  afterAll(async () => {
    if (up !== null && up.exitCode === null && up.signalCode === null) {
      const exited = new Promise<void>((resolve) => up?.once('exit', () => resolve()));
      up.kill('SIGINT');
      await exited;
    }
    // Should cluster up have died without stopping its node, the node is stopped by its PID.
    if (nodePid !== null) {
      try {
        process.kill(nodePid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints each node\'s page URL, which serves the page', async () => {
    const basePort = await freeBasePort();
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'cli', 'raftkv.ts'), 'cluster', 'up', '--nodes', '1', '--data', dataDir, '--base-port', String(basePort)], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up = child;
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await waitFor('cluster up to report a leader', () => (stdout.includes('cluster ready') ? true : undefined), 60_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${stdout}`);
    });
    nodePid = Number(/pid (\d+)/.exec(stdout)?.[1] ?? NaN);
    const url = `http://127.0.0.1:${basePort + 2000}/`;
    expect(stdout).toContain(`node n1: live cluster page ${url}\n`);
    const page = await fetch(url, { signal: AbortSignal.timeout(5000) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>raftkv: live cluster</title>');
    const view = (await (await fetch(`${url}cluster.json`, { signal: AbortSignal.timeout(5000) })).json()) as { leader: { id: string } | null };
    expect(view.leader?.id).toBe('n1');
  });
});
