import type { Command } from 'commander';
import { RaftKvClient } from '../src/client/index.js';
import { describeFailure } from '../src/client/describe-failure.js';
import { CommandFailure, withClientOptions, type ClientFlags } from './client-commands.js';
import { clientTlsFromFlags } from './client-tls-flags.js';
import { authFromFlag } from './user-flag.js';
import { defaultEndpoints } from './local-cluster.js';
import { printer } from './output.js';
import { parseIntegerOption } from './parse.js';

interface EndpointHealth {
  readonly endpoint: string;
  readonly healthy: boolean;
  readonly tookMs: number;
  readonly member?: string;
  readonly leader?: string;
  readonly error?: string;
}

/**
 * `raftkv health`: each endpoint on its own, as `etcdctl endpoint health` does: healthy when it
 * serves a linearizable read (so it reaches a quorum through the leader) within --timeout.
 */
export function registerHealthCommand(program: Command): void {
  withClientOptions(program.command('health').description('check every endpoint: healthy if it serves a linearizable read within --timeout')).action(async (flags: ClientFlags) => {
    const endpoints = flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean);
    const timeoutMs = parseIntegerOption(flags.timeout, '--timeout', 1, 3_600_000);
    const tls = clientTlsFromFlags(flags);
    const auth = await authFromFlag(flags.user);
    const results = await Promise.all(endpoints.map((endpoint) => check(endpoint, timeoutMs, tls, auth)));
    printer(flags.json === true).result(
      results,
      results
        .map((r) => (r.healthy ? `${r.endpoint} is healthy: ${r.member} served a linearizable read in ${r.tookMs.toFixed(1)} ms (leader ${r.leader})` : `${r.endpoint} is unhealthy: ${r.error}`))
        .join('\n'),
    );
    const unhealthy = results.filter((r) => !r.healthy).length;
    if (unhealthy > 0) throw new CommandFailure(`${unhealthy} of ${results.length} endpoints unhealthy`, 1);
  });
}

async function check(endpoint: string, timeoutMs: number, tls: ReturnType<typeof clientTlsFromFlags>, auth: Awaited<ReturnType<typeof authFromFlag>>): Promise<EndpointHealth> {
  const client = new RaftKvClient({ endpoints: [endpoint], pinned: true, timeoutMs, ...(tls === null ? {} : { tls }), ...(auth === null ? {} : { auth }) });
  const startedAt = performance.now();
  try {
    const status = await client.status(endpoint, { timeoutMs });
    await client.get('health', { timeoutMs: Math.max(1, timeoutMs - (performance.now() - startedAt)) });
    return { endpoint, healthy: true, tookMs: performance.now() - startedAt, member: status.id, leader: status.leaderId };
  } catch (error) {
    return { endpoint, healthy: false, tookMs: performance.now() - startedAt, error: describeFailure(error) };
  } finally {
    client.close();
  }
}
