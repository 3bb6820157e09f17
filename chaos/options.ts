/**
 * The settings of one chaos run, and their parsing from the command line. Every problem names
 * the flag it comes from; main.ts turns one into exit code 2.
 */
import { parseArgs } from 'node:util';
import { unsafeCanaries, type UnsafeCanary } from './backend.js';
import { parseNemesis, type FaultKind } from './nemesis.js';
import { workloadNames, type WorkloadName } from './workloads/workload.js';


export const backendKinds = ['process', 'docker'] as const;
export type BackendKind = (typeof backendKinds)[number];

/** The node image the docker backend runs unless --image says otherwise (deploy/build-image.sh). */
export const defaultImage = 'raftkv:local';

export interface ChaosConfig {
  readonly backend: BackendKind;
  /** docker backend: the node image. */
  readonly image: string;
  readonly nodes: number;
  readonly nemesis: readonly FaultKind[];
  /** As given, for the report ("all", "kill,pause"). */
  readonly nemesisText: string;
  readonly durationMs: number;
  readonly clients: number;
  readonly seed: number;
  /** null: a fresh directory under the system temp dir. */
  readonly outDir: string | null;
  readonly workload: WorkloadName;
  readonly keys: number;
  /** Target steps per second per client. */
  readonly ratePerClient: number;
  /** The run fails if fewer operations completed (ok or fail). */
  readonly minOps: number;
  /** After the last heal, the workload runs at least this long and every client must succeed in it. */
  readonly recoveryMs: number;
  /** No fault in the first part of the run. */
  readonly warmupMs: number;
  readonly holdMsMin: number;
  readonly holdMsMax: number;
  readonly gapMsMin: number;
  readonly gapMsMax: number;
  readonly opTimeoutMs: number;
  readonly attemptTimeoutMs: number;
  readonly transport: 'stream' | 'unary';
  readonly tickMs: number;
  readonly electionTicks: number;
  /**
   * Nodes snapshot and compact every this many entries (keeping a quarter as the tail), far
   * below the production default, so that a node killed or cut off falls behind the log and
   * comes back through InstallSnapshot within a run.
   */
  readonly snapshotEntries: number;
  /**
   * Leaders checkpoint leases every this many seconds, far below the production default (300),
   * so that the lease workload's leases (a few seconds long) are checkpointed, and their
   * checkpoints cleared by keep-alives, under the faults.
   */
  readonly leaseCheckpointSeconds: number;
  /** Budget of the linearizability check. */
  readonly checkTimeLimitMs: number;
  /**
   * TEST ONLY, the canaries: nodes break linearizability on purpose (reads without ReadIndex,
   * writes acknowledged before they commit), and the run should then fail.
   */
  readonly unsafe: readonly UnsafeCanary[];
  readonly nodeLogLevel: 'info' | 'debug' | 'warn';
  /** Nodes run with mutual TLS between members and client certificates required (`raftkv certs init` in the run's directory). */
  readonly tls: boolean;
  /**
   * Authentication on (chaos/auth-setup.ts): a root user, a role and a user for the workload,
   * `auth enable`; workload clients call as that user, the harness as root.
   */
  readonly auth: boolean;
}

/** Defaults for everything but what a caller must choose; `minOps` follows duration and clients. */
export function chaosConfig(overrides: Partial<ChaosConfig> & Pick<ChaosConfig, 'seed'>): ChaosConfig {
  const durationMs = overrides.durationMs ?? 60_000;
  const clients = overrides.clients ?? 5;
  return {
    backend: 'process',
    image: defaultImage,
    nodes: 3,
    nemesis: [],
    nemesisText: overrides.nemesis === undefined ? 'none' : overrides.nemesis.join(','),
    durationMs,
    clients,
    outDir: null,
    workload: 'register',
    keys: 8,
    ratePerClient: 20,
    minOps: defaultMinOps(durationMs, clients),
    recoveryMs: 5000,
    warmupMs: 2000,
    holdMsMin: 2000,
    holdMsMax: 5000,
    gapMsMin: 1000,
    gapMsMax: 2000,
    opTimeoutMs: 2000,
    attemptTimeoutMs: 1000,
    transport: 'stream',
    tickMs: 50,
    electionTicks: 10,
    snapshotEntries: 200,
    leaseCheckpointSeconds: 1,
    checkTimeLimitMs: 120_000,
    unsafe: [],
    nodeLogLevel: 'info',
    tls: false,
    auth: false,
    ...overrides,
  };
}

