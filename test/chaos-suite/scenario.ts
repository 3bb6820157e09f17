/**
 * Runs chaos scenarios on the docker backend for the `npm run test:chaos` suite, and the checks
 * every scenario shares. Each run's history, node logs, data and report stay in
 * $RAFTKV_CHAOS_SUITE_OUT/<scenario>/ (default: raftkv-chaos-suite/ under the system temp dir),
 * and one line of figures per scenario is appended to summary.tsv there.
 */
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ClusterBackend } from '../../chaos/backend.js';
import { dockerPreflight } from '../../chaos/docker-backend.js';
import { describeCheck, type FaultRecord } from '../../chaos/nemesis-runner.js';
import { chaosConfig, defaultImage, type ChaosConfig } from '../../chaos/options.js';
import type { RunResult } from '../../chaos/report.js';
import { runChaos } from '../../chaos/run.js';

/** The node image the suite runs (deploy/build-image.sh). */
export const suiteImage = process.env.RAFTKV_CHAOS_IMAGE ?? defaultImage;
export const suiteOutDir = process.env.RAFTKV_CHAOS_SUITE_OUT ?? join(tmpdir(), 'raftkv-chaos-suite');

let preflight: Promise<void> | null = null;

/**
 * Fails (never skips) when Docker cannot be used, with what to do about it. Every test calls it
 * first, so each one fails with the reason rather than being skipped by a failed hook.
 */
export function requireDocker(): Promise<void> {
  preflight ??= dockerPreflight(suiteImage).catch((error: unknown) => {
    throw new Error(
      `the docker chaos suite cannot run: ${(error as Error).message}\n` +
        'It needs, as root: a Docker engine (deploy/docker-engine.sh start), the base image and the node image ' +
        `(deploy/make-base-image.sh && deploy/build-image.sh ${suiteImage} raftkv-base:local). .ci/run does all of this.`,
      { cause: error },
    );
  });
  return preflight;
}

// Whatever way a test process ends, no container of a run outlives it: on exit, and on a
// signal (vitest's workers are ended with one when the run is interrupted or times out), the
// live backends are removed at once; then the signal does what it would have done.
const liveBackends = new Set<ClusterBackend>();
const killLiveBackends = (): void => {
  for (const backend of liveBackends) backend.killAllNow();
  liveBackends.clear();
};
process.on('exit', killLiveBackends);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = (): void => {
    killLiveBackends();
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  };
  process.on(signal, onSignal);
}

/** Keeps a backend to be force-removed if the process exits before it is stopped. */
export function trackBackend(backend: ClusterBackend): void {
  liveBackends.add(backend);
}

export interface Scenario {
  readonly name: string;
  readonly config: Partial<ChaosConfig> & Pick<ChaosConfig, 'seed' | 'nemesis'>;
}

/** Runs one scenario on the docker backend; logs progress prefixed with its name. */
export async function runScenario(scenario: Scenario): Promise<RunResult> {
  await requireDocker();
  const outDir = join(suiteOutDir, scenario.name);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const config = chaosConfig({ backend: 'docker', image: suiteImage, outDir, ...scenario.config });
  const startedMs = performance.now();
  let backend: ClusterBackend | null = null;
  try {
    const result = await runChaos(config, {
      log: (line) => console.log(`[${scenario.name}] ${line}`),
      signal: new AbortController().signal,
      onBackend: (created) => {
        backend = created;
        trackBackend(created);
      },
    });
    recordFigures(scenario.name, result, performance.now() - startedMs);
    return result;
  } finally {
    if (backend !== null) liveBackends.delete(backend);
  }
}

/** Every injected fault confirmed and healed, none failed to inject, at least one injected. */
export function expectFaultsConfirmed(result: RunResult): void {
  expect(result.faultsInjected, 'faults injected').toBeGreaterThan(0);
  for (const fault of result.faults) {
    expect(fault.status, `fault ${fault.index} (${fault.planned}): ${fault.error ?? ''}`).not.toBe('failed');
    if (fault.status !== 'injected') continue;
    const required = fault.confirmations.filter((check) => check.required);
    expect(required.length, `fault ${fault.index} (${fault.description}) has a required confirmation`).toBeGreaterThan(0);
    for (const check of [...fault.confirmations, ...fault.healChecks].filter((c) => c.required)) {
      expect(check.ok, `fault ${fault.index} (${fault.description}): ${describeCheck(check)}`).toBe(true);
    }
  }
}

/** The run passed: linearizable, nothing lost, enough operations, faults confirmed, every guard held. */
export function expectPassed(result: RunResult): void {
  expect(result.problems, 'guards').toEqual([]);
  expect(result.linearizable, 'linearizable').toBe('yes');
  expect(result.lost, 'lost acknowledged writes').toBe(0);
  expect(result.ops.completed, 'completed operations').toBeGreaterThanOrEqual(result.config.minOps);
  expectFaultsConfirmed(result);
  expect(result.passed, 'passed').toBe(true);
}

/** The kinds of the faults that were injected, in order. */
export function injectedKinds(result: RunResult): FaultRecord['kind'][] {
  return result.faults.filter((fault) => fault.status === 'injected').map((fault) => fault.kind);
}

/** Injected faults whose description names the leader as the target ("kill -9 n2 (leader, term 3)"). */
export function leaderFaults(result: RunResult, kind: FaultRecord['kind']): FaultRecord[] {
  return result.faults.filter((fault) => fault.kind === kind && fault.status === 'injected' && /\(leader, term \d+\)/.test(fault.description));
}

const summaryHeader = 'scenario\tnodes\tnemesis\tduration_s\tops\tcompleted\tfaults_injected\tfaults_confirmed\tops_per_s_during_faults\tops_per_s_outside\tlinearizable\tlost\tloop_delay_max_ms\tpassed\twall_s\n';

function recordFigures(name: string, result: RunResult, wallMs: number): void {
  const file = join(suiteOutDir, 'summary.tsv');
  if (!existsSync(file)) writeFileSync(file, summaryHeader);
  const confirmed = result.faults.filter(
    (fault) => fault.status === 'injected' && [...fault.confirmations, ...fault.healChecks].every((check) => check.ok || !check.required),
  ).length;
  const rate = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : value.toFixed(1));
  const fields = [
    name,
    result.config.nodes,
    result.config.nemesisText,
    result.config.durationMs / 1000,
    result.ops.total,
    result.ops.completed,
    result.faultsInjected,
    confirmed,
    rate(result.throughput?.opsPerSecondDuringFaults),
    rate(result.throughput?.opsPerSecondOutsideFaults),
    result.linearizable,
    result.lost,
    result.loopDelay?.worstMs ?? '-',
    result.passed,
    (wallMs / 1000).toFixed(0),
  ];
  appendFileSync(file, `${fields.join('\t')}\n`);
  console.log(
    `[${name}] figures: ${result.ops.total} ops (${result.ops.completed} completed), ${result.faultsInjected} faults injected (${confirmed} confirmed), ` +
      `${rate(result.throughput?.opsPerSecondDuringFaults)} ops/s during faults, ${rate(result.throughput?.opsPerSecondOutsideFaults)} outside, ` +
      `linearizable=${result.linearizable}, lost=${result.lost}, loop-delay-max=${result.loopDelay?.worstMs ?? '-'}ms, ${(wallMs / 1000).toFixed(0)} s; out ${result.outDir}`,
  );
}
