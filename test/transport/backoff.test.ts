import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../src/transport/backoff.js';

const backoff = { initialMs: 50, maxMs: 2000 };

describe('reconnectDelayMs', () => {
  it.each([
    { failures: 1, low: 25, high: 50 },
    { failures: 2, low: 50, high: 100 },
    { failures: 3, low: 100, high: 200 },
    { failures: 6, low: 800, high: 1600 },
    { failures: 7, low: 1000, high: 2000 },
    { failures: 1000, low: 1000, high: 2000 },
  ])('after $failures failures waits between $low and $high ms', ({ failures, low, high }) => {
    expect(reconnectDelayMs(failures, backoff, () => 0)).toBe(low);
    expect(reconnectDelayMs(failures, backoff, () => 0.999999)).toBe(high);
    const middle = reconnectDelayMs(failures, backoff, () => 0.5);
    expect(middle).toBeGreaterThan(low);
    expect(middle).toBeLessThan(high);
  });

  it('clamps a random source that strays outside [0, 1)', () => {
    expect(reconnectDelayMs(1, backoff, () => -5)).toBe(25);
    expect(reconnectDelayMs(1, backoff, () => 7)).toBe(50);
  });
});
