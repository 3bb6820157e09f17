import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { RaftStatus } from '../raft/index.js';
import { ConfigError } from '../shared/errors.js';
import type { ClusterViewer } from './cluster-view.js';
import type { EventLog } from './event-log.js';
import { PageAssets } from './live-page-assets.js';
import type { LiveStats } from './live-stats.js';

/** What the HTTP endpoints read from the node. */
export interface HttpEndpointSource {
  status(): RaftStatus;
  /** Resolves if storage answers a read, rejects otherwise. */
  probeStorage(): Promise<void>;
  readonly registry: Registry;
  /** Ready only while the applied index is within this many entries of the commit index. */
  readonly readyLagEntriesMax: number;
  /** The live cluster page and its JSON; without it those paths are 404. */
  readonly live?: LivePageSource;
}

/** What the live page (`/`) and its JSON endpoints read: status and counters, never keys or values. */
export interface LivePageSource {
  readonly stats: LiveStats;
  readonly events: EventLog;
  readonly cluster: ClusterViewer;
}

const storageProbeTimeoutMs = 2000;

/**
 * `--listen-http`: `/healthz` (the process runs and its storage answers a read), `/readyz` (a
 * leader is known, this node is a member, and it has applied nearly everything committed), and
 * `/metrics` (Prometheus text). Bodies are JSON saying why not, with 503. With `live`: the live
 * cluster page at `/` and its JSON, `/cluster.json`, `/stats.json`, `/events.json`. Plaintext
 * HTTP: nothing served here carries keys or values.
 */
export async function startHttpEndpoints(address: string, source: HttpEndpointSource): Promise<{ readonly address: string; close(): Promise<void> }> {
  const assets = new PageAssets();
  const server = createServer((request, response) => {
    handle(request, response, source, assets).catch((error: unknown) => {
      if (response.headersSent) response.destroy();
      else send(response, 500, { error: (error as Error).message });
    });
  });
  server.keepAliveTimeout = 5000;
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ConfigError(`listen-http ${address}: cannot listen (${error.message})`, { cause: error })));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return {
    address: typeof bound === 'object' && bound !== null ? `${host}:${bound.port}` : address,
    close: () => closeServer(server),
  };
}

async function handle(request: IncomingMessage, response: ServerResponse, source: HttpEndpointSource, assets: PageAssets): Promise<void> {
  const path = (request.url ?? '/').split('?')[0] ?? '/';
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    send(response, 405, { error: `${request.method ?? '?'} is not allowed; use GET` }, { allow: 'GET, HEAD' });
    return;
  }
  const live = source.live;
  if (live !== undefined) {
    const asset = assets.get(path);
    if (asset !== null) {
      // The page loads only its own files and JSON from this node: no inline script, no CDN.
      response.writeHead(200, { 'content-type': asset.contentType, 'content-security-policy': "default-src 'self'", 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' });
      response.end(asset.body);
      return;
    }
  }
  switch (path) {
    case '/healthz': {
      try {
        await withTimeout(source.probeStorage(), storageProbeTimeoutMs, `storage did not answer a read within ${storageProbeTimeoutMs} ms`);
        send(response, 200, { healthy: true });
      } catch (error) {
        send(response, 503, { healthy: false, reason: `storage: ${(error as Error).message}` });
      }
      return;
    }
    case '/readyz': {
      const status = source.status();
      const reasons = readinessProblems(status, source.readyLagEntriesMax);
      send(response, reasons.length === 0 ? 200 : 503, { ready: reasons.length === 0, ...(reasons.length === 0 ? {} : { reasons }), leader: status.leader, role: status.role, term: status.term, commit: status.commit, applied: status.applied });
      return;
    }
    case '/metrics': {
      const text = await source.registry.metrics();
      response.writeHead(200, { 'content-type': source.registry.contentType });
      response.end(text);
      return;
    }
    case '/cluster.json':
      if (live === undefined) break;
      send(response, 200, { ...(await live.cluster.view()) }, { 'cache-control': 'no-store' });
      return;
    case '/stats.json':
      if (live === undefined) break;
      send(response, 200, { samples: live.stats.recent() }, { 'cache-control': 'no-store' });
      return;
    case '/events.json':
      if (live === undefined) break;
      send(response, 200, { events: live.events.list() }, { 'cache-control': 'no-store' });
      return;
  }
  const known = ['/healthz', '/readyz', '/metrics', ...(live === undefined ? [] : ['/ (the live cluster page)', '/cluster.json', '/stats.json', '/events.json'])];
  send(response, 404, { error: `no ${path.slice(0, 200)}: try ${known.join(', ')}` });
}

/** Why a node should not get traffic yet; empty when it should. */
export function readinessProblems(status: RaftStatus, lagEntriesMax: number): string[] {
  const reasons: string[] = [];
  if (status.removed) reasons.push('this node was removed from the cluster');
  if (status.leader === null) reasons.push('no leader is known');
  const lag = status.commit - status.applied;
  if (lag > lagEntriesMax) reasons.push(`applied index ${status.applied} is ${lag} entries behind the commit index ${status.commit} (more than ${lagEntriesMax})`);
  return reasons;
}

function send(response: ServerResponse, code: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  response.writeHead(code, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', ...headers });
  response.end(`${JSON.stringify(body)}\n`);
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
