/** Helpers for the snapshot integration tests: load generation, keyspace digests, convergence. */
import { createHash } from 'node:crypto';
import { RaftKvClient, type ClusterStatus } from '../../src/client/index.js';
import { waitFor, type ProcessCluster } from './process-cluster.js';

/**
 * Puts `count` keys with up to `inFlight` writes outstanding and returns what was acknowledged
 * (key -> value). A write that fails is retried by the SDK until its deadline; one that still
 * fails is left out (its outcome is unknown, so it proves nothing either way).
 */
export async function putMany(
  client: RaftKvClient,
  count: number,
  entry: (i: number) => { key: string; value: Buffer },
  inFlight = 128,
): Promise<Map<string, Buffer>> {
  const acknowledged = new Map<string, Buffer>();
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const { key, value } = entry(next++);
      try {
        await client.put(key, value, { timeoutMs: 30_000 });
        acknowledged.set(key, value);
      } catch (error) {
        // Unknown outcome: not counted as acknowledged.
        failures.push(`${key}: ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  if (failures.length > 0) console.warn(`putMany: ${failures.length} writes failed, e.g. ${failures.slice(0, 3).join(' | ')}`);
  return acknowledged;
}

/** SHA-256 over every key and its record on one node, read locally (serializable) page by page. */
export async function keyspaceDigest(endpoint: string): Promise<{ digest: string; keys: number }> {
  const client = new RaftKvClient({ endpoints: [endpoint], transport: 'unary', timeoutMs: 30_000 });
  try {
    const hash = createHash('sha256');
    let keys = 0;
    let start = Buffer.alloc(0);
    for (;;) {
      const page = await client.range({ start }, { limit: 2000, consistency: 'serializable' });
      for (const kv of page.kvs) {
        hash.update(`${kv.key.length}:`).update(kv.key).update(`${kv.value.length}:`).update(kv.value);
        hash.update(`${kv.version},${kv.createRevision},${kv.modRevision};`);
        keys += 1;
      }
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return { digest: hash.digest('hex'), keys };
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  } finally {
    client.close();
  }
}

/** Waits until every running node has applied the same index, and returns their statuses. */
export async function waitForConvergence(cluster: ProcessCluster, client: RaftKvClient, timeoutMs = 120_000): Promise<ClusterStatus[]> {
  const running = cluster.nodes.filter((node) => node.child !== null).length;
  return waitFor(
    'every node to apply the same index',
    async () => {
      const statuses = await cluster.statuses(client);
      if (statuses.length !== running) return undefined;
      const leader = statuses.find((status) => status.role === 'leader');
      if (leader === undefined) return undefined;
      return statuses.every((status) => status.appliedIndex === leader.commitIndex && status.commitIndex === leader.commitIndex) ? statuses : undefined;
    },
    timeoutMs,
  );
}

/** The keyspace digest of every running node; they must all be equal. */
export async function digests(cluster: ProcessCluster): Promise<Map<string, { digest: string; keys: number }>> {
  const out = new Map<string, { digest: string; keys: number }>();
  for (const node of cluster.nodes) if (node.child !== null) out.set(node.id, await keyspaceDigest(node.clientAddress));
  return out;
}

/** Fields of /proc/<pid>/status given in kB, in bytes (NaN when absent). */
async function procStatusBytes(pid: number, names: readonly string[]): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return names.map((name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024);
}

/** Peak resident memory (VmHWM) of a running process, in bytes. */
export async function peakRssBytes(pid: number): Promise<number> {
  const [peak] = await procStatusBytes(pid, ['VmHWM']);
  if (peak === undefined || Number.isNaN(peak)) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return peak;
}

/** Resident memory of a process now: anonymous (heap, buffers) and file-backed (mapped files, e.g. LevelDB tables). */
export async function residentBytes(pid: number): Promise<{ anon: number; file: number }> {
  const [anon = NaN, file = NaN] = await procStatusBytes(pid, ['RssAnon', 'RssFile']);
  return { anon, file };
}

/** Samples `residentBytes` every `everyMs` until stopped; `stop` returns the peaks seen. */
export function sampleResident(pid: number, everyMs = 20): { stop(): Promise<{ anon: number; file: number }> } {
  const peak = { anon: 0, file: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const now = await residentBytes(pid);
        peak.anon = Math.max(peak.anon, now.anon);
        peak.file = Math.max(peak.file, now.file);
      } catch {
        return; // the process is gone
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** The JSON log lines of a node whose `msg` is `message`. */
export function logLines(log: string, message: string): Record<string, unknown>[] {
  return log
    .split('\n')
    .filter((line) => line.includes(`"msg":"${message}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
