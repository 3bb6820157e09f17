import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { freshState, nodeId, RaftCore, defaultRaftTunables, type RaftStatus } from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { readinessProblems, startHttpEndpoints } from '../../src/server/http-endpoints.js';

/** The health semantics on a real HTTP listener, with the node's status and storage probe scripted. */
describe('HTTP endpoints: health semantics', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  const baseStatus = (): RaftStatus => new RaftCore({ ...defaultRaftTunables, id: nodeId('n1'), rng: new SeededRng(1) }, freshState({ voters: [nodeId('n1')], learners: [] })).status();

  async function serve(status: () => RaftStatus, probeStorage: () => Promise<void>): Promise<string> {
    const http = await startHttpEndpoints('127.0.0.1:0', { status, probeStorage, registry: new Registry(), readyLagEntriesMax: 10 });
    closers.push(() => http.close());
    return http.address;
  }

  it('a node whose storage fails a read is not healthy, and says why', async () => {
    const address = await serve(baseStatus, () => Promise.reject(new Error('the database at /data/db is closed')));
    const response = await fetch(`http://${address}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ healthy: false, reason: 'storage: the database at /data/db is closed' });
  });

  it('a node whose storage does not answer within 2 s is not healthy', async () => {
    const address = await serve(baseStatus, () => new Promise<void>(() => {}));
    const response = await fetch(`http://${address}/healthz`);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { reason: string }).reason).toContain('did not answer a read within 2000 ms');
  });

  it('readiness: no leader, removed, or applied too far behind commit each make a node not ready, with the reason', () => {
    const ready: RaftStatus = { ...baseStatus(), leader: nodeId('n1'), commit: 100, applied: 95 };
    expect(readinessProblems(ready, 10)).toEqual([]);
    expect(readinessProblems({ ...ready, leader: null }, 10)).toEqual(['no leader is known']);
    expect(readinessProblems({ ...ready, removed: true }, 10)).toEqual(['this node was removed from the cluster']);
    expect(readinessProblems({ ...ready, applied: 80 }, 10)).toEqual(['applied index 80 is 20 entries behind the commit index 100 (more than 10)']);
  });

  it('a listen address that cannot be bound is a configuration error naming it', async () => {
    const address = await serve(baseStatus, () => Promise.resolve());
    await expect(startHttpEndpoints(address, { status: baseStatus, probeStorage: () => Promise.resolve(), registry: new Registry(), readyLagEntriesMax: 1 })).rejects.toThrow(`listen-http ${address}: cannot listen`);
  });
});
