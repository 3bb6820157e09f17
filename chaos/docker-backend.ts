import type { ClientTls } from '../src/client/index.js';
import type { JoinCredentials } from './backend.js';
/**
 * The docker backend: each node is a container of the raftkv image (deploy/), started with
 * testcontainers on a user-defined bridge network of its own, with a fixed address, its data in
 * a bind mount under the run directory, and its output streamed to nodes/<id>.log.
 *
 * - Addresses: the network gets a /24 subnet chosen here (10.213.N.0/24), and node i the fixed
 *   address .(10 + i). A container keeps a fixed address across `docker kill`/start, so peers
 *   name each other by address in --peers, the firewall rules stay valid across restarts, and
 *   clients (the harness, on the host) reach every node at <address>:8001 directly: a Linux host
 *   routes to its bridges, and no port is published (a published port changes on restart).
 *   Nodes listen for peers on <address>:7001 (not 0.0.0.0), so a node that joins a running
 *   cluster announces the address the others must dial.
 * - Membership: spare slots (addresses, data directories) are laid out at creation, and the
 *   firewall knows their addresses, so an added node is on the network with a fixed address and
 *   its links can be cut like any other. No dial override is needed: each container has its
 *   own address, and cuts are rules per address pair.
 * - Data: data/<id>/ of the run directory, mounted at /data. The node runs as the harness's own
 *   uid:gid, so its files belong to whoever runs the harness and can be cleaned up by them.
 * - Faults: kill is SIGKILL of the container (`docker kill`), restart starts the same container
 *   again (same address, same mount), pause and resume are `docker pause`/`docker unpause`
 *   (the cgroup freezer: the node freezes with its connections open), and links are cut by host
 *   iptables rules (link-firewall.ts, which explains what a one-way cut drops).
 * - probe(X, Y) runs node inside X's container (the image has node, and no shell) to dial Y's
 *   peer port from X's address, send the HTTP/2 preface and wait for Y's gRPC server to answer:
 *   the packets take the very path Raft traffic from X to Y takes.
 * - Crashes: a `die` event (Docker's event stream, filtered on this run's label) of a container
 *   the backend did not kill or stop is an unexpected exit.
 *
 * Everything this backend creates carries the label raftkv.chaos.run=<run id>; `stop` removes
 * the containers, the network and the iptables chain, and so does `killAllNow`, synchronously,
 * through the docker and iptables command lines. Ryuk (testcontainers' reaper) is disabled: its
 * image cannot be pulled where no registry is reachable, and the backend cleans up itself.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describeLink, type BackendNodeOptions, type ClusterBackend, type Link, type NodeState, type UnexpectedExit } from './backend.js';
import { http2Preface } from './link-probe.js';
import { LinkFirewall, teardownCommands, type FirewallLayout, type FirewallRunner, type IptablesArgs } from './link-firewall.js';
import { NodeRoster } from './node-roster.js';
import { leaseCheckpointFlags, projectRoot, snapshotFlags } from './process-backend.js';
import { GenericContainer, Wait, getContainerRuntimeClient } from 'testcontainers';
import { nowMs, withDeadline, waitUntil } from './wait.js';
import { nodeTlsFlags } from '../src/shared/tls-flags.js';
import { nodeJoinUser } from '../src/shared/join-user.js';
import { makeChaosCertificates, type ChaosTls } from './tls-material.js';

/** Where a node container sees the run's certificates (read-only). */
const tlsDirInNode = '/tls';

type ContainerRuntimeClient = Awaited<ReturnType<typeof getContainerRuntimeClient>>;
type StartedTestContainer = Awaited<ReturnType<InstanceType<typeof GenericContainer>['start']>>;
type DockerodeContainer = ReturnType<ContainerRuntimeClient['container']['getById']>;

