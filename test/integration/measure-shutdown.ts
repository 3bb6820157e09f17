/**
 * Measures how long a node takes to stop on SIGTERM, and how long the cluster is without a
 * leader, in three situations: no client, one idle SDK client (its KV stream open), and the
 * leader stopped while 100 SDK clients write. Not a test (nothing is asserted): a figure for
 * humans. Run: `npx tsx test/integration/measure-shutdown.ts [rounds]`.
 */
import { performance } from 'node:perf_hooks';
import { RaftKvClient } from '../../src/client/index.js';
import { ProcessCluster, waitFor } from './process-cluster.js';

type Scenario = 'no client' | 'one idle client' | '100 clients writing';

interface Figure {
  readonly scenario: Scenario;
  readonly exitMs: number;
  readonly exitCode: number | null;
  readonly newLeaderMs: number;
  readonly clientErrors: number;
}

const rounds = Number(process.argv[2] ?? 3);
const cluster = await ProcessCluster.create(3);
const figures: Figure[] = [];
try {
  const admin = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
  await cluster.waitForLeader(admin);
  admin.close();
  for (let round = 0; round < rounds; round++) {
    for (const scenario of ['no client', 'one idle client', '100 clients writing'] as const) {
      figures.push(await measure(scenario));
      console.log(JSON.stringify(figures.at(-1)));
    }
  }
} finally {
  await cluster.destroy();
}
for (const scenario of ['no client', 'one idle client', '100 clients writing'] as const) {
  const mine = figures.filter((f) => f.scenario === scenario);
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  console.log(
    `${scenario}: SIGTERM to exit median ${median(mine.map((f) => f.exitMs))} ms (${mine.map((f) => f.exitMs).join(', ')}); ` +
      `to a new leader median ${median(mine.map((f) => f.newLeaderMs))} ms (${mine.map((f) => f.newLeaderMs).join(', ')}); ` +
      `exit codes ${mine.map((f) => f.exitCode).join(',')}; client errors ${mine.map((f) => f.clientErrors).join(',')}`,
  );
}

async function measure(scenario: Scenario): Promise<Figure> {
  // Only this client talks to every node, and it is closed before the signal.
  const finder = new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 15_000 });
  const leader = await cluster.waitForLeader(finder);
  finder.close();
  const target = cluster.node(leader);
  const others = cluster.nodes.filter((n) => n.id !== leader);
  // Talks only to the other nodes, so it is not a client of the one stopping.
  const watcher = new RaftKvClient({ endpoints: others.map((n) => n.clientAddress), timeoutMs: 2000 });

  const clients: RaftKvClient[] = [];
  let stopWriting = false;
  let clientErrors = 0;
  const writers: Promise<void>[] = [];
  if (scenario === 'one idle client') {
    const idle = new RaftKvClient({ endpoints: [target.clientAddress], timeoutMs: 5000 });
    await idle.get('measure/idle'); // opens its KV stream to the node
    clients.push(idle);
  } else if (scenario === '100 clients writing') {
    for (let c = 0; c < 100; c++) clients.push(new RaftKvClient({ endpoints: cluster.endpoints, timeoutMs: 10_000 }));
    let acknowledged = 0;
    for (const [c, client] of clients.entries()) {
      writers.push(
        (async () => {
          for (let i = 0; !stopWriting; i++) {
            try {
              await client.put(`measure/${c}/${i}`, `v${i}`);
              acknowledged++;
            } catch {
              clientErrors++;
            }
          }
        })(),
      );
    }
    await waitFor('writes under way', () => (acknowledged >= 500 ? true : undefined));
  }

  const child = target.child;
  if (child === null) throw new Error(`${leader} is not running`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const startedAt = performance.now();
  child.kill('SIGTERM');
  let exitMs = NaN;
  let exitCode: number | null = null;
  const exitWatch = exited.then((code) => {
    exitMs = Math.round(performance.now() - startedAt);
    exitCode = code;
  });
  let newLeaderMs = NaN;
  for (;;) {
    const statuses = await Promise.all(others.map((n) => watcher.status(n.clientAddress, { timeoutMs: 500 }).catch(() => null)));
    if (statuses.some((s) => s?.role === 'leader')) {
      newLeaderMs = Math.round(performance.now() - startedAt);
      break;
    }
    if (performance.now() - startedAt > 30_000) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await exitWatch;
  stopWriting = true;
  await Promise.all(writers);
  for (const client of clients) client.close();
  watcher.close();
  cluster.start(leader);
  const back = new RaftKvClient({ endpoints: [target.clientAddress], timeoutMs: 2000 });
  await waitFor(`${leader} to serve again`, async () => ((await back.status(target.clientAddress)).leaderId !== '' ? true : undefined));
  back.close();
  return { scenario, exitMs, exitCode, newLeaderMs, clientErrors };
}
