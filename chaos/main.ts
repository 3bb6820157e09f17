/**
 * `npm run chaos -- --backend process --nodes 3 --nemesis all --duration 60 --clients 5 --seed 1`
 *
 * Prints progress, then exactly one summary line
 *   chaos: <ops> ops, <faults> faults, linearizable=<yes|no|unknown>, lost=<n>, seed=<s>, loop-delay-max=<ms>ms
 * Exit codes: 0 the run passed (linearizable=yes, lost=0, every guard held); 1 it failed;
 * 2 bad arguments (the message names the flag); 130 interrupted (SIGINT/SIGTERM).
 */
import { parseChaosArgs, usage } from './options.js';
import type { ClusterBackend } from './backend.js';
import { formatSummary } from './report.js';
import { runChaos } from './run.js';

const parsed = parseChaosArgs(process.argv.slice(2));
if (parsed.kind === 'help') {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (parsed.kind === 'error') {
  process.stderr.write(`chaos: ${parsed.message}\n${usage}\n`);
  process.exit(2);
}
const config = parsed.config;

const controller = new AbortController();
let backend: ClusterBackend | null = null;
let firstSignalMs: number | null = null;
const onSignal = (signal: NodeJS.Signals): void => {
  if (firstSignalMs === null) {
    firstSignalMs = performance.now();
    process.stderr.write(`chaos: ${signal}: stopping the cluster (again to kill it at once)\n`);
    controller.abort(new Error(signal));
    return;
  }
  // One Ctrl-C can arrive several times: from the terminal to the whole process group, and
  // relayed by the npm and tsx wrappers. Only a signal well after the first one means "now".
  if (performance.now() - firstSignalMs < 2000) return;
  backend?.killAllNow();
  process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Last resort: whatever way this process ends, no node outlives it.
process.on('exit', () => backend?.killAllNow());

try {
  const result = await runChaos(config, {
    log: (line) => process.stdout.write(`${line}\n`),
    signal: controller.signal,
    onBackend: (created) => {
      backend = created;
    },
  });
  process.exitCode = result.interrupted ? 130 : result.passed ? 0 : 1;
} catch (error) {
  // runChaos handles the run's own failures; this is a failure to set it up (ports, disk).
  process.stderr.write(`chaos: ${(error as Error).stack ?? String(error)}\n`);
  process.stdout.write(`${formatSummary({ ops: 0, faults: 0, linearizable: 'unknown', lost: 0, seed: config.seed, loopDelayMaxMs: null })}\n`);
  process.exitCode = 1;
}
