import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../src/shared/errors.js';
import { Children, clusterPorts } from './clusters.js';
import { HelpRequested, parseBenchOptions, type BenchOptions, type SystemName } from './options.js';
import { runSession, sessionRoot } from './runner.js';
import type { RunRecord } from './summary.js';
import { renderReport, type RunContext } from './table.js';

/** The repository root (bench/vs-etcd/ is two levels down). */
const repoRoot = resolve(import.meta.dirname, '..', '..');

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(error.message);
      return 0;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`vs-etcd: ${error.message}\n(see --help)\n`);
      return 2;
    }
    throw error;
  }
  // bench/vs-etcd.sh checks the options this way before it installs or builds anything.
  if (process.env.RAFTKV_BENCH_CHECK_OPTIONS === '1') return 0;

  const raftkvCli = resolve(repoRoot, options.raftkvCli);
  if (options.systems.includes('raftkv') && !existsSync(raftkvCli)) throw new ConfigError(`--raftkv-cli: ${raftkvCli} does not exist (build with npx tsc -p tsconfig.build.json)`);
  const etcdVersion = options.systems.includes('etcd') ? etcdVersionOf(options.etcdBinary) : 'not run';
  const outDir = resolve(options.outDir ?? mkdtempSync(join(tmpdir(), 'raftkv-vs-etcd-')));
  mkdirSync(outDir, { recursive: true });
  const resultsFile = join(outDir, 'results.jsonl');
  const tableFile = join(outDir, 'vs-etcd.md');

  const context: Omit<RunContext, 'loadEnd'> = {
    startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    loadStart: loadavg(),
    nodeVersion: process.version,
    etcdVersion,
    raftkvCommit: gitCommit(),
    command: process.env.RAFTKV_BENCH_COMMAND ?? ['bench/vs-etcd.sh', ...argv].map(shellQuote).join(' '),
    rounds: options.rounds,
    durationS: options.durationS,
    warmupS: options.warmupS,
    serverWarmupS: options.serverWarmupS,
    keys: options.keys,
    valueBytes: options.valueBytes,
  };
  writeFileSync(resultsFile, `${JSON.stringify({ type: 'meta', ...context, options })}\n`);
  const progress = (line: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  progress(`results in ${outDir}`);

  const children = new Children();
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    progress(`${signal}: stopping every node started here`);
    abort.abort(new Error(`interrupted by ${signal}`));
    void children.stopAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const records: RunRecord[] = [];
  const value = Buffer.alloc(options.valueBytes, 'v');
  let failure: unknown = null;
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order: SystemName[] = round % 2 === 1 ? ['etcd', 'raftkv'] : ['raftkv', 'etcd'];
      for (const system of order.filter((s) => options.systems.includes(s))) {
        await runSession(children, {
          system,
          round,
          workloads: options.workloads,
          durationS: options.durationS,
          warmupS: options.warmupS,
          serverWarmupS: options.serverWarmupS,
          keys: options.keys,
          value,
          preloadConcurrency: options.preloadConcurrency,
          root: sessionRoot(outDir, round, system),
          ports: clusterPorts(system, options.basePort),
          etcdBinary: options.etcdBinary,
          raftkvCommand: raftkvCli.endsWith('.ts') ? [process.execPath, '--import', 'tsx', raftkvCli] : [process.execPath, raftkvCli],
          cwd: repoRoot,
          signal: abort.signal,
          progress,
        }, (record) => {
          records.push(record);
          appendFileSync(resultsFile, `${JSON.stringify(record)}\n`);
        });
      }
    }
  } catch (error) {
    failure = abort.signal.aborted ? abort.signal.reason : error;
  } finally {
    await children.stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  if (records.length > 0) {
    const report = renderReport({ ...context, loadEnd: loadavg() }, records) + (failure === null ? '' : `\n**Incomplete**: ${(failure as Error).message}\n`);
    writeFileSync(tableFile, report);
    process.stdout.write(`\n${report}`);
    progress(`table in ${tableFile}, every run in ${resultsFile}`);
  }
  if (failure !== null) {
    process.stderr.write(`vs-etcd: ${(failure as Error).message}\n`);
    return abort.signal.aborted ? 130 : 1;
  }
  return 0;
}

function etcdVersionOf(binary: string): string {
  let text: string;
  try {
    text = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  } catch (error) {
    throw new ConfigError(`--etcd: cannot run "${binary} --version": ${(error as Error).message}`, { cause: error });
  }
  const version = /etcd Version:\s*(\S+)/.exec(text)?.[1];
  if (version === undefined) throw new ConfigError(`--etcd: "${binary} --version" did not name a version`);
  return version;
}

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', timeout: 10_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8', timeout: 10_000 }).trim() !== '';
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`vs-etcd: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);