/** The label every container and network of a run carries. */
export const runLabel = 'raftkv.chaos.run';
/** Ports inside every container. */
export const peerPort = 7001;
export const clientPort = 8001;
/** The message `raftkv start` logs once it serves clients: the containers' wait strategy. */
export const servingMessage = /"msg":"node serving"/;

export interface DockerBackendOptions extends BackendNodeOptions {
  /** The node image (deploy/build-image.sh), e.g. raftkv:local. */
  readonly image: string;
}

/** One node: where it lives and, once created, its container. */
interface NodeSlot {
  readonly id: string;
  readonly containerName: string;
  readonly address: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** --join endpoints for a node added to a running cluster; null for the initial nodes. */
  join: readonly string[] | null;
  started: StartedTestContainer | null;
  state: NodeState;
  /** Set before every kill or stop the backend causes; cleared once the node runs again. */
  exitExpected: boolean;
  /** Docker's StartedAt of the current incarnation, ns since the epoch: older die events are ignored. */
  startedAtNs: bigint;
  pid: number | undefined;
  incarnation: number;
  log: Readable | null;
}

const signalDeadlineMs = 10_000;
const stopGraceMs = 5_000;
/** A probe's fixed allowance for `docker exec` and node's own start, on top of its network timeout. */
const probeExecAllowanceMs = 10_000;

/** Why the docker backend cannot run here, with what to do about it. */
export class DockerUnavailableError extends Error {
  override readonly name = 'DockerUnavailableError';
  readonly code = 'ERR_CHAOS_DOCKER_UNAVAILABLE';
}

export class DockerBackend implements ClusterBackend {
  readonly kind = 'docker';

  get clientTls(): ClientTls | undefined {
    return this.tls?.client;
  }

  private tls: ChaosTls | undefined;
  private joinUser: JoinCredentials | null = null;
  readonly runId: string;
  readonly networkName: string;
  readonly subnet: string;
  private readonly options: DockerBackendOptions;
  private readonly client: ContainerRuntimeClient;
  private readonly roster: NodeRoster;
  private readonly slots = new Map<string, NodeSlot>();
  private readonly firewall: LinkFirewall;
  private readonly exits: UnexpectedExit[] = [];
  private readonly logStreams = new Set<WriteStream>();
  private events: Readable | null = null;
  private stopping: Promise<void> | null = null;
  /** Set once `stop` has removed everything: `killAllNow` has nothing left to do. */
  private stopped = false;

  private constructor(options: DockerBackendOptions, client: ContainerRuntimeClient, runId: string, subnet: SubnetChoice, roster: NodeRoster, slots: NodeSlot[]) {
    this.options = options;
    this.client = client;
    this.runId = runId;
    this.networkName = networkNameOf(runId);
    this.subnet = subnet.cidr;
    this.roster = roster;
    for (const slot of slots) this.slots.set(slot.id, slot);
    this.firewall = new LinkFirewall(
      { chain: chainNameOf(runId), subnet: subnet.cidr, addresses: new Map(slots.map((slot) => [slot.id, slot.address])), peerPort },
      iptablesRunner,
    );
  }

