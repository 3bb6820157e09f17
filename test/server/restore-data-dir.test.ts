import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackupEncoder, BackupFileError, KvStateMachine, encodeCommand, SnapshotChunker, applyAuthOp, emptyAuthState, encodeAuthState, readBackup, memorySource } from '../../src/kv/index.js';
import { encodeKeyRecord } from '../../src/kv/key-record.js';
import { authStateKey } from '../../src/storage/index.js';
import { nodeId } from '../../src/raft/index.js';
import { decodeAddressBook } from '../../src/server/address-book.js';
import { parsePeers } from '../../src/server/config.js';
import { RestoreError, restoreDataDir } from '../../src/server/restore-data-dir.js';
import { ConfigError } from '../../src/shared/errors.js';
import { RaftLogStore } from '../../src/storage/index.js';
import { backupBytes, fixtureHeader, fixtureKeys } from '../kv/backup-fixtures.js';
import { useTempStores } from '../storage/temp-stores.js';

const peers = parsePeers('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103');

describe('restoreDataDir', () => {
  const stores = useTempStores();

  async function backupFile(bytes: Buffer = backupBytes(200, { chunkBytes: 1024 })): Promise<{ dir: string; file: string }> {
    const dir = await stores.makeDir();
    const file = join(dir, 'backup.snap');
    await writeFile(file, bytes);
    return { dir, file };
  }

  it('seeds a member of a new cluster at the file\'s revision: keyspace, applied index, empty log compacted there, membership of --peers', async () => {
    const { dir, file } = await backupFile();
    const dataDir = join(dir, 'n2');
    const result = await restoreDataDir({ file, dataDir, id: nodeId('n2'), peers });
    expect(result.summary.keys).toBe(200);
    expect(await readdir(dir)).toEqual(['backup.snap', 'n2']);

    const store = await stores.open(dataDir);
    const persisted = await new RaftLogStore(store).load();
    const at = { index: fixtureHeader.revision, term: fixtureHeader.term };
    expect(persisted.hardState).toEqual({ term: fixtureHeader.term, vote: null, commit: fixtureHeader.revision });
    expect(persisted.compactedTo).toEqual(at);
    expect(persisted.entries).toEqual([]);
    const { context, ...members } = persisted.snapshotMeta?.membership ?? { voters: [], learners: [] };
    expect({ ...persisted.snapshotMeta, membership: members }).toEqual({ ...at, membership: { voters: ['n1', 'n2', 'n3'], learners: [] } });
    expect(persisted.membership).toEqual(persisted.snapshotMeta?.membership);
    // The address book of the peers, client addresses unknown (the same on every restored member).
    expect(decodeAddressBook(context ?? new Uint8Array(0))).toEqual(
      new Map([...peers].map(([id, peerAddress]) => [id, { peerAddress, clientAddress: '' }])),
    );
    const machine = await KvStateMachine.open(store);
    expect(machine.applied).toEqual(at);
    expect(machine.sessionCount).toBe(0);
    for (const { key, value, modRevision } of fixtureKeys(200).filter((_, i) => i % 17 === 0)) {
      const record = await machine.get(key);
      expect(record === null ? null : { value: Buffer.from(record.value), modRevision: record.modRevision }).toEqual({ value, modRevision });
    }
    const all = await machine.range({ kind: 'prefix', prefix: new Uint8Array() }, 0);
    expect(all.kvs).toHaveLength(200);
  });

  it('restores leases and their keys a backup holds (a backup from before leases has none)', async () => {
    // A backup as `snapshot save` makes it: a machine's snapshot without sessions.
    const source = await KvStateMachine.open((await stores.openFresh()).store);
    const entry = (index: number, command: Parameters<typeof encodeCommand>[0]) => ({ index, term: 1, type: 'normal' as const, data: encodeCommand(command) });
    await source.apply([
      entry(1, { kind: 'lease-grant', id: 42, ttlSeconds: 60 }),
      entry(2, { kind: 'put', key: Buffer.from('svc/a'), value: Buffer.from('1'), lease: 42 }),
      entry(3, { kind: 'put', key: Buffer.from('plain'), value: Buffer.from('2') }),
    ]);
    const encoder = new BackupEncoder();
    const parts = [encoder.header({ ...fixtureHeader, revision: 3, term: 1 })];
    for await (const chunk of (await source.openSnapshot(1 << 20, { includeSessions: false })).chunks()) parts.push(...encoder.chunk(chunk));
    parts.push(encoder.trailer());
    const bytes = Buffer.concat(parts);
    expect((await readBackup(memorySource(bytes), 'backup')).keys).toBe(2); // lease records are not keys
    const { dir, file } = await backupFile(bytes);
    const dataDir = join(dir, 'n1');
    await restoreDataDir({ file, dataDir, id: nodeId('n1'), peers });
    const machine = await KvStateMachine.open(await stores.open(dataDir));
    expect(machine.leases().map((lease) => [lease.id, lease.ttlSeconds, [...lease.keys.values()].map((key) => Buffer.from(key).toString())])).toEqual([[42, 60, ['svc/a']]]);
    expect((await machine.get(Buffer.from('svc/a')))?.lease).toBe(42);
    const { dir: oldDir, file: oldFile } = await backupFile();
    await restoreDataDir({ file: oldFile, dataDir: join(oldDir, 'n1'), id: nodeId('n1'), peers });
    expect((await KvStateMachine.open(await stores.open(join(oldDir, 'n1')))).leases()).toEqual([]);
  });

  it('restores users and roles a backup holds (a backup from before auth has none: auth off)', async () => {
    const password = { salt: new Uint8Array(16).fill(1), n: 16_384, r: 8, p: 1, hash: new Uint8Array(32).fill(2) };
    let auth = applyAuthOp(emptyAuthState, { op: 'user-add', name: 'root', password }, 10).state;
    auth = applyAuthOp(auth, { op: 'enable', secret: new Uint8Array(32).fill(4) }, 11).state;
    const encoder = new BackupEncoder();
    const chunker = new SnapshotChunker(1 << 20);
    chunker.add({ kind: 'auth', key: authStateKey, value: encodeAuthState(auth) });
    chunker.add({ kind: 'kv', key: Buffer.from('k'), value: encodeKeyRecord({ value: Buffer.from('v'), version: 1, createRevision: 5, modRevision: 5 }) });
    const bytes = Buffer.concat([encoder.header(fixtureHeader), ...encoder.chunk(chunker.finish() as Uint8Array), encoder.trailer()]);
    expect((await readBackup(memorySource(bytes), 'backup')).keys).toBe(1); // the auth record is not a key
    const { dir, file } = await backupFile(bytes);
    const dataDir = join(dir, 'n1');
    await restoreDataDir({ file, dataDir, id: nodeId('n1'), peers });
    const machine = await KvStateMachine.open(await stores.open(dataDir));
    expect(machine.auth.state).toEqual(auth);
    expect(machine.auth.enabled).toBe(true);
    expect((await machine.get(Buffer.from('k')))?.version).toBe(1);
    const { dir: oldDir, file: oldFile } = await backupFile();
    await restoreDataDir({ file: oldFile, dataDir: join(oldDir, 'n1'), id: nodeId('n1'), peers });
    const old = await KvStateMachine.open(await stores.open(join(oldDir, 'n1')));
    expect(old.auth.enabled).toBe(false);
    expect(old.auth.state.users.size).toBe(0);
  });

  it('restores into an existing empty directory', async () => {
    const { dir, file } = await backupFile();
    const dataDir = join(dir, 'empty');
    await mkdir(dataDir);
    await restoreDataDir({ file, dataDir, id: nodeId('n1'), peers });
    expect(await readdir(dataDir)).toEqual(['db']);
  });

  it('refuses a data directory that is not empty, and changes nothing in it', async () => {
    const { dir, file } = await backupFile();
    const dataDir = join(dir, 'used');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'keep-me'), 'x');
    const refused = restoreDataDir({ file, dataDir, id: nodeId('n1'), peers });
    await expect(refused).rejects.toThrow(RestoreError);
    await expect(refused).rejects.toThrow(/already exists and is not empty/);
    expect(await readdir(dataDir)).toEqual(['keep-me']);
    expect(await readdir(dir)).toEqual(['backup.snap', 'used']);
  });

  it('refuses an id that is not among the peers', async () => {
    const { dir, file } = await backupFile();
    await expect(restoreDataDir({ file, dataDir: join(dir, 'n9'), id: nodeId('n9'), peers })).rejects.toThrow(ConfigError);
    expect(await readdir(dir)).toEqual(['backup.snap']);
  });

  it.each([
    ['truncated', (bytes: Buffer) => bytes.subarray(0, bytes.byteLength - 100)],
    ['checksum', (bytes: Buffer) => Buffer.concat([bytes.subarray(0, bytes.byteLength - 1), Buffer.from([bytes[bytes.byteLength - 1]! ^ 0xff])])],
    ['magic', () => Buffer.from('garbage garbage garbage garbage')],
  ] as const)('a %s file leaves no data directory and no staging directory behind', async (problem, damage) => {
    const { dir, file } = await backupFile(damage(backupBytes(200, { chunkBytes: 1024 })));
    const refused = restoreDataDir({ file, dataDir: join(dir, 'n1'), id: nodeId('n1'), peers });
    await expect(refused).rejects.toThrow(BackupFileError);
    await expect(refused).rejects.toMatchObject({ problem });
    expect(await readdir(dir)).toEqual(['backup.snap']);
  });
});
