/**
 * A preload for nodes under measure-put-cpu.ts: samples every allocation, including objects
 * the GC has collected since (which `node --heap-prof` leaves out: it shows what is still live),
 * and writes the profile as ALLOC_SAMPLER_DIR/alloc-PID.heapprofile when the node gets SIGTERM.
 * Read the profiles with heap-profile-summary.ts. Not a test.
 *
 *   ALLOC_SAMPLER_DIR=/tmp/alloc npx tsx test/integration/measure-put-cpu.ts --dist dist --rounds 1 \
 *     --node-options="--import=$PWD/test/integration/alloc-sampler.mjs"
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import process from 'node:process';

const dir = process.env.ALLOC_SAMPLER_DIR;
if (dir === undefined || dir === '') throw new Error('alloc-sampler.mjs: set ALLOC_SAMPLER_DIR to the directory for the profiles');
const session = new Session();
session.connect();
let sampling = false;
// An in-process inspector session answers synchronously: sampling has begun once post() returns.
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, (error) => {
  if (error) throw error;
  sampling = true;
});
process.prependListener('SIGTERM', () => {
  if (!sampling) return;
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) throw error;
    writeFileSync(`${dir}/alloc-${process.pid}.heapprofile`, JSON.stringify(result.profile));
  });
});
