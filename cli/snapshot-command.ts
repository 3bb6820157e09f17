import type { Command } from 'commander';
import { RaftKvClient } from '../src/client/index.js';
import { BackupFileError, backupRecordFormat, readBackupFile, writeBackupFile, type BackupSummary } from '../src/kv/index.js';
import { nodeId } from '../src/raft/index.js';
import { parsePeers } from '../src/server/config.js';
import { RestoreError, restoreDataDir } from '../src/server/restore-data-dir.js';
import { ConfigError } from '../src/shared/errors.js';
import { CommandFailure } from './client-commands.js';
import { clientTlsFromFlags } from './client-tls-flags.js';
import { authFromFlag } from './user-flag.js';
import { defaultEndpoints } from './local-cluster.js';
import { printer } from './output.js';
import { parseIntegerOption } from './parse.js';

interface SaveFlags {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  timeout: string;
  json?: boolean;
}

interface RestoreFlags {
  data: string;
  id: string;
  peers: string;
  clusterId?: string;
  json?: boolean;
}

/** `raftkv snapshot save | status | restore`: backups of the keyspace, as etcdctl's. */
export function registerSnapshotCommand(program: Command): void {
  const snapshot = program.command('snapshot').description('back up the keyspace to a file, check a backup, seed a new cluster from one');

  snapshot
    .command('save')
    .description('stream a consistent snapshot of the keyspace from a node into <file> (written as <file>.part, checked, then renamed)')
    .argument('<file>')
    .option('--endpoints <list>', 'client addresses host:port,... (default: the local cluster); the first that serves it is used')
    .option('--timeout <ms>', 'deadline of the whole download', '600000')
    .option('--cacert <file>', 'TLS: the CA that signs the nodes\' certificates')
    .option('--cert <file>', 'TLS: this client\'s certificate (with --key)')
    .option('--key <file>', 'TLS: this client\'s private key')
    .option('--user <name[:password]>', 'call as this user when auth is enabled (a snapshot needs root)')
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, flags: SaveFlags & { user?: string }) => {
      const endpoints = flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean);
      const timeoutMs = parseIntegerOption(flags.timeout, '--timeout', 1, 24 * 3_600_000);
      const tls = clientTlsFromFlags(flags);
      const auth = await authFromFlag(flags.user);
      const client = new RaftKvClient({ endpoints, timeoutMs, ...(tls === null ? {} : { tls }), ...(auth === null ? {} : { auth }) });
      // Ctrl-C ends the download; the part file is removed and <file> left as it was.
      const interrupted = new AbortController();
      const onSignal = (): void => interrupted.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const download = await client.snapshot({ timeoutMs, signal: interrupted.signal });
        if (download.format !== backupRecordFormat) {
          throw new CommandFailure(`${download.endpoint} streams records in format ${download.format}; this raftkv writes format ${backupRecordFormat}`, 1);
        }
        const header = { revision: download.revision, term: download.term, recordFormat: download.format, createdAtMs: Date.now(), memberId: download.memberId, clusterId: download.clusterId };
        const summary = await fileErrors(writeBackupFile(file, { header, chunks: download.chunks() }));
        printer(flags.json === true).result(
          { file, endpoint: download.endpoint, ...summaryJson(summary) },
          `saved ${file} from ${download.memberId} (${download.endpoint}): revision=${summary.header.revision} keys=${summary.keys} bytes=${summary.fileBytes} sha256=${summary.sha256}`,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        client.close();
      }
    });

  snapshot
    .command('status')
    .description('check a backup file whole (header, every record, checksum, counts) and print what it holds')
    .argument('<file>')
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, flags: { json?: boolean }) => {
      const summary = await fileErrors(readBackupFile(file));
      const { header } = summary;
      printer(flags.json === true).result(
        { file, ...summaryJson(summary) },
        [
          `revision: ${header.revision}`,
          `term: ${header.term}`,
          `keys: ${summary.keys}`,
          `bytes: ${summary.fileBytes}`,
          `sha256: ${summary.sha256}`,
          `member: ${header.memberId}`,
          `cluster: ${header.clusterId}`,
          `created: ${new Date(header.createdAtMs).toISOString()}`,
        ].join('\n'),
      );
    });

  snapshot
    .command('restore')
    .description('seed the data directory of one member of a NEW cluster from a backup; restore every member from the same file with the same --peers')
    .argument('<file>')
    .requiredOption('--data <dir>', 'the new member\'s data directory (must be absent or empty)')
    .requiredOption('--id <id>', 'the new member\'s id, one of --peers')
    .requiredOption('--peers <list>', 'every member of the new cluster: id=host:port (peer address),...')
    .option('--cluster-id <name>', 'the new cluster\'s --cluster-id, for the start command printed')
    .option('--json', 'print JSON instead of text')
    .action(async (file: string, flags: RestoreFlags) => {
      let peers;
      try {
        peers = parsePeers(flags.peers);
      } catch (error) {
        throw new ConfigError(`--${(error as Error).message}`, { cause: error });
      }
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(flags.id)) throw new ConfigError(`--id: "${flags.id}" must be 1-64 letters, digits, '.', '_' or '-'`);
      const id = nodeId(flags.id);
      if (!peers.has(id)) throw new ConfigError(`--id: "${flags.id}" is not in --peers (${[...peers.keys()].join(', ')})`);
      const result = await fileErrors(restoreDataDir({ file, dataDir: flags.data, id, peers }));
      const { header } = result.summary;
      const startCommand = [
        'raftkv start',
        `--id ${id}`,
        `--data ${result.dataDir}`,
        `--listen-peer ${peers.get(id) as string}`,
        '--listen-client <host:port>',
        `--peers ${flags.peers}`,
        ...(flags.clusterId === undefined ? [] : [`--cluster-id ${flags.clusterId}`]),
      ].join(' ');
      printer(flags.json === true).result(
        { file, dataDir: result.dataDir, id, voters: result.membership.voters, ...summaryJson(result.summary), start: startCommand },
        `restored ${file} into ${result.dataDir}: member ${id} of a new cluster of ${result.membership.voters.join(',')} at revision ${header.revision} (term ${header.term}), ${result.summary.keys} keys\nstart it with: ${startCommand}`,
      );
    });
}

function summaryJson(summary: BackupSummary): Record<string, unknown> {
  const { header } = summary;
  return {
    revision: header.revision,
    term: header.term,
    keys: summary.keys,
    bytes: summary.fileBytes,
    dataBytes: summary.bytes,
    chunks: summary.chunks,
    sha256: summary.sha256,
    memberId: header.memberId,
    clusterId: header.clusterId,
    createdAt: new Date(header.createdAtMs).toISOString(),
  };
}

/** A bad file or a data directory in the way: exit 1 with the message alone (it names the cause). */
async function fileErrors<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof BackupFileError || error instanceof RestoreError) throw new CommandFailure(error.message, 1);
    throw error;
  }
}
