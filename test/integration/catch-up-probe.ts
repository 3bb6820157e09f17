/**
 * Measures how long a catch-up holds the nodes' event loops, on real processes: a follower is
 * stopped while the others take `--entries` writes, then restarted; while it catches up every
 * node's Status is polled and the worst loop delay each reports is kept. `--load N` runs N
 * busy-loop processes meanwhile (started and stopped by PID), to mimic a loaded machine.
 *
 *   npx tsx test/integration/catch-up-probe.ts --entries 10000 [--value-bytes 256] [--load 2] [-- <raftkv start flags>]
 *
 * Prints one JSON line: per node, its role and worst delay during the catch-up, and how long
 * the catch-up took. Also used by catch-up.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, waitFor } from './process-cluster.js';
import { logLines, putMany } from './snapshot-helpers.js';

export interface CatchUpProbeOptions {
  readonly entries: number;
  readonly valueBytes: number;
  /** Busy-loop processes running during the catch-up (and the writes before it). */
  readonly load: number;
  readonly extraArgs: readonly string[];
  readonly timeoutMs: number;
  /** Write a CPU profile of every node here (nodes then stop gracefully, so the profiles are written). */
  readonly profileDir?: string;
}

export interface CatchUpProbeResult {
  readonly entries: number;
  readonly load: number;
  readonly leader: string;
  readonly follower: string;
  /** From the follower's restart until every node applied the same index. */
  readonly catchUpMs: number;
  /** Whether the follower caught up through InstallSnapshot. */
  readonly snapshot: boolean;
  /** Worst loop delay each running node reported over the window just before the restart (noise), in ms. */
  readonly baselineMs: Record<string, number>;
  /** Worst loop delay each node reported during the catch-up, in ms. */
  readonly worstDelayMs: Record<string, number>;
  /** Stalls (delays above the node's threshold) each node counted during the catch-up. */
  readonly stalls: Record<string, number>;
  /** The leader changed during the catch-up. */
  readonly leaderChanged: boolean;
  /** The longest stalls each node logged during the catch-up ("event loop stalled"), worst first. */
  readonly stallLines: Record<string, Record<string, unknown>[]>;
}

/** Starts `count` processes that spin, to load the machine; stop them with the returned function. */
export function startBusyLoops(count: number): () => void {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return () => {
    for (const child of children) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  };
}

export async function probeCatchUp(options: CatchUpProbeOptions): Promise<CatchUpProbeResult> {
  const profiling = options.profileDir === undefined ? {} : { NODE_OPTIONS: `--import ${options.profileDir}/hook.mjs` };
  const cluster = await ProcessCluster.create(3, { extraArgs: options.extraArgs, env: { n1: profiling, n2: profiling, n3: profiling } });
  const client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
  const stopLoad = startBusyLoops(options.load);
  try {
    const leader = await cluster.waitForLeader(client);
    const follower = cluster.nodes.find((node) => node.id !== leader)?.id ?? 'n3';
    await waitFor('the follower to serve', () => client.status(cluster.node(follower).clientAddress, { timeoutMs: 1000 }).catch(() => undefined));
    await cluster.stop(follower);
    const value = Buffer.alloc(options.valueBytes, 'v');
    const acknowledged = await putMany(client, options.entries, (i) => ({ key: `key-${i}`, value }), 128);
    if (acknowledged.size !== options.entries) throw new Error(`only ${acknowledged.size} of ${options.entries} writes were acknowledged`);
    // Let the writes' own delays leave the recent window, so what is measured is the catch-up;
    // what the window shows just before the restart is the machine's noise, reported beside it.
    const windowMs = (await cluster.statuses(client))[0]?.loopDelayWindowMs ?? 10_000;
    await new Promise((resolve) => setTimeout(resolve, windowMs + 1000));
    const quiet = await cluster.statuses(client);
    const stallsBefore = new Map(quiet.map((s) => [s.id, s.loopStalls]));
    const startedAt = Date.now();
    const logOffsets = new Map(cluster.nodes.map((node) => [node.id, cluster.log(node.id).length]));
    cluster.start(follower, { env: profiling });
    const worst = new Map<string, number>();
    const stalls = new Map<string, number>();
    const leaders = new Set<string>();
    const sample = async (): Promise<boolean> => {
      const statuses = await cluster.statuses(client);
      for (const s of statuses) {
        worst.set(s.id, Math.max(worst.get(s.id) ?? 0, s.loopDelayRecentMaxMs));
        stalls.set(s.id, s.loopStalls - (stallsBefore.get(s.id) ?? 0));
        if (s.role === 'leader') leaders.add(s.id);
      }
      const leaderStatus = statuses.find((s) => s.role === 'leader');
      return statuses.length === 3 && leaderStatus !== undefined && statuses.every((s) => s.appliedIndex >= leaderStatus.commitIndex - 1 && s.appliedIndex >= acknowledged.size);
    };
    await waitFor('the follower to catch up', async () => ((await sample()) ? true : undefined), options.timeoutMs);
    const catchUpMs = Date.now() - startedAt;
    // One more look, for a delay that ended while the last poll was answered.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sample();
    return {
      entries: options.entries,
      load: options.load,
      leader,
      follower,
      catchUpMs,
      baselineMs: Object.fromEntries(quiet.map((s) => [s.id, s.loopDelayRecentMaxMs])),
      snapshot: cluster.log(follower).includes('"msg":"snapshot installed"'),
      worstDelayMs: Object.fromEntries(worst),
      stalls: Object.fromEntries(stalls),
      leaderChanged: leaders.size > 1 || !leaders.has(leader),
      stallLines: Object.fromEntries(
        cluster.nodes.map((node) => [
          node.id,
          logLines(cluster.log(node.id).slice(logOffsets.get(node.id) ?? 0), 'event loop stalled')
            .sort((a, b) => Number(b['delayMs']) - Number(a['delayMs']))
            .slice(0, 3)
            .map(({ pid: _pid, node: _node, level: _level, msg: _msg, ...rest }) => rest),
        ]),
      ),
    };
  } finally {
    stopLoad();
    client.close();
    if (options.profileDir !== undefined) await Promise.all(cluster.nodes.map((node) => cluster.stop(node.id)));
    await cluster.destroy();
  }
}

function flag(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const separator = args.indexOf('--');
  const result = await probeCatchUp({
    entries: flag(args, '--entries', 10_000),
    valueBytes: flag(args, '--value-bytes', 256),
    load: flag(args, '--load', 0),
    extraArgs: separator >= 0 ? args.slice(separator + 1) : [],
    timeoutMs: flag(args, '--timeout-ms', 300_000),
    profileDir: args.includes('--profile') ? args[args.indexOf('--profile') + 1] : undefined,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
