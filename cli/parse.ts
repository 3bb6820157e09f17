import { ConfigError } from '../src/shared/errors.js';

/** Parses an integer flag, naming the flag and the allowed range when it is wrong. */
export function parseIntegerOption(value: string, flag: string, min: number, max: number): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(`${flag}: must be an integer in ${min}..${max}, got "${value}"`);
  }
  return number;
}
