import type { ClientTls } from '../src/client/index.js';
import type { JoinCredentials } from './backend.js';
/**
 * The process backend: each node is a local `raftkv start` process on loopback, with its own
 * LevelDB directory and log file, and every directed peer link goes through a LinkProxy the
 * harness owns. Every node gets the same --peers (the real peer addresses: that is the cluster's
 * address book, replicated and changed by membership changes), and its own
 * --peer-dial-override in which every other node Y is at the address of the proxy (X, Y): X
 * dials Y there whatever the address book says, so cutting that proxy silences X -> Y and
 * nothing else. Spare slots (for nodes the membership fault adds) get their ports and proxies
 * at creation too, so every node holds overrides for them before they exist.
 *
 * Processes are signalled by the PID of the child this backend spawned, never by name, and
 * `stop` ends every one of them, whatever state the run is in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeLink, type BackendNodeOptions, type ClusterBackend, type Link, type NodeState, type UnexpectedExit } from './backend.js';
import { LinkProxy } from './link-proxy.js';
import { NodeRoster } from './node-roster.js';
import { probeLink, splitAddress } from './link-probe.js';
import { DeadlineError, nowMs, sleep, withDeadline } from './wait.js';
import { nodeTlsFlags } from '../src/shared/tls-flags.js';
import { nodeJoinUser } from '../src/shared/join-user.js';
import { makeChaosCertificates, type ChaosTls } from './tls-material.js';

/** The project root, where cli/raftkv.ts lives. */
export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** The process backend needs nothing beyond what every backend takes. */
export type ProcessBackendOptions = BackendNodeOptions;

/** The node flags for a snapshot interval (none: the node's defaults). */
/** `raftkv start`'s lease checkpoint flag for the harness's interval (none: the node's default). */
export function leaseCheckpointFlags(seconds: number | undefined): string[] {
  return seconds === undefined ? [] : ['--lease-checkpoint-interval', String(seconds)];
}

export function snapshotFlags(entries: number | undefined): string[] {
  if (entries === undefined) return [];
  return ['--snapshot-entries', String(entries), '--snapshot-retain-entries', String(Math.floor(entries / 4))];
}

/** One node: where it lives and, while it runs, its process. */
interface NodeSlot {
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** --peer-dial-override: every other slot at the proxy from this node to it. */
  readonly dialOverrideFlag: string;
  /** --join endpoints for a node added to a running cluster; null for the initial nodes. */
  join: readonly string[] | null;
  // Invariant: non-null exactly while the process has not exited.
  child: ChildProcess | null;
  // Invariant: resolves when `child` exits; null when there is no child.
  exited: Promise<void> | null;
  state: NodeState;
  /** Set before every signal the backend sends that ends the process. */
  exitExpected: boolean;
  incarnation: number;
}

const signalDeadlineMs = 10_000;
const stopGraceMs = 5_000;
/** Slots in all, initial and spare: each ordered pair costs a proxy. */
const slotsMax = 24;

export class ProcessBackend implements ClusterBackend {
  private joinUser: JoinCredentials | null = null;
  readonly kind = 'process';

  get clientTls(): ClientTls | undefined {
    return this.tls?.client;
  }
  private readonly options: ProcessBackendOptions;
  private readonly roster: NodeRoster;
  private readonly slots = new Map<string, NodeSlot>();
  private readonly proxies = new Map<string, LinkProxy>();
  /** --peers of the initial nodes: the same real addresses for all. */
  private readonly peersFlag: string;
  private readonly exits: UnexpectedExit[] = [];
  private stopping: Promise<void> | null = null;

  private constructor(
    options: ProcessBackendOptions,
    roster: NodeRoster,
    slots: NodeSlot[],
    proxies: Map<string, LinkProxy>,
    private readonly tls: ChaosTls | undefined,
  ) {
    this.options = options;
    this.roster = roster;
    for (const slot of slots) this.slots.set(slot.id, slot);
    this.proxies = proxies;
    this.peersFlag = roster.initialIds.map((id) => `${id}=${this.slot(id).peerAddress}`).join(',');
  }

  get nodeIds(): readonly string[] {
    return this.roster.current();
  }

