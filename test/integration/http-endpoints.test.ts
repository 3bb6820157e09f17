import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reservePorts } from '../../chaos/process-backend.js';
import { RaftKvClient } from '../../src/client/index.js';
import type { ClusterView } from '../../src/server/cluster-view.js';
import type { LiveEvent } from '../../src/server/event-log.js';
import type { LiveSample } from '../../src/server/live-stats.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';

/** /healthz, /readyz and /metrics of real nodes, and `raftkv health`. */
describe('HTTP endpoints (--listen-http) and raftkv health', () => {
  let cluster: ProcessCluster;
  let client: RaftKvClient;
  const http = new Map<string, string>();

  beforeAll(async () => {
    const reservation = await reservePorts(3);
    await reservation.release();
    ['n1', 'n2', 'n3'].forEach((id, i) => http.set(id, `127.0.0.1:${reservation.ports[i]}`));
    cluster = await ProcessCluster.create(3, { nodeArgs: Object.fromEntries([...http].map(([id, address]) => [id, ['--listen-http', address, '--ready-lag-entries', '100', '--snapshot-entries', '50']])) });
    client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 20_000 });
    await cluster.waitForLeader(client);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  const get = async (id: string, path: string, method = 'GET'): Promise<{ status: number; body: string; type: string | null }> => {
    const response = await fetch(`http://${http.get(id)}${path}`, { method, signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.text(), type: response.headers.get('content-type') };
  };

  it('healthz and readyz answer 200 with JSON on every member of a cluster with a leader', async () => {
    for (const id of http.keys()) {
      expect(await get(id, '/healthz')).toMatchObject({ status: 200, body: '{"healthy":true}\n' });
      const ready = await waitFor(`${id} ready`, async () => {
        const answer = await get(id, '/readyz');
        return answer.status === 200 ? answer : undefined;
      });
      expect(JSON.parse(ready.body)).toMatchObject({ ready: true, leader: expect.any(String) });
    }
  });

  it('metrics follow Prometheus conventions and count requests by method and code', async () => {
    await client.put('http/a', '1');
    await client.get('http/a');
    await expect(client.put('', 'empty key')).rejects.toThrow();
    const leader = await cluster.waitForLeader(client);
    const { status, body, type } = await get(leader, '/metrics');
    expect(status).toBe(200);
    expect(type).toContain('text/plain');
    expect(body).toMatch(new RegExp(`^raftkv_raft_role\\{role="leader",member="${leader}"\\} 1$`, 'm'));
    expect(body).toMatch(/^raftkv_raft_commit_index\{member="n\d"\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_grpc_requests_total\{method="put",code="OK",member="n\d"\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_grpc_requests_total\{method="put",code="INVALID_ARGUMENT",member="n\d"\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_grpc_request_duration_seconds_bucket\{[^}]*le="0\.005"[^}]*method="put"[^}]*\} \d+$/m);
    expect(body).toContain('raftkv_process_resident_memory_bytes');
    expect(body).toMatch(/^raftkv_linearizable_reads_total\{member="n\d"\} \d+$/m);
    expect(body).toMatch(/^raftkv_storage_write_duration_seconds_count\{[^}]*synced="true"[^}]*\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_storage_write_operations_bucket\{[^}]*le="1"[^}]*synced="(true|false)"[^}]*\} \d+$/m);
    expect(body).toMatch(/^raftkv_peer_sent_bytes_total\{peer="n\d",member="n\d"\} [1-9]\d*$/m);
    expect(body).toContain('raftkv_snapshot_install_duration_seconds_count');
    expect(body).toMatch(/^raftkv_peer_sent_messages_total\{peer="n\d",member="n\d"\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_peer_queued_messages\{peer="n\d",member="n\d"\} \d+$/m);
    expect(body).toMatch(/^raftkv_peer_received_messages_total\{member="n\d"\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_read_index_duration_seconds_count\{member="n\d"\} [1-9]\d*$/m);
    expect(body).toMatch(/^raftkv_proposals_failed_total\{member="n\d"\} \d+$/m);
    expect(body).toContain('raftkv_snapshot_transfers_total');
    expect(body).toMatch(/^raftkv_event_loop_delay_max_seconds\{window="all",member="n\d"\} [\d.e-]+$/m);
  });

  it('refuses other paths and methods with a JSON error', async () => {
    expect(await get('n1', '/nope')).toMatchObject({ status: 404, body: expect.stringContaining('try /healthz, /readyz, /metrics, / (the live cluster page), /cluster.json') });
    expect(await get('n1', '/metrics', 'POST')).toMatchObject({ status: 405 });
  });

  it('the live page on real nodes: a follower shows every member and the writes the leader answered, its events the leader and a snapshot, and no key anywhere', async () => {
    const leader = await cluster.waitForLeader(client);
    const follower = [...http.keys()].find((id) => id !== leader) ?? '';
    for (let i = 0; i < 60; i++) await client.put(`live/secret-key-${i}`, 'secret-value');
    const view = await waitFor('the follower to show every member, the leader and the writes', async () => {
      const answer = JSON.parse((await get(follower, '/cluster.json')).body) as ClusterView;
      return answer.members.every((m) => m.reachable) && answer.leader?.id === leader && answer.samples.some((s) => s.writes > 0) ? answer : undefined;
    });
    expect(view.askedBy).toBe(follower);
    expect(view.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
    const events = await waitFor('the follower to log the leader and a snapshot', async () => {
      const answer = JSON.parse((await get(follower, '/events.json')).body) as { events: LiveEvent[] };
      const kinds = answer.events.map((e) => e.kind);
      return kinds.includes('snapshot-taken') && answer.events.some((e) => e.kind === 'leader-changed' && e.leader === leader) ? answer.events : undefined;
    });
    expect(events.find((e) => e.kind === 'snapshot-taken')).toMatchObject({ index: expect.any(Number), compactedTo: expect.any(Number) });
    const stats = await waitFor('the leader to count the writes', async () => {
      const answer = JSON.parse((await get(leader, '/stats.json')).body) as { samples: LiveSample[] };
      return answer.samples.some((s) => s.writes > 0) ? answer : undefined;
    });
    expect(stats.samples.every((s) => s.p99Ms >= s.p50Ms)).toBe(true);
    for (const id of http.keys()) {
      for (const path of ['/cluster.json', '/stats.json', '/events.json', '/']) expect((await get(id, path)).body, `${id} ${path}`).not.toMatch(/secret/);
    }
  });

  it('raftkv health reports each endpoint, and exits 1 naming the unhealthy ones', async () => {
    const healthy = await runCli(['health', '--endpoints', cluster.endpoints.join(','), '--json']);
    expect(healthy.code).toBe(0);
    expect((JSON.parse(healthy.stdout) as { healthy: boolean }[]).map((r) => r.healthy)).toEqual([true, true, true]);
    const reservation = await reservePorts(1);
    await reservation.release();
    const dead = `127.0.0.1:${reservation.ports[0]}`;
    const mixed = await runCli(['health', '--endpoints', `${cluster.endpoints[0]},${dead}`, '--timeout', '2000']);
    expect(mixed.code).toBe(1);
    expect(mixed.stdout).toContain(`${dead} is unhealthy`);
    expect(mixed.stderr).toContain('1 of 2 endpoints unhealthy');
  });

  it('readyz turns 503 with the reason once a node knows no leader', async () => {
    const survivor = 'n3';
    for (const id of ['n1', 'n2']) await cluster.stop(id);
    const notReady = await waitFor('n3 not ready', async () => {
      const answer = await get(survivor, '/readyz');
      return answer.status === 503 ? answer : undefined;
    });
    expect(JSON.parse(notReady.body)).toMatchObject({ ready: false, reasons: ['no leader is known'] });
    expect((await get(survivor, '/healthz')).status).toBe(200); // alive, just not ready
  });
});
