import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateError, checkName, createCertificateAuthority, isCertificateHost, issueCertificate, type CertifiedKey } from './certificates.js';

/** Hosts every node certificate names, so a local cluster and tools on the machine can verify it. */
export const loopbackHosts: readonly string[] = ['localhost', '127.0.0.1', '::1'];

export interface CertificatePlan {
  /** Node ids: each gets `<id>.crt`/`<id>.key`, valid as server and client, naming the id as its CN. */
  readonly nodes: readonly string[];
  /** Client names: each gets `<name>.crt`/`<name>.key` (client use only, the name as its CN). */
  readonly clients: readonly string[];
  /** Extra DNS names or IP addresses for every node certificate, besides its id and loopback. */
  readonly hosts: readonly string[];
  readonly validDays: number;
  /** Replace files that exist instead of refusing. */
  readonly overwrite: boolean;
}

/** One file written. */
export interface WrittenFile {
  readonly path: string;
  readonly kind: 'ca-certificate' | 'ca-key' | 'certificate' | 'key';
}

const caCertFile = 'ca.crt';
const caKeyFile = 'ca.key';

/**
 * `raftkv certs init`: a new development CA in `dir` and, signed by it, a certificate per node
 * and per client. Refuses (writing nothing) when any file it would write exists, unless
 * `overwrite`.
 */
export async function initCertificateDir(dir: string, plan: CertificatePlan & { readonly caValidDays: number }): Promise<WrittenFile[]> {
  checkPlan(plan);
  const names = [caCertFile, caKeyFile, ...plannedFiles(plan)];
  refuseExisting(dir, names, plan.overwrite);
  const ca = createCertificateAuthority('raftkv-ca', plan.caValidDays);
  await mkdir(dir, { recursive: true });
  const written = [await writePem(dir, caCertFile, ca.certPem, 'ca-certificate', plan.overwrite), await writePem(dir, caKeyFile, ca.keyPem, 'ca-key', plan.overwrite)];
  return [...written, ...(await issueAll(dir, ca, plan))];
}

/** `raftkv certs add`: more node or client certificates from the CA already in `dir`. */
export async function addToCertificateDir(dir: string, plan: CertificatePlan): Promise<WrittenFile[]> {
  checkPlan(plan);
  if (plan.nodes.length + plan.clients.length === 0) throw new CertificateError('nothing to add: name --nodes or --clients');
  const ca = await readAuthority(dir);
  refuseExisting(dir, plannedFiles(plan), plan.overwrite);
  return issueAll(dir, ca, plan);
}

async function issueAll(dir: string, ca: CertifiedKey, plan: CertificatePlan): Promise<WrittenFile[]> {
  const written: WrittenFile[] = [];
  for (const node of plan.nodes) {
    const hosts = [...new Set([node, ...loopbackHosts, ...plan.hosts])];
    const issued = issueCertificate(ca, { commonName: node, hosts, usage: 'server-and-client', validDays: plan.validDays });
    written.push(...(await writePair(dir, node, issued, plan.overwrite)));
  }
  for (const client of plan.clients) {
    const issued = issueCertificate(ca, { commonName: client, hosts: [], usage: 'client', validDays: plan.validDays });
    written.push(...(await writePair(dir, client, issued, plan.overwrite)));
  }
  return written;
}

function plannedFiles(plan: CertificatePlan): string[] {
  return [...plan.nodes, ...plan.clients].flatMap((name) => [`${name}.crt`, `${name}.key`]);
}

function checkPlan(plan: CertificatePlan): void {
  const seen = new Set<string>();
  for (const name of [...plan.nodes, ...plan.clients]) {
    checkName(name, plan.nodes.includes(name) ? 'node id' : 'client name');
    if (name === 'ca') throw new CertificateError('"ca" is the CA\'s own file name; name the node or client otherwise');
    if (seen.has(name)) throw new CertificateError(`"${name}" is named twice (node and client certificates share one directory)`);
    seen.add(name);
  }
  for (const host of plan.hosts) if (!isCertificateHost(host)) throw new CertificateError(`host "${host}" is neither an IP address nor a DNS name`);
}

function refuseExisting(dir: string, names: readonly string[], overwrite: boolean): void {
  if (overwrite) return;
  const existing = names.filter((name) => existsSync(join(dir, name)));
  if (existing.length > 0) throw new CertificateError(`${existing.map((name) => join(dir, name)).join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing was written (--force replaces them)`);
}

async function readAuthority(dir: string): Promise<CertifiedKey> {
  try {
    return { certPem: await readFile(join(dir, caCertFile), 'utf8'), keyPem: await readFile(join(dir, caKeyFile), 'utf8') };
  } catch (error) {
    throw new CertificateError(`cannot read the CA in ${dir} (${caCertFile} and ${caKeyFile}, from \`raftkv certs init\`): ${(error as Error).message}`, { cause: error });
  }
}

async function writePair(dir: string, name: string, issued: CertifiedKey, overwrite: boolean): Promise<WrittenFile[]> {
  return [await writePem(dir, `${name}.crt`, issued.certPem, 'certificate', overwrite), await writePem(dir, `${name}.key`, issued.keyPem, 'key', overwrite)];
}

async function writePem(dir: string, name: string, pem: string, kind: WrittenFile['kind'], overwrite: boolean): Promise<WrittenFile> {
  const path = join(dir, name);
  const secret = kind === 'key' || kind === 'ca-key';
  // Private keys are readable by their owner only; 'wx' never replaces a file that appeared meanwhile.
  const mode = secret ? 0o600 : 0o644;
  await writeFile(path, pem, { mode, flag: overwrite ? 'w' : 'wx' });
  if (overwrite) await chmod(path, mode); // a replaced file keeps its old mode otherwise
  return { path, kind };
}
