/**
 * Where the nodes' CPU goes, whole process: reads `perf record -g` files (measure-put-cpu.ts
 * --perf-dir) through `perf script` and sums the samples by what ran: LevelDB, the kernel (by
 * the system call or fault that entered it), V8's garbage collector, JavaScript (compiled code
 * and V8's builtins), malloc, and the rest of Node. Then the top leaf symbols, and for the
 * kernel, which user-space call entered it. Not a test: a figure for humans.
 *
 * Run: npx tsx test/integration/perf-summary.ts <file.data>... [--top 30]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values: flags, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
const top = Number(flags.top);
if (!Number.isSafeInteger(top) || top <= 0) throw new Error(`--top must be a positive integer, got ${flags.top}`);
if (positionals.length === 0) throw new Error('name perf.data files (measure-put-cpu.ts --perf-dir writes them)');

/** One sample: its frames, leaf first, each as "symbol (object)". */
type Sample = readonly string[];

function readSamples(file: string): Sample[] {
  const script = spawnSync('perf', ['script', '-F', 'ip,sym,dso', '-i', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (script.error !== undefined) throw new Error(`perf script: ${script.error.message} (apt-get install linux-perf)`);
  if (script.status !== 0) throw new Error(`perf script -i ${file} exited with ${script.status}: ${script.stderr.slice(0, 500)}`);
  const samples: Sample[] = [];
  let frames: string[] = [];
  for (const line of script.stdout.split('\n')) {
    const frame = line.trim();
    if (frame === '') {
      if (frames.length > 0) samples.push(frames);
      frames = [];
      continue;
    }
    // "ffffffff81000000 symbol+0x12 (object)": drop the address and the offset.
    const space = frame.indexOf(' ');
    frames.push(frame.slice(space + 1).replace(/\+0x[0-9a-f]+ \(/, ' ('));
  }
  if (frames.length > 0) samples.push(frames);
  return samples;
}

const symbolOf = (frame: string): string => frame.replace(/ \([^()]*\)$/, '');
const objectOf = (frame: string): string => /\(([^()]*)\)$/.exec(frame)?.[1]?.split('/').at(-1) ?? '?';
const isKernel = (frame: string): boolean => objectOf(frame) === '[kernel.kallsyms]';

const gcSymbol = /^v8::internal::(Scavenger|MarkCompact|ConcurrentMarking|Sweeper|Heap::|MarkingVisitor|MinorMarkCompact|ArrayBufferSweeper|ScavengerCollector|Evacuat|PagedSpace|MemoryAllocator|BasicMemoryChunk)|^cppgc::/;

/** What a sample's CPU was spent on. */
function category(sample: Sample): string {
  const leaf = sample[0] ?? '';
  if (isKernel(leaf)) {
    const entry = sample.find((frame) => !isKernel(frame));
    const via = entry === undefined ? 'kernel thread' : symbolOf(entry);
    if (sample.some((frame) => symbolOf(frame).startsWith('exc_page_fault'))) return 'kernel: page faults';
    return `kernel: ${via}`;
  }
  const object = objectOf(leaf);
  const symbol = symbolOf(leaf);
  if (object === 'classic-level.node' || symbol.startsWith('leveldb::') || symbol.startsWith('snappy::')) return 'LevelDB (classic-level)';
  if (gcSymbol.test(symbol)) return 'V8 garbage collector';
  if (object.startsWith('perf-') || symbol.startsWith('JS:') || symbol.startsWith('Builtins_')) return 'JavaScript (compiled code and V8 builtins)';
  if (/^(_int_malloc|malloc|_int_free|free|cfree|malloc_consolidate|unlink_chunk|sysmalloc|_int_realloc|realloc|calloc|__libc_calloc)/.test(symbol)) return 'malloc/free';
  if (object.startsWith('libc')) return 'libc (other)';
  if (symbol.includes('nghttp2') || symbol.includes('http2')) return 'HTTP/2 (nghttp2, node)';
  if (symbol.startsWith('v8::') || symbol.startsWith('Builtins') ) return 'V8 (runtime, compiler)';
  return `other: ${object}`;
}

function printTable(title: string, counts: Map<string, number>, total: number, rows: number): void {
  console.log(`\n${title}`);
  for (const [name, count] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
}

const add = (counts: Map<string, number>, key: string): void => {
  counts.set(key, (counts.get(key) ?? 0) + 1);
};

for (const file of positionals) {
  const samples = readSamples(file);
  if (samples.length === 0) throw new Error(`${file}: no samples (was perf record stopped before it wrote any?)`);
  const categories = new Map<string, number>();
  const kernelEntries = new Map<string, number>();
  const leaves = new Map<string, number>();
  for (const sample of samples) {
    const kind = category(sample);
    add(categories, kind.startsWith('kernel: ') && kind !== 'kernel: page faults' ? 'kernel: system calls and scheduling' : kind);
    if (kind.startsWith('kernel: ')) add(kernelEntries, kind.slice('kernel: '.length));
    add(leaves, symbolOf(sample[0] ?? '?').slice(0, 120));
  }
  console.log(`${file}: ${samples.length} samples`);
  printTable('by what ran', categories, samples.length, top);
  printTable('kernel time by what entered it (system call site in user space, or a fault)', kernelEntries, samples.length, Math.min(top, 15));
  printTable('top leaf symbols', leaves, samples.length, top);
}
