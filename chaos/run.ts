/**
 * One chaos run, start to finish:
 *
 *   start the cluster -> wait until it settles -> start the workload -> run the nemesis plan
 *   (every fault confirmed, held, healed, heal confirmed) -> keep the workload going through a
 *   fault-free recovery window -> stop the workload (every call ends by its deadline) -> wait
 *   until every node applied the same index -> final linearizable read of every key -> compare
 *   every node's keyspace -> stop the cluster -> check linearizability and lost writes -> report.
 *
 * "Every node" is every current member: membership faults replace nodes, so the observer, the
 * final reads and the keyspace comparison follow the backend's node list as it is then.
 *
 * Whatever fails or interrupts the run, the cluster is stopped (every process by its PID, every
 * proxy closed) before runChaos returns, and what was recorded is written to the run directory.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RaftKvClient } from '../src/client/index.js';
import { enableChaosAuth, type ChaosCredentials, type ClientAccess } from './auth-setup.js';
import {
  checkLinearizability,
  checkTxnLinearizability,
  describeTxnViolation,
  shrinkViolation,
  writeHistoryFile,
  type FailingCore,
  type LinearizabilityResult,
  type Operation,
  type RegisterValue,
  type TxnCheckResult,
} from './checker/index.js';
import type { ClusterBackend } from './backend.js';
import { ClusterObserver } from './cluster-observer.js';
import { completedCount, describeCounts, HistoryRecorder } from './history-recorder.js';
import { describeLoopDelay, LoopDelayWatch } from './loop-delay-watch.js';
import { describeMembers, isVoterSet } from './membership-change.js';
import { faultProblems, NemesisRunner, type MembershipSession } from './nemesis-runner.js';
import { describeFault, planNemesis, spareNodesFor, type PlannedFault } from './nemesis.js';
import type { ChaosConfig } from './options.js';
import { ProcessBackend } from './process-backend.js';
import { finalReadProcessBase } from './report-html.js';
import { RoleTimeline } from './role-timeline.js';
import { describeThroughput, faultThroughput, membershipChanges, summaryLine, writeReport, type Convergence, type LinearizableAnswer, type RunResult } from './report.js';
import { AbortedError, nowMs, sleep, waitUntil } from './wait.js';
import { AppendWorkload } from './workloads/append.js';
import { WorkloadDriver } from './workloads/driver.js';
import { RegisterWorkload } from './workloads/register.js';
import { TxnWorkload } from './workloads/txn.js';
import { WatchWorkload } from './workloads/watch.js';
import type { WatchCheckResult } from './checker/watch.js';
import { LeaseWorkload } from './workloads/lease.js';
import type { LeaseCheckResult } from './checker/lease-check.js';
import type { Durability, Workload } from './workloads/workload.js';

export interface RunIo {
  /** Progress lines (already time-stamped). */
  readonly log: (line: string) => void;
  /** Aborts the run (SIGINT); cleanup still runs. */
  readonly signal: AbortSignal;
  /** Called once the backend exists, so a last-resort exit handler can SIGKILL its nodes. */
  readonly onBackend?: (backend: ClusterBackend) => void;
}

/** How often every node's Status is asked for its loop delays during a run. */
const loopDelayPollMs = 1000;

/** The whole budget for shrinking violations to small failing sets, over all keys. */
const shrinkTimeLimitMs = 10_000;

