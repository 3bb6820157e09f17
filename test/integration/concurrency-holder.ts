/**
 * A process that takes a lock or leads an election and then holds it until it is killed:
 * `concurrency-holder.ts lock|campaign ENDPOINTS NAME TTL_SECONDS [VALUE]`. It prints one JSON
 * line once it holds ({ fencingRevision } or { createRevision }), for concurrency.test.ts.
 */
import { Election, LeaseSession, Lock, RaftKvClient } from '../../src/client/index.js';

const [mode, endpoints, name, ttl, value] = process.argv.slice(2);
if (mode === undefined || endpoints === undefined || name === undefined || ttl === undefined) throw new Error('usage: lock|campaign ENDPOINTS NAME TTL_SECONDS [VALUE]');
const client = new RaftKvClient({ endpoints: endpoints.split(','), timeoutMs: 20_000 });
const session = await LeaseSession.open(client, { ttlSeconds: Number(ttl) });
if (mode === 'lock') {
  const held = await new Lock(session, name).lock();
  process.stdout.write(`${JSON.stringify({ leaseId: session.leaseId, fencingRevision: held.fencingRevision })}\n`);
} else {
  const leader = await new Election(session, name).campaign(value ?? 'child');
  process.stdout.write(`${JSON.stringify({ leaseId: session.leaseId, createRevision: leader.createRevision })}\n`);
}
// Hold until killed.
setInterval(() => undefined, 60_000);
