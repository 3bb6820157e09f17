import { readPolicies, type ReadPolicy } from '../src/client/kv-client.js';
import { ConfigError } from '../src/shared/errors.js';

/** Parses `--reads`; undefined leaves the SDK's default (round-robin with several endpoints). */
export function parseReadPolicy(value: string | undefined): ReadPolicy | undefined {
  if (value === undefined) return undefined;
  if (!(readPolicies as readonly string[]).includes(value)) throw new ConfigError(`--reads: must be ${readPolicies.join(' or ')}, got "${value}"`);
  return value as ReadPolicy;
}

/** Parses an integer flag, naming the flag and the allowed range when it is wrong. */
export function parseIntegerOption(value: string, flag: string, min: number, max: number): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(`${flag}: must be an integer in ${min}..${max}, got "${value}"`);
  }
  return number;
}

/** A lease id argument: 1..2^53-1 (ids are JavaScript numbers), decimal. */
export function parseLeaseId(value: string, what = 'ID'): number {
  const id = /^[0-9]+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw new ConfigError(`${what}: must be a lease id from 1 to ${Number.MAX_SAFE_INTEGER} (2^53-1), got "${value}"`);
  return id;
}
