import { describe, expect, it } from 'vitest';
import { parseDockerTimeNs } from '../../chaos/docker-backend.js';

// The backend itself needs an engine: test/chaos-suite/ (npm run test:chaos) exercises it.
describe('parseDockerTimeNs', () => {
  it.each([
    ['2026-11-26T00:11:31.570123456Z', 1795651891570123456n],
    ['2026-11-26T00:11:31.5Z', 1795651891500000000n],
    ['2026-11-26T00:11:31Z', 1795651891000000000n],
    ['2026-11-26T01:11:31.000000001+01:00', 1795651891000000001n],
  ])('reads %s to the nanosecond', (text, ns) => {
    expect(parseDockerTimeNs(text)).toBe(ns);
  });

  it('refuses what is not a time', () => {
    expect(() => parseDockerTimeNs('yesterday')).toThrow(/not a Docker time/);
  });
});
