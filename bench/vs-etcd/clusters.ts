import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { RaftKvClient } from '../../src/client/index.js';
import type { SystemName } from './options.js';

/** One server process of a cluster under test. */
export interface ServerNode {
  readonly id: string;
  readonly pid: number;
  /** host:port of its client API. */
  readonly clientAddress: string;
  readonly logFile: string;
}

/** A 3-node cluster of one system, started by this process, with a known leader. */
export interface RunningCluster {
  readonly system: SystemName;
  readonly nodes: readonly ServerNode[];
  readonly leader: ServerNode;
  /** Stops every node (SIGTERM, SIGKILL after the deadline) and removes the data directories; the logs stay. */
  stop(): Promise<void>;
}

export interface ClusterPorts {
  readonly client: readonly number[];
  readonly peer: readonly number[];
}

/** Ports of a system's 3 nodes from the bench's --base-port: etcd at +0..5, raftkv at +10..15. */
export function clusterPorts(system: SystemName, basePort: number): ClusterPorts {
  const base = basePort + (system === 'etcd' ? 0 : 10);
  return { client: [base, base + 1, base + 2], peer: [base + 3, base + 4, base + 5] };
}

export interface StartOptions {
  /** Data directories and logs go under this directory. */
  readonly root: string;
  readonly ports: ClusterPorts;
  /** How long the nodes have to elect a leader. */
  readonly leaderTimeoutMs: number;
  readonly signal?: AbortSignal;
}


/**
 * Every server process this bench started and has not yet seen exit; `stopAll` is what the
 * SIGINT handler and the error paths call, so that nothing outlives the bench.
 */
export class Children {
  /** How long a process has to exit after SIGTERM before it gets SIGKILL (an etcd leader hands its leadership over first). */
  constructor(private readonly stopTimeoutMs = 15_000) {}

  private readonly running = new Map<number, { child: ChildProcess; exited: Promise<void> }>();
  /** Every PID ever started here, running or not. */
  readonly started: number[] = [];

  spawn(command: string, args: readonly string[], logFile: string, cwd: string): ChildProcess {
    const log = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd, stdio: ['ignore', log, log], env: process.env });
    } finally {
      closeSync(log); // the child holds its own copy
    }
    const pid = child.pid;
    if (pid === undefined) {
      child.once('error', () => {}); // reported by the throw below
      throw new Error(`could not start ${command} (not found or not executable)`);
    }
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        this.running.delete(pid);
        resolve();
      });
      child.once('error', () => resolve());
    });
    this.running.set(pid, { child, exited });
    this.started.push(pid);
    return child;
  }

  get pids(): number[] {
    return [...this.running.keys()];
  }

  /** Stops these processes by PID: SIGTERM, then SIGKILL after the deadline; resolves once all have exited. */
  async stop(pids: readonly number[]): Promise<void> {
    await Promise.all(pids.map(async (pid) => {
      const entry = this.running.get(pid);
      if (entry === undefined) return;
      entry.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.stopTimeoutMs);
        timer.unref();
      });
      const late = await Promise.race([entry.exited.then(() => false), timedOut]);
      clearTimeout(timer);
      if (late) {
        entry.child.kill('SIGKILL');
        await entry.exited;
      }
    }));
  }

  async stopAll(): Promise<void> {
    await this.stop(this.pids);
  }
}

/** Starts 3 etcd members with etcd's own (durable) defaults and waits for a leader. */
export async function startEtcd(children: Children, binary: string, options: StartOptions): Promise<RunningCluster> {
  const names = ['e1', 'e2', 'e3'];
  const peerUrl = (i: number): string => `http://127.0.0.1:${options.ports.peer[i]}`;
  const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
  mkdirSync(options.root, { recursive: true });
  // One token for the 3 members: it seeds the cluster ID, so members of two runs never mix.
  const token = `vs-etcd-${process.pid}-${Date.now()}`;
  const nodes = names.map((name, i) => {
    const clientUrl = `http://127.0.0.1:${options.ports.client[i]}`;
    const dataDir = join(options.root, name);
    const logFile = join(options.root, `${name}.log`);
    const child = children.spawn(binary, [
      '--name', name,
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
    ], logFile, options.root);
    return { id: name, pid: child.pid as number, clientAddress: `127.0.0.1:${options.ports.client[i]}`, logFile, dataDir };
  });
  return finishStart(children, 'etcd', nodes, options, etcdIsLeader);
}

