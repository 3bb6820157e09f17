import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { reservePorts } from '../../chaos/process-backend.js';
import { RaftKvClient } from '../../src/client/index.js';
import { defaultRaftTunables, freshState, nodeId, RaftCore } from '../../src/raft/index.js';
import { ClusterViewer, mergeSamples, type ClusterView, type KnownMember, type MemberStatus } from '../../src/server/cluster-view.js';
import { EventLog } from '../../src/server/event-log.js';
import { startHttpEndpoints } from '../../src/server/http-endpoints.js';
import { LiveStats, type LiveSample } from '../../src/server/live-stats.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';

const sample = (atMs: number, writes: number, p99Ms: number): LiveSample => ({ atMs, writes, reads: 1, errors: 0, p50Ms: p99Ms / 2, p99Ms });

const statusOf = (id: string, fields: Partial<MemberStatus> = {}): MemberStatus => ({
  id,
  role: 'follower',
  term: 3,
  leaderId: 'n1',
  commitIndex: 100,
  appliedIndex: 100,
  lastIndex: 100,
  snapshotIndex: 0,
  recentSamples: [],
  ...fields,
});

/** The live page's JSON and files on a real HTTP listener; the members' Status answers scripted, or asked over real gRPC. */
describe('HTTP endpoints: the live cluster page', () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  const status = () => new RaftCore({ ...defaultRaftTunables, id: nodeId('n1'), rng: new SeededRng(1) }, freshState({ voters: [nodeId('n1')], learners: [] })).status();

  async function serve(options: { members?: KnownMember[]; askStatus?: (address: string, timeoutMs: number) => Promise<MemberStatus>; stats?: LiveStats; events?: EventLog; askTimeoutMs?: number } = {}): Promise<string> {
    const cluster = new ClusterViewer(
      {
        selfId: 'n1',
        members: () => options.members ?? [{ id: 'n1', clientAddress: '127.0.0.1:1', voter: true }],
        localStatus: () => statusOf('n1', { role: 'leader', recentSamples: [sample(1000, 10, 4)] }),
        askStatus: options.askStatus ?? (() => Promise.reject(new Error('not asked in this test'))),
      },
      { askTimeoutMs: options.askTimeoutMs ?? 1000, reuseMs: 0 },
    );
    const http = await startHttpEndpoints('127.0.0.1:0', {
      status,
      probeStorage: () => Promise.resolve(),
      registry: new Registry(),
      readyLagEntriesMax: 10,
      live: { stats: options.stats ?? new LiveStats(), events: options.events ?? new EventLog(10), cluster },
    });
    closers.push(() => http.close());
    return http.address;
  }

  it('/cluster.json: every member with its status, the leader, lag behind the highest commit, and the merged seconds', async () => {
    const address = await serve({
      members: [
        { id: 'n1', clientAddress: '127.0.0.1:1', voter: true },
        { id: 'n2', clientAddress: '127.0.0.1:2', voter: true },
        { id: 'n3', clientAddress: '127.0.0.1:3', voter: false },
      ],
      askStatus: async (clientAddress) =>
        clientAddress === '127.0.0.1:2' ? statusOf('n2', { appliedIndex: 90, recentSamples: [sample(1000, 5, 9), sample(2000, 1, 1)] }) : statusOf('n3', { appliedIndex: 100 }),
    });
    const response = await fetch(`http://${address}/cluster.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const view = (await response.json()) as ClusterView;
    expect(view.askedBy).toBe('n1');
    expect(view.leader).toEqual({ id: 'n1', term: 3 });
    expect(view.members).toEqual([
      { id: 'n1', clientAddress: '127.0.0.1:1', voter: true, reachable: true, role: 'leader', term: 3, leaderId: 'n1', commitIndex: 100, appliedIndex: 100, lastIndex: 100, snapshotIndex: 0, lagEntries: 0, samples: [sample(1000, 10, 4)] },
      { id: 'n2', clientAddress: '127.0.0.1:2', voter: true, reachable: true, role: 'follower', term: 3, leaderId: 'n1', commitIndex: 100, appliedIndex: 90, lastIndex: 100, snapshotIndex: 0, lagEntries: 10, samples: [sample(1000, 5, 9), sample(2000, 1, 1)] },
      { id: 'n3', clientAddress: '127.0.0.1:3', voter: false, reachable: true, role: 'follower', term: 3, leaderId: 'n1', commitIndex: 100, appliedIndex: 100, lastIndex: 100, snapshotIndex: 0, lagEntries: 0, samples: [] },
    ]);
    expect(view.samples).toEqual([
      { atMs: 1000, writes: 15, reads: 2, errors: 0, p50Ms: 4.5, p99Ms: 9 },
      { atMs: 2000, writes: 1, reads: 1, errors: 0, p50Ms: 0.5, p99Ms: 1 },
    ]);
  });

  it('/cluster.json: a dead member (nothing listening), a hung one (accepts, never answers) and one without an address are unreachable with the error, within the deadline', async () => {
    const reservation = await reservePorts(1);
    await reservation.release();
    const dead = `127.0.0.1:${reservation.ports[0]}`;
    // Accepts TCP connections and never says a word: only the deadline ends the call.
    const sockets = new Set<Socket>();
    const hung = createTcpServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', () => resolve()));
    closers.push(() => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      hung.close(() => resolve());
    }));
    const hungAddress = `127.0.0.1:${(hung.address() as { port: number }).port}`;
    const client = new RaftKvClient({ endpoints: [dead], pinned: true });
    closers.push(() => client.close());
    const address = await serve({
      members: [
        { id: 'n1', clientAddress: '127.0.0.1:1', voter: true },
        { id: 'n2', clientAddress: dead, voter: true },
        { id: 'n3', clientAddress: hungAddress, voter: true },
        { id: 'n4', clientAddress: '', voter: false },
      ],
      askStatus: (clientAddress, timeoutMs) => client.status(clientAddress, { timeoutMs }),
      askTimeoutMs: 500,
    });
    // Without the deadline, the hung member would hold this request (and the test) forever.
    const response = await fetch(`http://${address}/cluster.json`);
    expect(response.status).toBe(200);
    const view = (await response.json()) as ClusterView;
    expect(view.leader).toEqual({ id: 'n1', term: 3 });
    const byId = new Map(view.members.map((m) => [m.id, m]));
    expect(byId.get('n1')?.reachable).toBe(true);
    expect(byId.get('n2')).toMatchObject({ reachable: false, clientAddress: dead });
    expect(byId.get('n2')?.reachable === false && byId.get('n2')).toMatchObject({ error: expect.stringMatching(/unavailable/i) });
    expect(byId.get('n3')).toMatchObject({ reachable: false, error: expect.stringMatching(/deadline|timed out|within/i) });
    expect(byId.get('n4')).toEqual({ id: 'n4', clientAddress: '', voter: false, reachable: false, error: 'no client address known for this member' });
  });

  it('/cluster.json: a member whose client address this node does not know is asked at the address another member (the leader) knows', async () => {
    const asked: string[] = [];
    const address = await serve({
      members: [
        { id: 'n1', clientAddress: '127.0.0.1:1', voter: true },
        { id: 'n2', clientAddress: '127.0.0.1:2', voter: true },
        { id: 'n3', clientAddress: '', voter: true },
      ],
      askStatus: async (clientAddress) => {
        asked.push(clientAddress);
        return clientAddress === '127.0.0.1:2'
          ? statusOf('n2', { role: 'leader', term: 4, members: [{ id: 'n1', clientAddress: '127.0.0.1:1' }, { id: 'n3', clientAddress: '127.0.0.1:3' }] })
          : statusOf('n3', { leaderId: 'n2', term: 4 });
      },
    });
    const view = (await (await fetch(`http://${address}/cluster.json`)).json()) as ClusterView;
    expect(asked).toEqual(['127.0.0.1:2', '127.0.0.1:3']);
    expect(view.members.map((m) => [m.id, m.clientAddress, m.reachable])).toEqual([['n1', '127.0.0.1:1', true], ['n2', '127.0.0.1:2', true], ['n3', '127.0.0.1:3', true]]);
    expect(view.leader).toEqual({ id: 'n2', term: 4 });
  });

  it('/cluster.json: no member says it leads (an election) gives leader null, not an error', async () => {
    const address = await serve({ members: [{ id: 'n2', clientAddress: '127.0.0.1:2', voter: true }], askStatus: async () => statusOf('n2', { role: 'candidate', leaderId: '' }) });
    const view = (await (await fetch(`http://${address}/cluster.json`)).json()) as ClusterView;
    expect(view.leader).toBeNull();
  });

  it('/stats.json is the bounded ring; /events.json the bounded event log', async () => {
    let nowMs = 10_000;
    const stats = new LiveStats({ samplesMax: 2, clock: () => nowMs });
    for (let i = 0; i < 4; i++) {
      stats.observe('put', true, 0.002);
      nowMs += 1000;
      stats.closeSecond();
    }
    const events = new EventLog(1, () => 42);
    events.record({ kind: 'leader-changed', leader: 'n1', term: 1 });
    events.record({ kind: 'snapshot-installed', index: 7, term: 1, ms: 3 });
    const address = await serve({ stats, events });
    const statsBody = (await (await fetch(`http://${address}/stats.json`)).json()) as { samples: LiveSample[] };
    expect(statsBody.samples.map((s) => [s.atMs, s.writes])).toEqual([[12_000, 1], [13_000, 1]]);
    expect(await (await fetch(`http://${address}/events.json`)).json()).toEqual({ events: [{ kind: 'snapshot-installed', index: 7, term: 1, ms: 3, seq: 2, atMs: 42 }] });
  });

  it('serves the page, its script and style, and uPlot from the node itself, with a same-origin-only policy', async () => {
    const address = await serve();
    const page = await fetch(`http://${address}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe("default-src 'self'");
    const html = await page.text();
    for (const file of ['/page.js', '/page.css', '/uplot.min.js', '/uplot.min.css']) {
      expect(html).toContain(`"${file}"`);
      const asset = await fetch(`http://${address}${file}`);
      expect(asset.status, file).toBe(200);
      expect((await asset.text()).length, file).toBeGreaterThan(100);
    }
    expect(html).not.toMatch(/https?:\/\//);
    expect(await (await fetch(`http://${address}/uplot.min.js`)).text()).toContain('uPlot');
  });

  it('unknown paths are 404 naming what exists, other methods 405, and neither reaches the file system or crashes the listener', async () => {
    const address = await serve();
    for (const path of ['/nope', '/../package.json', '/%2e%2e/package.json', '/web/live-cluster/index.html', '/node_modules/uplot/package.json', '/cluster.json/x']) {
      const response = await fetch(`http://${address}${path}`);
      expect(response.status, path).toBe(404);
      expect(((await response.json()) as { error: string }).error, path).toContain('try /healthz, /readyz, /metrics, / (the live cluster page), /cluster.json, /stats.json, /events.json');
    }
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await fetch(`http://${address}/cluster.json`, { method });
      expect(response.status, method).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      expect(await response.json()).toEqual({ error: `${method} is not allowed; use GET` });
    }
    const head = await fetch(`http://${address}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    // A long path is named in the error only in part; bytes that are not HTTP get a 400 from Node's parser.
    const long = await fetch(`http://${address}/${'x'.repeat(8000)}`);
    expect(long.status).toBe(404);
    expect(((await long.json()) as { error: string }).error.length).toBeLessThan(400);
    expect(await rawExchange(address, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    // Still serving after all that.
    expect((await fetch(`http://${address}/cluster.json`)).status).toBe(200);
  });

  it('without the live page configured, its paths are 404 as before', async () => {
    const http = await startHttpEndpoints('127.0.0.1:0', { status, probeStorage: () => Promise.resolve(), registry: new Registry(), readyLagEntriesMax: 10 });
    closers.push(() => http.close());
    for (const path of ['/', '/cluster.json', '/page.js']) expect((await fetch(`http://${http.address}${path}`)).status, path).toBe(404);
  });
});

/** Writes `bytes` on a new connection to `address` and resolves with what comes back before it closes. */
function rawExchange(address: string, bytes: string): Promise<string> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(address.slice(at + 1)), address.slice(0, at));
    let received = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.once('error', reject);
    socket.once('close', () => resolve(received));
    socket.end(bytes);
  });
}

describe('mergeSamples', () => {
  it('sums operations by second and takes the worst quantiles', () => {
    expect(mergeSamples([[sample(1000, 1, 2)], [sample(1000, 2, 8), sample(3000, 1, 1)], []])).toEqual([
      { atMs: 1000, writes: 3, reads: 2, errors: 0, p50Ms: 4, p99Ms: 8 },
      { atMs: 3000, writes: 1, reads: 1, errors: 0, p50Ms: 0.5, p99Ms: 1 },
    ]);
  });
});
