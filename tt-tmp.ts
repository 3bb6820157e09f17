import { startNode } from './src/server/main.js';
import { resolveNodeConfig } from './src/server/config.js';
import { encodeCommand } from './src/kv/index.js';
import { rmSync } from 'node:fs';
rmSync('/tmp/rk2', { recursive: true, force: true });
const peers = 'n1=127.0.0.1:9711,n2=127.0.0.1:9712,n3=127.0.0.1:9713';
const nodes = await Promise.all([1, 2, 3].map((i) => startNode(resolveNodeConfig({ id: `n${i}`, data: `/tmp/rk2/n${i}`, listenPeer: `127.0.0.1:971${i}`, listenClient: `127.0.0.1:972${i}`, peers, logLevel: 'warn', tickMs: '1000', electionTicks: '3' }))));
let leader;
for (;;) { leader = nodes.find((n) => n.node.status().role === 'leader'); if (leader) break; await new Promise((r) => setTimeout(r, 50)); }
await new Promise((r) => setTimeout(r, 300));
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  process.env.RK_TRACE = '1';
  process.stderr.write(`--- propose at ${(performance.now() % 100000).toFixed(2)}\n`);
  await leader.node.propose(encodeCommand({ kind: 'put', key: Buffer.from('k' + (i % 10)), value: Buffer.from('v') }), 5000);
  process.stderr.write(`--- done ${(performance.now() - t).toFixed(2)}\n`);
}
delete process.env.RK_TRACE;
await Promise.all(nodes.map((n) => n.stop()));
