/**
 * A multi-key transaction: move money between two accounts, atomically, only if neither changed
 * since it was read. Start a local cluster first (`npm start`), then:
 *   npx tsx examples/transfer.ts [endpoints]
 */
import { RaftKvClient, txnCompare, txnOp } from '../src/client/index.js';

const endpoints = (process.argv[2] ?? '127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003').split(',');
const client = new RaftKvClient({ endpoints, timeoutMs: 5000 });

try {
  // Open both accounts, unless they exist: version 0 means absent.
  await client.txn({
    compare: [txnCompare.version('acct/alice', 'equal', 0), txnCompare.version('acct/bob', 'equal', 0)],
    success: [txnOp.put('acct/alice', '100'), txnOp.put('acct/bob', '100')],
  });

  // Read both in one read-only transaction (a linearizable read, no log entry), then move 10
  // if neither changed meanwhile; on a conflict, read again and retry.
  for (let attempt = 1; ; attempt++) {
    const read = await client.txn({ success: [txnOp.get('acct/', { prefix: true })] });
    const [alice, bob] = read.responses[0] !== undefined && 'get' in read.responses[0] ? read.responses[0].get.kvs : [];
    if (alice === undefined || bob === undefined) throw new Error('the accounts are missing');
    const move = await client.txn({
      compare: [txnCompare.version('acct/alice', 'equal', alice.version), txnCompare.version('acct/bob', 'equal', bob.version)],
      success: [txnOp.put('acct/alice', String(Number(alice.value) - 10)), txnOp.put('acct/bob', String(Number(bob.value) + 10))],
    });
    if (move.succeeded) {
      console.log(`moved 10 from alice to bob at revision ${move.revision} (attempt ${attempt})`);
      break;
    }
  }
  const after = await client.txn({ success: [txnOp.get('acct/', { prefix: true })] });
  const kvs = after.responses[0] !== undefined && 'get' in after.responses[0] ? after.responses[0].get.kvs : [];
  console.log(kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`).join(' '));
} finally {
  client.close();
}
