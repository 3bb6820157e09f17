import { describe, expect, it } from 'vitest';
import { faultKinds } from '../../chaos/nemesis.js';
import { parseChaosArgs } from '../../chaos/options.js';
import { formatSummary } from '../../chaos/report.js';

const parse = (line: string) => parseChaosArgs(line.split(' ').filter((arg) => arg !== ''), () => 777);

describe('parseChaosArgs', () => {
  it('reads the documented command line', () => {
    const result = parse('--backend process --nodes 5 --nemesis partition-leader,kill --duration 30 --clients 4 --seed 9 --out /tmp/x');
    expect(result.kind).toBe('config');
    if (result.kind !== 'config') return;
    expect(result.config).toMatchObject({
      backend: 'process',
      nodes: 5,
      nemesis: ['partition-leader', 'kill'],
      nemesisText: 'partition-leader,kill',
      durationMs: 30_000,
      clients: 4,
      seed: 9,
      outDir: '/tmp/x',
      workload: 'register',
      minOps: 120,
    });
  });

  it('has defaults for everything, and draws a seed when none is given', () => {
    const result = parse('');
    expect(result.kind).toBe('config');
    if (result.kind !== 'config') return;
    expect(result.config).toMatchObject({ nodes: 3, nemesis: [...faultKinds], durationMs: 60_000, clients: 5, seed: 777, outDir: null });
  });

  it.each([
    ['--nodes 4', '--nodes'],
    ['--nodes three', '--nodes'],
    ['--nemesis kill,explode', '--nemesis'],
    ['--duration 5', '--duration'],
    ['--clients 0', '--clients'],
    ['--seed -1', '--seed'],
    ['--seed 4294967296', '--seed'],
    ['--backend vm', '--backend'],
    ['--image raftkv:local', '--image'],
    ['--backend docker --image bad;name', '--image'],
    ['--workload bank', '--workload'],
    ['--workload txn --keys 1', '--keys'],
    ['--hold 5-2', '--hold'],
    ['--transport http', '--transport'],
    ['--recovery 60 --duration 30', '--recovery'],
  ])('rejects %s naming the flag', (line, flag) => {
    const result = parse(line);
    expect(result.kind).toBe('error');
    if (result.kind === 'error') expect(result.message).toContain(flag);
  });

  it('reads the docker backend and its image, with raftkv:local by default', () => {
    const docker = parse('--backend docker --nodes 5 --seed 3');
    expect(docker.kind === 'config' && docker.config).toMatchObject({ backend: 'docker', image: 'raftkv:local', nodes: 5 });
    const other = parse('--backend docker --image registry.local:5000/raftkv:ci');
    expect(other.kind === 'config' && other.config).toMatchObject({ backend: 'docker', image: 'registry.local:5000/raftkv:ci' });
  });

  it('takes the txn workload, its accounts from --keys', () => {
    const result = parse('--workload txn --keys 3');
    expect(result.kind === 'config' && result.config).toMatchObject({ workload: 'txn', keys: 3 });
  });

  it('rejects an unknown flag by name', () => {
    const result = parse('--nemisis kill');
    expect(result).toEqual({ kind: 'error', message: expect.stringContaining('--nemisis') });
  });

  it('passes the test-only canaries through', () => {
    const result = parse('--unsafe-ack-before-commit --unsafe-stale-reads');
    expect(result.kind === 'config' && result.config.unsafe).toEqual(['stale-reads', 'ack-before-commit']);
    const safe = parse('');
    expect(safe.kind === 'config' && safe.config.unsafe).toEqual([]);
  });

  it('answers --help', () => {
    expect(parse('--help')).toEqual({ kind: 'help' });
  });
});

describe('formatSummary', () => {
  it('is the one summary line', () => {
    expect(formatSummary({ ops: 1234, faults: 5, linearizable: 'yes', lost: 0, seed: 1, loopDelayMaxMs: 182 })).toBe(
      'chaos: 1234 ops, 5 faults, linearizable=yes, lost=0, seed=1, loop-delay-max=182ms',
    );
  });

  it('says - for a loop delay no node reported, and keeps the fields scripts grep', () => {
    const line = formatSummary({ ops: 0, faults: 0, linearizable: 'unknown', lost: 0, seed: 7, loopDelayMaxMs: null });
    expect(line).toBe('chaos: 0 ops, 0 faults, linearizable=unknown, lost=0, seed=7, loop-delay-max=-');
    expect(line).toMatch(/linearizable=unknown, lost=0,/);
  });
});
