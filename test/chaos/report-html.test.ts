import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLinearizability, findLostAppends, findLostRegisterWrites, shrinkViolation, type Operation } from '../../chaos/checker/index.js';
import { finalReadProcessBase, lostMarks, operationSeries, writeReportHtml, type ReportData, type ReportInput } from '../../chaos/report-html.js';
import { RoleTimeline } from '../../chaos/role-timeline.js';

const put = (process: number, key: string, value: string, start: number, end: number): Operation => ({ kind: 'put', key, process, invokeTime: start, completeTime: end, value, outcome: 'ok' });
const get = (process: number, key: string, value: string | null, start: number, end: number): Operation => ({ kind: 'get', key, process, invokeTime: start, completeTime: end, value, outcome: 'ok' });

/** A few seconds of two clients on two keys, with a fault in the middle; `stale` adds a stale read of k1. */
function history(stale: boolean): Operation[] {
  const ops: Operation[] = [];
  for (let i = 0; i < 40; i++) {
    const t = 1000 + i * 100;
    ops.push(put(i % 2, `k${i % 2}`, `v${i}`, t, t + 30));
    ops.push(get(i % 2, `k${i % 2}`, `v${i}`, t + 40, t + 60));
  }
  ops.push({ kind: 'cas', key: 'k0', process: 2, invokeTime: 2000, completeTime: Infinity, expected: 'v0', value: 'x', outcome: 'indeterminate' });
  // v1 was written at 1100..1130; v3 overwrote it at 1300..1330.
  if (stale) ops.push(get(3, 'k1', 'v1', 3500, 3520));
  ops.push(get(finalReadProcessBase, 'k0', 'v38', 6000, 6010));
  return ops;
}

function input(ops: Operation[]): ReportInput {
  const result = checkLinearizability(ops, { timeLimitMs: 10_000 });
  const violations = result.perKey.flatMap((check) => (check.verdict === 'not-linearizable' ? [shrinkViolation(ops, check, { timeLimitMs: 5000 })] : []));
  const roles = new RoleTimeline();
  roles.record(1000, new Map([['n1', { role: 'leader', term: 2 }], ['n2', { role: 'follower', term: 2 }]]));
  roles.record(2500, new Map([['n1', null], ['n2', { role: 'candidate', term: 3 }]]));
  roles.record(4000, new Map([['n1', { role: 'follower', term: 3 }], ['n2', { role: 'leader', term: 3 }]]));
  return {
    title: 'raftkv chaos run, seed 1',
    passed: violations.length === 0,
    summary: `chaos: ${ops.length} ops, 1 faults, linearizable=${violations.length === 0 ? 'yes' : 'no'}, lost=0, seed=1, loop-delay-max=5ms`,
    about: ['backend process, 3 nodes'],
    clients: 2,
    history: ops,
    faults: [{ index: 1, kind: 'kill', description: 'kill -9 n1 (leader, term 2)', status: 'injected', startedMs: 2400, healStartedMs: 3000, healedMs: 3600 }],
    roles: roles.history(),
    workloadStartMs: 900,
    workloadEndMs: 5200,
    violations,
    verdictNotes: [],
    durability: null,
    problems: violations.length === 0 ? [] : ['linearizability: the history is not linearizable'],
  };
}

function embeddedData(html: string): ReportData {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  expect(match).not.toBeNull();
  return JSON.parse(match![1]!) as ReportData;
}

