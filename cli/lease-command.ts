import type { Command } from 'commander';
import { LeaseExpiredError } from '../src/client/index.js';
import { ConfigError } from '../src/shared/errors.js';
import { withClient, withClientOptions, CommandFailure, type ClientFlags } from './client-commands.js';
import { parseLeaseId } from './parse.js';

/** The longest TTL a lease may have (etcd's MaxLeaseTTL; src/kv/commands.ts leaseTtlSecondsMax). */
const ttlSecondsMax = 9_000_000_000;

function parseTtl(value: string): number {
  const ttl = /^[0-9]+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > ttlSecondsMax) throw new ConfigError(`TTL_SECONDS: must be a whole number of seconds from 1 to ${ttlSecondsMax}, got "${value}"`);
  return ttl;
}

/** `raftkv lease grant|revoke|keep-alive|ttl|list` (the issue's CLI contract). */
export function registerLeaseCommands(program: Command): void {
  const lease = program.command('lease').description('leases: keys put with --lease ID are deleted when the lease is revoked or expires');

  withClientOptions(lease.command('grant').description('grant a lease; prints its id (--json: {"id","ttl"})').argument('<TTL_SECONDS>')).action(
    async (ttlText: string, flags: ClientFlags) => {
      const ttl = parseTtl(ttlText);
      await withClient(flags, async (client, out) => {
        const granted = await client.lease.grant(ttl);
        out.result({ id: granted.id, ttl: granted.ttlSeconds }, `${granted.id}`);
      });
    },
  );

  withClientOptions(lease.command('revoke').description('revoke a lease, deleting every key attached to it').argument('<ID>')).action(
    async (idText: string, flags: ClientFlags) => {
      const id = parseLeaseId(idText);
      await withClient(flags, async (client, out) => {
        const result = await client.lease.revoke(id);
        out.result({ id, deleted: result.deleted }, `lease ${id} revoked, ${result.deleted} key${result.deleted === 1 ? '' : 's'} deleted`);
      });
    },
  );

  withClientOptions(
    lease
      .command('keep-alive')
      .description('keep a lease alive until Ctrl-C, printing a line per renewal (--once: renew once)')
      .argument('<ID>')
      .option('--once', 'renew once and exit'),
  ).action(async (idText: string, flags: ClientFlags & { once?: boolean }) => {
    const id = parseLeaseId(idText);
    await withClient(flags, async (client, out) => {
      const keepAlive = client.lease.keepAlive(id, {
        onRenewal: (renewal) => {
          out.result({ id: renewal.id, ttl: renewal.ttlSeconds }, `lease ${renewal.id} kept alive, ttl=${renewal.ttlSeconds}`);
          if (flags.once === true) keepAlive.stop();
        },
      });
      // The keep-alive's own timers do not hold the process; this does, until it ends.
      const hold = setInterval(() => undefined, 60_000);
      const onSignal = (): void => keepAlive.stop();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await keepAlive.done;
      } catch (error) {
        if (error instanceof LeaseExpiredError) throw new CommandFailure(`lease ${id} not found (expired or revoked)`, 1);
        throw error;
      } finally {
        clearInterval(hold);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  });

  withClientOptions(lease.command('ttl').description('time left on a lease (-1: not found); --keys: its keys too').argument('<ID>').option('--keys', 'list the attached keys')).action(
    async (idText: string, flags: ClientFlags & { keys?: boolean }) => {
      const id = parseLeaseId(idText);
      await withClient(flags, async (client, out) => {
        const ttl = await client.lease.timeToLive(id, { keys: flags.keys === true });
        const keys = ttl.keys.map((key) => key.toString('utf8'));
        const text =
          ttl.ttlSeconds < 0
            ? `lease ${id} not found`
            : `lease ${id} ttl=${ttl.ttlSeconds} granted=${ttl.grantedTtlSeconds}${flags.keys === true ? ` keys=${keys.length === 0 ? '(none)' : keys.join(',')}` : ''}`;
        out.result({ id, ttl: ttl.ttlSeconds, grantedTtl: ttl.grantedTtlSeconds, ...(flags.keys === true ? { keys } : {}) }, text);
        if (ttl.ttlSeconds < 0) throw new CommandFailure(`lease ${id} not found`, 1);
      });
    },
  );

  withClientOptions(lease.command('list').description('the ids of every lease')).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const ids = await client.lease.leases();
      out.result({ leases: ids }, ids.length === 0 ? '(no leases)' : ids.join('\n'));
    }),
  );
}
