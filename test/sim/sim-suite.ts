import { expect } from 'vitest';
import { runSimulation, type SimStats } from './simulation.js';

/** The CI-sized simulation: enough seeds to find protocol bugs, small enough for every push. */
export const ciSeeds = 200;
export const ciSteps = 2000;

/**
 * Runs `seeds` simulations and fails with the first violations and their replay commands.
 * Returns the summed statistics so the caller can check the runs exercised the faults at all.
 */
export function runSeeds(nodes: number, seeds: number, steps: number): SimStats {
  const failures: string[] = [];
  const totals: Record<string, number> = {};
  for (let seed = 1; seed <= seeds; seed++) {
    const result = runSimulation({ seed, steps, nodes });
    for (const [key, value] of Object.entries(result.stats)) totals[key] = (totals[key] ?? 0) + value;
    for (const v of result.violations) {
      failures.push(
        `seed ${seed}: ${v.property} at step ${v.step}: ${v.detail}\n  replay: npm run sim -- --seeds 1 --steps ${steps} --nodes ${nodes} --seed ${seed} --transcript`,
      );
    }
  }
  expect(failures, failures.slice(0, 5).join('\n')).toEqual([]);
  return totals as unknown as SimStats;
}

/** A simulation that injected no faults would pass while proving nothing. */
export function expectFaultsExercised(stats: SimStats, seeds: number): void {
  expect(stats.leaderTerms).toBeGreaterThan(seeds);
  expect(stats.crashes).toBeGreaterThan(seeds);
  expect(stats.crashesInReady).toBeGreaterThan(seeds / 4);
  expect(stats.partitions).toBeGreaterThan(seeds);
  expect(stats.snapshotsSent).toBeGreaterThan(seeds);
  expect(stats.transfers).toBeGreaterThan(seeds / 2);
  expect(stats.readsReleased).toBeGreaterThan(seeds * 10);
  expect(stats.highestCommit).toBeGreaterThan(seeds * 100);
  expect(stats.messagesDropped).toBeGreaterThan(0);
  // Membership changes run in about half the seeds.
  expect(stats.confChanges).toBeGreaterThan(seeds);
  expect(stats.nodesAdded).toBeGreaterThan(seeds);
  expect(stats.jointChanges).toBeGreaterThan(seeds / 10);
  expect(stats.leaveJointsApplied).toBeGreaterThan(seeds / 10);
  expect(stats.leaderRemovals).toBeGreaterThan(seeds / 4);
  expect(stats.autoPromotionsApplied).toBeGreaterThan(seeds / 4);
}