export async function runChaos(config: ChaosConfig, io: RunIo): Promise<RunResult> {
  const outDir = resolve(config.outDir ?? mkdtempSync(join(tmpdir(), 'raftkv-chaos-')));
  mkdirSync(outDir, { recursive: true });
  const originMs = nowMs();
  const clock = (): number => nowMs() - originMs;
  const runLog = createWriteStream(join(outDir, 'run.log'), { flags: 'w' });
  const log = (line: string): void => {
    const text = `[${(clock() / 1000).toFixed(1).padStart(6)}s] ${line}`;
    io.log(text);
    runLog.write(`${text}\n`);
  };
  const signal = io.signal;
  const problems: string[] = [];
  const recorder = new HistoryRecorder(clock);
  const workload: Workload = newWorkload(config);
  const electionTimeoutMs = config.tickMs * config.electionTicks;

  log(
    `chaos: ${config.nodes} nodes (${config.backend} backend${config.backend === 'docker' ? `, image ${config.image}` : ''}), nemesis ${config.nemesisText}, workload ${config.workload}, ` +
      `${config.durationMs / 1000}s, ${config.clients} clients, seed ${config.seed}, out ${outDir}`,
  );
  // The schedule relative to the workload's start (planNemesis is shift-invariant): it says how
  // many spare node slots the membership faults need before the cluster exists.
  const relativePlan = planNemesis({
    kinds: config.nemesis,
    nodeIds: Array.from({ length: config.nodes }, (_, i) => `n${i + 1}`),
    seed: config.seed,
    windowStartMs: config.warmupMs,
    windowEndMs: config.durationMs - config.recoveryMs,
    holdMsMin: config.holdMsMin,
    holdMsMax: config.holdMsMax,
    gapMsMin: config.gapMsMin,
    gapMsMax: config.gapMsMax,
  });
  const backend = await createBackend(config, outDir, spareNodesFor(relativePlan));
  io.onBackend?.(backend);
  const observer = new ClusterObserver(() => backend.nodeIds, (id) => backend.clientEndpoint(id), backend.clientTls);
  // The loop-delay polls also sample each node's role and term, for report.html's timeline.
  const roles = new RoleTimeline();
  const loopDelayWatch = new LoopDelayWatch(
    backend.nodeIds,
    async () => {
      const statuses = await observer.statuses();
      roles.record(clock(), statuses);
      return statuses;
    },
    loopDelayPollMs,
  );
  let loopDelayWatched = false;
  let driver: WorkloadDriver | null = null;
  let runner: NemesisRunner | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  let plan: PlannedFault[] = [];
  let workloadStartMs: number | null = null;
  let workloadEndMs: number | null = null;
  let finalValues = new Map<string, RegisterValue>();
  let watchCheck: WatchCheckResult | null = null;
  let convergence: Convergence | null = null;
  let finalMembers: string | null = null;
  let interrupted = false;
  // Root when auth is on: membership changes and the final reads need it.
  let harnessAccess: ClientAccess = { tls: backend.clientTls };
  let workloadAuth: ChaosCredentials | undefined;

  try {
    await backend.start(signal);
    loopDelayWatch.start();
    loopDelayWatched = true;
    log(`nodes listening: ${backend.nodeIds.map((id) => backend.describeNode(id)).join(', ')}`);
    const settled = await observer.waitForSettled({ timeoutMs: 30_000, signal });
    log(`cluster ready: leader ${settled.leader.id} in term ${settled.leader.term}`);
    if (config.auth) {
      const auth = await enableChaosAuth(
        backend.nodeIds.map((id) => backend.clientEndpoint(id)),
        backend.clientTls,
        workload.keys,
        { timeoutMs: 15_000, signal, log },
      );
      harnessAccess = { tls: backend.clientTls, auth: auth.root };
      backend.setJoinUser(auth.root);
      workloadAuth = auth.workload;
    }

    workloadStartMs = clock();
    const startMs = workloadStartMs;
    plan = relativePlan.map((planned) => ({ ...planned, startMs: planned.startMs + startMs }));
    log(`nemesis plan (${plan.length} faults): ${plan.map((p) => `#${p.index} ${describeFault(p.fault)} at ${(p.startMs / 1000).toFixed(1)}s for ${(p.holdMs / 1000).toFixed(1)}s`).join('; ') || 'none'}`);
    driver = new WorkloadDriver(workload, {
      clients: config.clients,
      seed: config.seed,
      endpoints: backend.nodeIds.map((id) => backend.clientEndpoint(id)),
      recorder,
      opTimeoutMs: config.opTimeoutMs,
      attemptTimeoutMs: config.attemptTimeoutMs,
      ratePerClient: config.ratePerClient,
      transport: config.transport,
      tls: backend.clientTls,
      auth: workloadAuth,
      onHarnessError: (error) => {
        problems.push(`harness bug in the workload: ${error.message}`);
        log(`HARNESS ERROR in the workload: ${error.stack ?? error.message}`);
      },
    });
    if (workload instanceof WatchWorkload) {
      const startRevision = await workload.startWatchers(backend.nodeIds.map((id) => backend.clientEndpoint(id)), harnessAccess);
      log(`watchers started from revision ${startRevision}`);
    }
    driver.start();
    log(`workload started: ${config.clients} clients on ${workload.keys.length} keys`);
    progressTimer = setInterval(() => log(`ops: ${recorder.operations().length} (${describeCounts(recorder.counts())}), ${recorder.pending()} in flight`), 5000);
    progressTimer.unref();

    runner = new NemesisRunner({ backend, observer, membershipClient: (endpoints) => sdkMembershipClient(endpoints, harnessAccess), clock, log, signal, electionTimeoutMs });
    await runner.run(plan, workloadStartMs + config.durationMs - config.recoveryMs);
    await runner.healEverything();

    // The workload runs for the planned duration, and in any case a full recovery window past
    // the last heal (a slow heal extends the run rather than shortening the window).
    const endMs = Math.max(workloadStartMs + config.durationMs, (runner.lastHealMs ?? workloadStartMs) + config.recoveryMs);
    if (endMs > workloadStartMs + config.durationMs + 1) log(`extending the workload to ${(endMs / 1000).toFixed(1)}s for a full recovery window`);
    if (endMs > clock()) await sleep(endMs - clock(), signal);
    log('stopping the workload');
    await driver.stop(config.opTimeoutMs * 5 + 5000);
    workloadEndMs = clock();
    clearInterval(progressTimer);
    log(`workload stopped: ${recorder.operations().length} ops (${describeCounts(recorder.counts())})`);

    const quietIndex = await observer.waitForQuiet({ timeoutMs: 30_000, signal });
    log(`every node applied index ${quietIndex}`);
    finalValues = await finalReads(backend, harnessAccess, workload.keys, recorder, config, signal);
    if (workload instanceof WatchWorkload) {
      watchCheck = await workload.finishWatchers(60_000);
      log(`watch: ${watchCheck.eventsChecked} events of ${watchCheck.watchers} watchers checked against ${watchCheck.writesChecked} acknowledged writes: ${watchCheck.problems.length === 0 ? 'ok' : 'FAILED'}`);
      problems.push(...watchCheck.problems);
    }
    const unread = workload.keys.filter((key) => !finalValues.has(key));
    log(`final reads: ${finalValues.size} of ${workload.keys.length} keys read${unread.length === 0 ? '' : `; NO FINAL READ of ${unread.join(', ')}`}`);
    if (unread.length > 0) problems.push(`no final read of ${unread.join(', ')} succeeded after the cluster healed`);
    convergence = await compareKeyspaces(backend, harnessAccess, observer, signal);
    log(
      convergence.matches
        ? `keyspaces match on every node at applied index ${convergence.appliedIndex} (${convergence.nodes[0]?.keys ?? 0} keys)`
        : `KEYSPACES DIFFER at applied index ${convergence.appliedIndex}: ${convergence.differences.join('; ')}`,
    );
    if (config.nemesis.includes('membership')) {
      const session = sdkMembershipClient(backend.nodeIds.map((id) => backend.clientEndpoint(id)), harnessAccess);
      try {
        const list = await session.members({ timeoutMs: 5000, signal });
        finalMembers = describeMembers(list);
        log(`final membership: ${finalMembers}`);
        if (!isVoterSet(list, backend.nodeIds)) problems.push(`the final configuration (${finalMembers}) is not the current nodes ${backend.nodeIds.join(',')}, all voters`);
      } catch (error) {
        if (error instanceof AbortedError) throw error;
        problems.push(`the final member list could not be read: ${(error as Error).message}`);
      } finally {
        session.close();
      }
    }
    log(describeSnapshotActivity(backend.logFiles()));
  } catch (error) {
    if (error instanceof AbortedError) {
      interrupted = true;
      problems.push('the run was interrupted');
      log('interrupted: stopping the cluster');
    } else {
      problems.push(`the run could not complete: ${(error as Error).message}`);
      log(`ERROR: ${(error as Error).stack ?? String(error)}`);
    }
  } finally {
    if (progressTimer !== null) clearInterval(progressTimer);
    if (driver !== null) await driver.stop(config.opTimeoutMs * 5 + 5000).catch(() => {});
    if (workload instanceof WatchWorkload) workload.stopWatchers();
    if (loopDelayWatched) await loopDelayWatch.finish();
    observer.close();
    await backend.stop();
    log('cluster stopped');
  }

  const history = recorder.operations();
  await writeHistoryFile(join(outDir, 'history.jsonl'), history);

  // Checks. The checker is synchronous and may hold the event loop for its whole budget, which
  // is why it runs only now, with the cluster gone.
  let linearizability: LinearizabilityResult | null = null;
  let violations: FailingCore[] = [];
  let durability: Durability | null = null;
  if (!interrupted && history.length > 0) {
    log(`checking linearizability of ${history.length} operations on ${workload.keys.length} keys`);
    linearizability = checkLinearizability(history, { timeLimitMs: config.checkTimeLimitMs });
    log(`linearizability: ${linearizability.verdict} (${linearizability.elapsedMs.toFixed(0)} ms)`);
    violations = shrinkViolations(history, linearizability);
    for (const core of violations) log(`failing set of ${core.key}: ${core.operations.length} operations${core.minimal ? '' : ' (not proven minimal)'}: ${core.explanation}`);
    if (workloadEndMs !== null) {
      durability = workload.durability(history, finalValues);
      problems.push(...durability.problems);
    }
  }
  // The txn workload's transactions, checked whole (the register check above sees their per-key projection).
  let txnLinearizability: TxnCheckResult | null = null;
  if (workload instanceof TxnWorkload && !interrupted && workload.history().length > 0) {
    const transactions = workload.history();
    await writeFile(join(outDir, 'txn-history.jsonl'), transactions.map((op) => `${JSON.stringify(op)}\n`).join(''), 'utf8');
    log(`checking linearizability of ${transactions.length} transactions`);
    txnLinearizability = checkTxnLinearizability(transactions, { timeLimitMs: config.checkTimeLimitMs });
    log(`transactions: ${txnLinearizability.verdict} (${txnLinearizability.components.length} component(s), ${txnLinearizability.elapsedMs.toFixed(0)} ms)`);
    for (const component of txnLinearizability.components) {
      if (component.verdict === 'not-linearizable') problems.push(describeTxnViolation(transactions, component));
      if (component.verdict === 'unknown') problems.push(`the transaction check of keys ${component.keys.join(', ')} ran out of budget (${component.reason ?? 'unknown'})`);
    }
  }
  // The lease workload's rules (checker/lease-check.ts) over every lease of the run.
  let leaseCheck: LeaseCheckResult | null = null;
  if (workload instanceof LeaseWorkload && !interrupted) {
    // Fault windows on the workload's clock (nowMs), from injection to the confirmed heal.
    const windows = (runner?.records ?? [])
      .filter((fault) => fault.status === 'injected' && fault.startedMs !== null)
      .map((fault) => ({ startMs: originMs + (fault.startedMs ?? 0), endMs: fault.healedMs === null ? Number.POSITIVE_INFINITY : originMs + fault.healedMs }));
    leaseCheck = workload.checkLeases(windows);
    log(
      `leases: ${leaseCheck.leases} granted, ${leaseCheck.keysAttached} keys attached, ${leaseCheck.readsChecked} reads checked, ${leaseCheck.renewals} renewals, ${leaseCheck.revoked} revoked, ${leaseCheck.expiredObserved} seen to expire; ${leaseCheck.violations.length} violation(s)`,
    );
    problems.push(...leaseCheck.violations);
  }
  const registerAnswer: LinearizableAnswer =
    linearizability === null ? 'unknown' : linearizability.verdict === 'linearizable' ? 'yes' : linearizability.verdict === 'not-linearizable' ? 'no' : 'unknown';
  const txnAnswer: LinearizableAnswer =
    txnLinearizability === null ? 'yes' : txnLinearizability.verdict === 'linearizable' ? 'yes' : txnLinearizability.verdict === 'not-linearizable' ? 'no' : 'unknown';
  const linearizable: LinearizableAnswer = registerAnswer === 'no' || txnAnswer === 'no' ? 'no' : registerAnswer === 'unknown' || txnAnswer === 'unknown' ? 'unknown' : 'yes';

  // Guards.
  const faults = runner?.records ?? [];
  const faultsInjected = faults.filter((fault) => fault.status === 'injected').length;
  problems.push(...faultProblems(faults));
  if (config.nemesis.length > 0 && faultsInjected === 0 && !interrupted) problems.push('no fault was injected: the run proves nothing about faults');
  for (const exit of backend.unexpectedExits()) {
    problems.push(`${exit.id} (pid ${exit.pid}) exited unexpectedly (code ${exit.code}, signal ${exit.signal}); see nodes/${exit.id}.log`);
  }
  const completed = completedCount(history.filter((op) => op.process < finalReadProcessBase));
  if (!interrupted && completed < config.minOps) problems.push(`only ${completed} operations completed, below the minimum of ${config.minOps}`);
  const lastHealMs = runner?.lastHealMs ?? null;
  const recoveredPerClient = successesAfter(history, lastHealMs ?? workloadStartMs ?? 0, config.clients);
  if (workloadEndMs !== null && !interrupted) {
    const idle = recoveredPerClient.flatMap((count, worker) => (count === 0 ? [worker] : []));
    if (idle.length > 0) problems.push(`the cluster did not serve again after the last heal: clients ${idle.join(', ')} had no successful operation in the recovery window`);
  }
  if (convergence !== null && !convergence.matches) problems.push(`node keyspaces differ: ${convergence.differences.join('; ')}`);
  if (linearizability?.verdict === 'unknown') problems.push('the linearizability check ran out of budget (see report.txt)');

  const throughput = workloadStartMs !== null && workloadEndMs !== null ? faultThroughput(history.filter((op) => op.process < finalReadProcessBase), faults, workloadStartMs, workloadEndMs) : null;
  if (throughput !== null) log(`throughput: ${describeThroughput(throughput)}`);

  const loopDelay = loopDelayWatched ? loopDelayWatch.tally.report(electionTimeoutMs) : null;
  if (loopDelay !== null) log(`event loop delay: ${describeLoopDelay(loopDelay)}`);

  const lost = durability?.lost ?? 0;
  const result: RunResult = {
    config,
    outDir,
    nodes: [...backend.logFiles()].map(([id, file]) => ({ id, clientAddress: backend.clientEndpoint(id), log: file, member: backend.nodeIds.includes(id) })),
    membership: { changes: membershipChanges(faults), finalNodes: [...backend.nodeIds], finalMembers },
    plan,
    faults,
    faultsInjected,
    workloadStartMs,
    workloadEndMs,
    lastHealMs,
    ops: { total: history.length, completed, counts: recorder.counts(), recoveredPerClient, errors: driver?.errors() ?? {} },
    throughput,
    linearizability,
    txnLinearizability,
    leaseCheck,
    linearizable,
    violations,
    durability,
    watch: watchCheck,
    lost,
    convergence,
    loopDelay,
    unexpectedExits: backend.unexpectedExits(),
    problems,
    interrupted,
    passed: linearizable === 'yes' && lost === 0 && problems.length === 0,
  };
  try {
    await writeReport(result, { history, roles: roles.history() });
    log(`report: ${join(outDir, 'report.txt')}, ${join(outDir, 'report.html')}`);
  } catch (error) {
    // The verdict stands whatever happens to the files; say what is missing.
    log(`ERROR: the report could not be written completely: ${(error as Error).message}`);
  }
  for (const problem of problems) log(`FAIL: ${problem}`);
  // The last line, unprefixed, in the agreed form: scripts grep for it.
  const summary = summaryLine(result);
  io.log(summary);
  runLog.write(`${summary}\n`);
  await new Promise<void>((done) => runLog.end(done));
  return result;
}

/** A small failing set per key found not linearizable, sharing one time budget in key order. */
function shrinkViolations(history: readonly Operation[], linearizability: LinearizabilityResult): FailingCore[] {
  const deadlineMs = nowMs() + shrinkTimeLimitMs;
  const cores: FailingCore[] = [];
  for (const check of linearizability.perKey) {
    if (check.verdict !== 'not-linearizable') continue;
    cores.push(shrinkViolation(history, check, { timeLimitMs: Math.max(0, deadlineMs - nowMs()) }));
  }
  return cores;
}

/** The TTL of the lease workload's leases (raised to the cluster's minimum by the server). */
const leaseTtlSeconds = 2;
/** What the lease checker's rule 3 allows beyond 2 TTL + an election timeout (and beyond each fault's heal). */
const leaseExpirySlackMs = 5000;

/** The workload `config` names. */
function newWorkload(config: ChaosConfig): Workload {
  switch (config.workload) {
    case 'register':
      return new RegisterWorkload({ keys: config.keys });
    case 'append':
      return new AppendWorkload({ keys: config.keys });
    case 'txn':
      return new TxnWorkload({ accounts: config.keys });
    case 'watch':
      return new WatchWorkload({ keys: config.keys });
    case 'lease':
      // Slack for rule 3: a fault may leave the cluster without a leader for its hold, and then an election.
      return new LeaseWorkload({ keys: config.keys, ttlSeconds: leaseTtlSeconds, electionTimeoutMs: config.tickMs * config.electionTicks, slackMs: leaseExpirySlackMs });
    default: {
      const unknown: never = config.workload;
      throw new Error(`unknown workload ${String(unknown)}`);
    }
  }
}

/** An SDK client for the membership fault and the final member list, over these endpoints. */
function sdkMembershipClient(endpoints: readonly string[], access: ClientAccess): MembershipSession {
  return harnessClient(endpoints, access);
}

/** A unary SDK client for the harness's own calls, with the nodes' TLS and, when auth is on, root. */
function harnessClient(endpoints: readonly string[], access: ClientAccess): RaftKvClient {
  return new RaftKvClient({
    endpoints: [...endpoints],
    transport: 'unary',
    timeoutMs: 5000,
    ...(access.tls === undefined ? {} : { tls: access.tls }),
    ...(access.auth === undefined ? {} : { auth: access.auth }),
  });
}

/** The cluster for a run, with `spareNodes` slots for nodes the membership fault adds. */
async function createBackend(config: ChaosConfig, dir: string, spareNodes: number): Promise<ClusterBackend> {
  switch (config.backend) {
    case 'process':
      return ProcessBackend.create({
        nodeCount: config.nodes,
        spareNodes,
        dir,
        tickMs: config.tickMs,
        electionTicks: config.electionTicks,
        snapshotEntries: config.snapshotEntries,
        leaseCheckpointSeconds: config.leaseCheckpointSeconds,
        logLevel: config.nodeLogLevel,
        unsafe: config.unsafe,
        tls: config.tls,
      });
    case 'docker': {
      // Loaded only when used: testcontainers and its Docker client are no part of a process run.
      const { DockerBackend } = await import('./docker-backend.js');
      return DockerBackend.create({
        nodeCount: config.nodes,
        spareNodes,
        dir,
        image: config.image,
        tickMs: config.tickMs,
        electionTicks: config.electionTicks,
        snapshotEntries: config.snapshotEntries,
        leaseCheckpointSeconds: config.leaseCheckpointSeconds,
        logLevel: config.nodeLogLevel,
        unsafe: config.unsafe,
        tls: config.tls,
      });
    }
    default:
      throw new Error(`unknown backend ${JSON.stringify(config.backend)}`);
  }
}

/** How often nodes compacted and installed snapshots during the run, from their logs. */
function describeSnapshotActivity(logFiles: ReadonlyMap<string, string>): string {
  const count = (text: string, message: string): number => text.split(`"msg":"${message}"`).length - 1;
  const parts = [...logFiles].map(([id, file]) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      return `${id}: log unreadable (${(error as Error).message})`;
    }
    return `${id} ${count(text, 'snapshot taken, log compacted')} taken/${count(text, 'snapshot installed')} installed`;
  });
  return `snapshots: ${parts.join(', ')}`;
}

