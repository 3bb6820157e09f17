/**
 * report.html: one self-contained page per run (no network: the page script, uPlot and the
 * run's data are inlined). What it shows, and how the data is laid out, is in chaos/README.md.
 * The page itself is chaos/report-page.js; this module gathers the data and writes the file.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type FailingCore, type Operation } from './checker/index.js';
import { assertNever } from './checker/history.js';
import type { FaultRecord } from './nemesis-runner.js';
import type { RoleHistory } from './role-timeline.js';
import type { Durability } from './workloads/workload.js';

/** Process ids at or above this are the harness's final reads (as in run.ts). */
export const finalReadProcessBase = 1_000_000;

/** What the page is drawn from; everything a run knows that the timeline needs. */
export interface ReportInput {
  readonly title: string;
  readonly passed: boolean;
  readonly summary: string;
  /** Lines of context under the title (configuration, replay command). */
  readonly about: readonly string[];
  readonly clients: number;
  readonly history: readonly Operation[];
  readonly faults: readonly Pick<FaultRecord, 'index' | 'kind' | 'description' | 'status' | 'startedMs' | 'healStartedMs' | 'healedMs'>[];
  readonly roles: RoleHistory;
  readonly workloadStartMs: number | null;
  readonly workloadEndMs: number | null;
  readonly violations: readonly FailingCore[];
  /** Keys the checker could not decide, or found not linearizable without a shrunk set. */
  readonly verdictNotes: readonly string[];
  readonly durability: Durability | null;
  readonly problems: readonly string[];
}

/**
 * One operation as the page reads it, a tuple to keep large runs small:
 * [lane, invokeMs, completeMs (null: never), kind, outcome, key, in, out, history index, process].
 */
export type PageOperation = readonly [number, number, number | null, Operation['kind'], Operation['outcome'], string, string, string, number, number];

/** The JSON embedded in report.html (`<script id="report-data">`). */
export interface ReportData {
  readonly title: string;
  readonly passed: boolean;
  readonly summary: string;
  readonly about: readonly string[];
  /** Lane names: "client 0".. and, if any, "final reads". */
  readonly lanes: readonly string[];
  readonly ops: readonly PageOperation[];
  readonly startMs: number;
  readonly endMs: number;
  readonly workloadStartMs: number | null;
  readonly workloadEndMs: number | null;
  readonly faults: readonly { readonly index: number; readonly name: string; readonly description: string; readonly status: string; readonly fromMs: number; readonly healFromMs: number | null; readonly toMs: number | null }[];
  readonly roles: readonly { readonly node: string; readonly spans: readonly { readonly fromMs: number; readonly toMs: number; readonly role: string; readonly term: number | null }[] }[];
  /** Per second of the run: completed operations, and latency of those that completed. */
  readonly series: { readonly t: readonly number[]; readonly opsPerSecond: readonly number[]; readonly p50Ms: readonly (number | null)[]; readonly p99Ms: readonly (number | null)[]; readonly maxMs: readonly (number | null)[] };
  readonly violations: readonly { readonly key: string; readonly ops: readonly number[]; readonly blocked: number; readonly minimal: boolean; readonly explanation: string }[];
  readonly lost: readonly { readonly key: string; readonly text: string; readonly ops: readonly number[] }[];
  readonly notes: readonly string[];
  readonly problems: readonly string[];
}

/** The page's data from a run's input. */
export function reportData(input: ReportInput): ReportData {
  const finalLane = input.clients;
  const hasFinalReads = input.history.some((op) => op.process >= finalReadProcessBase);
  const ops = input.history.map((op, index): PageOperation => {
    const lane = op.process >= finalReadProcessBase ? finalLane : op.process % input.clients;
    const complete = op.outcome === 'indeterminate' || !Number.isFinite(op.completeTime) ? null : op.completeTime;
    const [valueIn, valueOut] = operationValues(op);
    return [lane, op.invokeTime, complete, op.kind, op.outcome, op.key, valueIn, valueOut, index, op.process];
  });
  let startMs = input.workloadStartMs ?? Infinity;
  let endMs = input.workloadEndMs ?? -Infinity;
  for (const op of input.history) {
    startMs = Math.min(startMs, op.invokeTime);
    endMs = Math.max(endMs, op.invokeTime, Number.isFinite(op.completeTime) ? op.completeTime : op.invokeTime);
  }
  for (const fault of input.faults) if (fault.healedMs !== null) endMs = Math.max(endMs, fault.healedMs);
  if (!Number.isFinite(startMs)) startMs = 0;
  if (!Number.isFinite(endMs) || endMs <= startMs) endMs = startMs + 1000;

  return {
    title: input.title,
    passed: input.passed,
    summary: input.summary,
    about: input.about,
    lanes: [...Array.from({ length: input.clients }, (_, i) => `client ${i}`), ...(hasFinalReads ? ['final reads'] : [])],
    ops,
    startMs,
    endMs,
    workloadStartMs: input.workloadStartMs,
    workloadEndMs: input.workloadEndMs,
    faults: input.faults
      .filter((fault) => fault.startedMs !== null)
      .map((fault) => ({ index: fault.index, name: fault.kind, description: fault.description, status: fault.status, fromMs: fault.startedMs as number, healFromMs: fault.healStartedMs, toMs: fault.healedMs ?? fault.healStartedMs })),
    roles: [...input.roles].map(([node, spans]) => ({ node, spans: spans.map((span) => ({ ...span })) })),
    series: operationSeries(input.history.filter((op) => op.process < finalReadProcessBase), startMs, endMs),
    violations: input.violations.map((core) => ({ key: core.key, ops: core.operations.map((op) => op.index), blocked: core.blocked.index, minimal: core.minimal, explanation: core.explanation })),
    lost: lostMarks(input.history, input.durability),
    notes: input.verdictNotes,
    problems: input.problems,
  };
}

