/**
 * `raftkv snapshot status | restore | save` with bad input: each refused with a message naming
 * the reason and the usual exit code (1 a bad file or data directory, 2 bad usage), and nothing
 * changes: no data directory, no staging directory, no part file.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backupBytes, fixtureHeader } from '../kv/backup-fixtures.js';
import { runCli } from './process-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'raftkv-backup-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const good = backupBytes(120, { chunkBytes: 1024 });
const peers = 'n1=127.0.0.1:7301,n2=127.0.0.1:7302,n3=127.0.0.1:7303';

function file(name: string, bytes: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function flipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x40;
  return copy;
}

describe('raftkv snapshot with bad input', () => {
  it('status prints what a valid file holds', async () => {
    const result = await runCli(['snapshot', 'status', file('good.snap', good)]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`revision: ${fixtureHeader.revision}`);
    expect(result.stdout).toContain('keys: 120');
    expect(result.stdout).toContain(`bytes: ${good.byteLength}`);
    expect(result.stdout).toContain(`sha256: ${good.subarray(good.byteLength - 32).toString('hex')}`);
  });

  const version2 = Buffer.from(good);
  version2.writeUInt16BE(2, 8);
  it.each([
    ['a missing file', () => join(dir, 'missing.snap'), 'missing.snap: no such file'],
    ['a truncated file', () => file('truncated.snap', good.subarray(0, good.byteLength - 1000)), 'truncated'],
    ['a file cut inside its trailer', () => file('cut-trailer.snap', good.subarray(0, good.byteLength - 10)), 'truncated'],
    ['a damaged file', () => file('damaged.snap', flipped(good, good.byteLength - 58)), 'checksum mismatch'],
    ['garbage', () => file('garbage.snap', 'PK\u0003\u0004 this is a zip, or something else entirely'), 'not a raftkv snapshot file'],
    ['an empty file', () => file('empty.snap', ''), 'the file is empty'],
    ['a newer format version', () => file('v2.snap', version2), 'format version 2; this raftkv reads version 1'],
  ])('%s is refused by status and by restore, which leaves no data directory', async (_what, make, message) => {
    const path = make();
    const status = await runCli(['snapshot', 'status', path]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(message);
    const before = readdirSync(dir).sort();
    const restore = await runCli(['snapshot', 'restore', path, '--data', join(dir, 'n1'), '--id', 'n1', '--peers', peers]);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(message);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('restore refuses a data directory that exists and is not empty, and leaves it as it was', async () => {
    const used = join(dir, 'used');
    mkdirSync(used);
    writeFileSync(join(used, 'precious'), 'x');
    const result = await runCli(['snapshot', 'restore', file('good.snap', good), '--data', used, '--id', 'n1', '--peers', peers]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('already exists and is not empty');
    expect(readdirSync(used)).toEqual(['precious']);
  });

  it.each([
    [['--id', 'n4', '--peers', peers], '--id: "n4" is not in --peers (n1, n2, n3)'],
    [['--id', 'n1', '--peers', 'n1=127.0.0.1'], '--peers (n1): "127.0.0.1" is not host:port'],
    [['--id', 'n1', '--peers', 'n1=127.0.0.1:7301,n1=127.0.0.1:7302'], '--peers: "n1" appears twice'],
    [['--id', 'n1'], "required option '--peers <list>' not specified"],
  ])('restore %j is a usage error (exit 2) naming it, and creates nothing', async (flags, message) => {
    const before = readdirSync(dir).sort();
    const result = await runCli(['snapshot', 'restore', file('good.snap', good), '--data', join(dir, 'n1'), ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('save from an endpoint that does not answer fails and leaves no file, part or whole', async () => {
    const target = join(dir, 'never.snap');
    const result = await runCli(['snapshot', 'save', target, '--endpoints', '127.0.0.1:1', '--timeout', '1500']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no node could stream a snapshot|did not complete|no node began/);
    expect(readdirSync(dir).filter((name) => name.startsWith('never.snap'))).toEqual([]);
  });
});