  /**
   * Checks that an engine answers, the image exists and iptables can be changed, creates the
   * network and the run's iptables chain, and lays out the directories. Starts no container.
   * Rejects with {@link DockerUnavailableError} when something the backend needs is missing.
   */
  static async create(options: DockerBackendOptions): Promise<DockerBackend> {
    if (!Number.isInteger(options.nodeCount) || options.nodeCount < 1 || options.nodeCount > 9) {
      throw new RangeError(`nodeCount must be in 1..9, got ${options.nodeCount}`);
    }
    const spare = options.spareNodes ?? 0;
    // Addresses .11 up; well inside the /24.
    if (!Number.isInteger(spare) || spare < 0 || options.nodeCount + spare > 200) {
      throw new RangeError(`spareNodes must be an integer in 0..${200 - options.nodeCount} (each membership fault of a plan needs one: shorten the run or leave membership out), got ${spare}`);
    }
    const client = await connectToEngine();
    await requireImage(client, options.image);
    requireIptables();
    mkdirSync(join(options.dir, 'data'), { recursive: true });
    mkdirSync(join(options.dir, 'nodes'), { recursive: true });

    const runId = randomBytes(4).toString('hex');
    const subnet = await createNetwork(client, runId);
    const roster = new NodeRoster(options.nodeCount, spare);
    const ids = roster.allIds;
    const addresses = new Map(ids.map((id, i) => [id, `${subnet.prefix}.${11 + i}`]));
    const slots = ids.map((id): NodeSlot => {
      const address = addresses.get(id) as string;
      const dataDir = join(options.dir, 'data', id);
      return {
        id,
        containerName: `${networkNameOf(runId)}-${id}`,
        address,
        dataDir,
        logFile: join(options.dir, 'nodes', `${id}.log`),
        join: null,
        started: null,
        state: 'stopped',
        exitExpected: false,
        startedAtNs: 0n,
        pid: undefined,
        incarnation: 0,
        log: null,
      };
    });
    const backend = new DockerBackend(options, client, runId, subnet, roster, slots);
    try {
      // Each node's certificate names the address the others dial it at (its slot's).
      if (options.tls === true) backend.tls = await makeChaosCertificates(projectRoot, join(options.dir, 'tls'), ids, [...addresses.values()]);
      await backend.firewall.install();
    } catch (error) {
      await backend.stop();
      throw new DockerUnavailableError(`cannot install the iptables chain ${chainNameOf(runId)} (is Docker's DOCKER-USER chain there?): ${(error as Error).message}`, { cause: error });
    }
    return backend;
  }

  get nodeIds(): readonly string[] {
    return this.roster.current();
  }

