#!/usr/bin/env node
/**
 * The raftkv command line: run a node or a local cluster, and talk to a cluster.
 * Exit codes: 0 success, 1 the operation failed (e.g. key not found, compare failed,
 * unreachable), 2 bad usage or configuration.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, RaftKvError } from '../src/shared/errors.js';
import { registerAuthCommands } from './auth-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerCertsCommand } from './certs-command.js';
import { registerHealthCommand } from './health-command.js';
import { registerLeaseCommands } from './lease-command.js';
import { CommandFailure, registerClientCommands } from './client-commands.js';
import { registerClusterCommand } from './cluster-command.js';
import { registerConcurrencyCommands } from './concurrency-command.js';
import { registerMemberCommands } from './member-command.js';
import { errorLine } from './output.js';
import { registerRecoverCommand } from './recover-command.js';
import { registerSnapshotCommand } from './snapshot-command.js';
import { registerStartCommand } from './start-command.js';
import { registerTxnCommand } from './txn-command.js';
import { registerWatchCommand } from './watch-command.js';

// grpc-js passes the host it dials as the TLS server name, and Node warns (DEP0123) whenever that
// host is an IP address, as node and cluster addresses usually are. The certificates name their
// IP addresses and are checked against them; the warning says nothing a user can act on.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: unknown }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

const program = new Command('raftkv')
  .description('raftkv: a replicated, strongly consistent key-value store (Raft over gRPC, LevelDB)')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerStartCommand(program);
registerClusterCommand(program);
registerClientCommands(program);
registerTxnCommand(program);
registerWatchCommand(program);
registerLeaseCommands(program);
registerConcurrencyCommands(program);
registerMemberCommands(program);
registerAuthCommands(program);
registerBenchCommand(program);
registerSnapshotCommand(program);
registerRecoverCommand(program);
registerCertsCommand(program);
registerHealthCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeFor(error);
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed it
  if (error instanceof CommandFailure) {
    process.stderr.write(`raftkv: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`raftkv: ${error.message}\n`);
    return 2;
  }
  if (error instanceof RaftKvError) {
    process.stderr.write(`raftkv: ${errorLine(error)}\n`);
    return error.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
  process.stderr.write(`raftkv: ${(error as Error)?.stack ?? String(error)}\n`);
  return 1;
}
