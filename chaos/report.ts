/**
 * The outcome of a chaos run: the one summary line, a human report and a JSON report, written
 * next to the history and the node logs.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeOperation, describeViolation, type FailingCore, type LinearizabilityResult, type Operation, type TxnCheckResult } from './checker/index.js';
import type { LeaseCheckResult } from './checker/lease-check.js';
import type { UnexpectedExit } from './backend.js';
import type { OperationCounts } from './history-recorder.js';
import { describeLoopDelay, type LoopDelayReport } from './loop-delay-watch.js';
import { describeCheck, type FaultRecord } from './nemesis-runner.js';
import type { PlannedFault } from './nemesis.js';
import { defaultImage, type ChaosConfig } from './options.js';
import { writeReportHtml } from './report-html.js';
import type { RoleHistory } from './role-timeline.js';
import type { Durability } from './workloads/workload.js';
import type { WatchCheckResult } from './checker/watch.js';

export type LinearizableAnswer = 'yes' | 'no' | 'unknown';

/** Every node's keyspace after the run, read locally (serializable) once applied indexes matched. */
export interface Convergence {
  readonly appliedIndex: number;
  readonly nodes: readonly { readonly id: string; readonly keys: number; readonly digest: string }[];
  readonly matches: boolean;
  /** What differs, first few keys. */
  readonly differences: readonly string[];
}

/** Completed operations (ok or fail) while a fault was in effect, and outside faults. */
export interface Throughput {
  /** Time some fault was in effect (from injection until healing began), summed; faults never overlap. */
  readonly faultMs: number;
  readonly opsDuringFaults: number;
  /** null when no fault was in effect. */
  readonly opsPerSecondDuringFaults: number | null;
  /** The rest of the workload's time. */
  readonly quietMs: number;
  readonly opsOutsideFaults: number;
  readonly opsPerSecondOutsideFaults: number | null;
  readonly perFault: readonly { readonly index: number; readonly ms: number; readonly ops: number; readonly opsPerSecond: number | null }[];
}

/**
 * Counts the completed operations of `history` (by completion time) inside each injected
 * fault's interval [startedMs, healStartedMs] and in the rest of [workloadStartMs, workloadEndMs].
 */
export function faultThroughput(
  history: readonly Operation[],
  faults: readonly Pick<FaultRecord, 'index' | 'status' | 'startedMs' | 'healStartedMs'>[],
  workloadStartMs: number,
  workloadEndMs: number,
): Throughput {
  const intervals = faults
    .filter((fault) => fault.status === 'injected' && fault.startedMs !== null && fault.healStartedMs !== null)
    .map((fault) => ({ index: fault.index, from: fault.startedMs as number, to: Math.max(fault.startedMs as number, fault.healStartedMs as number), ops: 0 }));
  let inside = 0;
  let outside = 0;
  for (const op of history) {
    if (op.outcome !== 'ok' && op.outcome !== 'fail') continue;
    if (op.completeTime < workloadStartMs || op.completeTime > workloadEndMs) continue;
    const interval = intervals.find((candidate) => op.completeTime >= candidate.from && op.completeTime <= candidate.to);
    if (interval === undefined) outside++;
    else {
      interval.ops++;
      inside++;
    }
  }
  const faultMs = intervals.reduce((sum, interval) => sum + (interval.to - interval.from), 0);
  const quietMs = Math.max(0, workloadEndMs - workloadStartMs - faultMs);
  const rate = (ops: number, ms: number): number | null => (ms <= 0 ? null : ops / (ms / 1000));
  return {
    faultMs,
    opsDuringFaults: inside,
    opsPerSecondDuringFaults: rate(inside, faultMs),
    quietMs,
    opsOutsideFaults: outside,
    opsPerSecondOutsideFaults: rate(outside, quietMs),
    perFault: intervals.map((interval) => ({ index: interval.index, ms: interval.to - interval.from, ops: interval.ops, opsPerSecond: rate(interval.ops, interval.to - interval.from) })),
  };
}