  async start(signal?: AbortSignal): Promise<void> {
    try {
      await this.watchEvents();
      await Promise.all(this.roster.initialIds.map((id) => this.startNode(this.slot(id))));
      if (signal?.aborted === true) throw new Error('aborted while starting the nodes');
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  clientEndpoint(id: string): string {
    return `${this.slot(id).address}:${clientPort}`;
  }

  memberAddresses(id: string): { peer: string; client: string } {
    const { address } = this.slot(id);
    return { peer: `${address}:${peerPort}`, client: `${address}:${clientPort}` };
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
      await this.startNode(slot);
      if (signal?.aborted === true) throw new Error(`aborted while starting ${slot.id}`);
    } catch (error) {
      await this.stopNode(slot);
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

  /** The container address of a node. */
  address(id: string): string {
    return this.slot(id).address;
  }

  /** The container name of a node. */
  containerName(id: string): string {
    return this.slot(id).containerName;
  }

  nodeState(id: string): NodeState {
    return this.slot(id).state;
  }

  describeNode(id: string): string {
    const slot = this.slot(id);
    return `${id} container ${slot.containerName} pid ${slot.pid ?? '-'} client ${slot.address}:${clientPort}`;
  }

  async kill(id: string): Promise<void> {
    const slot = this.slot(id);
    if (slot.started === null || (slot.state !== 'running' && slot.state !== 'paused')) throw new Error(`kill ${id}: it is not running (${slot.state})`);
    slot.exitExpected = true;
    const container = this.container(slot);
    await withDeadline(container.kill({ signal: 'SIGKILL' }), signalDeadlineMs, `docker kill ${slot.containerName}`);
    await this.waitForContainer(slot, (state) => !state.Running, 'exited');
    slot.state = 'killed';
    slot.pid = undefined;
  }

  async restart(id: string): Promise<void> {
    const slot = this.slot(id);
    if (slot.started === null) throw new Error(`restart ${id}: it has no container`);
    if (slot.state !== 'killed' && slot.state !== 'crashed') throw new Error(`restart ${id}: it is still running (${slot.state})`);
    if (this.stopping !== null) throw new Error(`cannot restart ${id}: the backend is stopping`);
    slot.incarnation++;
    appendFileSync(slot.logFile, `--- chaos: starting ${slot.id} again (incarnation ${slot.incarnation}) at ${new Date().toISOString()}\n`);
    // Starts the same container (same address, same mount) and waits for the serving message
    // logged since this start.
    await slot.started.restart({ timeout: 0 });
    await this.afterStart(slot);
  }

  async pause(id: string): Promise<void> {
    const slot = this.slot(id);
    if (slot.started === null || slot.state !== 'running') throw new Error(`pause ${id}: it is not running (${slot.state})`);
    slot.state = 'paused';
    await withDeadline(this.container(slot).pause(), signalDeadlineMs, `docker pause ${slot.containerName}`);
    await this.waitForContainer(slot, (state) => state.Paused, 'paused');
  }

  async resume(id: string): Promise<void> {
    const slot = this.slot(id);
    if (slot.started === null || slot.state !== 'paused') throw new Error(`resume ${id}: it is not paused (${slot.state})`);
    await withDeadline(this.container(slot).unpause(), signalDeadlineMs, `docker unpause ${slot.containerName}`);
    await this.waitForContainer(slot, (state) => state.Running && !state.Paused, 'running');
    slot.state = 'running';
  }

  cut(from: string, to: string): Promise<void> {
    return this.firewall.cutLink(this.link(from, to));
  }

  heal(from: string, to: string): Promise<void> {
    return this.firewall.healLink(this.link(from, to));
  }

  healAll(): Promise<void> {
    return this.firewall.healAll();
  }

  cutLinks(): readonly Link[] {
    return this.firewall.cutLinks();
  }

  /**
   * Dials `to`'s peer port from inside `from`'s container. The network part has `timeoutMs`;
   * starting node in the container adds up to a fixed allowance on a loaded machine, so a probe
   * answers within timeoutMs + 10 s. A container that cannot exec (killed, paused) is "not reached".
   */
  async probe(from: string, to: string, timeoutMs: number): Promise<boolean> {
    const source = this.slot(from);
    const target = this.slot(to);
    if (source.started === null || source.state !== 'running') return false;
    try {
      const result = await withDeadline(
        this.client.container.exec(this.container(source), ['node', '-e', probeScript, target.address, String(peerPort), String(timeoutMs)]),
        timeoutMs + probeExecAllowanceMs,
        `the probe ${describeLink({ from, to })}`,
      );
      return result.exitCode === 0 && result.stdout.trim() === 'reached';
    } catch {
      return false;
    }
  }

  logFiles(): ReadonlyMap<string, string> {
    return new Map(this.roster.everMembers().map((id) => [id, this.slot(id).logFile]));
  }

  unexpectedExits(): readonly UnexpectedExit[] {
    return this.exits;
  }

  /**
   * Stops every container (SIGTERM, SIGKILL after 5 s) and removes it, then the network and the
   * iptables chain. Idempotent; never rejects (what could not be removed is reported on stderr).
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const slot of this.slots.values()) slot.exitExpected = true;
      this.events?.destroy();
      this.events = null;
      await Promise.allSettled([...this.slots.values()].map((slot) => this.stopNode(slot)));
      // Whatever a failed start left behind (a container created but not started) goes too.
      await this.removeLabelledContainers();
      for (const log of this.logStreams) log.end();
      this.logStreams.clear();
      await this.firewall.uninstall().catch((error: unknown) => warn(`removing the iptables chain: ${(error as Error).message}`));
      await this.removeNetwork();
      this.stopped = true;
    })();
    return this.stopping;
  }

  /** Synchronous last resort (process 'exit'): force-removes the containers, chain and network. */
  killAllNow(): void {
    if (this.stopped) return;
    for (const slot of this.slots.values()) slot.exitExpected = true;
    const names = [...this.slots.values()].filter((slot) => slot.incarnation > 0).map((slot) => slot.containerName);
    if (names.length > 0) runSync('docker', ['rm', '--force', '--volumes', ...names]);
    for (const args of teardownCommands(this.firewallLayout())) runSync('iptables', args);
    runSync('docker', ['network', 'rm', this.networkName]);
  }

  // ---------------------------------------------------------------------------------------

  private slot(id: string): NodeSlot {
    const slot = this.slots.get(id);
    if (slot === undefined) throw new Error(`no node ${id} (nodes: ${this.nodeIds.join(', ')})`);
    return slot;
  }

  private link(from: string, to: string): Link {
    this.slot(from);
    this.slot(to);
    if (from === to) throw new Error(`no link from ${from} to itself`);
    return { from, to };
  }

  private container(slot: NodeSlot): DockerodeContainer {
    if (slot.started === null) throw new Error(`${slot.id} has no container`);
    return this.client.container.getById(slot.started.getId());
  }

  private firewallLayout(): FirewallLayout {
    return {
      chain: chainNameOf(this.runId),
      subnet: this.subnet,
      addresses: new Map([...this.slots.values()].map((slot) => [slot.id, slot.address])),
      peerPort,
    };
  }

  private async startNode(slot: NodeSlot): Promise<void> {
    if (this.stopping !== null) throw new Error(`cannot start ${slot.id}: the backend is stopping`);
    slot.incarnation++;
    appendFileSync(slot.logFile, `--- chaos: starting ${slot.id} (incarnation ${slot.incarnation}) at ${new Date().toISOString()}\n`);
    const unsafe = (this.options.unsafe ?? []).length > 0;
    mkdirSync(slot.dataDir, { recursive: true });
    const container = new NodeContainer(this.options.image)
      .onNetwork(this.networkName, slot.address, [slot.id])
      .withName(slot.containerName)
      .withHostname(slot.id)
      .withLabels({ [runLabel]: this.runId, 'raftkv.chaos.node': slot.id })
      .withUser(hostUser())
      .withBindMounts([
        { source: slot.dataDir, target: '/data', mode: 'rw' },
        ...(this.tls === undefined ? [] : [{ source: this.tls.dir, target: tlsDirInNode, mode: 'ro' as const }]),
      ])
      .withEnvironment({ ...(unsafe ? { RAFTKV_ENABLE_UNSAFE: '1' } : {}), ...(this.joinUser === null ? {} : nodeJoinUser(this.joinUser).env) })
      .withCommand(this.command(slot))
      .withWaitStrategy(Wait.forLogMessage(servingMessage))
      .withStartupTimeout(this.options.startTimeoutMs ?? 60_000);
    try {
      slot.started = await container.start();
    } catch (error) {
      const logs = await this.containerLogs(slot.containerName);
      throw new Error(`${slot.id} did not start: ${(error as Error).message}${logs === '' ? '' : `; its output ends with:\n${logs}`}`, { cause: error });
    }
    await this.afterStart(slot);
  }

  /** `raftkv start` for a slot: the initial nodes with --peers (every initial node's address), added ones with --join. */
  private command(slot: NodeSlot): string[] {
    const { options } = this;
    const peers = this.roster.initialIds.map((id) => `${id}=${this.slot(id).address}:${peerPort}`).join(',');
    return [
      'start',
      '--id', slot.id,
      '--data', '/data',
      '--listen-peer', `${slot.address}:${peerPort}`,
      '--listen-client', `0.0.0.0:${clientPort}`,
      '--advertise-client', `${slot.address}:${clientPort}`,
      ...(slot.join === null ? ['--peers', peers] : ['--join', slot.join.join(','), ...(this.joinUser === null ? [] : nodeJoinUser(this.joinUser).flags)]),
      '--tick-ms', String(options.tickMs),
      '--election-ticks', String(options.electionTicks),
      ...snapshotFlags(options.snapshotEntries),
      ...leaseCheckpointFlags(options.leaseCheckpointSeconds),
      '--log-level', options.logLevel,
      ...(options.unsafe ?? []).map((canary) => `--unsafe-${canary}`),
      ...(this.tls === undefined ? [] : nodeTlsFlags(tlsDirInNode, slot.id)),
    ];
  }

  /** Records the new incarnation's start time and PID, and follows its output into the log file. */
  private async afterStart(slot: NodeSlot): Promise<void> {
    const info = await this.container(slot).inspect();
    slot.startedAtNs = parseDockerTimeNs(info.State.StartedAt);
    slot.pid = info.State.Pid;
    slot.state = 'running';
    slot.exitExpected = false;
    const started = slot.started as StartedTestContainer;
    // Docker keeps every incarnation's output; ask for this one's only.
    const stream = await started.logs({ since: Number(slot.startedAtNs / 1000n) / 1e6 });
    const file = createWriteStream(slot.logFile, { flags: 'a' });
    this.logStreams.add(file);
    slot.log = stream;
    stream.pipe(file);
    stream.once('end', () => this.logStreams.delete(file));
  }

  private async waitForContainer(slot: NodeSlot, wanted: (state: ContainerStateInfo) => boolean, label: string): Promise<void> {
    const container = this.container(slot);
    await waitUntil(
      `${slot.id} (${slot.containerName}) ${label}`,
      async () => ((wanted((await container.inspect()).State as ContainerStateInfo)) ? true : undefined),
      { timeoutMs: signalDeadlineMs, intervalMs: 50 },
    );
  }

  /** Docker's event stream, filtered on this run: a die event nobody caused is a crash. */
  private async watchEvents(): Promise<void> {
    const stream = (await this.client.container.dockerode.getEvents({
      filters: JSON.stringify({ type: ['container'], event: ['die'], label: [`${runLabel}=${this.runId}`] }),
    })) as Readable;
    this.events = stream;
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') this.onEvent(line);
      }
    });
    stream.on('error', () => {});
  }

