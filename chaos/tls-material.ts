import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientTls } from '../src/client/index.js';

/** Certificates for a run with `--tls`: one per node slot (spares included) and one for the harness's clients. */
export interface ChaosTls {
  readonly dir: string;
  /** What every SDK client of the harness uses. */
  readonly client: ClientTls;
}

/**
 * Makes a CA and certificates in `dir` the way an operator would, with `raftkv certs init`
 * (the harness drives the system from outside: it does not import the server's code).
 */
export async function makeChaosCertificates(projectRoot: string, dir: string, ids: readonly string[], hosts: readonly string[]): Promise<ChaosTls> {
  const args = ['--import', 'tsx', join(projectRoot, 'cli', 'raftkv.ts'), 'certs', 'init', dir, '--nodes', ids.join(','), '--clients', 'client', ...(hosts.length === 0 ? [] : ['--hosts', hosts.join(',')])];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
  if (code !== 0) throw new Error(`raftkv certs init ${dir} failed (exit ${code}): ${output.trim()}`);
  return { dir, client: { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'client.crt')), key: readFileSync(join(dir, 'client.key')) } };
}
