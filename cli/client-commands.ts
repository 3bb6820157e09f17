import type { Command } from 'commander';
import { RaftKvClient, TimeoutError, UnavailableError, type CasAction, type CasCompare, type ClusterStatus, type RangeOptions, type RangeResult } from '../src/client/index.js';
import { describeFailure } from '../src/client/describe-failure.js';
import { defaultEndpoints } from './local-cluster.js';
import { errorLine, keyValueJson, printer, type Printer } from './output.js';
import { parseIntegerOption, parseLeaseId, parseReadPolicy } from './parse.js';
import { hasRangeFlags, rangeOptionsFromFlags, withRangeFlags, type RangeFlags } from './range-flags.js';
import { clientTlsFromFlags, type ClientTlsFlags } from './client-tls-flags.js';
import { authFromFlag } from './user-flag.js';

export interface ClientFlags extends ClientTlsFlags {
  endpoints?: string;
  timeout: string;
  json?: boolean;
  /** get and range only. */
  reads?: string;
  /** NAME[:PASSWORD] to call as when auth is enabled. */
  user?: string;
}

/** A command's outcome that is not an error but still a non-zero exit (e.g. a missing key). */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const revFlagHelp = 'read as of this revision (a past write\'s revision; 0: the latest); fails if it was compacted';

/** The read option of a --rev flag (absent: none); a bad value is a CommandFailure naming the flag. */
function revision(rev: string | undefined): { revision?: number } {
  return rev === undefined ? {} : { revision: parseIntegerOption(rev, '--rev', 0, Number.MAX_SAFE_INTEGER) };
}

const readsFlagHelp = 'which node serves the read: leader, or round-robin over the endpoints (default: round-robin with several endpoints)';

export function withClientOptions(command: Command): Command {
  return command
    .option('--endpoints <list>', 'client addresses host:port,... (default: the local cluster)')
    .option('--timeout <ms>', 'deadline of the call, retries included', '5000')
    .option('--cacert <file>', 'TLS: the CA that signs the nodes\' certificates (default with a local `cluster up --tls`: data/tls/ca.crt)')
    .option('--cert <file>', 'TLS: this client\'s certificate, for nodes that require one (with --key)')
    .option('--key <file>', 'TLS: this client\'s private key')
    .option('--user <name[:password]>', 'call as this user when auth is enabled (no :password: asked for on a terminal, else $RAFTKV_PASSWORD)')
    .option('--json', 'print JSON instead of text');
}

export async function withClient<T>(flags: ClientFlags, run: (client: RaftKvClient, out: Printer) => Promise<T>): Promise<T> {
  const endpoints = flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean);
  const timeoutMs = parseIntegerOption(flags.timeout, '--timeout', 1, 3_600_000);
  const reads = parseReadPolicy(flags.reads);
  const tls = clientTlsFromFlags(flags);
  const auth = await authFromFlag(flags.user);
  const client = new RaftKvClient({ endpoints, timeoutMs, ...(reads === undefined ? {} : { reads }), ...(tls === null ? {} : { tls }), ...(auth === null ? {} : { auth }) });
  try {
    return await run(client, printer(flags.json === true));
  } finally {
    client.close();
  }
}

/** A range's answer: `key=value` lines (keys alone with --keys-only), or the count alone with --count-only. */
function printRange(out: Printer, result: RangeResult, options: RangeOptions): void {
  if (options.countOnly === true) {
    out.result({ count: result.count }, String(result.count));
    return;
  }
  const lines = result.kvs.map((kv) => (options.keysOnly === true ? kv.key.toString('utf8') : `${kv.key.toString('utf8')}=${kv.value.toString('utf8')}`));
  if (result.more) lines.push(`(more keys; raise --limit)`);
  out.result({ kvs: result.kvs.map(keyValueJson), more: result.more, count: result.count }, lines.join('\n'));
}

