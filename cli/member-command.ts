import type { Command } from 'commander';
import { MembershipChangeError, type MemberList, type RaftKvClient } from '../src/client/index.js';
import { CommandFailure, withClient, withClientOptions, type ClientFlags } from './client-commands.js';
import { defaultEndpoints } from './local-cluster.js';

/** `raftkv member list|add|promote|remove` and `raftkv leader transfer`: membership through the SDK. */
export function registerMemberCommands(program: Command): void {
  const member = program.command('member').description('list and change the cluster\'s members (one change at a time)');

  withClientOptions(member.command('list').description('the members as the leader sees them: role, addresses, replication')).action(
    async (flags: ClientFlags) =>
      withClient(flags, async (client, out) => {
        const list = await client.members();
        out.result(list, memberTable(list));
      }),
  );

  withClientOptions(
    member
      .command('add')
      .description('add a member: a learner, promoted to voter by the leader once caught up (unless --learner)')
      .argument('<id>', 'the new member\'s id')
      .requiredOption('--peer <host:port>', 'its peer address (Raft traffic)')
      .option('--client <host:port>', 'its client address, given to clients')
      .option('--learner', 'keep it a learner (no vote) until `member promote`'),
  ).action(async (id: string, flags: ClientFlags & { peer: string; client?: string; learner?: boolean }) =>
    change(flags, 'member add', (client) =>
      client.addMember({ id, peerAddress: flags.peer, ...(flags.client === undefined ? {} : { clientAddress: flags.client }), learner: flags.learner === true }),
    ),
  );

  withClientOptions(member.command('promote').description('make a learner a voter (refused until it has caught up)').argument('<id>')).action(
    async (id: string, flags: ClientFlags) => change(flags, 'member promote', (client) => client.promoteMember(id)),
  );

  withClientOptions(member.command('remove').description('remove a member, the leader included (it hands over first)').argument('<id>')).action(
    async (id: string, flags: ClientFlags) => change(flags, 'member remove', (client) => client.removeMember(id)),
  );

  const leader = program.command('leader').description('leadership');
  withClientOptions(
    leader
      .command('step-down')
      .description('if the node at --endpoints (the first one) leads, hand leadership to the most caught-up other voter; otherwise do nothing (a Kubernetes preStop hook)'),
  ).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const endpoint = (flags.endpoints === undefined ? defaultEndpoints() : flags.endpoints.split(',').map((e) => e.trim()).filter(Boolean))[0] as string;
      const status = await client.status(endpoint);
      if (status.role !== 'leader') {
        out.result({ member: status.id, steppedDown: false, leaderId: status.leaderId }, `${status.id} is not the leader${status.leaderId === '' ? '' : ` (${status.leaderId} is)`}; nothing to do`);
        return;
      }
      const list = await client.members();
      const target = list.members
        .filter((m) => m.id !== status.id && m.role === 'voter')
        .sort((a, b) => (b.matchIndex ?? -1) - (a.matchIndex ?? -1))[0];
      if (target === undefined) throw new CommandFailure(`leader step-down: ${status.id} is the only voter; there is no one to hand leadership to`, 1);
      await refusalsAsFailures('leader step-down', () => client.transferLeadership(target.id));
      out.result({ member: status.id, steppedDown: true, leaderId: target.id }, `${status.id} handed leadership to ${target.id}`);
    }),
  );
  withClientOptions(leader.command('transfer').description('hand leadership to a voter').argument('<id>')).action(async (id: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await refusalsAsFailures('leader transfer', () => client.transferLeadership(id));
      out.result({ leaderId: id }, `leader is now ${id}`);
    }),
  );
}

async function change(flags: ClientFlags, what: string, run: (client: RaftKvClient) => Promise<MemberList>): Promise<void> {
  await withClient(flags, async (client, out) => {
    const list = await refusalsAsFailures(what, () => run(client));
    out.result(list, memberTable(list));
  });
}

/** A refusal is the command's answer, one line naming the reason: exit 2 for bad input, 1 otherwise. */
async function refusalsAsFailures<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof MembershipChangeError)) throw error;
    const detail = error.message.replace(/^\w+: /, '');
    throw new CommandFailure(`${what}: refused: ${detail.startsWith(error.reason) ? detail : `${error.reason}: ${detail}`}`, error.reason === 'invalid' ? 2 : 1);
  }
}

/** The member list as a table: one row per member, the leader marked with '*'. */
export function memberTable(list: MemberList): string {
  const header = ['', 'ID', 'ROLE', 'PEER', 'CLIENT', 'MATCH', 'LAG'];
  const rows = list.members.map((m) => [
    m.leader ? '*' : '',
    m.id,
    m.role === 'learner' && m.autoPromote ? 'learner(auto)' : m.role,
    m.peerAddress || '-',
    m.clientAddress || '-',
    m.matchIndex === null ? '-' : String(m.matchIndex),
    m.lag === null ? '-' : String(m.lag),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const lines = [line(header), ...rows.map(line)];
  if (list.joint) lines.push('(joint configuration: a change of several voters is under way)');
  return lines.join('\n');
}
