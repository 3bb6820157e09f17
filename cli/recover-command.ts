import type { Command } from 'commander';
import { describeMembership, nodeId } from '../src/raft/index.js';
import { RecoveryError, planRecovery, recoverDataDir, type RecoveryPlan } from '../src/server/recover-data-dir.js';
import { StorageError } from '../src/storage/index.js';
import { ConfigError } from '../src/shared/errors.js';
import { CommandFailure } from './client-commands.js';
import { printer } from './output.js';

interface RecoverFlags {
  data: string;
  id: string;
  forceNewCluster?: boolean;
  json?: boolean;
}

/**
 * `raftkv recover`: the way out of a lost quorum (etcd's --force-new-cluster). The node must be
 * stopped. Without --force-new-cluster it only says what it would do and what may be lost.
 */
export function registerRecoverCommand(program: Command): void {
  program
    .command('recover')
    .description(
      'when a majority of the cluster is gone for good: make the (stopped) node of --data the only voter of a one-node cluster, keeping every entry it holds; add the others back with member add / start --join',
    )
    .requiredOption('--data <dir>', 'the data directory of a surviving node (the node must be stopped)')
    .requiredOption('--id <id>', "that node's own id")
    .option('--force-new-cluster', 'do it (without this flag, only print what it would do and what may be lost)')
    .option('--json', 'print JSON instead of text')
    .action(async (flags: RecoverFlags) => {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(flags.id)) throw new ConfigError(`--id: "${flags.id}" must be 1-64 letters, digits, '.', '_' or '-'`);
      const id = nodeId(flags.id);
      const out = printer(flags.json === true);
      if (flags.forceNewCluster !== true) {
        const plan = await recoveryErrors(planRecovery(flags.data, id));
        out.result({ recovered: false, ...planJson(plan) }, `${describePlan(plan)}\nnothing was changed: run again with --force-new-cluster to do it`);
        throw new CommandFailure('refusing to recover without --force-new-cluster', 2);
      }
      const plan = await recoveryErrors(recoverDataDir(flags.data, id));
      out.result(
        { recovered: true, ...planJson(plan) },
        `${describePlan(plan)}\nrecovered: ${plan.dataDir} now holds a one-node cluster of ${id}.\n` +
          `start it (raftkv start --id ${id} --data ${plan.dataDir} --listen-peer ... --listen-client ...), ` +
          'then add members back: raftkv member add, or raftkv start --join on empty data directories',
      );
    });
}

function describePlan(plan: RecoveryPlan): string {
  return [
    `data directory: ${plan.dataDir}`,
    `configuration now: ${describeMembership(plan.before)}`,
    `configuration after: ${describeMembership(plan.after)} (a conf-change entry at index ${plan.forcedEntry.index}, term ${plan.forcedEntry.term})`,
    `log: last entry ${plan.lastIndex} (term ${plan.lastTerm}); known committed through ${plan.knownCommit}`,
    `kept: every entry this node holds, ${plan.uncertainEntries} of them never known to be committed (they will be applied; they may never have been acknowledged)`,
    'may be lost: writes committed only on the lost nodes (acknowledged writes that never reached this node)',
  ].join('\n');
}

function planJson(plan: RecoveryPlan): Record<string, unknown> {
  return {
    dataDir: plan.dataDir,
    id: plan.id,
    before: plan.before,
    after: { voters: plan.after.voters, learners: plan.after.learners },
    lastIndex: plan.lastIndex,
    lastTerm: plan.lastTerm,
    knownCommit: plan.knownCommit,
    uncertainEntries: plan.uncertainEntries,
    forcedEntry: plan.forcedEntry,
  };
}

async function recoveryErrors<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof RecoveryError) throw new CommandFailure(error.message, 1);
    // A node still running holds LevelDB's lock: say so rather than print LevelDB's words.
    if (error instanceof StorageError || (error as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN') {
      throw new CommandFailure(`cannot open the data directory (is the node still running? stop it first): ${(error as Error).message}`, 1);
    }
    throw error;
  }
}