/** `put`, `get`, `del`, `cas`, `range`, `status`: the SDK from the command line. */
export function registerClientCommands(program: Command): void {
  withClientOptions(
    program.command('put').description('set a key').argument('<key>').argument('<value>').option('--lease <ID>', 'attach the key to this lease (raftkv lease grant)'),
  ).action(async (key: string, value: string, flags: ClientFlags & { lease?: string }) => {
    const lease = flags.lease === undefined ? undefined : parseLeaseId(flags.lease, '--lease');
    await withClient(flags, async (client, out) => {
      const result = await client.put(key, value, lease === undefined ? {} : { lease });
      out.result(result, `OK revision=${result.revision} version=${result.version}`);
    });
  });

  withClientOptions(
    withRangeFlags(
      program
        .command('get')
        .description('read a key (linearizable unless --serializable); with RANGE_END, --prefix or a range flag, the keys of a range, as etcdctl get')
        .argument('<key>')
        .argument('[range-end]', 'read the keys in [KEY, RANGE_END) (\\0, typed as backslash-zero: every key from KEY on)')
        .option('--prefix', 'read every key starting with KEY')
        .option('--limit <n>', 'the most keys to return (with a range)')
        .option('--serializable', 'read this node\'s possibly stale state')
        .option('--rev <n>', revFlagHelp)
        .option('--reads <policy>', readsFlagHelp),
    ),
  ).action(async (key: string, rangeEnd: string | undefined, flags: ClientFlags & RangeFlags & { prefix?: boolean; limit?: string; serializable?: boolean; rev?: string }) => {
    if (rangeEnd !== undefined && flags.prefix === true) throw new CommandFailure('get: give RANGE_END or --prefix, not both', 2);
    const consistency = flags.serializable ? 'serializable' : 'linearizable';
    if (rangeEnd === undefined && flags.prefix !== true && !hasRangeFlags(flags) && flags.limit === undefined) {
      revision(flags.rev);
      return withClient(flags, async (client, out) => {
        const kv = await client.get(key, { consistency, ...revision(flags.rev) });
        if (kv === null) {
          if (out.json) out.result({ found: false }, '');
          throw new CommandFailure(`not found: ${key}`, 1);
        }
        out.result({ found: true, ...keyValueJson(kv) }, kv.value.toString('utf8'));
      });
    }
    const limit = flags.limit === undefined ? undefined : parseIntegerOption(flags.limit, '--limit', 1, 1_000_000);
    const options = rangeOptionsFromFlags(flags);
    revision(flags.rev);
    // As etcd's "\0": RANGE_END typed as backslash-zero (a shell cannot pass a NUL byte) is the end of
    // the keyspace; KEY alone with a range flag is the range [KEY, KEY + NUL) of that one key.
    const selector = flags.prefix === true ? { prefix: key } : { start: key, ...(rangeEnd === '\\0' ? {} : { end: rangeEnd ?? `${key}\0` }) };
    return withClient(flags, async (client, out) => {
      const result = await client.range(selector, { ...(limit === undefined ? {} : { limit }), consistency, ...revision(flags.rev), ...options });
      printRange(out, result, options);
    });
  });

  withClientOptions(program.command('del').description('delete a key').argument('<key>')).action(async (key: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const result = await client.delete(key);
      out.result(result, result.deleted ? `deleted revision=${result.revision}` : 'not found (nothing deleted)');
      if (!result.deleted) throw new CommandFailure(`not found: ${key}`, 1);
    }),
  );

  withClientOptions(
    program
      .command('cas')
      .description('compare-and-swap: set (or --delete) the key only if it holds the expected value or version')
      .argument('<key>')
      .argument('[value]', 'the new value (omit with --delete)')
      .option('--expect <value>', 'the value the key must hold now')
      .option('--expect-version <n>', 'the version the key must have now (0: the key must be absent)')
      .option('--delete', 'delete the key instead of setting it'),
  ).action(async (key: string, value: string | undefined, flags: ClientFlags & { expect?: string; expectVersion?: string; delete?: boolean }) => {
    if ((flags.expect === undefined) === (flags.expectVersion === undefined)) {
      throw new CommandFailure('cas: give exactly one of --expect <value> or --expect-version <n>', 2);
    }
    if ((value === undefined) !== (flags.delete === true)) {
      throw new CommandFailure('cas: give a new value, or --delete, but not both', 2);
    }
    const compare: CasCompare =
      flags.expect !== undefined ? { value: flags.expect } : { version: parseIntegerOption(flags.expectVersion as string, '--expect-version', 0, Number.MAX_SAFE_INTEGER) };
    const action: CasAction = flags.delete ? { delete: true } : { put: value as string };
    await withClient(flags, async (client, out) => {
      const result = await client.cas(key, compare, action);
      const previous = result.previous === null ? null : keyValueJson(result.previous);
      out.result(
        { succeeded: result.succeeded, revision: result.revision, previous },
        result.succeeded ? `OK revision=${result.revision}` : `compare failed: current ${previous === null ? 'absent' : `value "${previous.value as string}" version ${previous.version as number}`}`,
      );
      if (!result.succeeded) throw new CommandFailure('compare failed', 1);
    });
  });

  withClientOptions(
    withRangeFlags(
      program
        .command('range')
        .description('list keys with a prefix (or from --start to --end), in key order unless --sort-by/--order')
        .argument('[prefix]', 'the key prefix ("" for all keys)')
        .option('--start <key>', 'first key, inclusive (instead of a prefix)')
        .option('--end <key>', 'last key, exclusive (with --start)')
        .option('--limit <n>', 'the most keys to return')
        .option('--serializable', 'read this node\'s possibly stale state')
        .option('--rev <n>', revFlagHelp)
        .option('--reads <policy>', readsFlagHelp),
    ),
  ).action(async (prefix: string | undefined, flags: ClientFlags & RangeFlags & { start?: string; end?: string; limit?: string; serializable?: boolean; rev?: string }) => {
    if (prefix !== undefined && flags.start !== undefined) throw new CommandFailure('range: give a prefix or --start, not both', 2);
    const limit = flags.limit === undefined ? undefined : parseIntegerOption(flags.limit, '--limit', 1, 1_000_000);
    const options = rangeOptionsFromFlags(flags);
    revision(flags.rev);
    const selector = flags.start !== undefined ? { start: flags.start, ...(flags.end === undefined ? {} : { end: flags.end }) } : { prefix: prefix ?? '' };
    await withClient(flags, async (client, out) => {
      const result = await client.range(selector, { ...(limit === undefined ? {} : { limit }), consistency: flags.serializable ? 'serializable' : 'linearizable', ...revision(flags.rev), ...options });
      printRange(out, result, options);
    });
  });

  withClientOptions(
    program
      .command('compact')
      .description('drop the revision history below REV: reads at older revisions then fail (compacted)')
      .argument('<rev>', 'the oldest revision to keep')
      .option('--physical', 'wait until the history is deleted from disk, not only until the compaction is applied'),
  ).action(async (rev: string, flags: ClientFlags & { physical?: boolean }) => {
    const target = parseIntegerOption(rev, 'REV', 1, Number.MAX_SAFE_INTEGER);
    await withClient(flags, async (client, out) => {
      await client.compact(target, { physical: flags.physical === true });
      out.result({ compactRevision: target, physical: flags.physical === true }, `compacted revision=${target}`);
    });
  });

  withClientOptions(
    program
      .command('session-limits')
      .description('show the cluster\'s session limits, or change some of them through the log')
      .option('--sessions-max <n>', 'sessions held at once')
      .option('--session-idle-entries-max <n>', 'log entries a session may stay unused')
      .option('--session-results-max <n>', 'results remembered per session')
      .option('--session-result-bytes-max <n>', 'bytes of results remembered per session'),
  ).action(async (flags: ClientFlags & { sessionsMax?: string; sessionIdleEntriesMax?: string; sessionResultsMax?: string; sessionResultBytesMax?: string }) => {
    // The server checks each limit's bounds (INVALID_ARGUMENT names it); here only that it is a number.
    const limit = (value: string | undefined, flag: string): number | undefined =>
      value === undefined ? undefined : parseIntegerOption(value, flag, 1, Number.MAX_SAFE_INTEGER);
    const change = {
      sessionsMax: limit(flags.sessionsMax, '--sessions-max'),
      sessionIdleEntriesMax: limit(flags.sessionIdleEntriesMax, '--session-idle-entries-max'),
      resultsPerSessionMax: limit(flags.sessionResultsMax, '--session-results-max'),
      resultBytesPerSessionMax: limit(flags.sessionResultBytesMax, '--session-result-bytes-max'),
    };
    await withClient(flags, async (client, out) => {
      const limits = await client.sessionLimits(Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined)));
      out.result(
        limits,
        `sessions-max=${limits.sessionsMax} session-idle-entries-max=${limits.sessionIdleEntriesMax} session-results-max=${limits.resultsPerSessionMax} ` +
          `session-result-bytes-max=${limits.resultBytesPerSessionMax}${limits.recorded ? '' : ' (defaults: none set yet)'} sessions=${limits.sessions}`,
      );
    });
  });

  withClientOptions(program.command('status').description('show each node\'s role, term, leader, log position, event loop delay and memory (RSS, heap)')).action(async (flags: ClientFlags) => {
    const endpoints = flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean);
    await withClient(flags, async (client, out) => {
      type Row = { endpoint: string; status: ClusterStatus } | { endpoint: string; error: string };
      const rows = await Promise.all(
        endpoints.map(async (endpoint): Promise<Row> => {
          try {
            return { endpoint, status: await client.status(endpoint) };
          } catch (error) {
            return { endpoint, error: unreachableReason(error) };
          }
        }),
      );
      const text = rows
        .map((row) =>
          'status' in row
            ? `${row.endpoint} id=${row.status.id} role=${row.status.role}${row.status.removed ? ' removed' : ''} term=${row.status.term} leader=${row.status.leaderId || '-'} commit=${row.status.commitIndex} applied=${row.status.appliedIndex} compact-revision=${row.status.compactRevision} last=${row.status.lastIndex} snapshot=${row.status.snapshotIndex} log=${row.status.logEntries} entries/${row.status.logBytes} bytes loop-delay-max=${row.status.loopDelayMaxMs}ms loop-delay-recent=${row.status.loopDelayRecentMaxMs}ms/${row.status.loopDelayWindowMs / 1000}s stalls=${row.status.loopStalls} rss=${mebibytes(row.status.rssBytes)} heap=${mebibytes(row.status.heapUsedBytes)}`
            : `${row.endpoint} unreachable: ${row.error}`,
        )
        .join('\n');
      out.result(rows, text);
      if (rows.every((row) => 'error' in row)) throw new CommandFailure('no node answered', 1);
    });
  });
}

/** Why one node did not give its status, in a few words (the row already names the endpoint). */
function unreachableReason(error: unknown): string {
  if (error instanceof UnavailableError && error.cause !== undefined) return describeFailure(error.cause);
  if (error instanceof TimeoutError) return 'no answer before the deadline';
  return error instanceof Error ? errorLine(error) : String(error);
}

/** Bytes as MiB with one decimal, for status lines. */
export function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)}MiB`;
}
