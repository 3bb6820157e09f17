import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RaftKvClient, type ClusterStatus } from '../../src/client/index.js';
import { reservePorts } from '../../chaos/process-backend.js';

/** The project root, where cli/raftkv.ts lives. */
export const projectRoot = resolve(import.meta.dirname, '..', '..');

/** Runs the CLI as a child process (through tsx, as in development) and collects its output. */
export function runCli(args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'cli', 'raftkv.ts'), ...args], {
      cwd: projectRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Without input, stdin is at its end at once (as with 'ignore').
    child.stdin.end(options.stdin ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`raftkv ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface NodeProcess {
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Set for a node that joins a running cluster (`--join` these client endpoints) instead of bootstrapping with --peers. */
  readonly join?: readonly string[];
  /** Flags only this node gets. */
  readonly extraArgs?: readonly string[];
  child: ChildProcess | null;
  /** How the last incarnation ended, once it has. */
  lastExit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | null;
}

/** Per-cluster options: flags every node gets beyond the basic ones, and flags of single nodes (by id). */
export interface ProcessClusterOptions {
  readonly extraArgs?: readonly string[];
  /** False: create the layout (ports, data directory paths) but start no node (e.g. to restore data directories first). */
  readonly startNodes?: boolean;
  readonly nodeArgs?: Readonly<Record<string, readonly string[]>>;
}

/**
 * A cluster of real `raftkv start` processes on loopback, for integration tests: each node in
 * its own OS process with its own LevelDB directory, killed with real signals.
 */
export class ProcessCluster {
  readonly nodes: NodeProcess[];
  readonly root: string;

  private constructor(
    root: string,
    nodes: NodeProcess[],
    private readonly options: ProcessClusterOptions,
  ) {
    this.root = root;
    this.nodes = nodes;
  }

  static async create(size: number, options: ProcessClusterOptions & { env?: Readonly<Record<string, NodeJS.ProcessEnv>> } = {}): Promise<ProcessCluster> {
    const root = mkdtempSync(join(tmpdir(), 'raftkv-it-'));
    // Below the ephemeral range: a node restarted after kill -9 must bind its ports again, and an
    // ephemeral port may by then be the source port of some client connection (EADDRINUSE).
    const reservation = await reservePorts(2 * size);
    await reservation.release();
    const nodes: NodeProcess[] = [];
    for (let i = 1; i <= size; i++) {
      nodes.push({
        id: `n${i}`,
        peerAddress: `127.0.0.1:${reservation.ports[2 * i - 2]}`,
        clientAddress: `127.0.0.1:${reservation.ports[2 * i - 1]}`,
        dataDir: join(root, `n${i}`),
        logFile: join(root, `n${i}.log`),
        child: null,
        lastExit: null,
      });
    }
    const cluster = new ProcessCluster(root, nodes, options);
    if (options.startNodes !== false) for (const node of nodes) cluster.start(node.id, { env: options.env?.[node.id] });
    return cluster;
  }

  /**
   * Lays out a new node (ports, data directory) and starts it with `--join` through the given
   * client endpoints (default: those of the nodes started so far).
   */
  async addNode(id: string, options: { join?: readonly string[]; extraArgs?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): Promise<NodeProcess> {
    if (this.nodes.some((n) => n.id === id)) throw new Error(`${id} exists already`);
    const reservation = await reservePorts(2);
    await reservation.release();
    const node: NodeProcess = {
      id,
      peerAddress: `127.0.0.1:${reservation.ports[0]}`,
      clientAddress: `127.0.0.1:${reservation.ports[1]}`,
      dataDir: join(this.root, id),
      logFile: join(this.root, `${id}.log`),
      join: options.join ?? this.endpoints,
      ...(options.extraArgs === undefined ? {} : { extraArgs: options.extraArgs }),
      child: null,
      lastExit: null,
    };
    this.nodes.push(node);
    this.start(id, { env: options.env });
    return node;
  }

  /** Resolves with the exit of a node's process (e.g. one that was refused). */
  async exited(id: string, timeoutMs = 30_000): Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }> {
    return waitFor(`${id} to exit`, () => this.node(id).lastExit ?? undefined, timeoutMs);
  }

  /** The --peers value of every node: id=peer address,... */
  get peers(): string {
    return this.nodes.map((n) => `${n.id}=${n.peerAddress}`).join(',');
  }

  get endpoints(): string[] {
    return this.nodes.map((n) => n.clientAddress);
  }

  node(id: string): NodeProcess {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Starts (or restarts, on the same data directory) one node; `env` adds to the environment (e.g. RAFTKV_FAILPOINTS). */
  start(id: string, options: { env?: NodeJS.ProcessEnv } = {}): void {
    const node = this.node(id);
    if (node.child !== null) throw new Error(`${id} is already running`);
    const log = openSync(node.logFile, 'a');
    const peers = this.nodes.filter((n) => n.join === undefined).map((n) => `${n.id}=${n.peerAddress}`).join(',');
    const membership = node.join === undefined ? ['--peers', peers] : ['--join', node.join.join(',')];
    node.child = spawn(
      process.execPath,
      [
        '--import', 'tsx', join(projectRoot, 'cli', 'raftkv.ts'), 'start',
        '--id', node.id, '--data', node.dataDir,
        '--listen-peer', node.peerAddress, '--listen-client', node.clientAddress,
        ...membership, '--tick-ms', '50', '--log-level', 'info',
        ...(this.options.extraArgs ?? []), ...(node.extraArgs ?? []),
        ...(this.options.nodeArgs?.[node.id] ?? []),
      ],
      { cwd: projectRoot, stdio: ['ignore', log, log], env: { ...process.env, ...options.env } },
    );
    closeSync(log);
    const child = node.child;
    node.lastExit = null;
    child.once('exit', (code, signal) => {
      node.lastExit = { code, signal };
      if (node.child === child) node.child = null;
    });
  }

  /** The PID of a running node. */
  pid(id: string): number {
    const pid = this.node(id).child?.pid;
    if (pid === undefined) throw new Error(`${id} is not running`);
    return pid;
  }

  /** The node's whole log. */
  log(id: string): string {
    return safeRead(this.node(id).logFile);
  }

  /** SIGKILL: the node loses everything it had not made durable. */
  async kill(id: string): Promise<void> {
    await this.signalAndWait(id, 'SIGKILL');
  }

  /** SIGTERM: a graceful stop. */
  async stop(id: string): Promise<void> {
    await this.signalAndWait(id, 'SIGTERM');
  }

  pause(id: string): void {
    this.node(id).child?.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.node(id).child?.kill('SIGCONT');
  }

  private async signalAndWait(id: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.node(id).child;
    if (child === null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGCONT'); // a paused process must run to handle SIGTERM
    child.kill(signal);
    await exited;
  }

  /** The status of every running node that answers. */
  async statuses(client: RaftKvClient): Promise<ClusterStatus[]> {
    const out: ClusterStatus[] = [];
    for (const node of this.nodes) {
      if (node.child === null) continue;
      try {
        out.push(await client.status(node.clientAddress, { timeoutMs: 1000 }));
      } catch {
        // not up (yet)
      }
    }
    return out;
  }

  /** Waits until a running node reports itself leader and returns its id. */
  async waitForLeader(client: RaftKvClient, timeoutMs = 30_000): Promise<string> {
    try {
      return await waitFor('a leader', async () => (await this.statuses(client)).find((s) => s.role === 'leader')?.id, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.logs()}`, { cause: error });
    }
  }

  /**
   * Waits until a leader and a follower both answer their status, and returns them. A status
   * call can time out on a loaded machine, and a node may still be electing: a single look at
   * the statuses can find no follower.
   */
  async waitForLeaderAndFollower(client: RaftKvClient, timeoutMs = 60_000): Promise<{ leader: NodeProcess; follower: NodeProcess }> {
    return waitFor('a leader and a follower answering', async () => {
      const statuses = await this.statuses(client);
      const leader = statuses.find((s) => s.role === 'leader');
      const follower = statuses.find((s) => s.role === 'follower');
      return leader === undefined || follower === undefined ? undefined : { leader: this.node(leader.id), follower: this.node(follower.id) };
    }, timeoutMs);
  }

  logs(): string {
    return this.nodes.map((n) => `--- ${n.id}\n${safeRead(n.logFile).split('\n').slice(-30).join('\n')}`).join('\n');
  }

  /** Kills every node and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.id)));
    rmSync(this.root, { recursive: true, force: true });
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
