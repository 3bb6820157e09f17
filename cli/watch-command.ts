import type { Command } from 'commander';
import type { WatchEvent } from '../src/client/index.js';
import { CommandFailure, withClient, withClientOptions, type ClientFlags } from './client-commands.js';
import { parseIntegerOption } from './parse.js';

interface WatchFlags extends ClientFlags {
  prefix?: boolean;
  rev?: string;
  prevKv?: boolean;
}

/** `raftkv watch KEY`: one line per event as they come, until Ctrl-C (exit 0). */
export function registerWatchCommand(program: Command): void {
  withClientOptions(
    program
      .command('watch')
      .description('print changes to a key (or a prefix) as they happen, one a line, until Ctrl-C')
      .argument('<key>', 'the key (with --prefix: the prefix; "" for every key)')
      .option('--prefix', 'watch every key starting with KEY')
      .option('--rev <n>', 'start from revision n (earlier changes included; it must not be compacted)')
      .option('--prev-kv', 'also print the value before each change'),
  ).action(async (key: string, flags: WatchFlags) => {
    if (key === '' && flags.prefix !== true) throw new CommandFailure('watch: KEY must not be empty (use --prefix "" to watch every key)', 2);
    const startRevision = flags.rev === undefined ? undefined : parseIntegerOption(flags.rev, '--rev', 1, Number.MAX_SAFE_INTEGER);
    await withClient(flags, async (client) => {
      const watcher = client.watch(key, { prefix: flags.prefix === true, prevKv: flags.prevKv === true, ...(startRevision === undefined ? {} : { startRevision }) });
      const stop = (): void => watcher.cancel();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        for await (const batch of watcher) {
          if (batch.kind !== 'events') continue;
          process.stdout.write(batch.events.map((event) => `${flags.json === true ? JSON.stringify(eventJson(event, flags.prevKv === true)) : eventLine(event, flags.prevKv === true)}\n`).join(''));
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
  });
}

function eventLine(event: WatchEvent, prevKv: boolean): string {
  const key = event.key.toString('utf8');
  const prev = prevKv ? ` prev=${event.prevKv === null ? '(none)' : event.prevKv.value.toString('utf8')}` : '';
  if (event.type === 'delete') return `DELETE ${key} rev=${event.revision}${prev}`;
  return `PUT ${key}=${event.value.toString('utf8')} rev=${event.revision}${prev}`;
}

function eventJson(event: WatchEvent, prevKv: boolean): Record<string, unknown> {
  return {
    type: event.type === 'put' ? 'PUT' : 'DELETE',
    key: event.key.toString('utf8'),
    value: event.value.toString('utf8'),
    revision: event.revision,
    ...(prevKv ? { prev_value: event.prevKv === null ? null : event.prevKv.value.toString('utf8') } : {}),
  };
}
