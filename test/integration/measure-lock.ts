/**
 * What a lock costs: lock + unlock cycles, uncontended (one session, one after the other) and
 * contended (several sessions on one lock), in alternating phases against one running cluster.
 * Reports cycles/s, p50/p99 of lock() and the servers' CPU per cycle (utime+stime of the node
 * processes from /proc/PID/stat). Not a test (nothing is asserted): a figure for humans.
 *
 *   npx tsx test/integration/measure-lock.ts --pids 101,102,103 --endpoints 127.0.0.1:8001,... [--rounds 3] [--seconds 5] [--contenders 4]
 */
import { parseArgs } from 'node:util';
import { LeaseSession, Lock, RaftKvClient } from '../../src/client/index.js';
import { processCpuMs } from '../../bench/vs-etcd/proc-stats.js';

const { values: flags } = parseArgs({
  options: {
    pids: { type: 'string' },
    endpoints: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    contenders: { type: 'string', default: '4' },
  },
});
const pids = (flags.pids ?? '').split(',').filter(Boolean).map(Number);
const endpoints = (flags.endpoints ?? '').split(',').filter(Boolean);
if (pids.length === 0 || endpoints.length === 0) throw new Error('--pids and --endpoints are required');
const [rounds, seconds, contenders] = [Number(flags.rounds), Number(flags.seconds), Number(flags.contenders)];
/** utime + stime of the server processes together, in ms. */
function cpuMs(): number {
  return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
}

const sessions = await Promise.all(
  Array.from({ length: contenders }, async () => LeaseSession.open(new RaftKvClient({ endpoints, timeoutMs: 10_000 }), { ttlSeconds: 30 })),
);

async function phase(kind: 'uncontended' | 'contended'): Promise<void> {
  const workers = kind === 'uncontended' ? sessions.slice(0, 1) : sessions;
  const name = `measure/${kind}`;
  const latenciesMs: number[] = [];
  const cpuBefore = cpuMs();
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    workers.map(async (session) => {
      const lock = new Lock(session, name);
      while (performance.now() < until) {
        const t0 = performance.now();
        const held = await lock.lock({ timeoutMs: 30_000 });
        latenciesMs.push(performance.now() - t0);
        await held.unlock();
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cycles = latenciesMs.length;
  latenciesMs.sort((a, b) => a - b);
  const at = (q: number): string => (latenciesMs[Math.min(cycles - 1, Math.floor(q * cycles))] ?? 0).toFixed(1);
  console.log(`${kind.padEnd(12)} sessions=${workers.length} cycles=${cycles} cycles/s=${(cycles / elapsedS).toFixed(0)} lock p50=${at(0.5)}ms p99=${at(0.99)}ms server-cpu/cycle=${((cpuMs() - cpuBefore) / cycles).toFixed(2)}ms`);
}

for (let round = 0; round < rounds; round++) {
  await phase('uncontended');
  await phase('contended');
}
for (const session of sessions) {
  await session.close();
  session.client.close();
}