  private onEvent(line: string): void {
    let event: DockerEvent;
    try {
      event = JSON.parse(line) as DockerEvent;
    } catch {
      return;
    }
    const nodeId = event.Actor?.Attributes?.['raftkv.chaos.node'];
    const slot = nodeId === undefined ? undefined : this.slots.get(nodeId);
    if (slot === undefined || event.Action !== 'die') return;
    const atNs = BigInt(event.timeNano ?? 0);
    // A late event of an earlier incarnation, or an exit the backend caused.
    if (slot.exitExpected || atNs < slot.startedAtNs) return;
    const code = Number(event.Actor?.Attributes?.exitCode ?? NaN);
    this.exits.push({ id: slot.id, pid: slot.pid, code: Number.isFinite(code) ? code : null, signal: null, atMs: nowMs() });
    slot.state = 'crashed';
    appendFileSync(slot.logFile, `--- chaos: ${slot.id} exited on its own (exit code ${code}) at ${new Date().toISOString()}\n`);
  }

  /** SIGTERM (after unpausing: a frozen process cannot handle it), then SIGKILL at the deadline; then removal. */
  private async stopNode(slot: NodeSlot): Promise<void> {
    const started = slot.started;
    if (started === null) return;
    slot.exitExpected = true;
    try {
      if (slot.state === 'paused') await this.container(slot).unpause().catch(() => {});
      await withDeadline(started.stop({ timeout: stopGraceMs, remove: true, removeVolumes: true }), stopGraceMs + signalDeadlineMs, `stopping ${slot.containerName}`);
    } catch (error) {
      warn(`stopping ${slot.containerName}: ${(error as Error).message}`);
    }
    slot.started = null;
    slot.state = 'stopped';
    slot.pid = undefined;
  }

