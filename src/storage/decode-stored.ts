import { BinaryDecodeError } from '../shared/binary-codec.js';
import { StorageCorruptError } from './errors.js';
import { describeKey } from './keys.js';

/**
 * Runs `decode` on a value read from `sublevel` under `key`, turning a BinaryDecodeError into a
 * StorageCorruptError that names the key. Other errors (bugs) pass through unchanged.
 */
export function decodeStored<T>(sublevel: string, key: Uint8Array, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (!(error instanceof BinaryDecodeError)) throw error;
    throw new StorageCorruptError(describeKey(sublevel, key), error.message, { cause: error });
  }
}
