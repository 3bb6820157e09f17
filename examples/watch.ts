/**
 * Watch a prefix from a past revision, with the values before each change, while writing to it;
 * stop after the writes are seen. Start a local cluster first (`npm start`), then:
 *   npx tsx examples/watch.ts [endpoints]
 */
import { CompactedError, RaftKvClient } from '../src/client/index.js';

const endpoints = (process.argv[2] ?? '127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003').split(',');
const client = new RaftKvClient({ endpoints, timeoutMs: 5000 });

try {
  const first = await client.put('cfg/mode', 'blue');
  // From the first write on: the events before the watch began are replayed from history.
  const watcher = client.watch('cfg/', { prefix: true, prevKv: true, startRevision: first.revision });
  await client.put('cfg/mode', 'green');
  const last = await client.delete('cfg/mode');
  for await (const batch of watcher) {
    if (batch.kind === 'progress') continue;
    for (const event of batch.events) {
      console.log(`${event.type} ${event.key.toString()}=${event.value.toString()} revision ${event.revision} (before: ${event.prevKv?.value.toString() ?? 'absent'})`);
    }
    if (batch.revision >= last.revision) watcher.cancel();
  }
} catch (error) {
  if (!(error instanceof CompactedError)) throw error;
  console.log(`revision ${error.requestedRevision} was compacted; the oldest held is ${error.compactRevision}`);
} finally {
  client.close();
}