/** "412 ops in 18.3 s under faults (22.5 ops/s); 1500 ops in 20.1 s without (74.6 ops/s)" */
export function describeThroughput(throughput: Throughput): string {
  const perSecond = (value: number | null): string => (value === null ? '-' : value.toFixed(1));
  return (
    `${throughput.opsDuringFaults} ops in ${(throughput.faultMs / 1000).toFixed(1)} s under faults (${perSecond(throughput.opsPerSecondDuringFaults)} ops/s); ` +
    `${throughput.opsOutsideFaults} ops in ${(throughput.quietMs / 1000).toFixed(1)} s without (${perSecond(throughput.opsPerSecondOutsideFaults)} ops/s)`
  );
}

/** One node leaving or joining the cluster through the membership fault. */
export interface MembershipChange {
  readonly faultIndex: number;
  readonly action: 'removed' | 'added';
  readonly node: string;
  /** Run clock, ms: when the step was confirmed (or given up on). */
  readonly atMs: number | null;
  /** The member list showed it done (removed: gone; added: a voter). */
  readonly confirmed: boolean;
}

export interface MembershipSummary {
  readonly changes: readonly MembershipChange[];
  /** The members at the end, as the backend runs them. */
  readonly finalNodes: readonly string[];
  /** The member list the cluster reported at the end; null when no membership fault was asked for (or it could not be read). */
  readonly finalMembers: string | null;
}

/** The membership changes of the injected (or attempted) membership faults, in order. */
export function membershipChanges(faults: readonly Pick<FaultRecord, 'index' | 'kind' | 'removedNodes' | 'addedNodes' | 'confirmations'>[]): MembershipChange[] {
  const changes: MembershipChange[] = [];
  for (const fault of faults) {
    if (fault.kind !== 'membership') continue;
    const find = (prefixes: readonly string[]) => fault.confirmations.find((check) => prefixes.some((prefix) => check.what.startsWith(prefix)));
    for (const node of fault.removedNodes) {
      const check = find([`${node} removed from the configuration`]);
      changes.push({ faultIndex: fault.index, action: 'removed', node, atMs: check?.atMs ?? null, confirmed: check?.ok ?? false });
    }
    for (const node of fault.addedNodes) {
      const check = find([`${node} promoted`]);
      changes.push({ faultIndex: fault.index, action: 'added', node, atMs: check?.atMs ?? null, confirmed: check?.ok ?? false });
    }
  }
  return changes.sort((a, b) => (a.atMs ?? Infinity) - (b.atMs ?? Infinity));
}

export interface RunResult {
  readonly config: ChaosConfig;
  readonly outDir: string;
  /** Every node that ran, removed ones included; `member`: still a member at the end. */
  readonly nodes: readonly { readonly id: string; readonly clientAddress: string; readonly log: string; readonly member: boolean }[];
  readonly membership: MembershipSummary;
  readonly plan: readonly PlannedFault[];
  readonly faults: readonly FaultRecord[];
  /** Faults actually injected (not skipped, not failed to start). */
  readonly faultsInjected: number;
  readonly workloadStartMs: number | null;
  readonly workloadEndMs: number | null;
  readonly lastHealMs: number | null;
  readonly ops: {
    readonly total: number;
    /** ok or fail: the outcome is known. */
    readonly completed: number;
    readonly counts: OperationCounts;
    /** Per client: operations that succeeded after the last heal. */
    readonly recoveredPerClient: readonly number[];
    readonly errors: Readonly<Record<string, number>>;
  };
  /** null when the workload did not run to its end. */
  readonly throughput: Throughput | null;
  readonly linearizability: LinearizabilityResult | null;
  /** The txn workload's transactions, checked whole (null for other workloads). */
  readonly txnLinearizability?: TxnCheckResult | null;
  /** The lease workload's rules (null for other workloads). */
  readonly leaseCheck?: LeaseCheckResult | null;
  readonly linearizable: LinearizableAnswer;
  /** Per key found not linearizable, a small failing set of its operations and why (report.html marks them). */
  readonly violations: readonly FailingCore[];
  readonly durability: Durability | null;
  /** The watch workload's watchers, checked against the puts (null for other workloads or an interrupted run). */
  readonly watch?: WatchCheckResult | null;
  readonly lost: number;
  readonly convergence: Convergence | null;
  /** The worst event-loop delays the nodes reported in their Status; null when the cluster never started. */
  readonly loopDelay: LoopDelayReport | null;
  readonly unexpectedExits: readonly UnexpectedExit[];
  /** Every reason the run fails besides the verdict and lost writes; empty when all guards hold. */
  readonly problems: readonly string[];
  readonly interrupted: boolean;
  readonly passed: boolean;
}