  private async removeLabelledContainers(): Promise<void> {
    try {
      const containers = await this.client.container.dockerode.listContainers({ all: true, filters: JSON.stringify({ label: [`${runLabel}=${this.runId}`] }) });
      await Promise.allSettled(containers.map((info) => this.client.container.getById(info.Id).remove({ force: true, v: true })));
    } catch (error) {
      warn(`listing this run's containers: ${(error as Error).message}`);
    }
  }

  private async removeNetwork(): Promise<void> {
    try {
      await this.client.container.dockerode.getNetwork(this.networkName).remove();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) warn(`removing the network ${this.networkName}: ${(error as Error).message}`);
    }
  }

  private async containerLogs(name: string): Promise<string> {
    try {
      const buffer = (await this.client.container.dockerode.getContainer(name).logs({ stdout: true, stderr: true, follow: false, tail: 20 })) as unknown as Buffer;
      return demuxText(buffer);
    } catch {
      return '';
    }
  }
}

/** A GenericContainer attached at creation to a network with a fixed address and aliases. */
class NodeContainer extends GenericContainer {
  onNetwork(network: string, address: string, aliases: readonly string[]): this {
    this.hostConfig.NetworkMode = network;
    this.createOpts.NetworkingConfig = {
      EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: address }, Aliases: [...aliases] } },
    };
    return this;
  }
}