/** One completed operation per client per second of the run: far below a healthy rate. */
export function defaultMinOps(durationMs: number, clients: number): number {
  return Math.max(20, Math.floor((durationMs / 1000) * clients));
}

export const usage = `usage: npm run chaos -- --backend docker|process --nodes 3|5 --nemesis NAME[,NAME] --duration SECONDS
                       --clients N --seed S [--out DIR] [options]

  --backend docker|process where nodes run (default process): containers on a Docker network,
                           links cut by host iptables rules (root, a running engine and the
                           image: see chaos/README.md), or local processes behind proxies
  --image NAME             docker backend: the node image (default ${defaultImage})
  --nodes 3|5              cluster size (default 3)
  --nemesis NAMES          comma-separated faults, or all, or none (default all):
                           partition-leader, partition-half, partition-bridge, partition-ring,
                           kill, kill-majority, pause, membership (replace a node, or add
                           a learner, promote it and remove another: the size stays)
  --duration SECONDS       workload time, 10..3600 (default 60); faults end --recovery before it
  --clients N              concurrent clients, 1..64 (default 5)
  --seed S                 integer 0..4294967295 (default: random, printed)
  --out DIR                history, node logs and report (default: a new temp directory)
  --workload NAME          register (get/put/cas), append, txn (transfers between accounts in
                           multi-key transactions; --keys accounts, at least 2), or watch (puts
                           under 3 prefixes, --keys keys each, watched by resuming SDK watchers
                           whose events are checked against the puts) (default register)
  --keys N                 keys the clients share, 1..1000 (default 8)
  --rate N                 steps per second per client, 1..1000 (default 20)
  --min-ops N              fail below this many completed ops (default max(20, duration x clients))
  --recovery SECONDS       fault-free time at the end in which every client must succeed (default 5)
  --hold MIN-MAX           seconds each fault holds (default 2-5)
  --transport stream|unary how the SDK talks to nodes (default stream)
  --tls                    mutual TLS between the nodes, client certificates required (certificates made in the run's directory)
  --auth                   authentication on: the workload calls as a user with readwrite on its keys only, the harness as root
  --tick-ms MS             Raft tick of the nodes (default 50; election timeout is 10 ticks)
  --snapshot-entries N     nodes snapshot every N entries, keeping N/4 (default 200, so that
                           nodes that fall behind catch up through InstallSnapshot)
  --lease-checkpoint-seconds N  leaders checkpoint leases every N seconds (default 1, so the lease
                           workload's leases are checkpointed under faults; 0: never)
  --check-seconds N        time budget of the linearizability check (default 120)
  --unsafe-stale-reads     TEST ONLY: nodes skip ReadIndex; the run is expected to fail
  --unsafe-ack-before-commit  TEST ONLY: nodes acknowledge writes before commit; expected to fail
  -h, --help`;

export type ParseResult =
  | { readonly kind: 'config'; readonly config: ChaosConfig }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** Parses the arguments after `chaos/main.ts`. Pure apart from drawing a seed when none is given. */
