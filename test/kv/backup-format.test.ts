import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BackupEncoder,
  BackupFileError,
  SnapshotChunker,
  memorySource,
  readBackup,
  readBackupFile,
  writeBackupFile,
  type BackupFileProblem,
  type SnapshotRecord,
} from '../../src/kv/index.js';
import { decodeKeyRecord } from '../../src/kv/key-record.js';
import { backupBytes, fixtureHeader, fixtureKeys, trailerOffset, withValidChecksum } from './backup-fixtures.js';

/** The problem readBackup reports for `bytes`, or null if it accepts them. */
async function problemOf(bytes: Uint8Array): Promise<{ problem: BackupFileProblem; message: string } | null> {
  try {
    await readBackup(memorySource(bytes), 'test.snap');
    return null;
  } catch (error) {
    if (!(error instanceof BackupFileError)) throw error;
    return { problem: error.problem, message: error.message };
  }
}

describe('backup file format', () => {
  it('reads back exactly what was written: header, every key with its record, counts, checksum', async () => {
    const bytes = backupBytes(50);
    const seen: SnapshotRecord[] = [];
    const summary = await readBackup(memorySource(bytes), 'test.snap', { records: (records) => void seen.push(...records) });
    expect(summary.header).toEqual(fixtureHeader);
    expect(summary.keys).toBe(50);
    expect(summary.chunks).toBeGreaterThan(1);
    expect(summary.fileBytes).toBe(bytes.byteLength);
    expect(summary.sha256).toBe(bytes.subarray(bytes.byteLength - 32).toString('hex'));
    const expected = fixtureKeys(50);
    expect(seen.map((record) => Buffer.from(record.key).toString())).toEqual(expected.map((entry) => entry.key.toString()));
    seen.forEach((record, i) => {
      const decoded = decodeKeyRecord(record.value);
      expect(Buffer.from(decoded.value).equals(expected[i]!.value)).toBe(true);
      expect(decoded.modRevision).toBe(expected[i]!.modRevision);
    });
  });

  it('an empty keyspace is a valid backup', async () => {
    const summary = await readBackup(memorySource(backupBytes(0)), 'empty.snap');
    expect(summary).toMatchObject({ keys: 0, chunks: 0, bytes: 0 });
  });

  it('refuses the file cut at every length as truncated', async () => {
    const bytes = backupBytes(20, { chunkBytes: 256 });
    for (let length = 0; length < bytes.byteLength; length++) {
      const found = await problemOf(bytes.subarray(0, length));
      expect(found?.problem, `cut at ${length}: ${found?.message}`).toBe('truncated');
      expect(found?.message).toContain('truncated');
    }
  });

  it('refuses every single damaged byte, and damage inside a value as a checksum mismatch', async () => {
    const bytes = backupBytes(10, { chunkBytes: 128 });
    for (let at = 0; at < bytes.byteLength; at++) {
      const damaged = Buffer.from(bytes);
      damaged[at] = damaged[at]! ^ 0x01;
      expect(await problemOf(damaged), `byte ${at} flipped`).not.toBeNull();
    }
    // The last byte before the trailer is inside the last key's value: still a valid record.
    const damaged = Buffer.from(bytes);
    const inValue = trailerOffset(bytes) - 1;
    damaged[inValue] = damaged[inValue]! ^ 0x01;
    const found = await problemOf(damaged);
    expect(found?.problem).toBe('checksum');
    expect(found?.message).toMatch(/checksum mismatch.*damaged/);
  });

  it('refuses a file that is not a backup (wrong magic), naming it', async () => {
    const found = await problemOf(Buffer.from('{"this": "is not a snapshot at all"}\n'));
    expect(found).toEqual({ problem: 'magic', message: 'test.snap: not a raftkv snapshot file (wrong magic number in its first bytes)' });
  });

  it('refuses a layout version or record format it does not read', async () => {
    const bytes = backupBytes(3);
    const v2 = Buffer.from(bytes);
    v2.writeUInt16BE(2, 8);
    expect(await problemOf(v2)).toMatchObject({ problem: 'version', message: expect.stringContaining('format version 2; this raftkv reads version 1') });
    const records = await problemOf(backupBytes(3, { header: { ...fixtureHeader, recordFormat: 7 } }));
    expect(records).toMatchObject({ problem: 'version', message: expect.stringContaining('records in format 7') });
  });

  it('refuses counts that disagree with the content even when the checksum matches', async () => {
    const bytes = Buffer.from(backupBytes(5));
    const keysAt = trailerOffset(bytes) + 1 + 16;
    bytes.writeUInt32BE(bytes.readUInt32BE(keysAt + 4) + 1, keysAt + 4);
    expect(await problemOf(withValidChecksum(bytes))).toMatchObject({ problem: 'counts', message: expect.stringContaining('6 keys') });
  });

  it('refuses bytes after the trailer', async () => {
    expect(await problemOf(Buffer.concat([backupBytes(3), Buffer.from([0])]))).toMatchObject({ problem: 'malformed', message: expect.stringContaining('1 unexpected bytes after the trailer') });
  });

  it('refuses a chunk holding a client session: a backup holds only keys', async () => {
    const chunker = new SnapshotChunker(1024);
    chunker.add({ kind: 'session', key: Buffer.from('session:c1'), value: Buffer.alloc(3) });
    const encoder = new BackupEncoder();
    encoder.header(fixtureHeader);
    expect(() => encoder.chunk(chunker.finish()!)).toThrow(BackupFileError);
    expect(() => new BackupEncoder().chunk(Buffer.from([9, 9, 9]))).toThrow(/chunk\(\) in state header/);
  });
});

