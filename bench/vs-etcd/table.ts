import type { SystemName } from './options.js';
import { cpuSpread, goalMet, metricStat, ratio, rowSpecs, runsOf, stat, type GoalCheck, type Metric, type RowSpec, type RunRecord, type Stat } from './summary.js';

/** Where and with what the figures were taken: the table's heading. */
export interface RunContext {
  readonly startedAt: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly loadStart: readonly number[];
  readonly loadEnd: readonly number[];
  readonly nodeVersion: string;
  readonly etcdVersion: string;
  readonly raftkvCommit: string;
  readonly command: string;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly serverWarmupS: number;
  readonly keys: number;
  readonly valueBytes: number;
}

const metricNames: Record<Metric, string> = { opsPerSecond: 'ops/s', p50Ms: 'p50', p99Ms: 'p99', serverCpuUsPerOp: 'CPU/op' };

/** The whole report: heading, the comparison table, per-run details and any runs with errors. */
export function renderReport(context: RunContext, records: readonly RunRecord[]): string {
  const load = (l: readonly number[]): string => l.map((v) => v.toFixed(2)).join(' ');
  const lines = [
    `## raftkv vs etcd, ${context.startedAt}`,
    '',
    `- Machine: ${context.nproc} cores (${context.cpuModel}), load average ${load(context.loadStart)} at start, ${load(context.loadEnd)} at end`,
    `- Node ${context.nodeVersion}, etcd ${context.etcdVersion}, raftkv ${context.raftkvCommit}`,
    `- Command: \`${context.command}\``,
    `- ${context.rounds} round${context.rounds === 1 ? '' : 's'} alternating the systems, 3 nodes each on loopback, one load-generator process; ` +
      `16-byte keys over ${context.keys.toLocaleString('en-US')}, ${context.valueBytes}-byte values, ${context.durationS} s per run after ${context.warmupS} s of warm-up, ` +
      `each fresh cluster first warmed up by ${context.serverWarmupS} s of puts at 64 in flight. ` +
      'Medians over the rounds, (min-max) when there are several; ratio is raftkv / etcd.',
    '',
    renderComparison(context, records),
    '',
    renderDetails(records),
  ];
  const failed = records.filter((r) => r.errors > 0 || r.ops === 0);
  if (failed.length > 0) {
    lines.push('', '**Runs with errors** (their figures are in the table, marked ⚠):', '');
    for (const r of failed) lines.push(`- round ${r.round}, ${r.system} ${r.workload}: ${r.errors} errors, ${r.ops} ops; first: ${r.firstError ?? '(none)'}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Issue 11's table: one row per workload, both systems, the ratio and whether the goal is met. */
export function renderComparison(context: Pick<RunContext, 'etcdVersion'>, records: readonly RunRecord[]): string {
  const lines = [
    `| workload (client → leader) | etcd ${context.etcdVersion} | raftkv | ratio | goal | met |`,
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const spec of rowSpecs) {
    if (!records.some((r) => r.workload === spec.workload)) continue;
    const cell = (system: SystemName): string => systemCell(spec, runsOf(records, system, spec.workload));
    const met = goalMet(spec, records);
    lines.push(`| ${spec.label} | ${cell('etcd')} | ${cell('raftkv')} | ${ratioCell(spec, records)} | ${goalText(spec.goal)} | ${met === null ? '—' : met ? 'yes' : 'no'} |`);
  }
  return lines.join('\n');
}

function systemCell(spec: RowSpec, runs: readonly RunRecord[]): string {
  if (runs.length === 0) return '—';
  const flag = runs.some((r) => r.errors > 0 || r.ops === 0) ? ' ⚠' : '';
  if (spec.shows === 'cpu') return `${formatStat(metricStat(runs, 'serverCpuUsPerOp'), 0)} µs${flag}`;
  let text = `${formatStat(metricStat(runs, 'opsPerSecond'), 0)} ops/s, p50 ${formatStat(metricStat(runs, 'p50Ms'), 2)} ms${flag}`;
  if (spec.spread === true) {
    const spread = cpuSpread(runs);
    if (spread !== null) text += `; CPU ${spread}`;
  }
  return text;
}

function ratioCell(spec: RowSpec, records: readonly RunRecord[]): string {
  const metrics: Metric[] = spec.shows === 'cpu' ? ['serverCpuUsPerOp'] : ['opsPerSecond', 'p50Ms'];
  return metrics
    .map((metric) => {
      const value = ratio(metricStat(runsOf(records, 'raftkv', spec.workload), metric), metricStat(runsOf(records, 'etcd', spec.workload), metric));
      return `${spec.shows === 'cpu' ? '' : `${metricNames[metric]} `}${value === null ? '—' : `${value.toFixed(2)}×`}`;
    })
    .join(', ');
}

/** "ops/s ≥ 1.5×, p50 ≤ 0.7×", or — when the row has no goal. */
export function goalText(goal: readonly GoalCheck[]): string {
  if (goal.length === 0) return '—';
  return goal.map((check) => `${metricNames[check.metric]} ${check.bound === 'min' ? '≥' : '≤'} ${check.ratio}×`).join(', ');
}

/** "5,300 (5,100-5,400)": a median with its range when there are several values. */
export function formatStat(value: Stat | null, digits: number): string {
  if (value === null) return '—';
  const f = (v: number): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return value.n > 1 ? `${f(value.median)} (${f(value.min)}-${f(value.max)})` : f(value.median);
}

/** Every figure recorded per system and workload, medians over the rounds. */
export function renderDetails(records: readonly RunRecord[]): string {
  const lines = [
    '| system | workload | runs | ops/s | p50 ms | p99 ms | servers µs CPU/op (leader, followers) | generator µs CPU/op | generator % of a core | RSS MiB at end (leader, followers) | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const seen = new Set<string>();
  for (const r of records) {
    const key = `${r.system}/${r.workload}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const runs = runsOf(records, r.system, r.workload);
    const measured = runs.filter((x) => x.ops > 0);
    const perNode = (pick: (x: RunRecord) => number[]): string => {
      const columns: number[][] = [];
      for (const x of measured) pick(x).forEach((v, i) => (columns[i] ??= []).push(v));
      return columns.map((c) => (stat(c)?.median ?? 0).toFixed(0)).join(' / ');
    };
    const ordered = (x: RunRecord) => [...x.servers].sort((a, b) => Number(b.leader) - Number(a.leader));
    const nodeCpu = perNode((x) => ordered(x).map((s) => (1000 * s.cpuMs) / x.ops));
    const nodeRss = perNode((x) => ordered(x).map((s) => (s.rssKiB ?? 0) / 1024));
    const generator = stat(measured.map((x) => x.generatorCpuUsPerOp).filter((v): v is number => v !== null));
    // A generator near 100% of a core limits the run: the figure is then the client's, not the servers'.
    const generatorShare = stat(measured.map((x) => (100 * x.generatorCpuMs) / (1000 * x.seconds)));
    lines.push(
      `| ${r.system} | ${r.workload} | ${runs.length} | ${formatStat(metricStat(runs, 'opsPerSecond'), 0)} | ${formatStat(metricStat(runs, 'p50Ms'), 2)} | ${formatStat(metricStat(runs, 'p99Ms'), 2)} | ` +
        `${formatStat(metricStat(runs, 'serverCpuUsPerOp'), 0)}${nodeCpu === '' ? '' : `: ${nodeCpu}`} | ${formatStat(generator, 0)} | ${formatStat(generatorShare, 0)} | ${nodeRss === '' ? '—' : nodeRss} | ${runs.reduce((s, x) => s + x.errors, 0)} |`,
    );
  }
  return lines.join('\n');
}
