/**
 * The SDK in a few lines. Start a local cluster first (`npm start`), then:
 *   npx tsx examples/quickstart.ts [endpoints]
 */
import { RaftKvClient, TimeoutError } from '../src/client/index.js';

const endpoints = (process.argv[2] ?? '127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003').split(',');
const client = new RaftKvClient({ endpoints, timeoutMs: 5000 });

try {
  // Writes go to the leader (the SDK finds it) and are applied exactly once, even when retried.
  const { revision } = await client.put('greeting', 'hello');
  console.log(`put greeting at revision ${revision}`);

  // Reads are linearizable by default: they see every write acknowledged before they began.
  const kv = await client.get('greeting');
  console.log(`get greeting -> ${kv?.value.toString()} (version ${kv?.version})`);

  // Compare-and-swap: change the value only if nobody changed it since we read it.
  const swap = await client.cas('greeting', { version: kv?.version ?? 0 }, { put: 'hello again' });
  console.log(`cas succeeded: ${swap.succeeded}`);

  await client.put('fruit/apple', 'red');
  await client.put('fruit/pear', 'green');
  const { kvs } = await client.range({ prefix: 'fruit/' });
  console.log(`fruit: ${kvs.map((e) => `${e.key}=${e.value}`).join(', ')}`);

  await client.delete('greeting');
  console.log(`after delete: ${await client.get('greeting')}`);
} catch (error) {
  // A TimeoutError on a write means its outcome is unknown; other errors say what was wrong.
  console.error(error instanceof TimeoutError ? `timed out: ${error.message}` : error);
  process.exitCode = 1;
} finally {
  client.close();
}