  /**
   * Allocates loopback ports, opens a proxy for every ordered pair of slots (spares included),
   * and lays out the directories. Starts no process (see `start`).
   */
  static async create(options: ProcessBackendOptions): Promise<ProcessBackend> {
    if (!Number.isInteger(options.nodeCount) || options.nodeCount < 1 || options.nodeCount > 9) {
      throw new RangeError(`nodeCount must be in 1..9, got ${options.nodeCount}`);
    }
    const spare = options.spareNodes ?? 0;
    if (!Number.isInteger(spare) || spare < 0 || options.nodeCount + spare > slotsMax) {
      throw new RangeError(`spareNodes must be an integer in 0..${slotsMax - options.nodeCount} (each membership fault of a plan needs one; at most ${slotsMax} nodes in all: shorten the run or leave membership out), got ${spare}`);
    }
    mkdirSync(join(options.dir, 'data'), { recursive: true });
    mkdirSync(join(options.dir, 'nodes'), { recursive: true });
    const roster = new NodeRoster(options.nodeCount, spare);
    const ids = roster.allIds;
    // The nodes' ports stay bound here until every proxy holds its own (ephemeral) port, so the
    // kernel cannot hand a proxy a port a node is about to listen on.
    const reservation = await reservePorts(ids.length * 2);
    const addresses = new Map<string, { peer: string; client: string }>();
    ids.forEach((id, i) => addresses.set(id, { peer: `127.0.0.1:${reservation.ports[2 * i]}`, client: `127.0.0.1:${reservation.ports[2 * i + 1]}` }));

    const proxies = new Map<string, LinkProxy>();
    try {
      for (const from of ids) {
        for (const to of ids) {
          if (from === to) continue;
          const target = splitAddress(must(addresses.get(to)).peer);
          const link = { from, to };
          proxies.set(describeLink(link), await LinkProxy.open({ name: describeLink(link), targetHost: target.host, targetPort: target.port }));
        }
      }
    } catch (error) {
      await Promise.allSettled([...proxies.values()].map((proxy) => proxy.close()));
      throw error;
    } finally {
      await reservation.release();
    }

    const slots = ids.map((id): NodeSlot => {
      const own = must(addresses.get(id));
      const overrides = ids.filter((other) => other !== id).map((other) => `${other}=${must(proxies.get(describeLink({ from: id, to: other }))).address}`);
      return {
        id,
        peerAddress: own.peer,
        clientAddress: own.client,
        dataDir: join(options.dir, 'data', id),
        logFile: join(options.dir, 'nodes', `${id}.log`),
        dialOverrideFlag: overrides.join(','),
        join: null,
        child: null,
        exited: null,
        state: 'stopped',
        exitExpected: false,
        incarnation: 0,
      };
    });
    const tls = options.tls === true ? await makeChaosCertificates(projectRoot, join(options.dir, 'tls'), ids, []) : undefined;
    return new ProcessBackend(options, roster, slots, proxies, tls);
  }