/** The summary line of a run. */
export function summaryLine(result: Pick<RunResult, 'ops' | 'faultsInjected' | 'linearizable' | 'lost' | 'config' | 'loopDelay'>): string {
  return formatSummary({
    ops: result.ops.total,
    faults: result.faultsInjected,
    linearizable: result.linearizable,
    lost: result.lost,
    seed: result.config.seed,
    loopDelayMaxMs: result.loopDelay?.worstMs ?? null,
  });
}

/**
 * `chaos: <ops> ops, <faults> faults, linearizable=<yes|no|unknown>, lost=<n>, seed=<s>, loop-delay-max=<ms>ms`
 * (`loop-delay-max=-` when no node reported one). Fields are only ever appended: scripts grep it.
 */
export function formatSummary(fields: { ops: number; faults: number; linearizable: LinearizableAnswer; lost: number; seed: number; loopDelayMaxMs: number | null }): string {
  const loopDelay = fields.loopDelayMaxMs === null ? '-' : `${fields.loopDelayMaxMs}ms`;
  return `chaos: ${fields.ops} ops, ${fields.faults} faults, linearizable=${fields.linearizable}, lost=${fields.lost}, seed=${fields.seed}, loop-delay-max=${loopDelay}`;
}

/** The human report: configuration, faults with their checks, operations, verdicts, problems. */
export function reportText(result: RunResult): string {
  const { config } = result;
  const lines: string[] = [];
  const s = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`);
  lines.push(`raftkv chaos run: ${result.passed ? 'PASSED' : 'FAILED'}${result.interrupted ? ' (interrupted)' : ''}`);
  lines.push(
    `backend ${config.backend}, ${config.nodes} nodes, nemesis ${config.nemesisText}, workload ${config.workload} (${config.keys} keys, ${config.clients} clients, ${config.ratePerClient}/s each, ${config.transport})${config.tls ? ', TLS between members and to clients' : ''}${config.auth ? ', auth on' : ''}`,
  );
  lines.push(`duration ${config.durationMs / 1000}s, recovery ${config.recoveryMs / 1000}s, seed ${config.seed}`);
  lines.push(`replay: npm run chaos -- ${replayArgs(config).join(' ')}`);
  lines.push(`times are seconds since the harness started; workload ${s(result.workloadStartMs)}..${s(result.workloadEndMs)}, last heal ${s(result.lastHealMs)}`);
  lines.push('');
  lines.push(`nodes:`);
  for (const node of result.nodes) lines.push(`  ${node.id} client ${node.clientAddress}, log ${node.log}${node.member ? '' : ' (removed)'}`);
  lines.push('');
  if (result.membership.changes.length > 0 || result.membership.finalMembers !== null) {
    lines.push(`membership changes: ${result.membership.changes.length}`);
    for (const change of result.membership.changes) {
      const what = change.action === 'removed' ? `removed ${change.node}` : `added ${change.node} (a voter)`;
      lines.push(`  ${s(change.atMs)} #${change.faultIndex} ${what}: ${change.confirmed ? 'confirmed' : 'NOT CONFIRMED'}`);
    }
    lines.push(`final membership: ${result.membership.finalNodes.join(',')}${result.membership.finalMembers === null ? '' : ` (the cluster lists ${result.membership.finalMembers})`}`);
    lines.push('');
  }
  lines.push(`faults: ${result.faultsInjected} injected of ${result.plan.length} planned`);
  for (const fault of result.faults) {
    const figures = result.throughput?.perFault.find((entry) => entry.index === fault.index);
    const during = figures === undefined ? '' : `, ${figures.ops} ops completed in effect (${figures.opsPerSecond === null ? '-' : figures.opsPerSecond.toFixed(1)} ops/s)`;
    lines.push(`  #${fault.index} ${fault.description} [${fault.status}] ${s(fault.startedMs)}..${s(fault.healedMs)} (healing from ${s(fault.healStartedMs)})${during}${fault.error === null ? '' : `: ${fault.error}`}`);
    if (fault.cutLinks.length > 0) lines.push(`      cut ${fault.cutLinks.join(' ')}`);
    for (const check of fault.confirmations) lines.push(`      ${describeCheck(check)}`);
    for (const check of fault.healChecks) lines.push(`      heal: ${describeCheck(check)}`);
  }
  lines.push('');
  const c = result.ops.counts;
  lines.push(`operations: ${result.ops.total} (${result.ops.completed} completed, minimum ${config.minOps})`);
  for (const kind of ['get', 'put', 'cas'] as const) {
    lines.push(`  ${kind}: ${c[kind].ok} ok, ${c[kind].fail} fail, ${c[kind].indeterminate} indeterminate, ${c[kind].aborted} aborted`);
  }
  const errors = Object.entries(result.ops.errors);
  if (errors.length > 0) lines.push(`  client errors: ${errors.map(([name, n]) => `${name} ${n}`).join(', ')}`);
  lines.push(`  successes after the last heal, per client: ${result.ops.recoveredPerClient.join(', ')}`);
  if (result.throughput !== null) lines.push(`  throughput: ${describeThroughput(result.throughput)}`);
  lines.push('');
  lines.push(`linearizable: ${result.linearizable}`);
  if (result.linearizability !== null) {
    lines.push(`  checked ${result.linearizability.perKey.length} keys in ${result.linearizability.elapsedMs.toFixed(0)} ms`);
    for (const check of result.linearizability.perKey) {
      const stats = `${check.stats.operationsChecked} ops, ${check.stats.searchSteps} steps, ${check.stats.elapsedMs.toFixed(0)} ms`;
      if (check.verdict === 'linearizable') lines.push(`  ${check.key}: linearizable (${stats})`);
      else if (check.verdict === 'unknown') lines.push(`  ${check.key}: unknown, ${check.reason} (${stats})`);
      else lines.push(describeViolation(check.key, check.violation).split('\n').map((line) => `  ${line}`).join('\n'));
    }
  }
  for (const core of result.violations) {
    lines.push(`  failing set of ${JSON.stringify(core.key)}: ${core.operations.length} operations${core.minimal ? ', none can be dropped' : ', small, not proven minimal'} (report.html marks them)`);
    lines.push(`    ${core.explanation}`);
    for (const { index, operation } of core.operations) lines.push(`    #${index} ${describeOperation(operation)}${index === core.blocked.index ? '  <- stuck' : ''}`);
  }
  if (result.txnLinearizability !== undefined && result.txnLinearizability !== null) {
    const txn = result.txnLinearizability;
    lines.push(`  transactions: ${txn.verdict}, ${txn.components.length} component(s) checked in ${txn.elapsedMs.toFixed(0)} ms (violations are listed under problems)`);
    for (const component of txn.components) lines.push(`    keys ${component.keys.join(', ')}: ${component.verdict}${component.reason === undefined ? '' : `, ${component.reason}`} (${component.operations} transactions, ${component.searchSteps} steps)`);
  }
  if (result.watch !== undefined && result.watch !== null) {
    const watch = result.watch;
    lines.push(`  watch: ${watch.problems.length === 0 ? 'ok' : 'FAILED'}, ${watch.eventsChecked} events of ${watch.watchers} watchers checked against ${watch.writesChecked} acknowledged writes (problems are listed under problems)`);
  }
  if (result.leaseCheck !== undefined && result.leaseCheck !== null) {
    const lease = result.leaseCheck;
    lines.push(
      `  leases: ${lease.violations.length === 0 ? 'every rule held' : `${lease.violations.length} VIOLATION(S) (listed under problems)`}: ${lease.leases} leases, ${lease.keysAttached} keys attached, ${lease.readsChecked} reads checked, ${lease.renewals} renewals, ${lease.revoked} revoked, ${lease.expiredObserved} seen to expire`,
    );
  }
  lines.push('');
  lines.push(`lost acknowledged writes: ${result.lost}`);
  if (result.durability !== null) for (const line of [...result.durability.losses, ...result.durability.problems]) lines.push(`  ${line}`);
  lines.push('');
  if (result.convergence === null) lines.push('convergence: not checked');
  else {
    lines.push(`convergence: ${result.convergence.matches ? 'every node holds the same keyspace' : 'KEYSPACES DIFFER'} at applied index ${result.convergence.appliedIndex}`);
    for (const node of result.convergence.nodes) lines.push(`  ${node.id}: ${node.keys} keys, sha256 ${node.digest.slice(0, 16)}`);
    for (const difference of result.convergence.differences) lines.push(`  ${difference}`);
  }
  lines.push('');
  lines.push(`event loop delay: ${result.loopDelay === null ? 'not collected' : describeLoopDelay(result.loopDelay)}`);
  if (result.unexpectedExits.length > 0) {
    lines.push('');
    lines.push('unexpected node exits:');
    for (const exit of result.unexpectedExits) lines.push(`  ${exit.id} pid ${exit.pid} code ${exit.code} signal ${exit.signal} at ${s(exit.atMs)}`);
  }
  lines.push('');
  lines.push(result.problems.length === 0 ? 'guards: all held' : 'problems:');
  for (const problem of result.problems) lines.push(`  - ${problem}`);
  lines.push('');
  lines.push(summaryLine(result));
  return `${lines.join('\n')}\n`;
}

