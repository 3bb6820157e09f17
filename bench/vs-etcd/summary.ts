import type { SystemName, Workload } from './options.js';

/** One server's share of a run. */
export interface ServerSample {
  readonly id: string;
  readonly leader: boolean;
  /** utime + stime over the measured run. */
  readonly cpuMs: number;
  /** VmRSS at the end of the run; null if it could not be read. */
  readonly rssKiB: number | null;
}

/** One measured run, as written to results.jsonl. */
export interface RunRecord {
  readonly type: 'run';
  readonly round: number;
  readonly system: SystemName;
  readonly workload: string;
  readonly op: Workload['op'];
  readonly concurrency: number;
  readonly endpoints: Workload['endpoints'];
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly servers: readonly ServerSample[];
  /** Sum of the servers' CPU per successful operation, in µs of one core; null without operations. */
  readonly serverCpuUsPerOp: number | null;
  readonly generatorCpuMs: number;
  readonly generatorCpuUsPerOp: number | null;
}

/** A median over rounds with the range it came from. */
export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** Median (the mean of the middle two for an even count) and range; null for no values. */
export function stat(values: readonly number[]): Stat | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, n: sorted.length };
}

/** The figures a table row compares. */
export type Metric = 'opsPerSecond' | 'p50Ms' | 'p99Ms' | 'serverCpuUsPerOp';

/** What raftkv's median must reach as a multiple of etcd's: at least (`min`) or at most (`max`). */
export interface GoalCheck {
  readonly metric: Metric;
  readonly bound: 'min' | 'max';
  readonly ratio: number;
}

/** One row of the comparison table. */
export interface RowSpec {
  readonly label: string;
  readonly workload: string;
  /** 'throughput': ops/s and p50; 'cpu': the servers' CPU per operation. */
  readonly shows: 'throughput' | 'cpu';
  readonly goal: readonly GoalCheck[];
  /** Say how the load spread over the members (from each node's CPU). */
  readonly spread?: boolean;
}

/** The rows of issue 11's table with its goals. */
export const rowSpecs: readonly RowSpec[] = [
  { label: 'put, 1 in flight', workload: 'put-1', shows: 'throughput', goal: [{ metric: 'opsPerSecond', bound: 'min', ratio: 1.5 }, { metric: 'p50Ms', bound: 'max', ratio: 0.7 }] },
  { label: 'put, 64 in flight', workload: 'put-64', shows: 'throughput', goal: [{ metric: 'opsPerSecond', bound: 'min', ratio: 2.5 }] },
  { label: 'put, 256 in flight', workload: 'put-256', shows: 'throughput', goal: [{ metric: 'opsPerSecond', bound: 'min', ratio: 2.5 }] },
  { label: 'linearizable get, 64', workload: 'get-64', shows: 'throughput', goal: [] },
  { label: 'serializable get, 64', workload: 'serializable-get-64', shows: 'throughput', goal: [] },
  { label: 'linearizable get, 64, client given all endpoints', workload: 'get-64-all', shows: 'throughput', goal: [{ metric: 'opsPerSecond', bound: 'min', ratio: 8 }], spread: true },
  { label: "servers' CPU per put at 256 (sum of 3 nodes)", workload: 'put-256', shows: 'cpu', goal: [{ metric: 'serverCpuUsPerOp', bound: 'max', ratio: 0.5 }] },
];

/** The runs of one system and workload over the rounds. */
export function runsOf(records: readonly RunRecord[], system: SystemName, workload: string): RunRecord[] {
  return records.filter((r) => r.system === system && r.workload === workload);
}

/** A metric's median and range over runs; a run without a successful operation has no figures and is left out. */
export function metricStat(runs: readonly RunRecord[], metric: Metric): Stat | null {
  return stat(runs.filter((r) => r.ops > 0).map((r) => r[metric]).filter((v): v is number => v !== null));
}

/** raftkv's median over etcd's; null when either is missing or etcd's is 0. */
export function ratio(raftkv: Stat | null, etcd: Stat | null): number | null {
  if (raftkv === null || etcd === null || etcd.median === 0) return null;
  return raftkv.median / etcd.median;
}

/** Whether one goal check holds for a ratio; null when the ratio is unknown. */
export function checkMet(check: GoalCheck, value: number | null): boolean | null {
  if (value === null) return null;
  return check.bound === 'min' ? value >= check.ratio : value <= check.ratio;
}

/** Whether every check of a row's goal holds: null if there is no goal or a ratio is unknown. */
export function goalMet(spec: RowSpec, records: readonly RunRecord[]): boolean | null {
  if (spec.goal.length === 0) return null;
  let met = true;
  for (const check of spec.goal) {
    const value = ratio(metricStat(runsOf(records, 'raftkv', spec.workload), check.metric), metricStat(runsOf(records, 'etcd', spec.workload), check.metric));
    const ok = checkMet(check, value);
    if (ok === null) return null;
    met &&= ok;
  }
  return met;
}

/** Each node's median share of the servers' CPU in these runs, the leader first, as "leader 60% / 20% / 20%". */
export function cpuSpread(runs: readonly RunRecord[]): string | null {
  const shares: number[][] = [];
  for (const run of runs) {
    const total = run.servers.reduce((sum, s) => sum + s.cpuMs, 0);
    if (total <= 0) continue;
    const ordered = [...run.servers].sort((a, b) => Number(b.leader) - Number(a.leader) || b.cpuMs - a.cpuMs);
    ordered.forEach((s, i) => (shares[i] ??= []).push((100 * s.cpuMs) / total));
  }
  if (shares.length === 0) return null;
  return shares.map((values, i) => `${i === 0 ? 'leader ' : ''}${Math.round(stat(values)?.median ?? 0)}%`).join(' / ');
}