  async start(signal?: AbortSignal): Promise<void> {
    const initial = this.roster.initialIds.map((id) => this.slot(id));
    try {
      for (const slot of initial) this.spawnNode(slot);
      await Promise.all(initial.map((slot) => this.waitUntilListening(slot, signal)));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  clientEndpoint(id: string): string {
    return this.slot(id).clientAddress;
  }

  memberAddresses(id: string): { peer: string; client: string } {
    const slot = this.slot(id);
    return { peer: slot.peerAddress, client: slot.clientAddress };
  }

  spareNodes(): number {
    return this.roster.spareCount();
  }

  nextNodeId(): string | null {
    return this.roster.nextSpare();
  }

  setJoinUser(credentials: JoinCredentials | null): void {
    this.joinUser = credentials;
  }

  async addNode(join: readonly string[], signal?: AbortSignal): Promise<string> {
    if (join.length === 0) throw new Error('addNode: no endpoint to join through');
    const slot = this.slot(this.roster.takeSpare());
    slot.join = [...join];
    try {
      this.spawnNode(slot);
      await this.waitUntilListening(slot, signal);
    } catch (error) {
      await this.stopNode(slot).catch(() => {});
      this.roster.retire(slot.id);
      throw error;
    }
    return slot.id;
  }

  async removeNode(id: string): Promise<void> {
    if (!this.roster.isMember(id)) throw new Error(`removeNode ${id}: not a member (members: ${this.nodeIds.join(', ')})`);
    await this.stopNode(this.slot(id));
    this.roster.retire(id);
  }

  /** The real peer listen address of a node (what its proxies forward to). */
  peerAddress(id: string): string {
    return this.slot(id).peerAddress;
  }

  /** The address `from` dials to reach `to`. */
  proxyAddress(from: string, to: string): string {
    return this.proxy(from, to).address;
  }

  nodeState(id: string): NodeState {
    return this.slot(id).state;
  }

  describeNode(id: string): string {
    const slot = this.slot(id);
    return `${id} pid ${slot.child?.pid ?? '-'} client ${slot.clientAddress}`;
  }

  /** The PID of a node's current process, if it has one. */
  pid(id: string): number | undefined {
    return this.slot(id).child?.pid;
  }

  async kill(id: string): Promise<void> {
    const slot = this.slot(id);
    const { child, exited } = slot;
    if (child === null || exited === null) throw new Error(`kill ${id}: it is not running (${slot.state})`);
    slot.exitExpected = true;
    child.kill('SIGKILL'); // works on a stopped process too
    await withDeadline(exited, signalDeadlineMs, `${id} (pid ${child.pid}) exiting after SIGKILL`);
    slot.state = 'killed';
  }

  async restart(id: string): Promise<void> {
    const slot = this.slot(id);
    if (slot.child !== null) throw new Error(`restart ${id}: it is still running (${slot.state})`);
    this.spawnNode(slot);
    await this.waitUntilListening(slot, undefined);
  }

  async pause(id: string): Promise<void> {
    const slot = this.slot(id);
    const pid = slot.child?.pid;
    if (slot.child === null || pid === undefined || slot.state !== 'running') throw new Error(`pause ${id}: it is not running (${slot.state})`);
    slot.child.kill('SIGSTOP');
    slot.state = 'paused';
    await this.waitForProcessState(id, pid, (state) => state === 'T' || state === 't', 'stopped');
  }

  async resume(id: string): Promise<void> {
    const slot = this.slot(id);
    const pid = slot.child?.pid;
    if (slot.child === null || pid === undefined || slot.state !== 'paused') throw new Error(`resume ${id}: it is not paused (${slot.state})`);
    slot.child.kill('SIGCONT');
    slot.state = 'running';
    await this.waitForProcessState(id, pid, (state) => state !== 'T' && state !== 't', 'running');
  }

  cut(from: string, to: string): Promise<void> {
    this.proxy(from, to).cut();
    return Promise.resolve();
  }

  heal(from: string, to: string): Promise<void> {
    this.proxy(from, to).heal();
    return Promise.resolve();
  }

  healAll(): Promise<void> {
    for (const proxy of this.proxies.values()) if (proxy.isCut) proxy.heal();
    return Promise.resolve();
  }

  cutLinks(): readonly Link[] {
    const links: Link[] = [];
    for (const from of this.roster.allIds) {
      for (const to of this.roster.allIds) if (from !== to && this.proxy(from, to).isCut) links.push({ from, to });
    }
    return links;
  }

  async probe(from: string, to: string, timeoutMs: number): Promise<boolean> {
    const result = await probeLink(this.proxy(from, to).address, { timeoutMs, tls: this.tls !== undefined });
    return result.reached;
  }

  logFiles(): ReadonlyMap<string, string> {
    return new Map(this.roster.everMembers().map((id) => [id, this.slot(id).logFile]));
  }

  unexpectedExits(): readonly UnexpectedExit[] {
    return this.exits;
  }

  /** Link proxy counters, for the report. */
  linkStats(): Record<string, ReturnType<LinkProxy['stats']>> {
    return Object.fromEntries([...this.proxies].map(([name, proxy]) => [name, proxy.stats()]));
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.slots.values()].map((slot) => this.stopNode(slot)));
      await Promise.allSettled([...this.proxies.values()].map((proxy) => proxy.close()));
    })();
    return this.stopping;
  }

  killAllNow(): void {
    for (const slot of this.slots.values()) {
      if (slot.child === null) continue;
      slot.exitExpected = true;
      try {
        slot.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  // ---------------------------------------------------------------------------------------

  private slot(id: string): NodeSlot {
    const slot = this.slots.get(id);
    if (slot === undefined) throw new Error(`no node ${id} (nodes: ${this.nodeIds.join(', ')})`);
    return slot;
  }

  private proxy(from: string, to: string): LinkProxy {
    const proxy = this.proxies.get(describeLink({ from, to }));
    if (proxy === undefined) throw new Error(`no link ${describeLink({ from, to })}`);
    return proxy;
  }

  private spawnNode(slot: NodeSlot): void {
    if (this.stopping !== null) throw new Error(`cannot start ${slot.id}: the backend is stopping`);
    slot.incarnation++;
    const args = [
      '--import', 'tsx', join(projectRoot, 'cli', 'raftkv.ts'), 'start',
      '--id', slot.id,
      '--data', slot.dataDir,
      '--listen-peer', slot.peerAddress,
      '--listen-client', slot.clientAddress,
      ...(slot.join === null ? ['--peers', this.peersFlag] : ['--join', slot.join.join(','), ...(this.joinUser === null ? [] : nodeJoinUser(this.joinUser).flags)]),
      ...(slot.dialOverrideFlag === '' ? [] : ['--peer-dial-override', slot.dialOverrideFlag]),
      '--tick-ms', String(this.options.tickMs),
      '--election-ticks', String(this.options.electionTicks),
      ...snapshotFlags(this.options.snapshotEntries),
      ...leaseCheckpointFlags(this.options.leaseCheckpointSeconds),
      '--log-level', this.options.logLevel,
      ...(this.options.unsafe ?? []).map((canary) => `--unsafe-${canary}`),
      ...(this.tls === undefined ? [] : nodeTlsFlags(this.tls.dir, slot.id)),
    ];
    appendFileSync(slot.logFile, `--- chaos: starting ${slot.id} (incarnation ${slot.incarnation}) at ${new Date().toISOString()}\n`);
    const log = openSync(slot.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, {
        cwd: projectRoot,
        // Its own process group: a Ctrl-C in the terminal reaches the harness, which stops the
        // nodes itself, instead of every node at once behind its back.
        detached: true,
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          ...((this.options.unsafe ?? []).length > 0 ? { RAFTKV_ENABLE_UNSAFE: '1' } : {}),
          ...(this.joinUser === null ? {} : nodeJoinUser(this.joinUser).env),
        },
      });
    } finally {
      closeSync(log);
    }
    slot.child = child;
    slot.state = 'running';
    slot.exitExpected = false;
    slot.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (!slot.exitExpected) {
          this.exits.push({ id: slot.id, pid: child.pid, code, signal, atMs: nowMs() });
          slot.state = 'crashed';
        }
        slot.child = null;
        slot.exited = null;
        resolve();
      });
    });
    child.once('error', () => {}); // spawn failures also surface as 'exit'
  }

  /** Until the node accepts TCP on its client port; fails fast if its process exits. */
  private async waitUntilListening(slot: NodeSlot, signal: AbortSignal | undefined): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    const deadline = nowMs() + timeoutMs;
    const { host, port } = splitAddress(slot.clientAddress);
    for (;;) {
      if (slot.child === null) {
        throw new Error(`${slot.id} exited while starting; its log ends with:\n${tail(slot.logFile, 20)}`);
      }
      if (await canConnect(host, port, 500)) return;
      if (nowMs() > deadline) {
        throw new DeadlineError(`${slot.id} did not listen on ${slot.clientAddress} within ${timeoutMs} ms; its log ends with:\n${tail(slot.logFile, 20)}`);
      }
      await sleep(100, signal);
    }
  }

  private async waitForProcessState(id: string, pid: number, wanted: (state: string) => boolean, label: string): Promise<void> {
    const deadline = nowMs() + signalDeadlineMs;
    for (;;) {
      const state = processState(pid);
      if (state === null || wanted(state)) return; // null: no /proc here; the signal was sent, trust it
      if (nowMs() > deadline) throw new DeadlineError(`${id} (pid ${pid}) is not ${label} ${signalDeadlineMs} ms after the signal (state ${state})`);
      await sleep(20);
    }
  }

  /** SIGTERM (after SIGCONT: a stopped process cannot handle it), then SIGKILL at the deadline. */
  private async stopNode(slot: NodeSlot): Promise<void> {
    const { child, exited } = slot;
    if (child === null || exited === null) return;
    slot.exitExpected = true;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const graceful = await withDeadline(exited, stopGraceMs, `${slot.id} stopping after SIGTERM`).then(
      () => true,
      () => false,
    );
    if (!graceful) {
      child.kill('SIGKILL');
      await withDeadline(exited, signalDeadlineMs, `${slot.id} (pid ${child.pid}) exiting after SIGKILL`);
    }
    slot.state = 'stopped';
  }
}

