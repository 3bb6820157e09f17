import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHistoryJsonLines } from '../../chaos/checker/index.js';
import { chaosConfig } from '../../chaos/options.js';
import type { ClusterBackend } from '../../chaos/backend.js';
import type { ReportData } from '../../chaos/report-html.js';
import { summaryLine, type RunResult } from '../../chaos/report.js';
import { runChaos } from '../../chaos/run.js';

/**
 * One short end-to-end run of the process backend: 3 real `raftkv start` processes behind the
 * harness's link proxies, 3 clients, partition-leader and kill -9 under load, then the full
 * checks. About 30 s; every wait inside the run is on a condition with a deadline.
 */
describe('a chaos run on the process backend', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'raftkv-chaos-test-'));
  let backend: ClusterBackend | null = null;
  let result: RunResult;
  const lines: string[] = [];

  afterAll(async () => {
    await backend?.stop();
    rmSync(outDir, { recursive: true, force: true });
  });

  it('injects confirmed faults, stays linearizable and loses nothing', async () => {
    const config = chaosConfig({
      nodes: 3,
      nemesis: ['partition-leader', 'kill'],
      nemesisText: 'partition-leader,kill',
      durationMs: 20_000,
      clients: 3,
      seed: 20_240_601,
      outDir,
      minOps: 100,
      // Short faults so both kinds fit in 20 s: the plan deals each named kind once first.
      warmupMs: 1000,
      holdMsMin: 2000,
      holdMsMax: 2500,
      gapMsMin: 500,
      gapMsMax: 1000,
      recoveryMs: 4000,
    });
    result = await runChaos(config, {
      log: (line) => lines.push(line),
      signal: new AbortController().signal,
      onBackend: (created) => {
        backend = created;
      },
    });
    const context = `\n${lines.join('\n')}`;

    expect(result.problems, context).toEqual([]);
    expect(result.linearizable, context).toBe('yes');
    expect(result.lost, context).toBe(0);
    expect(result.passed, context).toBe(true);

    // Both kinds were planned and injected, and every required confirmation held.
    const kinds = result.faults.filter((fault) => fault.status === 'injected').map((fault) => fault.kind);
    expect(new Set(kinds), context).toEqual(new Set(['partition-leader', 'kill']));
    expect(result.faultsInjected).toBeGreaterThanOrEqual(2);
    for (const fault of result.faults.filter((f) => f.status === 'injected')) {
      expect(fault.confirmations.length, context).toBeGreaterThan(0);
      for (const check of [...fault.confirmations, ...fault.healChecks].filter((c) => c.required)) {
        expect(check.ok, `${fault.description}: ${check.what}: ${check.detail}${context}`).toBe(true);
      }
    }
    const isolation = result.faults.find((fault) => fault.kind === 'partition-leader');
    expect(isolation?.confirmations.map((check) => check.what).join('\n')).toMatch(/cut links fails[\s\S]*does not lead/);

    expect(result.ops.completed).toBeGreaterThanOrEqual(100);
    expect(result.convergence?.matches).toBe(true);
    expect(result.ops.recoveredPerClient.every((count) => count > 0)).toBe(true);
  }, 90_000);

  it('writes the history, the report and the node logs, and ends with one summary line', () => {
    const history = parseHistoryJsonLines(readFileSync(join(outDir, 'history.jsonl'), 'utf8'));
    expect(history).toHaveLength(result.ops.total);
    const report = readFileSync(join(outDir, 'report.txt'), 'utf8');
    expect(report.trimEnd().split('\n').at(-1)).toBe(summaryLine(result));
    expect(summaryLine(result)).toMatch(/^chaos: \d+ ops, \d+ faults, linearizable=yes, lost=0, seed=20240601, loop-delay-max=\d+ms$/);
    // Every node reported its loop delays through Status, and the report names the worst.
    expect(result.loopDelay?.nodes.map((node) => node.samples > 0)).toEqual([true, true, true]);
    expect(report).toMatch(/^event loop delay: worst \d+ ms on n\d \(election timeout \d+ ms\); n1 \d+ ms/m);
    expect(JSON.parse(readFileSync(join(outDir, 'report.json'), 'utf8'))).toMatchObject({ passed: true, linearizable: 'yes' });
    for (const id of ['n1', 'n2', 'n3']) expect(existsSync(join(outDir, 'nodes', `${id}.log`))).toBe(true);
    // report.html embeds every operation and each node's roles as the Status polls saw them.
    const html = readFileSync(join(outDir, 'report.html'), 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? 'null') as ReportData;
    expect(data.ops).toHaveLength(result.ops.total);
    expect(data.faults.length).toBe(result.faultsInjected);
    expect(data.roles.map((role) => role.node).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(data.roles.some((role) => role.spans.some((span) => span.role === 'leader'))).toBe(true);
    // The kill shows: the killed node stopped answering for a while.
    expect(data.roles.some((role) => role.spans.some((span) => span.role === 'down'))).toBe(true);
    expect(lines.filter((line) => line.includes('chaos: ') && line.includes('linearizable='))).toHaveLength(1);
    // The summary is the last line of the output, unprefixed, so scripts can grep '^chaos: '.
    expect(lines.at(-1)).toBe(summaryLine(result));
  });

  it('leaves no node process running', () => {
    expect(backend).not.toBeNull();
    for (const id of backend!.nodeIds) {
      expect(backend!.nodeState(id)).toBe('stopped');
      expect(backend!.describeNode(id)).toMatch(/ pid - /);
    }
    expect(backend!.unexpectedExits()).toEqual([]);
  });
});
