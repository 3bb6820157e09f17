import type { ClientTls } from '../src/client/index.js';

/** A user and password a joining node adds itself as. */
export interface JoinCredentials {
  readonly user: string;
  readonly password: string;
}

/** The test-only unsafe behaviours of `raftkv start` (its --unsafe-* flags). */
export const unsafeCanaries = ['stale-reads', 'ack-before-commit'] as const;
export type UnsafeCanary = (typeof unsafeCanaries)[number];

/**
 * What the nemesis and the run need from a cluster, whatever runs the nodes: local processes
 * behind harness-owned proxies (process-backend.ts) or containers (a docker backend, later).
 *
 * Contract, for every implementation:
 * - Node ids: "n1".."nN" at the start; `addNode` brings in a fresh id from a spare slot laid out
 *   at creation ("n(N+1)"...), `removeNode` retires one for good. `nodeIds` is always the
 *   current members; fault methods take ids from it.
 * - Every async method finishes or rejects within its own deadline, stated per method; none
 *   waits on the cluster's Raft state (that is the observer's job, cluster-observer.ts).
 * - `kill`, `pause`, `resume` and `restart` resolve only once the fault is in effect as far as
 *   the operating system is concerned (process gone, process stopped, process running).
 * - Links are directed: `cut(from, to)` stops what `from` sends to `to`; a symmetric partition
 *   cuts both directions. Client traffic is never cut: clients reach every live node.
 * - `stop` ends every node and releases every resource; it is idempotent and safe to call after
 *   any failure, including from a SIGINT handler.
 */
export interface ClusterBackend {
  readonly kind: 'process' | 'docker';
  /** The TLS settings the harness's clients need, when the nodes run with TLS. */
  readonly clientTls: ClientTls | undefined;
  /** The nodes that are members now, in slot order. */
  readonly nodeIds: readonly string[];

  /** Starts every node. Rejects (after stopping what it started) if one cannot start. */
  start(signal?: AbortSignal): Promise<void>;

  /** The client address ("host:port") of a node. */
  clientEndpoint(id: string): string;

  /** The addresses the cluster's address book should hold for a node: what the others dial, and where clients go. */
  memberAddresses(id: string): { readonly peer: string; readonly client: string };

  /** How many more nodes `addNode` can start. */
  spareNodes(): number;

  /** The id the next `addNode` will use (its addresses are known already), or null when no slot is left. */
  nextNodeId(): string | null;

  /**
   * Starts a fresh node from the next spare slot on an empty data directory with
   * `raftkv start --join <join>` (client endpoints of current members): it adds itself to the
   * cluster. Resolves with its id once it listens for clients (not once it is a member).
   * Every other node can already reach it, and links to and from it can be cut.
   */
  addNode(join: readonly string[], signal?: AbortSignal): Promise<string>;

  /**
   * The user nodes added from now on join as (`--join-user`, the password in the node's
   * environment, never on its command line): the cluster has auth on, and adding a member
   * needs root. Null: join anonymously.
   */
  setJoinUser(credentials: JoinCredentials | null): void;

  /**
   * Stops a node that was removed from the cluster (SIGTERM, then SIGKILL at a deadline) and
   * retires its slot: it leaves `nodeIds`, its log stays in `logFiles`.
   */
  removeNode(id: string): Promise<void>;

  /** What the node is now, as far as the backend knows. */
  nodeState(id: string): NodeState;

  /** One line for logs: "n1 pid 4242 client 127.0.0.1:20848". */
  describeNode(id: string): string;

  /** SIGKILL: the node loses everything it had not made durable. Resolves when it is gone. */
  kill(id: string): Promise<void>;

  /** Starts a killed node again on the same data. Resolves when its process runs (not when it serves). */
  restart(id: string): Promise<void>;

  /** SIGSTOP (docker: the cgroup freezer): the node freezes with its connections open. Resolves when it is stopped. */
  pause(id: string): Promise<void>;

  /** SIGCONT. Resolves when it runs again. */
  resume(id: string): Promise<void>;

  /** Stops what `from` sends to `to`, open connections included. Resolves once the cut is in effect. */
  cut(from: string, to: string): Promise<void>;

  /** Lets `from` reach `to` again. Resolves once the link is open (connections may still be re-establishing). */
  heal(from: string, to: string): Promise<void>;

  /** Heals every link. */
  healAll(): Promise<void>;

  /** The directed links cut now. */
  cutLinks(): readonly Link[];

  /**
   * Whether something sent from `from` reaches `to` now, end to end (see link-probe.ts).
   * Never rejects; answers within `timeoutMs`.
   */
  probe(from: string, to: string, timeoutMs: number): Promise<boolean>;

  /** Where each node's output is kept, for the report: every node that ever ran, removed ones included. */
  logFiles(): ReadonlyMap<string, string>;

  /** Exits the backend did not cause (crashes), in order; the run fails on any. */
  unexpectedExits(): readonly UnexpectedExit[];

  /** Stops every node (gracefully, then SIGKILL at its deadline) and closes every link. */
  stop(): Promise<void>;

  /** Last resort from a process 'exit' handler: SIGKILL every node now, synchronously. */
  killAllNow(): void;
}

/** How every backend runs its nodes (each backend adds what is its own). */
export interface BackendNodeOptions {
  readonly nodeCount: number;
  /** Holds data/<id>/ and nodes/<id>.log; created if missing. */
  readonly dir: string;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** Passed to the nodes as --snapshot-entries, with a quarter of it as --snapshot-retain-entries. */
  readonly snapshotEntries?: number;
  /** Passed to the nodes as --lease-checkpoint-interval (seconds). */
  readonly leaseCheckpointSeconds?: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** TEST ONLY: start nodes with these --unsafe-* flags (and RAFTKV_ENABLE_UNSAFE=1), to check that the harness catches them. */
  readonly unsafe?: readonly UnsafeCanary[];
  /** How long a node may take to serve clients after its process or container starts. */
  readonly startTimeoutMs?: number;
  /** Node slots laid out beyond nodeCount for nodes the membership fault adds (default 0). */
  readonly spareNodes?: number;
  /** Mutual TLS between members and client certificates required, from certificates the backend makes under `dir`/tls. */
  readonly tls?: boolean;
}

/** A directed link: what `from` sends to `to`. */
export interface Link {
  readonly from: string;
  readonly to: string;
}

export type NodeState = 'running' | 'paused' | 'killed' | 'stopped' | 'crashed';

export interface UnexpectedExit {
  readonly id: string;
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Harness clock (performance.now) when the exit was seen. */
  readonly atMs: number;
}

/** "n1->n2", the one spelling of a link in logs and reports. */
export function describeLink(link: Link): string {
  return `${link.from}->${link.to}`;
}
