import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a token says: who, until when, and for which credential generation of the user. */
export interface TokenClaims {
  readonly user: string;
  readonly expiresAtMs: number;
  /** The user's credential revision when it was issued (auth-state.ts): a password change revokes it. */
  readonly credentialRevision: number;
}

const version = 'v1';
/** Longer tokens are refused before any work: a name is at most 128 bytes. */
export const tokenLengthMax = 512;

/**
 * `v1.<user, base64url>.<expiry ms>.<credential revision>.<HMAC-SHA256, base64url>`, the HMAC
 * over everything before it with the replicated token secret: any member can check a token any
 * member issued, with no state beyond the replicated auth state (reads go to followers).
 */
export function signToken(claims: TokenClaims, secret: Uint8Array): string {
  const body = `${version}.${Buffer.from(claims.user, 'utf8').toString('base64url')}.${claims.expiresAtMs}.${claims.credentialRevision}`;
  return `${body}.${mac(body, secret)}`;
}

/** Why a token is refused. */
export type TokenProblem = 'malformed' | 'signature' | 'expired';

/** The claims of a well-formed token signed with `secret` and not expired at `nowMs`, or why not. */
export function verifyToken(token: string, secret: Uint8Array, nowMs: number): TokenClaims | TokenProblem {
  if (token.length > tokenLengthMax || secret.byteLength === 0) return 'malformed';
  const parts = token.split('.');
  if (parts.length !== 5 || parts[0] !== version) return 'malformed';
  const [, userPart, expiryPart, revisionPart, signature] = parts as [string, string, string, string, string];
  if (!/^\d{1,16}$/.test(expiryPart) || !/^\d{1,16}$/.test(revisionPart) || !/^[A-Za-z0-9_-]+$/.test(userPart)) return 'malformed';
  const expected = Buffer.from(mac(`${version}.${userPart}.${expiryPart}.${revisionPart}`, secret), 'base64url');
  const given = Buffer.from(signature, 'base64url');
  if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected)) return 'signature';
  const expiresAtMs = Number(expiryPart);
  if (expiresAtMs <= nowMs) return 'expired';
  return { user: Buffer.from(userPart, 'base64url').toString('utf8'), expiresAtMs, credentialRevision: Number(revisionPart) };
}

function mac(body: string, secret: Uint8Array): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}