describe('backup files on disk', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'raftkv-backup-'));
    dirs.push(dir);
    return dir;
  };
  /** The chunks of a valid backup, as a snapshot stream delivers them (then failing after `failAfter`). */
  async function* chunksOf(bytes: Buffer, failAfter = Infinity): AsyncGenerator<Uint8Array> {
    let chunks = 0;
    // Out of the file layout: magic, version, header (u32 length), then 'D' | u32 length | data.
    let offset = 8 + 2;
    offset += 4 + bytes.readUInt32BE(offset);
    while (bytes[offset] === 0x44) {
      const length = bytes.readUInt32BE(offset + 1);
      if (chunks++ >= failAfter) throw new Error('the stream broke');
      yield bytes.subarray(offset + 5, offset + 5 + length);
      offset += 5 + length;
    }
  }

  it('writes through <file>.part: the result reads back whole and nothing else is left', async () => {
    const dir = await tempDir();
    const source = backupBytes(300, { chunkBytes: 2048, valueBytes: 100 });
    const path = join(dir, 'backup.snap');
    const summary = await writeBackupFile(path, { header: fixtureHeader, chunks: chunksOf(source) });
    expect(summary.keys).toBe(300);
    expect(await readdir(dir)).toEqual(['backup.snap']);
    expect((await readFile(path)).equals(source)).toBe(true);
    expect((await readBackupFile(path)).sha256).toBe(summary.sha256);
  });

  it('reads chunks larger than its read-ahead', async () => {
    const dir = await tempDir();
    const path = join(dir, 'big.snap');
    const source = backupBytes(3, { chunkBytes: 3 * 1024 * 1024, valueBytes: 1536 * 1024 });
    await writeFile(path, source);
    expect(await readBackupFile(path)).toMatchObject({ keys: 3, chunks: 2, fileBytes: source.byteLength });
  });

  it('a stream that fails midway leaves no part file and the target as it was', async () => {
    const dir = await tempDir();
    const path = join(dir, 'backup.snap');
    await writeFile(path, 'an older backup');
    const source = backupBytes(300, { chunkBytes: 2048, valueBytes: 100 });
    await expect(writeBackupFile(path, { header: fixtureHeader, chunks: chunksOf(source, 3) })).rejects.toThrow('the stream broke');
    expect(await readdir(dir)).toEqual(['backup.snap']);
    expect(await readFile(path, 'utf8')).toBe('an older backup');
  });

  it('names a missing file and a directory', async () => {
    const dir = await tempDir();
    await expect(readBackupFile(join(dir, 'nope.snap'))).rejects.toMatchObject({ problem: 'not-found', message: `${join(dir, 'nope.snap')}: no such file` });
    await expect(readBackupFile(dir)).rejects.toMatchObject({ problem: 'unreadable' });
  });
});
