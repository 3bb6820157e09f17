/**
 * The module structure DESIGN.md draws: no import cycles (a cycle means two modules are one
 * concept, or a type lives in the wrong place), and layers that only look down: the harness tests
 * the system from outside (through the SDK), the core depends on nothing, storage and the state
 * machine share helpers through src/shared rather than through each other.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const roots = ['src', 'chaos', 'cli'];

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/** Every relative import and re-export of each file (type-only ones too), as project-relative paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const specifier = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.{1,2}\/[^']+)'/g;
  for (const file of roots.flatMap((dir) => sourceFiles(join(root, dir)))) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(specifier)].map((match) =>
      relative(root, resolve(dirname(file), (match[1] as string).replace(/\.js$/, '.ts'))),
    );
    graph.set(relative(root, file), targets);
  }
  return graph;
}

/** The cycles of the graph, each as the path that closes it (Tarjan's strongly connected components). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      for (;;) {
        const member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
        if (member === node) break;
      }
      const selfImport = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfImport) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();

  it('reads the project (a sanity check on the parser)', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get('src/server/main.ts')).toContain('src/raft/index.ts');
  });

  it('has no import cycles in src/, chaos/ or cli/', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one (the checker itself)', () => {
    const looped = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(looped)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('keeps the layers: the harness uses the SDK and src/shared only; the core imports nothing outside itself', () => {
    const offending: string[] = [];
    for (const [file, targets] of graph) {
      for (const target of targets) {
        const harnessIntoSystem = file.startsWith('chaos/') && target.startsWith('src/') && !/^src\/(client|shared)\//.test(target);
        const coreOutward = file.startsWith('src/raft/') && !target.startsWith('src/raft/');
        const kvIntoStorageCodec = file.startsWith('src/kv/') && target === 'src/storage/binary-codec.ts';
        if (harnessIntoSystem || coreOutward || kvIntoStorageCodec) offending.push(`${file} -> ${target}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