/** Per client, operations that succeeded and were invoked at or after `sinceMs`. */
function successesAfter(history: readonly Operation[], sinceMs: number, clients: number): number[] {
  const counts = new Array<number>(clients).fill(0);
  for (const op of history) {
    if (op.process >= finalReadProcessBase || op.invokeTime < sinceMs || (op.outcome !== 'ok' && op.outcome !== 'fail')) continue;
    const worker = op.process % clients;
    counts[worker] = (counts[worker] ?? 0) + 1;
  }
  return counts;
}

/**
 * A linearizable read of every key through all endpoints, recorded in the history as its own
 * processes. Retried until a deadline: the cluster has healed, so a failure here is itself a
 * finding (the key then has no final value and the run fails).
 */
async function finalReads(
  backend: ClusterBackend,
  access: ClientAccess,
  keys: readonly string[],
  recorder: HistoryRecorder,
  config: ChaosConfig,
  signal: AbortSignal,
): Promise<Map<string, RegisterValue>> {
  const client = harnessClient(backend.nodeIds.map((id) => backend.clientEndpoint(id)), access);
  const values = new Map<string, RegisterValue>();
  try {
    for (const [i, key] of keys.entries()) {
      await waitUntil(
        `a final read of ${key}`,
        async () => {
          const invocation = recorder.invoke(finalReadProcessBase + i, key);
          try {
            const kv = await client.get(key, { timeoutMs: 5000 });
            const value = kv === null ? null : kv.value.toString('utf8');
            recorder.complete(invocation, { kind: 'get', outcome: 'ok', value });
            values.set(key, value);
            return true;
          } catch (error) {
            recorder.complete(invocation, { kind: 'get', outcome: 'indeterminate' });
            throw error;
          }
        },
        { timeoutMs: Math.max(20_000, config.opTimeoutMs * 5), intervalMs: 200, signal },
      ).catch((error: unknown) => {
        if (error instanceof AbortedError) throw error;
      });
    }
  } finally {
    client.close();
  }
  return values;
}

