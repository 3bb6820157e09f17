import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { scryptMemoryBytesMax, type PasswordRecord } from '../kv/index.js';
import { OverloadedError } from '../shared/errors.js';

/** scrypt's cost: N = 2^14, r = 8, p = 1 (16 MiB, tens of milliseconds; the parameters RFC 7914 suggests for interactive logins). */
export const defaultScryptCost = { n: 16_384, r: 8, p: 1 } as const;
const saltBytes = 16;
const hashBytes = 32;

export interface PasswordHasherOptions {
  /** Hashes running at once (each on libuv's thread pool, which LevelDB shares). */
  readonly concurrencyMax: number;
  /** Hashes waiting for a turn; beyond it a request is refused with OverloadedError at once. */
  readonly queueMax: number;
  readonly cost?: { readonly n: number; readonly r: number; readonly p: number };
}

export const defaultPasswordHasherOptions: PasswordHasherOptions = { concurrencyMax: 2, queueMax: 64 };

/**
 * Hashes and verifies passwords with scrypt, off the event loop (node's async scrypt runs on the
 * thread pool) and bounded: at most `concurrencyMax` at once, `queueMax` waiting, the rest
 * refused, so a flood of Authenticate calls cannot take the thread pool from LevelDB or pile up.
 */
export class PasswordHasher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly cost: { readonly n: number; readonly r: number; readonly p: number };

  constructor(private readonly options: PasswordHasherOptions = defaultPasswordHasherOptions) {
    this.cost = options.cost ?? defaultScryptCost;
  }

  /** A new record for `password`, with a fresh random salt. */
  async hash(password: string): Promise<PasswordRecord> {
    const salt = randomBytes(saltBytes);
    const hash = await this.scrypt(password, salt, this.cost);
    return { salt, ...this.cost, hash };
  }

  /** Whether `password` matches `record` (compared in constant time). */
  async verify(password: string, record: PasswordRecord): Promise<boolean> {
    const hash = await this.scrypt(password, record.salt, record, record.hash.byteLength);
    return hash.byteLength === record.hash.byteLength && timingSafeEqual(hash, record.hash);
  }

  private async scrypt(password: string, salt: Uint8Array, cost: { n: number; r: number; p: number }, length = hashBytes): Promise<Uint8Array> {
    await this.turn();
    try {
      const options: ScryptOptions = { N: cost.n, r: cost.r, p: cost.p, maxmem: scryptMemoryBytesMax + 1024 * 1024 };
      return await new Promise<Uint8Array>((resolve, reject) =>
        scrypt(password.normalize('NFC'), salt, length, options, (error, key) => (error === null ? resolve(new Uint8Array(key)) : reject(error))),
      );
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  private turn(): Promise<void> {
    if (this.running < this.options.concurrencyMax) {
      this.running += 1;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.options.queueMax) {
      return Promise.reject(new OverloadedError(`${this.running + this.waiting.length} password hashes are already running or waiting on this node; retry later`));
    }
    return new Promise((resolve) => {
      this.waiting.push(() => {
        this.running += 1;
        resolve();
      });
    });
  }
}