/** The state letter of /proc/<pid>/stat (R, S, D, T, t, Z...), or null where there is no /proc. */
export function processState(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, so read after the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === '' ? null : state;
}

/**
 * `count` distinct loopback ports for the nodes to listen on, each held by a listening socket
 * until `release`, so that nothing else in this process is given one meanwhile.
 *
 * They are drawn from below the kernel's ephemeral range when it can tell: a node restarted
 * after kill -9 binds its ports again, and an ephemeral port would sometimes be in use by then
 * as the source port of some outgoing connection (EADDRINUSE). Ports outside the range are only
 * ever taken by an explicit bind.
 */
export async function reservePorts(count: number): Promise<{ ports: number[]; release: () => Promise<void> }> {
  const servers: Server[] = [];
  const release = async (): Promise<void> => {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  };
  const range = nonEphemeralRange();
  try {
    for (let attempt = 0; servers.length < count; attempt++) {
      if (attempt > count * 50) throw new Error(`could not find ${count} free loopback ports`);
      const port = range === null ? 0 : range.low + Math.floor(Math.random() * (range.high - range.low + 1));
      const server = createServer();
      const bound = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (bound) servers.push(server);
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { ports: servers.map((server) => (server.address() as AddressInfo).port), release };
}

/** Ports below the ephemeral range (Linux), or null if the range cannot be read or leaves no room. */
function nonEphemeralRange(): { low: number; high: number } | null {
  try {
    const [first] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (first === undefined || !Number.isInteger(first) || first <= 11_000) return null;
    return { low: 10_000, high: first - 1 };
  } catch {
    return null;
  }
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('missing value');
  return value;
}
