import { describe, expect, it } from 'vitest';
import { LoopDelayMonitor, emptyDriveWork } from '../../src/server/loop-delay-monitor.js';
import { memoryLogger } from '../transport/harness.js';

describe('LoopDelayMonitor', () => {
  it('keeps the worst delay since start and over the recent window', () => {
    const { logger } = memoryLogger();
    const monitor = new LoopDelayMonitor({ sampleMs: 20, windowMs: 10_000, stallMs: 100 }, logger, emptyDriveWork, () => 0);
    monitor.record(30, 1_000);
    monitor.record(80, 2_000);
    monitor.record(5, 9_000);
    expect(monitor.stats(9_000)).toMatchObject({ maxMs: 80, recentMaxMs: 80, windowMs: 10_000, stalls: 0 });
    // 13 s later the 80 ms delay has left the window; it stays the worst since start.
    monitor.record(10, 15_000);
    expect(monitor.stats(15_000)).toMatchObject({ maxMs: 80, recentMaxMs: 10 });
    expect(monitor.stats(40_000)).toMatchObject({ maxMs: 80, recentMaxMs: 0 });
  });

  it('counts and logs a delay above stallMs with what the drive loop did meanwhile', () => {
    const { logger, records } = memoryLogger();
    const work = { ...emptyDriveWork(), readies: 2, appendedEntries: 5000, appliedEntries: 4000, readyMsMax: 180.4 };
    const monitor = new LoopDelayMonitor({ stallMs: 100 }, logger, () => work, () => 0);
    monitor.record(99, 1_000);
    monitor.record(250.6, 2_000, 240.2);
    expect(monitor.stats(2_000)).toMatchObject({ maxMs: 250.6, stalls: 1, stallMs: 100 });
    const stalls = records.filter((r) => r['msg'] === 'event loop stalled');
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ delayMs: 251, cpuMs: 240, stallMs: 100, readies: 2, appendedEntries: 5000, appliedEntries: 4000, readyMsMax: 180 });
  });

  it('sees a real block of the event loop', async () => {
    const { logger } = memoryLogger();
    const monitor = new LoopDelayMonitor({ sampleMs: 10, stallMs: 1000 }, logger, emptyDriveWork);
    monitor.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 30));
      const blockedUntil = Date.now() + 150;
      while (Date.now() < blockedUntil) {
        // hold the loop
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
      // The block is 150 ms; a sample may have been due up to sampleMs into it.
      expect(monitor.stats().maxMs).toBeGreaterThanOrEqual(135);
      expect(monitor.stats().recentMaxMs).toBeGreaterThanOrEqual(135);
    } finally {
      monitor.stop();
    }
  });

  it('refuses a non-positive option by name', () => {
    const { logger } = memoryLogger();
    expect(() => new LoopDelayMonitor({ windowMs: 0 }, logger, emptyDriveWork)).toThrow(/windowMs/);
  });
});