describe('report.html', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-report-html-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('for a passing run: one self-contained file embedding every operation, fault and role change', async () => {
    const ops = history(false);
    const path = await writeReportHtml(dir, input(ops));
    expect(path).toBe(join(dir, 'report.html'));
    const html = readFileSync(path, 'utf8');
    // Self-contained: no external script, style or image (the machine that opens it may be offline).
    expect(html).not.toMatch(/<script[^>]*\ssrc=/);
    expect(html).not.toMatch(/<link[^>]*stylesheet/);
    expect(html).not.toMatch(/https?:\/\/[^"'\s]*\.(js|css)\b/);
    expect(html).toContain('uPlot');
    expect(html).toContain('timeline-canvas');
    const data = embeddedData(html);
    expect(data.passed).toBe(true);
    expect(data.ops).toHaveLength(ops.length);
    expect(data.lanes).toEqual(['client 0', 'client 1', 'final reads']);
    const indeterminate = data.ops.find((op) => op[4] === 'indeterminate');
    expect(indeterminate?.[2]).toBeNull();
    expect(indeterminate?.[0]).toBe(0); // process 2 is client 0's after a retire
    expect(indeterminate?.[6]).toBe('v0 -> x');
    expect(data.faults).toEqual([{ index: 1, name: 'kill', description: 'kill -9 n1 (leader, term 2)', status: 'injected', fromMs: 2400, healFromMs: 3000, toMs: 3600 }]);
    expect(data.roles.map((r) => r.node)).toEqual(['n1', 'n2']);
    expect(data.roles[0]!.spans.map((s) => s.role)).toEqual(['leader', 'down', 'follower']);
    expect(data.violations).toEqual([]);
    expect(data.series.opsPerSecond.reduce((a, b) => a + b, 0)).toBe(80);
  });

  it('for a failing run: marks the failing set and carries its explanation', async () => {
    const ops = history(true);
    const report = input(ops);
    const html = readFileSync(await writeReportHtml(dir, report), 'utf8');
    const data = embeddedData(html);
    expect(data.passed).toBe(false);
    expect(data.violations).toHaveLength(1);
    const violation = data.violations[0]!;
    expect(violation.key).toBe('k1');
    const staleIndex = ops.length - 2;
    expect(violation.blocked).toBe(staleIndex);
    // put v1, a later put of k1 that overwrote it before the read began, the stale read.
    expect(violation.ops).toHaveLength(3);
    expect(violation.ops[0]).toBe(2);
    expect(violation.ops[2]).toBe(staleIndex);
    const overwrite = ops[violation.ops[1]!]!;
    expect(overwrite).toMatchObject({ kind: 'put', key: 'k1' });
    expect(overwrite.completeTime).toBeLessThan(3500);
    expect(violation.explanation).toContain('returned "v1"');
    expect(violation.explanation).toContain(`wrote ${JSON.stringify((overwrite as { value: string }).value)}`);
    expect(data.problems).toEqual(['linearizability: the history is not linearizable']);
  });

  it('keeps the data inside its script element whatever the values hold', async () => {
    const ops = [put(0, 'k', '</script><script>alert(1)</script>', 0, 10)];
    const html = readFileSync(await writeReportHtml(dir, { ...input(ops), clients: 1 }), 'utf8');
    expect(html).not.toContain('</script><script>alert(1)');
    expect(embeddedData(html).ops[0]![6]).toBe('</script><script>alert(1)</script>');
  });

  it('marks the acknowledged appends that went missing', async () => {
    const ops: Operation[] = [
      { kind: 'cas', key: 'a0', process: 0, invokeTime: 0, completeTime: 10, expected: null, value: '0-1', outcome: 'ok' },
      { kind: 'cas', key: 'a0', process: 1, invokeTime: 20, completeTime: 30, expected: '0-1', value: '0-1 1-1', outcome: 'ok' },
    ];
    const detail = findLostAppends(new Map([['a0', ['0-1', '1-1']]]), new Map([['a0', ['0-1']]]));
    const durability = { workload: 'append' as const, detail, lost: detail.lostCount, losses: ['key a0 lost acknowledged appends 1-1'], problems: [] };
    const html = readFileSync(await writeReportHtml(dir, { ...input(ops), durability }), 'utf8');
    expect(embeddedData(html).lost).toEqual([{ key: 'a0', text: 'key "a0" lost acknowledged appends 1-1', ops: [1] }]);
  });
});

describe('lostMarks', () => {
  it('marks the suspects of a register key whose final value lost an acknowledged write', () => {
    const ops = [put(0, 'k', 'a', 0, 10), put(1, 'k', 'b', 20, 30), put(2, 'k', 'c', 25, 35)];
    const detail = findLostRegisterWrites(ops, new Map([['k', 'a']]));
    const marks = lostMarks(ops, { workload: 'register', detail, lost: detail.lostCount, losses: [], problems: [] });
    expect(marks).toEqual([{ key: 'k', text: 'key "k" ended at "a": one of the acknowledged writes #1, #2 (the last ones to complete) was lost', ops: [1, 2] }]);
    expect(lostMarks(ops, null)).toEqual([]);
  });
});

describe('operationSeries', () => {
  it('counts completed operations per second and their latency, leaving out unknown outcomes', () => {
    const ops: Operation[] = [put(0, 'k', 'a', 0, 100), put(0, 'k', 'b', 200, 500), put(0, 'k', 'c', 900, 1200), { kind: 'put', key: 'k', process: 1, invokeTime: 300, completeTime: Infinity, value: 'd', outcome: 'indeterminate' }];
    const series = operationSeries(ops, 0, 2000);
    expect(series.t).toEqual([0, 1]);
    expect(series.opsPerSecond).toEqual([2, 1]);
    expect(series.p50Ms).toEqual([300, 300]);
    expect(series.maxMs).toEqual([300, 300]);
  });
});

describe('RoleTimeline', () => {
  it('keeps one span per role and term, extends it while unchanged, and records silence as down', () => {
    const roles = new RoleTimeline();
    roles.record(0, new Map([['n1', { role: 'follower', term: 1 }]]));
    roles.record(1000, new Map([['n1', { role: 'follower', term: 1 }]]));
    roles.record(2000, new Map([['n1', { role: 'leader', term: 2 }]]));
    roles.record(3000, new Map([['n1', null]]));
    expect(roles.history().get('n1')).toEqual([
      { fromMs: 0, toMs: 2000, role: 'follower', term: 1 },
      { fromMs: 2000, toMs: 3000, role: 'leader', term: 2 },
      { fromMs: 3000, toMs: 3000, role: 'down', term: null },
    ]);
  });
});
