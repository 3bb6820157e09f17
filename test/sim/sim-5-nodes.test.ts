import { describe, it } from 'vitest';
import { ciSeeds, ciSteps, expectFaultsExercised, runSeeds } from './sim-suite.js';

describe('simulated 5-node cluster', () => {
  it(`keeps every Raft safety property and recovers after healing, over ${ciSeeds} seeds x ${ciSteps} steps`, () => {
    const stats = runSeeds(5, ciSeeds, ciSteps);
    expectFaultsExercised(stats, ciSeeds);
  });
});
