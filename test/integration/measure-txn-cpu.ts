/**
 * The servers' CPU per operation for puts, writing transactions (two puts) and read-only
 * transactions (two gets), in alternating phases against one running cluster, so the load of
 * whatever else runs on the machine falls on all three alike. Reads utime+stime of the node
 * processes from /proc/PID/stat around each phase. Not a test (nothing is asserted): a figure
 * for humans.
 *
 * Run against nodes you started (their PIDs and client addresses):
 *   npx tsx test/integration/measure-txn-cpu.ts --pids 101,102,103 --endpoints 127.0.0.1:8001,... [--rounds 3] [--seconds 6] [--concurrency 64]
 */
import { parseArgs } from 'node:util';
import { processCpuMs } from '../../bench/vs-etcd/proc-stats.js';
import { RaftKvClient, txnOp } from '../../src/client/index.js';

const { values: flags } = parseArgs({
  options: {
    pids: { type: 'string' },
    endpoints: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '64' },
  },
});
const pids = (flags.pids ?? '').split(',').filter(Boolean).map(Number);
const endpoints = (flags.endpoints ?? '').split(',').filter(Boolean);
if (pids.length === 0 || endpoints.length === 0) throw new Error('--pids and --endpoints are required');
const [rounds, seconds, concurrency] = [Number(flags.rounds), Number(flags.seconds), Number(flags.concurrency)];

/** utime + stime of the node processes, in ms. */
function cpuMs(): number {
  return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
}

const clients = Array.from({ length: 8 }, () => new RaftKvClient({ endpoints, timeoutMs: 10_000 }));
const value = 'x'.repeat(256);
const kinds = ['put', 'txn-2-puts', 'txn-2-gets'] as const;

async function phase(kind: (typeof kinds)[number]): Promise<number> {
  const untilMs = Date.now() + seconds * 1000;
  let ops = 0;
  let next = 0;
  const startCpuMs = cpuMs();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const client = clients[worker % clients.length] as RaftKvClient;
      while (Date.now() < untilMs) {
        const i = next++ % 1000;
        if (kind === 'put') await client.put(`k${i}`, value);
        else if (kind === 'txn-2-puts') await client.txn({ success: [txnOp.put(`a${i}`, value), txnOp.put(`b${i}`, value)] });
        else await client.txn({ success: [txnOp.get(`k${i}`), txnOp.get(`a${i}`)] });
        ops++;
      }
    }),
  );
  const usedMs = cpuMs() - startCpuMs;
  console.log(`${kind}: ${ops} ops, ${(ops / seconds).toFixed(0)}/s, ${usedMs.toFixed(0)} ms CPU, ${((usedMs * 1000) / ops).toFixed(0)} µs per op`);
  return (usedMs * 1000) / ops;
}

const perOp = new Map<string, number[]>(kinds.map((kind) => [kind, []]));
for (let round = 1; round <= rounds; round++) {
  for (const kind of kinds) {
    process.stdout.write(`round ${round} `);
    perOp.get(kind)?.push(await phase(kind));
  }
}
for (const [kind, values] of perOp) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`${kind}: CPU per op median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(0)} µs (${values.map((v) => v.toFixed(0)).join(', ')})`);
}
for (const client of clients) client.close();