interface ContainerStateInfo {
  readonly Running: boolean;
  readonly Paused: boolean;
}

interface DockerEvent {
  readonly Action?: string;
  readonly timeNano?: number;
  readonly Actor?: { readonly Attributes?: Record<string, string> };
}

interface SubnetChoice {
  /** "10.213.7" */
  readonly prefix: string;
  /** "10.213.7.0/24" */
  readonly cidr: string;
}

/** "raftkv-chaos-<run id>" */
function networkNameOf(runId: string): string {
  return `raftkv-chaos-${runId}`;
}

/** "RAFTKV-<run id>": 15 characters, within iptables' 28. */
function chainNameOf(runId: string): string {
  return `RAFTKV-${runId}`;
}

async function connectToEngine(): Promise<ContainerRuntimeClient> {
  // testcontainers reads this when it first needs its reaper (Ryuk), whose image cannot be
  // pulled where no registry is reachable; this backend removes what it creates itself.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  try {
    return await getContainerRuntimeClient();
  } catch (error) {
    throw new DockerUnavailableError(
      `no Docker engine answers (${(error as Error).message}); start one with \`deploy/docker-engine.sh start\` (it installs Debian's docker.io if dockerd is missing)`,
      { cause: error },
    );
  }
}

async function requireImage(client: ContainerRuntimeClient, image: string): Promise<void> {
  try {
    await client.container.dockerode.getImage(image).inspect();
  } catch (error) {
    throw new DockerUnavailableError(
      `the node image ${image} is not there (${(error as Error).message}); build it with \`deploy/make-base-image.sh && deploy/build-image.sh ${image} raftkv-base:local\``,
      { cause: error },
    );
  }
}

/**
 * Whether the docker backend can run here: an engine answers, the image is there, and iptables
 * can be changed. Rejects with {@link DockerUnavailableError} saying what is missing and how to
 * get it. For suites that must fail, not skip, without Docker.
 */
export async function dockerPreflight(image: string): Promise<void> {
  const client = await connectToEngine();
  await requireImage(client, image);
  requireIptables();
}

/** iptables needs CAP_NET_ADMIN (in practice, root) and Docker's DOCKER-USER chain. */
function requireIptables(): void {
  if (process.getuid?.() !== 0) {
    throw new DockerUnavailableError('the docker backend cuts links with host iptables rules and must run as root');
  }
  try {
    execFileSync('iptables', ['-w', '-L', 'DOCKER-USER', '-n'], { stdio: 'pipe', timeout: 30_000 });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
    throw new DockerUnavailableError(`iptables has no DOCKER-USER chain (${stderr}): the engine must run with its iptables rules on (the default)`, { cause: error });
  }
}

