import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HelpRequested, parseBenchOptions, workloads } from '../../bench/vs-etcd/options.js';
import { ConfigError } from '../../src/shared/errors.js';

describe('vs-etcd options', () => {
  it('defaults to the matrix of issue 11: 3 rounds of 10 s, 100k keys, 256-byte values, both systems', () => {
    const options = parseBenchOptions([]);
    expect(options).toMatchObject({ rounds: 3, durationS: 10, warmupS: 1, serverWarmupS: 10, keys: 100_000, valueBytes: 256, preloadConcurrency: 256, basePort: 24_000, outDir: undefined });
    expect(options.systems).toEqual(['etcd', 'raftkv']);
    expect(options.workloads.map((w) => w.name)).toEqual(['put-1', 'put-64', 'put-256', 'get-64', 'serializable-get-64', 'get-64-all']);
  });

  it('takes a subset of workloads and systems, run in the matrix order whatever order they are given in', () => {
    const options = parseBenchOptions(['--workloads', 'get-64, put-1', '--systems', 'raftkv', '--duration', '1.5', '--out', '/tmp/x']);
    expect(options.workloads.map((w) => w.name)).toEqual(['put-1', 'get-64']);
    expect(options.systems).toEqual(['raftkv']);
    expect(options.durationS).toBe(1.5);
    expect(options.outDir).toBe('/tmp/x');
  });

  it.each([
    [['--workloads', 'put-1,scan-64'], '--workloads: unknown "scan-64"'],
    [['--systems', 'zookeeper'], '--systems: unknown "zookeeper"'],
    [['--duration', 'ten'], '--duration: must be a number of seconds'],
    [['--duration', ''], '--duration: must be a number of seconds'],
    [['--duration', '0'], '--duration: must be a number of seconds'],
    [['--warmup=-1'], '--warmup: must be a number of seconds'],
    [['--server-warmup=soon'], '--server-warmup: must be a number of seconds'],
    [['--warmup', '-1'], "Option '--warmup' argument is ambiguous"],
    [['--rounds', '2.5'], '--rounds: must be an integer'],
    [['--rounds', '0'], '--rounds: must be an integer'],
    [['--keys', '1e12'], '--keys: must be an integer'],
    [['--value-bytes', 'big'], '--value-bytes: must be an integer'],
    [['--preload-concurrency', '0'], '--preload-concurrency: must be an integer'],
    [['--base-port', '80'], '--base-port: must be an integer'],
    [['--out', ''], '--out: must not be empty'],
    [['--speed', 'fast'], "'--speed'"],
    [['--rounds'], "'--rounds <value>' argument missing"],
    [['stray'], 'unexpected argument "stray"'],
  ])('refuses %j, naming the option', (argv, message) => {
    expect(() => parseBenchOptions(argv)).toThrow(ConfigError);
    expect(() => parseBenchOptions(argv)).toThrow(message);
  });

  it('answers --help with the usage, which lists every workload', () => {
    expect(() => parseBenchOptions(['--help'])).toThrow(HelpRequested);
    try {
      parseBenchOptions(['--help']);
    } catch (error) {
      for (const w of workloads) expect((error as Error).message).toContain(w.name);
    }
  });

  it('bench/vs-etcd.sh fails at once on a bad option, before installing, building or creating anything', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'vs-etcd-opt-')), 'out');
    try {
      const script = resolve(import.meta.dirname, '..', '..', 'bench', 'vs-etcd.sh');
      const result = spawnSync('bash', [script, '--duration', 'soon', '--out', out], { encoding: 'utf8', timeout: 60_000 });
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('--duration: must be a number of seconds in 0.5..3600, got "soon"');
      expect(result.stdout).toBe('');
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(resolve(out, '..'), { recursive: true, force: true });
    }
  });
});