/** [what the operation sent, what it got back], as the page shows them. */
function operationValues(op: Operation): [string, string] {
  const show = (value: string | null): string => (value === null ? 'nil' : value);
  switch (op.kind) {
    case 'get':
      return ['', op.outcome === 'ok' ? show(op.value) : ''];
    case 'put':
      return [op.value, ''];
    case 'cas':
      return [`${show(op.expected)} -> ${op.value}`, op.outcome === 'ok' ? 'swapped' : op.outcome === 'fail' ? 'compare failed' : ''];
    default:
      return assertNever(op);
  }
}

/**
 * Completed operations (ok or fail) per second of [startMs, endMs], by completion time, and the
 * latency (completion - invocation) of those: median, 99th percentile and worst.
 */
export function operationSeries(history: readonly Operation[], startMs: number, endMs: number): ReportData['series'] {
  const seconds = Math.max(1, Math.ceil((endMs - startMs) / 1000));
  const latencies: number[][] = Array.from({ length: seconds }, () => []);
  for (const op of history) {
    if (op.outcome !== 'ok' && op.outcome !== 'fail') continue;
    const bucket = Math.floor((op.completeTime - startMs) / 1000);
    if (bucket < 0 || bucket >= seconds) continue;
    latencies[bucket]!.push(op.completeTime - op.invokeTime);
  }
  const quantile = (sorted: readonly number[], q: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  const sortedAll = latencies.map((bucket) => [...bucket].sort((a, b) => a - b));
  const round = (value: number | null): number | null => (value === null ? null : Math.round(value * 10) / 10);
  return {
    t: sortedAll.map((_, i) => (startMs + i * 1000) / 1000),
    opsPerSecond: sortedAll.map((bucket) => bucket.length),
    p50Ms: sortedAll.map((bucket) => round(quantile(bucket, 0.5))),
    p99Ms: sortedAll.map((bucket) => round(quantile(bucket, 0.99))),
    maxMs: sortedAll.map((bucket) => round(bucket.length === 0 ? null : bucket[bucket.length - 1]!)),
  };
}

/**
 * Lost acknowledged writes, with the operations to mark: for registers the suspects (one of them
 * was lost), for appends the acknowledged cas that appended each missing element (its value
 * ends with the element).
 */
export function lostMarks(history: readonly Operation[], durability: Durability | null): ReportData['lost'] {
  if (durability === null) return [];
  const marks: { key: string; text: string; ops: number[] }[] = [];
  switch (durability.workload) {
    case 'register':
      for (const entry of durability.detail.perKey) {
        if (entry.status !== 'lost') continue;
        const final = entry.finalValue === null ? 'nil' : JSON.stringify(entry.finalValue);
        marks.push({
          key: entry.key,
          text: `key ${JSON.stringify(entry.key)} ended at ${final}: one of the acknowledged writes ${entry.suspects.map((s) => `#${s.index}`).join(', ')} (the last ones to complete) was lost`,
          ops: entry.suspects.map((s) => s.index),
        });
      }
      break;
    case 'append':
      for (const entry of durability.detail.perKey) {
        if (entry.status !== 'checked' || entry.missing.length === 0) continue;
        const missing = new Set(entry.missing);
        const ops: number[] = [];
        history.forEach((op, index) => {
          if (op.key !== entry.key || op.kind !== 'cas' || op.outcome !== 'ok') return;
          const element = op.value.split(' ').pop();
          if (element !== undefined && missing.has(element)) ops.push(index);
        });
        marks.push({ key: entry.key, text: `key ${JSON.stringify(entry.key)} lost acknowledged appends ${entry.missing.join(', ')}`, ops });
      }
      break;
    default:
      return assertNever(durability);
  }
  return marks;
}

/** The page: data, script, uPlot and styles inlined. */
export function reportHtml(data: ReportData): string {
  const title = escapeHtml(data.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>${uplotCss()}</style>
<style>${pageCss()}</style>
</head>
<body>
<noscript>This report draws its timeline with JavaScript; the data is in the report-data script element, report.txt has the text.</noscript>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${uplotJs()}</script>
<script>${pageJs()}</script>
</body>
</html>
`;
}

/** Writes report.html into `dir`; returns its path. */
export async function writeReportHtml(dir: string, input: ReportInput): Promise<string> {
  const path = join(dir, 'report.html');
  await writeFile(path, reportHtml(reportData(input)), 'utf8');
  return path;
}

/** JSON that cannot end its script element early: `<` is written as \u003c (still valid JSON). */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const require = createRequire(import.meta.url);
let assets: { uplotJs: string; uplotCss: string; pageJs: string; pageCss: string } | undefined;

/** Read once per process: uPlot from node_modules, the page from beside this module. */
function loadAssets(): NonNullable<typeof assets> {
  assets ??= {
    // uPlot's minified build contains no `</script`, so it can be inlined as it is.
    uplotJs: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    uplotCss: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    pageJs: readFileSync(new URL('./report-page.js', import.meta.url), 'utf8'),
    pageCss: readFileSync(new URL('./report-page.css', import.meta.url), 'utf8'),
  };
  return assets;
}
const uplotJs = (): string => loadAssets().uplotJs;
const uplotCss = (): string => loadAssets().uplotCss;
const pageJs = (): string => loadAssets().pageJs;
const pageCss = (): string => loadAssets().pageCss;
