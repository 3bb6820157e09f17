import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addToCertificateDir, initCertificateDir } from '../../src/security/certificate-dir.js';
import { runCli } from '../integration/process-cluster.js';
import { tempDir } from '../support/temp-dir.js';

const plan = { nodes: ['n1', 'n2', 'n3'], clients: ['client'], hosts: ['10.0.0.5', 'kv.internal'], validDays: 30, overwrite: false, caValidDays: 365 };

function certificate(dir: string, name: string): X509Certificate {
  return new X509Certificate(readFileSync(join(dir, `${name}.crt`)));
}

describe('certificate directories', () => {
  it('init writes the CA, one pair per node and client, keys readable by their owner only', async () => {
    const dir = join(tempDir('raftkv-certs-'), 'certs');
    const written = await initCertificateDir(dir, plan);
    expect(readdirSync(dir).sort()).toEqual(['ca.crt', 'ca.key', 'client.crt', 'client.key', 'n1.crt', 'n1.key', 'n2.crt', 'n2.key', 'n3.crt', 'n3.key']);
    expect(written).toHaveLength(10);
    for (const name of ['ca.key', 'n1.key', 'client.key']) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    const ca = certificate(dir, 'ca');
    for (const node of plan.nodes) {
      const leaf = certificate(dir, node);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(leaf.checkHost(node)).toBe(node);
      expect(leaf.checkHost('localhost')).toBe('localhost');
      expect(leaf.checkHost('kv.internal')).toBe('kv.internal');
      expect(leaf.checkIP('10.0.0.5')).toBe('10.0.0.5');
    }
    expect(certificate(dir, 'client').keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('refuses to overwrite anything unless told to, and writes nothing when it refuses', async () => {
    const dir = tempDir('raftkv-certs-');
    writeFileSync(join(dir, 'n2.key'), 'precious');
    await expect(initCertificateDir(dir, plan)).rejects.toThrow(`${join(dir, 'n2.key')} already exists; nothing was written`);
    expect(readdirSync(dir)).toEqual(['n2.key']);
    expect(readFileSync(join(dir, 'n2.key'), 'utf8')).toBe('precious');
    await initCertificateDir(dir, { ...plan, overwrite: true });
    expect(readFileSync(join(dir, 'n2.key'), 'utf8')).toContain('PRIVATE KEY');
    expect(statSync(join(dir, 'n2.key')).mode & 0o777).toBe(0o600);
  });

  it('add issues more certificates from the same CA, and refuses names it cannot use', async () => {
    const dir = tempDir('raftkv-certs-');
    await initCertificateDir(dir, plan);
    await addToCertificateDir(dir, { nodes: ['n4'], clients: ['alice'], hosts: [], validDays: 10, overwrite: false });
    expect(certificate(dir, 'n4').verify(certificate(dir, 'ca').publicKey)).toBe(true);
    expect(certificate(dir, 'alice').subject).toContain('CN=alice');
    await expect(addToCertificateDir(dir, { nodes: ['n1'], clients: [], hosts: [], validDays: 10, overwrite: false })).rejects.toThrow(/n1\.crt, .*n1\.key already exist/);
    await expect(addToCertificateDir(dir, { nodes: ['ca'], clients: [], hosts: [], validDays: 10, overwrite: false })).rejects.toThrow(/CA's own file name/);
    await expect(addToCertificateDir(dir, { nodes: ['n5'], clients: ['n5'], hosts: [], validDays: 10, overwrite: false })).rejects.toThrow(/named twice/);
    await expect(addToCertificateDir(dir, { nodes: [], clients: [], hosts: [], validDays: 10, overwrite: false })).rejects.toThrow(/nothing to add/);
    await expect(addToCertificateDir(join(dir, 'missing'), { nodes: ['n5'], clients: [], hosts: [], validDays: 10, overwrite: false })).rejects.toThrow(/cannot read the CA/);
  });
});

describe('raftkv certs', () => {
  it('init and add from the command line, exit 2 naming what is wrong', async () => {
    const dir = join(tempDir('raftkv-certs-'), 'tls');
    const init = await runCli(['certs', 'init', dir, '--nodes', 'n1,n2', '--hosts', '127.0.0.2']);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(`wrote ${join(dir, 'n2.key')} (mode 600)`);
    const add = await runCli(['certs', 'add', dir, '--nodes', 'n3', '--json']);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout).files.map((f: { path: string }) => f.path)).toEqual([join(dir, 'n3.crt'), join(dir, 'n3.key')]);
    for (const [args, message] of [
      [['certs', 'init', dir, '--nodes', 'n1'], 'already exist'],
      [['certs', 'init', `${dir}-b`, '--nodes', 'n1,,n2'], '--nodes: "n1,,n2" has an empty entry'],
      [['certs', 'init', `${dir}-b`, '--nodes', 'n1/x'], 'node id "n1/x" must be'],
      [['certs', 'init', `${dir}-b`, '--nodes', 'n1', '--days', '0'], '--days: must be an integer in 1..36500'],
      [['certs', 'init', `${dir}-b`], "required option '--nodes <ids>' not specified"],
    ] as const) {
      const result = await runCli([...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(message);
    }
  });
});
