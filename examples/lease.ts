/**
 * Service registration with a lease: a key that lives while this process keeps its lease alive,
 * and vanishes (in one log entry) when it stops or revokes it. Start a local cluster first
 * (`npm start`), then:
 *   npx tsx examples/lease.ts [endpoints]
 */
import { LeaseExpiredError, RaftKvClient } from '../src/client/index.js';

const endpoints = (process.argv[2] ?? '127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003').split(',');
const client = new RaftKvClient({ endpoints, timeoutMs: 5000 });

try {
  const lease = await client.lease.grant(10); // seconds; raised to the cluster's minimum if below
  await client.put('services/api/n1', '10.0.0.1:8080', { lease: lease.id });
  console.log(`lease ${lease.id} granted for ${lease.ttlSeconds} s; services/api/n1 attached`);

  // Renews at a third of the TTL over one stream, following leader changes.
  const keepAlive = client.lease.keepAlive(lease.id, {
    onRenewal: (renewal) => console.log(`renewed lease ${renewal.id}: ttl ${renewal.ttlSeconds} s`),
  });
  keepAlive.done.catch((error: unknown) => {
    if (error instanceof LeaseExpiredError) console.log(`lost the lease: ${error.message}`);
  });
  await new Promise((resolve) => setTimeout(resolve, 8000));

  const ttl = await client.lease.timeToLive(lease.id, { keys: true });
  console.log(`ttl left ${ttl.ttlSeconds} s of ${ttl.grantedTtlSeconds}, keys ${ttl.keys.map(String).join(', ')}`);

  keepAlive.stop();
  const { deleted } = await client.lease.revoke(lease.id); // or let it expire
  console.log(`revoked: ${deleted} key deleted; services/api/n1 is now ${(await client.get('services/api/n1')) === null ? 'gone' : 'still there'}`);
} finally {
  client.close();
}