export function parseChaosArgs(argv: readonly string[], randomSeed: () => number = () => Math.floor(Math.random() * 2 ** 32)): ParseResult {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        backend: { type: 'string' },
        image: { type: 'string' },
        nodes: { type: 'string' },
        nemesis: { type: 'string' },
        duration: { type: 'string' },
        clients: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        workload: { type: 'string' },
        keys: { type: 'string' },
        rate: { type: 'string' },
        'min-ops': { type: 'string' },
        recovery: { type: 'string' },
        hold: { type: 'string' },
        transport: { type: 'string' },
        'tick-ms': { type: 'string' },
        'snapshot-entries': { type: 'string' },
        'lease-checkpoint-seconds': { type: 'string' },
        'check-seconds': { type: 'string' },
        'unsafe-stale-reads': { type: 'boolean' },
        'unsafe-ack-before-commit': { type: 'boolean' },
        tls: { type: 'boolean' },
        auth: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  try {
    const backendText = str(values, 'backend') ?? 'process';
    const backend = backendKinds.find((kind) => kind === backendText);
    if (backend === undefined) throw new FlagError('backend', `must be one of ${backendKinds.join(', ')}, got "${backendText}"`);
    const image = str(values, 'image') ?? defaultImage;
    if (values.image !== undefined && backend !== 'docker') throw new FlagError('image', 'only the docker backend runs an image (add --backend docker)');
    if (!/^[\w][\w.\-/:@]*$/.test(image)) throw new FlagError('image', `not an image name: "${image}"`);
    const nodes = integer(values, 'nodes', 3, 3, 5);
    if (nodes !== 3 && nodes !== 5) throw new FlagError('nodes', `must be 3 or 5, got "${String(values.nodes)}"`);
    const nemesisText = str(values, 'nemesis') ?? 'all';
    const nemesis = parseNemesis(nemesisText);
    if (!Array.isArray(nemesis)) throw new FlagError('nemesis', (nemesis as { error: string }).error);
    const durationMs = integer(values, 'duration', 60, 10, 3600) * 1000;
    const clients = integer(values, 'clients', 5, 1, 64);
    const seed = values.seed === undefined ? randomSeed() : integer(values, 'seed', 0, 0, 0xffffffff);
    const workload = str(values, 'workload') ?? 'register';
    const workloadName = workloadNames.find((name) => name === workload);
    if (workloadName === undefined) throw new FlagError('workload', `must be one of ${workloadNames.join(', ')}, got "${workload}"`);
    const keys = integer(values, 'keys', 8, 1, 1000);
    if (workloadName === 'txn' && keys < 2) throw new FlagError('keys', `the txn workload moves units between accounts: at least 2, got ${keys}`);
    const recoveryMs = integer(values, 'recovery', 5, 1, 600) * 1000;
    if (recoveryMs + 2000 >= durationMs) throw new FlagError('recovery', `must leave room for faults: ${recoveryMs / 1000} s of a ${durationMs / 1000} s run`);
    const [holdMin, holdMax] = range(values, 'hold', [2, 5], 1, 600);
    const transport = str(values, 'transport') ?? 'stream';
    if (transport !== 'stream' && transport !== 'unary') throw new FlagError('transport', `must be stream or unary, got "${transport}"`);
    const outDir = str(values, 'out') ?? null;
    if (outDir === '') throw new FlagError('out', 'must not be empty');
    return {
      kind: 'config',
      config: chaosConfig({
        backend,
        image,
        nodes,
        nemesis,
        nemesisText,
        durationMs,
        clients,
        seed,
        outDir,
        workload: workloadName,
        keys,
        ratePerClient: integer(values, 'rate', 20, 1, 1000),
        minOps: integer(values, 'min-ops', defaultMinOps(durationMs, clients), 0, 1_000_000_000),
        recoveryMs,
        holdMsMin: holdMin * 1000,
        holdMsMax: holdMax * 1000,
        transport,
        tickMs: integer(values, 'tick-ms', 50, 5, 1000),
        snapshotEntries: integer(values, 'snapshot-entries', 200, 4, 1_000_000_000),
        leaseCheckpointSeconds: integer(values, 'lease-checkpoint-seconds', 1, 0, 86_400),
        checkTimeLimitMs: integer(values, 'check-seconds', 120, 1, 3600) * 1000,
        unsafe: unsafeCanaries.filter((canary) => values[`unsafe-${canary}`] === true),
        tls: values.tls === true,
        auth: values.auth === true,
      }),
    };
  } catch (error) {
    if (error instanceof FlagError) return { kind: 'error', message: error.message };
    throw error;
  }
}

class FlagError extends Error {
  override readonly name = 'FlagError';

  constructor(flag: string, problem: string) {
    super(`--${flag}: ${problem}`);
  }
}

function str(values: Record<string, string | boolean | undefined>, flag: string): string | undefined {
  const value = values[flag];
  return typeof value === 'string' ? value : undefined;
}

function integer(values: Record<string, string | boolean | undefined>, flag: string, fallback: number, min: number, max: number): number {
  const text = str(values, flag);
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new FlagError(flag, `must be an integer in ${min}..${max}, got "${text}"`);
  return value;
}

function range(values: Record<string, string | boolean | undefined>, flag: string, fallback: [number, number], min: number, max: number): [number, number] {
  const text = str(values, flag);
  if (text === undefined) return fallback;
  const match = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  const low = match === null ? NaN : Number(match[1]);
  const high = match === null ? NaN : Number(match[2] ?? match[1]);
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || low < min || high > max || high < low) {
    throw new FlagError(flag, `must be MIN-MAX seconds with ${min} <= MIN <= MAX <= ${max}, got "${text}"`);
  }
  return [low, high];
}