/** Starts 3 raftkv nodes (`<command...> start ...`, the node's default settings) and waits for a leader. */
export async function startRaftKv(children: Children, command: readonly string[], cwd: string, options: StartOptions): Promise<RunningCluster> {
  const ids = ['n1', 'n2', 'n3'];
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${options.ports.peer[i]}`).join(',');
  const [program, ...prefix] = command;
  if (program === undefined) throw new Error('empty raftkv command');
  mkdirSync(options.root, { recursive: true });
  const nodes = ids.map((id, i) => {
    const dataDir = join(options.root, id);
    const logFile = join(options.root, `${id}.log`);
    const clientAddress = `127.0.0.1:${options.ports.client[i]}`;
    const child = children.spawn(program, [
      ...prefix, 'start',
      '--id', id, '--data', dataDir,
      '--listen-peer', `127.0.0.1:${options.ports.peer[i]}`, '--listen-client', clientAddress,
      '--peers', peers,
    ], logFile, cwd);
    return { id, pid: child.pid as number, clientAddress, logFile, dataDir };
  });
  return finishStart(children, 'raftkv', nodes, options, raftKvIsLeader);
}

type StartedNode = ServerNode & { readonly dataDir: string };

async function finishStart(
  children: Children,
  system: SystemName,
  nodes: readonly StartedNode[],
  options: StartOptions,
  isLeader: (node: ServerNode) => Promise<boolean>,
): Promise<RunningCluster> {
  const stop = async (): Promise<void> => {
    await children.stop(nodes.map((n) => n.pid));
    for (const node of nodes) rmSync(node.dataDir, { recursive: true, force: true });
  };
  try {
    const leader = await waitForLeader(children, system, nodes, options, isLeader);
    return { system, nodes, leader, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForLeader(
  children: Children,
  system: SystemName,
  nodes: readonly ServerNode[],
  options: StartOptions,
  isLeader: (node: ServerNode) => Promise<boolean>,
): Promise<ServerNode> {
  const deadline = Date.now() + options.leaderTimeoutMs;
  let lastError = '';
  for (;;) {
    options.signal?.throwIfAborted();
    const gone = nodes.find((n) => !children.pids.includes(n.pid));
    if (gone !== undefined) throw new Error(`${system} node ${gone.id} exited while starting; its log ends: ${logTail(gone.logFile)}`);
    for (const node of nodes) {
      try {
        if (await isLeader(node)) return node;
      } catch (error) {
        lastError = `${node.id}: ${(error as Error).message}`;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`${system}: no leader after ${options.leaderTimeoutMs} ms${lastError === '' ? '' : ` (last error ${lastError})`}; logs in ${options.root}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200).unref());
  }
}

async function etcdIsLeader(node: ServerNode): Promise<boolean> {
  const client = new Etcd3({ hosts: `http://${node.clientAddress}`, dialTimeout: 2000, defaultCallOptions: () => ({ deadline: Date.now() + 2000 }) });
  try {
    const status = await client.maintenance.status();
    return status.leader !== '0' && status.leader === status.header.member_id;
  } finally {
    client.close();
  }
}

async function raftKvIsLeader(node: ServerNode): Promise<boolean> {
  const client = new RaftKvClient({ endpoints: [node.clientAddress], pinned: true, timeoutMs: 2000 });
  try {
    const status = await client.status(node.clientAddress, { timeoutMs: 2000 });
    return status.role === 'leader' && status.leaderId === status.id;
  } finally {
    client.close();
  }
}

function logTail(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').slice(-1500);
  } catch {
    return '(no log)';
  }
}
