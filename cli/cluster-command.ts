import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RaftKvClient, type ClientTls } from '../src/client/index.js';
import { initCertificateDir } from '../src/security/certificate-dir.js';
import { defaultBasePort, defaultDataDir, localCertificateDir, localClusterLayout, nodeArguments, reconcileManifest, spawnNode, type LocalClusterLayout } from './local-cluster.js';
import { parseIntegerOption } from './parse.js';

const stopDeadlineMs = 10_000;
const readyDeadlineMs = 30_000;

/** `raftkv cluster up`: a local cluster of child processes for development, stopped with Ctrl-C. */
export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('run a local development cluster');
  cluster
    .command('up')
    .description('start a local cluster (3 nodes on 127.0.0.1 by default); Ctrl-C stops it; the same --data resumes it')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--data <dir>', 'data directory (one sub-directory per node)', defaultDataDir)
    .option('--base-port <port>', `first peer port; client ports are ${1000} higher`, String(defaultBasePort))
    .option('--log-level <level>', 'node log level', 'info')
    .option('--tls', 'mutual TLS between the nodes and TLS with client certificates on the client ports, from certificates made in <data>/tls on first use')
    .action(async (flags: { nodes: string; data: string; basePort: string; logLevel: string; tls?: boolean }) => {
      const plain = localClusterLayout(
        parseIntegerOption(flags.nodes, '--nodes', 1, 9),
        flags.data,
        parseIntegerOption(flags.basePort, '--base-port', 1, 65535),
      );
      const layout = flags.tls === true ? { ...plain, tls: true } : plain;
      reconcileManifest(layout);
      const tls = layout.tls === true ? await localClusterTls(layout) : null;
      const children = new Map<string, ChildProcess>();
      let stopping = false;
      const exited = new Map<string, Promise<void>>();
      layout.nodes.forEach((node, i) => {
        const logFile = join(layout.dataDir, `${node.id}.log`);
        const child = spawnNode(nodeArguments(layout, i, ['--log-level', flags.logLevel]), logFile);
        children.set(node.id, child);
        exited.set(
          node.id,
          new Promise((resolve) => {
            child.once('exit', (code, signal) => {
              if (!stopping) process.stderr.write(`raftkv: node ${node.id} exited (${signal ?? `code ${code}`}); see ${logFile}\n`);
              resolve();
            });
          }),
        );
        process.stdout.write(`node ${node.id}: client ${node.clientAddress}, peer ${node.peerAddress}, http ${node.httpAddress ?? '-'}, pid ${child.pid}, log ${logFile}\n`);
        if (node.httpAddress !== undefined) process.stdout.write(`node ${node.id}: live cluster page http://${node.httpAddress}/\n`);
      });
      const endpoints = layout.nodes.map((n) => n.clientAddress);
      process.stdout.write(`endpoints: ${endpoints.join(',')}\n`);

      const stop = async (signal: NodeJS.Signals): Promise<void> => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`\n${signal}: stopping ${children.size} nodes\n`);
        for (const child of children.values()) if (child.exitCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => {
          for (const child of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, stopDeadlineMs);
        await Promise.all(exited.values());
        clearTimeout(timer);
        process.stdout.write('cluster stopped\n');
      };
      const done = new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop(signal).then(resolve));
      });

      await reportWhenReady(endpoints, tls);
      await done;
    });
}

/** Polls the nodes until one reports a leader, then says so; gives up quietly after a deadline. */
async function reportWhenReady(endpoints: readonly string[], tls: ClientTls | null): Promise<void> {
  const client = new RaftKvClient({ endpoints, timeoutMs: 1000, ...(tls === null ? {} : { tls }) });
  const deadline = Date.now() + readyDeadlineMs;
  try {
    while (Date.now() < deadline) {
      for (const endpoint of endpoints) {
        try {
          const status = await client.status(endpoint, { timeoutMs: 500 });
          if (status.leaderId !== '') {
            process.stdout.write(`cluster ready: leader ${status.leaderId} (term ${status.term})\n`);
            return;
          }
        } catch {
          // Not up yet: the next poll asks again.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    process.stderr.write(`raftkv: no leader after ${readyDeadlineMs / 1000} s; check the node logs\n`);
  } finally {
    client.close();
  }
}

/**
 * The certificates of a local TLS cluster: made on first use (a development CA, one certificate
 * per node, and `client` for the CLI), reused after. Returns what the CLI's own client uses.
 */
async function localClusterTls(layout: LocalClusterLayout): Promise<ClientTls> {
  const dir = localCertificateDir(layout.dataDir);
  if (!existsSync(join(dir, 'ca.crt'))) {
    await initCertificateDir(dir, { nodes: layout.nodes.map((n) => n.id), clients: ['client'], hosts: [], validDays: 365, caValidDays: 3650, overwrite: false });
    process.stdout.write(`certificates: made a development CA and node and client certificates in ${dir}\n`);
  }
  return { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')) };
}
