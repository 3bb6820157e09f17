/**
 * Sums the sampled allocations of V8 .heapprofile files (from `node --heap-prof`) by allocating
 * function, by the nearest frame of this project's code on the stack (who asked for it, even
 * when a library or a builtin allocated), and by file: what the write path allocates. Not a
 * test. Sampled bytes are allocations still live when sampled, not all allocations: read them
 * as shares, not totals.
 *
 * Run: npx tsx test/integration/heap-profile-summary.ts <file or directory>... [--top 25]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

interface HeapNode {
  readonly id: number;
  readonly selfSize: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children: readonly HeapNode[];
}

interface HeapProfile {
  readonly head: HeapNode;
  readonly samples: readonly { readonly size: number; readonly nodeId: number }[];
}

const { values: flags, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
const top = Number(flags.top);
if (!Number.isSafeInteger(top) || top <= 0) throw new Error(`--top must be a positive integer, got ${String(flags.top)}`);
if (positionals.length === 0) throw new Error('name .heapprofile files or directories holding them');

function profileFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => profileFiles(join(path, name))).filter((file) => file.endsWith('.heapprofile'));
}

/** Where a frame's code lives, short: a package path or a path under the project. */
function place(url: string): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) return path.slice(modules + 'node_modules/'.length);
  if (path.startsWith('node:')) return path;
  return relative(process.cwd(), path);
}

const isOurs = (url: string): boolean => url !== '' && !url.includes('node_modules/') && !url.startsWith('node:');
const frameName = (node: HeapNode): string => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${place(url)}${url === '' ? '' : `:${lineNumber + 1}`}`;
};

const byFunction = new Map<string, number>();
const byOurFrame = new Map<string, number>();
const byFile = new Map<string, number>();
let totalBytes = 0;
const add = (table: Map<string, number>, key: string, bytes: number): void => void table.set(key, (table.get(key) ?? 0) + bytes);
const files = positionals.flatMap(profileFiles);
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as HeapProfile;
  const walk = (node: HeapNode, ours: string): void => {
    const here = isOurs(node.callFrame.url) ? frameName(node) : ours;
    if (node.selfSize > 0) {
      add(byFunction, frameName(node), node.selfSize);
      add(byOurFrame, here, node.selfSize);
      add(byFile, place(node.callFrame.url), node.selfSize);
      totalBytes += node.selfSize;
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, '(no project frame)');
}

const show = (title: string, table: Map<string, number>): void => {
  console.log(`\n${title} (${files.length} profiles, ${(totalBytes / 1048576).toFixed(1)} MiB sampled)`);
  for (const [name, bytes] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * bytes) / totalBytes).toFixed(1).padStart(5)}%  ${(bytes / 1024).toFixed(0).padStart(8)} KiB  ${name}`);
  }
};
show('by allocating function', byFunction);
show('by nearest project frame', byOurFrame);
show('by file', byFile);
