/** Tokens (HMAC over user, expiry, credential revision) and scrypt password records. */
import { describe, expect, it } from 'vitest';
import { signToken, tokenLengthMax, verifyToken } from '../../src/server/auth-token.js';
import { PasswordHasher } from '../../src/server/password-hash.js';
import { OverloadedError } from '../../src/shared/errors.js';

const secret = new Uint8Array(32).fill(1);
const claims = { user: 'alice', expiresAtMs: 10_000, credentialRevision: 42 };

describe('auth tokens', () => {
  it('verifies what it signed, until it expires', () => {
    const token = signToken(claims, secret);
    expect(verifyToken(token, secret, 9_999)).toEqual(claims);
    expect(verifyToken(token, secret, 10_000)).toBe('expired');
  });

  it('refuses a token signed with another secret, or altered anywhere', () => {
    const token = signToken(claims, secret);
    expect(verifyToken(token, new Uint8Array(32).fill(2), 0)).toBe('signature');
    const parts = token.split('.');
    const forged = [
      [parts[0], Buffer.from('root').toString('base64url'), parts[2], parts[3], parts[4]],
      [parts[0], parts[1], '99999999', parts[3], parts[4]],
      [parts[0], parts[1], parts[2], '43', parts[4]],
    ].map((p) => p.join('.'));
    for (const token of forged) expect(verifyToken(token, secret, 0)).toBe('signature');
    const flipped = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect(verifyToken(flipped, secret, 0)).toBe('signature');
  });

  it('refuses garbage without throwing', () => {
    for (const garbage of ['', 'x', 'v1.a.b.c.d', 'v2.YQ.1.1.AA', 'v1.YQ.-1.1.AA', '....', 'v1.YQ.1.1.' + 'A'.repeat(tokenLengthMax)]) {
      expect(['malformed', 'signature']).toContain(verifyToken(garbage, secret, 0));
    }
    expect(verifyToken(signToken(claims, secret), new Uint8Array(0), 0)).toBe('malformed');
    expect(verifyToken(`${signToken(claims, secret)}${'A'.repeat(tokenLengthMax)}`, secret, 0)).toBe('malformed');
  });
});

describe('scrypt password records', () => {
  const cheap = { n: 1024, r: 8, p: 1 };

  it('verifies the right password and refuses others; the record holds no password', async () => {
    const hasher = new PasswordHasher({ concurrencyMax: 2, queueMax: 8, cost: cheap });
    const record = await hasher.hash('s3cret');
    expect(record).toMatchObject(cheap);
    expect(record.salt.byteLength).toBe(16);
    expect(Buffer.from(record.hash).includes(Buffer.from('s3cret'))).toBe(false);
    expect(await hasher.verify('s3cret', record)).toBe(true);
    expect(await hasher.verify('s3cret ', record)).toBe(false);
    expect(await hasher.verify('', record)).toBe(false);
    // A fresh salt each time: the same password never gives the same record.
    expect(Buffer.from((await hasher.hash('s3cret')).hash)).not.toEqual(Buffer.from(record.hash));
  });

  it('bounds the hashes waiting: beyond the queue, OverloadedError at once', async () => {
    const hasher = new PasswordHasher({ concurrencyMax: 1, queueMax: 2, cost: cheap });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.hash('pw')));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(refused).toHaveLength(3);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(OverloadedError);
    // Once the flood is over it hashes again.
    await expect(hasher.hash('pw')).resolves.toBeDefined();
  });
});
