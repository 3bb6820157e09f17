/**
 * Backup and restore end to end, on real `raftkv` processes (real gRPC, real LevelDB with fsync):
 * `snapshot save` under a steady write load, `snapshot restore` of three new members from the
 * file, and the new cluster's keyspace checked against every acknowledged write: exactly those
 * at or below the saved revision, none after. Then the restored cluster takes writes.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftKvClient } from '../../src/client/index.js';
import { readBackupFile } from '../../src/kv/index.js';
import { decodeKeyRecord } from '../../src/kv/key-record.js';
import { ProcessCluster, runCli, waitFor } from './process-cluster.js';
import { keyspaceDigest } from './snapshot-helpers.js';

/** One acknowledged write: a put (with its value) or a delete, at its revision. */
interface Acknowledged {
  readonly key: string;
  readonly value: string | null;
  readonly revision: number;
}

interface StoredKey {
  readonly value: string;
  readonly modRevision: number;
}

const clusters: ProcessCluster[] = [];
const clients: RaftKvClient[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(clusters.splice(0).map((cluster) => cluster.destroy()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function startCluster(options: { startNodes?: boolean; size?: number; extraArgs?: string[] } = {}): Promise<{ cluster: ProcessCluster; client: RaftKvClient }> {
  const cluster = await ProcessCluster.create(options.size ?? 3, options);
  clusters.push(cluster);
  const client = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 30_000 });
  clients.push(client);
  return { cluster, client };
}

/**
 * Writers that each own `keysPerWriter` keys: puts that cycle through them, and now and then a
 * delete (a compare-and-swap on the version the writer knows, so its revision is exact). Every
 * acknowledged write is recorded with its revision; a key whose write failed (outcome unknown)
 * is marked uncertain and no longer written.
 */
function startLoad(client: RaftKvClient, writers: number, keysPerWriter: number): { acknowledged: Acknowledged[]; uncertain: Set<string>; stop(): Promise<void> } {
  const acknowledged: Acknowledged[] = [];
  const uncertain = new Set<string>();
  let running = true;
  const writer = async (w: number): Promise<void> => {
    const versions = new Map<string, number>();
    for (let n = 0; running; n++) {
      const key = `w${w}/k${n % keysPerWriter}`;
      if (uncertain.has(key)) continue;
      const version = versions.get(key) ?? 0;
      try {
        if (version > 0 && n % 7 === 3) {
          const result = await client.cas(key, { version }, { delete: true });
          if (!result.succeeded) throw new Error(`delete of ${key} at version ${version} failed its compare`);
          versions.set(key, 0);
          acknowledged.push({ key, value: null, revision: result.revision });
        } else {
          const value = `${key}#${n}`;
          const result = await client.put(key, value);
          versions.set(key, result.version);
          acknowledged.push({ key, value, revision: result.revision });
        }
      } catch {
        uncertain.add(key);
      }
    }
  };
  const done = Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
  return {
    acknowledged,
    uncertain,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** The keyspace the acknowledged writes make at `revision`, without the uncertain keys. */
function expectedAt(acknowledged: readonly Acknowledged[], revision: number, uncertain: ReadonlySet<string>): Map<string, StoredKey> {
  const state = new Map<string, StoredKey>();
  for (const write of [...acknowledged].sort((a, b) => a.revision - b.revision)) {
    if (write.revision > revision || uncertain.has(write.key)) continue;
    if (write.value === null) state.delete(write.key);
    else state.set(write.key, { value: write.value, modRevision: write.revision });
  }
  return state;
}

/** Every key of one node, read locally (serializable), page by page. */
async function readKeyspace(endpoint: string): Promise<Map<string, StoredKey>> {
  const client = new RaftKvClient({ endpoints: [endpoint], transport: 'unary', timeoutMs: 30_000 });
  try {
    const keys = new Map<string, StoredKey>();
    let start = Buffer.alloc(0);
    for (;;) {
      const page = await client.range({ start }, { limit: 1000, consistency: 'serializable' });
      for (const kv of page.kvs) keys.set(kv.key.toString(), { value: kv.value.toString(), modRevision: kv.modRevision });
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return keys;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  } finally {
    client.close();
  }
}

function withoutKeys(keyspace: ReadonlyMap<string, StoredKey>, excluded: ReadonlySet<string>): Map<string, StoredKey> {
  return new Map([...keyspace].filter(([key]) => !excluded.has(key)));
}

describe('backup and restore', () => {
  it('saves under a steady write load, restores three new members, and the new cluster holds exactly the writes up to the saved revision', async () => {
    const { cluster: source, client } = await startCluster();
    await source.waitForLeader(client);
    const load = startLoad(client, 16, 25);
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-backup-'));
    dirs.push(dir);
    const file = join(dir, 'backup.snap');
    let saved: { revision: number; keys: number; bytes: number; sha256: string; endpoint: string };
    try {
      await waitFor('the load to write 500 times', () => (load.acknowledged.length >= 500 ? true : undefined), 60_000);
      const result = await runCli(['snapshot', 'save', file, '--endpoints', source.endpoints.join(','), '--json'], { timeoutMs: 60_000 });
      expect(result.code, result.stderr).toBe(0);
      saved = JSON.parse(result.stdout) as typeof saved;
      // Keep writing a little after the save, so that writes above the saved revision exist.
      const count = load.acknowledged.length;
      await waitFor('the load to go on after the save', () => (load.acknowledged.length >= count + 200 ? true : undefined), 60_000);
    } finally {
      await load.stop();
    }
    const revisionAfterSave = Math.max(...load.acknowledged.map((write) => write.revision));
    expect(load.uncertain.size, `writes of unknown outcome: ${[...load.uncertain].join(', ')}`).toBeLessThan(40);
    expect(readdirSync(dir)).toEqual(['backup.snap']);
    expect(load.acknowledged.some((write) => write.revision < saved.revision)).toBe(true);
    expect(revisionAfterSave).toBeGreaterThan(saved.revision);

    // The file itself: checked whole, and it holds exactly the acknowledged state at its revision.
    const status = await runCli(['snapshot', 'status', file, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ revision: saved.revision, keys: saved.keys, sha256: saved.sha256, bytes: saved.bytes });
    const inFile = new Map<string, StoredKey>();
    await readBackupFile(file, {
      records: (records) => {
        for (const record of records) {
          const decoded = decodeKeyRecord(record.value);
          inFile.set(Buffer.from(record.key).toString(), { value: Buffer.from(decoded.value).toString(), modRevision: decoded.modRevision });
        }
      },
    });
    const expected = expectedAt(load.acknowledged, saved.revision, load.uncertain);
    expect(expected.size).toBeGreaterThan(100);
    expect(withoutKeys(inFile, load.uncertain)).toEqual(expected);
    expect(inFile.size).toBe(saved.keys);

    // Three new members, each restored from the same file with the same --peers.
    const { cluster: restored, client: restoredClient } = await startCluster({ startNodes: false });
    for (const node of restored.nodes) {
      const result = await runCli(['snapshot', 'restore', file, '--data', node.dataDir, '--id', node.id, '--peers', restored.peers]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`at revision ${saved.revision}`);
    }
    for (const node of restored.nodes) restored.start(node.id);
    await restored.waitForLeader(restoredClient);

    for (const node of restored.nodes) {
      const keyspace = await waitFor(`${node.id} to serve`, () => readKeyspace(node.clientAddress).catch(() => undefined));
      expect(withoutKeys(keyspace, load.uncertain), `${node.id}'s keyspace`).toEqual(expected);
      expect(keyspace).toEqual(inFile);
    }
    const digests = await Promise.all(restored.nodes.map((node) => keyspaceDigest(node.clientAddress)));
    expect(new Set(digests.map((d) => d.digest)).size).toBe(1);

    // The new cluster takes writes; its revisions continue above the restored one.
    const put = await restoredClient.put('after-restore', 'yes');
    expect(put.revision).toBeGreaterThan(saved.revision);
    const overwritten = [...expected.keys()][0] as string;
    const again = await restoredClient.put(overwritten, 'rewritten');
    expect(again.version).toBeGreaterThan(1);
    expect((await restoredClient.get('after-restore'))?.value.toString()).toBe('yes');
    const statuses = await restored.statuses(restoredClient);
    expect(statuses.map((s) => s.snapshotIndex)).toEqual([saved.revision, saved.revision, saved.revision]);
  }, 240_000);

  it('a node streams at most two backups at once, keeps serving writes while they are held open by slow readers, and takes the next once one ends', async () => {
    // Small chunks, so that a reader that takes nothing holds the node back after a few of them.
    const { cluster, client } = await startCluster({ size: 1, extraArgs: ['--snapshot-chunk-bytes', '4096'] });
    await cluster.waitForLeader(client);
    const value = 'x'.repeat(10 * 1024);
    for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(`big-${i + j}`, value)));

    const held = [await client.snapshot(), await client.snapshot()];
    await expect(client.snapshot({ timeoutMs: 1500 })).rejects.toThrow(/RESOURCE_EXHAUSTED.*at most 2/);
    const during = await client.put('written-during-backups', 'yes');
    expect(during.revision).toBeGreaterThan(held[0]!.revision);

    held[0]!.cancel();
    const next = await waitFor('a third backup to begin', () => client.snapshot({ timeoutMs: 2000 }).catch(() => undefined));
    let bytes = 0;
    for await (const chunk of next.chunks()) bytes += chunk.byteLength;
    expect(next.verified?.bytes).toBe(bytes);
    expect(bytes).toBeGreaterThan(300 * 10 * 1024);
    held[1]!.cancel();
  }, 120_000);
});
