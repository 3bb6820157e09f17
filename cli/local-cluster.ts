import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../src/shared/errors.js';
import { nodeTlsFlags } from '../src/shared/tls-flags.js';

/** The shape of a local development cluster: where each node listens and keeps its data. */
export interface LocalClusterLayout {
  readonly dataDir: string;
  /** Started with `--tls`: certificates in `<dataDir>/tls`, mutual TLS between nodes, client certificates required. */
  readonly tls?: boolean;
  readonly nodes: readonly { id: string; peerAddress: string; clientAddress: string; dataDir: string; httpAddress?: string }[];
}

export const defaultBasePort = 7001;
/** Client ports sit this far above peer ports: n1 is 127.0.0.1:7001 for peers and :8001 for clients. */
export const clientPortOffset = 1000;
/** And the HTTP endpoints (/healthz, /readyz, /metrics) this far: :9001. */
export const httpPortOffset = 2000;
export const defaultDataDir = './data';

/** The node layout for `nodes` nodes from `basePort`, all on loopback. */
export function localClusterLayout(nodes: number, dataDir: string, basePort: number): LocalClusterLayout {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new ConfigError(`--nodes: must be an integer in 1..9, got ${nodes}`);
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + httpPortOffset + nodes > 65535) {
    throw new ConfigError(`--base-port: must leave room for ${nodes} peer, client and HTTP ports below 65536, got ${basePort}`);
  }
  return {
    dataDir,
    nodes: Array.from({ length: nodes }, (_, i) => ({
      id: `n${i + 1}`,
      peerAddress: `127.0.0.1:${basePort + i}`,
      clientAddress: `127.0.0.1:${basePort + clientPortOffset + i}`,
      httpAddress: `127.0.0.1:${basePort + httpPortOffset + i}`,
      dataDir: join(dataDir, `n${i + 1}`),
    })),
  };
}

/** The client endpoints of the default local cluster: what CLI commands talk to without --endpoints. */
export function defaultEndpoints(): string[] {
  return (savedDefaultLayout() ?? localClusterLayout(3, defaultDataDir, defaultBasePort)).nodes.map((n) => n.clientAddress);
}

/** Where `cluster up --tls` keeps the certificates of a local cluster in `dataDir`. */
export function localCertificateDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

/** The CA and client certificate files of the default local cluster, when it runs with TLS. */
export function defaultClientTlsFiles(): { ca: string; cert: string; key: string } | null {
  const saved = savedDefaultLayout();
  if (saved?.tls !== true) return null;
  const dir = localCertificateDir(defaultDataDir);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
}

function savedDefaultLayout(): LocalClusterLayout | null {
  const manifest = join(defaultDataDir, 'cluster.json');
  if (!existsSync(manifest)) return null;
  try {
    return JSON.parse(readFileSync(manifest, 'utf8')) as LocalClusterLayout;
  } catch {
    return null; // a damaged manifest falls back to the defaults; `cluster up` reports it properly
  }
}

/**
 * Checks the layout against the one saved in the data directory, so that `cluster up` on an
 * existing directory resumes the same cluster instead of starting a mismatched one; saves it
 * when the directory is new.
 */
export function reconcileManifest(layout: LocalClusterLayout): void {
  mkdirSync(layout.dataDir, { recursive: true });
  const manifest = join(layout.dataDir, 'cluster.json');
  if (existsSync(manifest)) {
    let saved: LocalClusterLayout;
    try {
      saved = JSON.parse(readFileSync(manifest, 'utf8')) as LocalClusterLayout;
    } catch (error) {
      throw new ConfigError(`${manifest}: not valid JSON; remove the data directory to start a new cluster`, { cause: error });
    }
    const describe = (l: LocalClusterLayout): string => `${l.nodes.map((n) => `${n.id}=${n.peerAddress}/${n.clientAddress}`).join(',')}${l.tls === true ? ' with --tls' : ''}`;
    if (describe(saved) !== describe(layout)) {
      throw new ConfigError(
        `${layout.dataDir} holds a cluster of ${saved.nodes.length} nodes (${describe(saved)}); start it with the same --nodes, --base-port and --tls, or use another --data`,
      );
    }
    return;
  }
  writeFileSync(manifest, `${JSON.stringify(layout, null, 2)}\n`);
}

/** The command line that starts one node of the layout with this same CLI. */
export function nodeArguments(layout: LocalClusterLayout, index: number, extra: readonly string[]): string[] {
  const node = layout.nodes[index];
  if (node === undefined) throw new RangeError(`no node ${index}`);
  return [
    'start',
    '--id', node.id,
    '--data', node.dataDir,
    '--listen-peer', node.peerAddress,
    '--listen-client', node.clientAddress,
    '--peers', layout.nodes.map((n) => `${n.id}=${n.peerAddress}`).join(','),
    ...(node.httpAddress === undefined ? [] : ['--listen-http', node.httpAddress]),
    ...(layout.tls === true ? nodeTlsFlags(localCertificateDir(layout.dataDir), node.id) : []),
    ...extra,
  ];
}

/** Spawns a node as a child process running this same CLI (under tsx in development), logging to `logFile`. */
export function spawnNode(args: readonly string[], logFile: string): ChildProcess {
  const script = resolve(process.argv[1] as string);
  const log = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['ignore', log, log], env: process.env });
  } finally {
    closeSync(log); // the child holds its own copy
  }
}