/**
 * A user-defined bridge network on a /24 of 10.213.0.0/16 that neither Docker nor a host
 * interface uses (Docker refuses overlapping subnets: another one is tried).
 */
async function createNetwork(client: ContainerRuntimeClient, runId: string): Promise<SubnetChoice> {
  const taken = new Set(
    Object.values(networkInterfaces())
      .flat()
      .flatMap((info) => (info?.family === 'IPv4' ? [info.address.split('.').slice(0, 3).join('.')] : [])),
  );
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    const prefix = `10.213.${randomBytes(1)[0]}`;
    if (taken.has(prefix)) continue;
    const cidr = `${prefix}.0/24`;
    try {
      await client.network.create({
        Name: networkNameOf(runId),
        CheckDuplicate: true,
        Driver: 'bridge',
        IPAM: { Driver: 'default', Config: [{ Subnet: cidr, Gateway: `${prefix}.1` }] },
        Labels: { [runLabel]: runId },
      });
      return { prefix, cidr };
    } catch (error) {
      lastError = error;
      if (!/overlap/i.test((error as Error).message)) break;
    }
  }
  throw new DockerUnavailableError(`cannot create the network ${networkNameOf(runId)}: ${(lastError as Error | undefined)?.message ?? 'no free subnet'}`, { cause: lastError });
}

/** "uid:gid" of this process: the nodes' files belong to whoever runs the harness. */
function hostUser(): string {
  return `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
}

/** Docker's RFC 3339 time with nanoseconds, as ns since the epoch. */
export function parseDockerTimeNs(text: string): bigint {
  const match = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (match === null) throw new Error(`not a Docker time: "${text}"`);
  const wholeMs = Date.parse(`${match[1]}${match[3]}`);
  if (!Number.isFinite(wholeMs)) throw new Error(`not a Docker time: "${text}"`);
  const fraction = BigInt((match[2] ?? '').padEnd(9, '0'));
  return BigInt(wholeMs) * 1_000_000n + fraction;
}

/** The text of a non-TTY container's multiplexed output (8-byte frame headers). */
function demuxText(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * What runs inside a node's container for a probe: dial host:port, send the HTTP/2 preface,
 * print "reached" if any byte comes back within the timeout (see link-probe.ts).
 */
const probeScript = `
const net = require('node:net');
const [host, port, timeoutMs] = process.argv.slice(1);
const hello = Buffer.from('${http2Preface.toString('base64')}', 'base64');
const socket = net.connect({ host, port: Number(port) });
const done = (word) => { process.stdout.write(word + '\\n', () => process.exit(word === 'reached' ? 0 : 1)); };
setTimeout(() => done('timeout'), Number(timeoutMs)).unref();
socket.on('connect', () => socket.write(hello));
socket.on('data', () => done('reached'));
socket.on('error', (error) => done('error ' + error.code));
socket.on('close', () => done('closed'));
`;

/** Runs iptables and iptables-restore (waiting for the xtables lock Docker also takes). */
const iptablesRunner: FirewallRunner = {
  iptables: (args: IptablesArgs) => run('iptables', args),
  restore: (input: string) => run('iptables-restore', ['-w', '--noflush'], input),
};

function run(command: string, args: readonly string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (input === undefined) {
      execFile(command, [...args], { timeout: 30_000 }, (error, _stdout, stderr) => {
        if (error === null) resolve();
        else reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      });
      return;
    }
    const child = spawn(command, [...args], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    timer.unref();
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${error.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim()}\ninput:\n${input}`));
    });
    child.stdin.end(input);
  });
}

function runSync(command: string, args: readonly string[]): void {
  try {
    execFileSync(command, [...args], { stdio: 'ignore', timeout: 15_000 });
  } catch {
    // Already gone, or nothing more can be done from an exit handler.
  }
}

function warn(message: string): void {
  process.stderr.write(`chaos: docker backend: ${message}\n`);
}
