/**
 * A lock with a fencing revision, and a leader election. Start a local cluster first
 * (`npm start`), then run it a few times at once:
 *   npx tsx examples/lock.ts [endpoints]
 */
import { Election, LeaseSession, Lock, RaftKvClient, txnCompare, txnOp } from '../src/client/index.js';

const endpoints = (process.argv[2] ?? '127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003').split(',');
const client = new RaftKvClient({ endpoints, timeoutMs: 5000 });
// A lease kept alive while this process runs: if it dies, its lock and candidacy go after 10 s.
const session = await LeaseSession.open(client, { ttlSeconds: 10 });

try {
  const lock = await new Lock(session, 'locks/report').lock({ timeoutMs: 60_000 });
  try {
    // Fenced write: applied only while our lock key is still the one we created.
    const current = Number((await client.get('report/count'))?.value.toString() ?? '0');
    const write = await client.txn({
      compare: [txnCompare.create(lock.key, 'equal', lock.fencingRevision)],
      success: [txnOp.put('report/count', String(current + 1))],
    });
    console.log(`lock held (fencing revision ${lock.fencingRevision}): count ${current} -> ${current + 1}, ${write.succeeded ? 'written' : 'refused: lock lost'}`);
  } finally {
    await lock.unlock();
  }

  const election = new Election(session, 'elections/report-writer');
  const leader = await election.campaign(`pid ${process.pid}`, { timeoutMs: 60_000 });
  console.log(`leading since revision ${leader.createRevision} as "${leader.value.toString()}"`);
  await election.proclaim(`pid ${process.pid}, done`);
  console.log(`leader now: "${(await election.leader()).value.toString()}"`);
  await election.resign();
} finally {
  await session.close();
  client.close();
}
