import type { Command } from 'commander';
import { addToCertificateDir, initCertificateDir, type CertificatePlan, type WrittenFile } from '../src/security/certificate-dir.js';
import { CertificateError } from '../src/security/certificates.js';
import { CommandFailure } from './client-commands.js';
import { printer } from './output.js';
import { parseIntegerOption } from './parse.js';

interface CertsFlags {
  nodes?: string;
  clients?: string;
  hosts?: string;
  days: string;
  force?: boolean;
  json?: boolean;
}

/** `raftkv certs init | add`: a development CA and the certificates of nodes and clients. */
export function registerCertsCommand(program: Command): void {
  const certs = program.command('certs').description('make a development certificate authority and the certificates of nodes and clients (P-256, no openssl needed)');
  const common = (command: Command): Command =>
    command
      .option('--hosts <list>', 'extra DNS names or IP addresses for every node certificate (each already names its id, localhost, 127.0.0.1 and ::1)')
      .option('--days <n>', 'validity of the node and client certificates', '365')
      .option('--force', 'replace files that exist (by default nothing is written if any does)')
      .option('--json', 'print JSON instead of text');

  common(
    certs
      .command('init')
      .description('write ca.crt and ca.key, <node>.crt/.key for each node (server and client use) and <client>.crt/.key for each client into <dir>')
      .argument('<dir>')
      .requiredOption('--nodes <ids>', 'comma-separated node ids, e.g. n1,n2,n3')
      .option('--clients <names>', 'comma-separated client names (the name is the certificate\'s common name)', 'client')
      .option('--ca-days <n>', 'validity of the CA', '3650'),
  ).action(async (dir: string, flags: CertsFlags & { caDays: string }) => {
    const plan = planFrom(flags);
    const caValidDays = parseIntegerOption(flags.caDays, '--ca-days', 1, 36_500);
    report(flags, await certificateErrors(initCertificateDir(dir, { ...plan, caValidDays })));
  });

  common(
    certs
      .command('add')
      .description('issue more node or client certificates from the CA in <dir> (e.g. for a member about to join)')
      .argument('<dir>')
      .option('--nodes <ids>', 'comma-separated node ids')
      .option('--clients <names>', 'comma-separated client names'),
  ).action(async (dir: string, flags: CertsFlags) => {
    report(flags, await certificateErrors(addToCertificateDir(dir, planFrom(flags))));
  });
}

function planFrom(flags: CertsFlags): CertificatePlan {
  return {
    nodes: list(flags.nodes, '--nodes'),
    clients: list(flags.clients, '--clients'),
    hosts: list(flags.hosts, '--hosts'),
    validDays: parseIntegerOption(flags.days, '--days', 1, 36_500),
    overwrite: flags.force === true,
  };
}

function list(value: string | undefined, flag: string): string[] {
  if (value === undefined) return [];
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw new CommandFailure(`${flag}: "${value}" has an empty entry`, 2);
  return items;
}

/** A refused plan (bad name, existing files, no CA) is bad usage: exit 2, naming it. */
async function certificateErrors<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof CertificateError) throw new CommandFailure(`certs: ${error.message}`, 2);
    throw error;
  }
}

function report(flags: CertsFlags, written: readonly WrittenFile[]): void {
  printer(flags.json === true).result({ files: written }, written.map((file) => `wrote ${file.path}${file.kind.endsWith('key') ? ' (mode 600)' : ''}`).join('\n'));
}