/** What report.html draws besides the result: the operations and the nodes' roles over time. */
export interface ReportTimeline {
  readonly history: readonly Operation[];
  readonly roles: RoleHistory;
}

/** Writes report.txt, report.json and report.html into the run's directory, in that order. */
export async function writeReport(result: RunResult, timeline: ReportTimeline): Promise<void> {
  await writeFile(join(result.outDir, 'report.txt'), reportText(result), 'utf8');
  // The witness linearizations repeat the whole history (it is in history.jsonl already).
  const linearizability =
    result.linearizability === null
      ? null
      : { ...result.linearizability, perKey: result.linearizability.perKey.map((check) => ('linearization' in check ? { ...check, linearization: undefined } : check)) };
  const json = { summary: summaryLine(result), ...result, linearizability };
  await writeFile(join(result.outDir, 'report.json'), `${JSON.stringify(json, jsonReplacer, 2)}\n`, 'utf8');
  // Last: a page that cannot be written (uPlot missing from node_modules) leaves the text reports.
  await writeReportHtml(result.outDir, {
    title: `raftkv chaos run, seed ${result.config.seed}`,
    passed: result.passed,
    summary: summaryLine(result),
    about: [
      `backend ${result.config.backend}, ${result.config.nodes} nodes, nemesis ${result.config.nemesisText}, workload ${result.config.workload} (${result.config.keys} keys, ${result.config.clients} clients)`,
      `replay: npm run chaos -- ${replayArgs(result.config).join(' ')}`,
      'times are seconds since the harness started; report.txt has every check',
    ],
    clients: result.config.clients,
    history: timeline.history,
    faults: result.faults,
    roles: timeline.roles,
    workloadStartMs: result.workloadStartMs,
    workloadEndMs: result.workloadEndMs,
    violations: result.violations,
    verdictNotes: (result.linearizability?.perKey ?? []).flatMap((check) => (check.verdict === 'unknown' ? [`key ${JSON.stringify(check.key)}: linearizability unknown (${check.reason})`] : [])),
    durability: result.durability,
    problems: result.problems,
  });
}

/** The flags that replay a run's configuration (the same seed gives the same fault schedule). */
export function replayArgs(config: ChaosConfig): string[] {
  return [
    '--backend', config.backend,
    ...(config.backend === 'docker' && config.image !== defaultImage ? ['--image', config.image] : []),
    '--nodes', String(config.nodes),
    '--nemesis', config.nemesisText,
    '--duration', String(config.durationMs / 1000),
    '--clients', String(config.clients),
    '--seed', String(config.seed),
    '--workload', config.workload,
    ...config.unsafe.map((canary) => `--unsafe-${canary}`),
    ...(config.tls ? ['--tls'] : []),
    ...(config.auth ? ['--auth'] : []),
  ];
}

/** JSON has no Infinity: an indeterminate completion or limit is written as null. */
function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}