/**
 * Reads every node's whole keyspace locally (serializable) while all of them report one applied
 * index, before and after the reads, and compares them key by key.
 */
async function compareKeyspaces(backend: ClusterBackend, access: ClientAccess, observer: ClusterObserver, signal: AbortSignal): Promise<Convergence> {
  return waitUntil(
    'a stable applied index to compare keyspaces at',
    async () => {
      const index = await observer.waitForQuiet({ timeoutMs: 15_000, signal, stableMs: 200 });
      const snapshots = await Promise.all(backend.nodeIds.map(async (id) => ({ id, entries: await readKeyspace(backend.clientEndpoint(id), access) })));
      const after = await observer.statuses();
      if ([...after.values()].some((status) => status === null || status.appliedIndex !== index)) return undefined; // moved: read again
      const reference = snapshots[0];
      const differences: string[] = [];
      if (reference !== undefined) {
        for (const other of snapshots.slice(1)) differences.push(...diffKeyspaces(reference, other).slice(0, 5));
      }
      return {
        appliedIndex: index,
        nodes: snapshots.map(({ id, entries }) => ({ id, keys: entries.length, digest: digest(entries) })),
        matches: differences.length === 0,
        differences,
      };
    },
    { timeoutMs: 60_000, intervalMs: 200, signal },
  );
}

