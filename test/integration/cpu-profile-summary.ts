/**
 * Sums the self time of V8 .cpuprofile files (from `node --cpu-prof`) by function and by file,
 * and prints the top of each: which frames to attack. Not a test.
 *
 * Run: npx tsx test/integration/cpu-profile-summary.ts <file or directory>... [--top 25]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const { values: flags, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
const top = Number(flags.top);
if (positionals.length === 0) throw new Error('name .cpuprofile files or directories holding them');

function profileFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => profileFiles(join(path, name))).filter((file) => file.endsWith('.cpuprofile'));
}

/** Where a frame's code lives, short: a package name or a path under the project. */
function place(url: string): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + 'node_modules/'.length).split('/');
    return (rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}/${rest.slice(2).join('/')}` : rest.join('/'));
  }
  if (path.startsWith('node:')) return path;
  return relative(process.cwd(), path);
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let totalMs = 0;
const files = positionals.flatMap(profileFiles);
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const node = nodes.get(id);
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = place(url);
    const fn = `${functionName || '(anonymous)'} ${where}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
    byFile.set(where, (byFile.get(where) ?? 0) + ms);
    totalMs += ms;
  });
}

const show = (title: string, table: Map<string, number>): void => {
  console.log(`\n${title} (self time, ${files.length} profiles, ${totalMs.toFixed(0)} ms sampled)`);
  for (const [name, ms] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * ms) / totalMs).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`);
  }
};
show('by function', byFunction);
show('by file', byFile);