type KeyspaceEntry = readonly [key: string, value: string, version: number, createRevision: number, modRevision: number];

async function readKeyspace(endpoint: string, access: ClientAccess): Promise<KeyspaceEntry[]> {
  const client = harnessClient([endpoint], access);
  try {
    const result = await client.range({ prefix: '' }, { limit: 10_000, consistency: 'serializable', timeoutMs: 5000 });
    if (result.more) throw new Error(`${endpoint} holds more than 10000 keys; the comparison would be partial`);
    return result.kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8'), kv.version, kv.createRevision, kv.modRevision] as const);
  } finally {
    client.close();
  }
}

function diffKeyspaces(a: { id: string; entries: KeyspaceEntry[] }, b: { id: string; entries: KeyspaceEntry[] }): string[] {
  const differences: string[] = [];
  const inB = new Map(b.entries.map((entry) => [entry[0], entry]));
  const inA = new Map(a.entries.map((entry) => [entry[0], entry]));
  for (const [key, entry] of inA) {
    const other = inB.get(key);
    if (other === undefined) differences.push(`${key} is on ${a.id} but not on ${b.id}`);
    else if (JSON.stringify(entry) !== JSON.stringify(other)) differences.push(`${key}: ${a.id} has ${JSON.stringify(entry.slice(1))}, ${b.id} has ${JSON.stringify(other.slice(1))}`);
  }
  for (const key of inB.keys()) if (!inA.has(key)) differences.push(`${key} is on ${b.id} but not on ${a.id}`);
  return differences;
}

function digest(entries: readonly KeyspaceEntry[]): string {
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}
