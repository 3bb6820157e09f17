import type * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';

/** What grpc-js's call.getAuthContext() answers (its type is not exported). */
interface CallAuthContext {
  readonly sslPeerCertificate?: PeerCertificate;
}
import { permissionDeniedMessage, type Access, type AuthView, type CheckedFor, type KeyInterval, type KvStateMachine } from '../kv/index.js';
import type { Index } from '../raft/index.js';
import { PermissionDeniedError, UnauthenticatedError } from '../shared/errors.js';
import { verifyToken, type TokenClaims } from './auth-token.js';

/** The call metadata key of an auth token (etcd's). */
export const tokenMetadataKey = 'token';

/**
 * Who makes a call: a user name, or null when auth is disabled (everything is allowed, as
 * before auth existed).
 */
export type Caller = string | null;

/** The prefix of every UNAUTHENTICATED message about a token, which the SDK recognises to authenticate again. */
export const invalidTokenMessage = 'invalid auth token';

/** Verified tokens kept; beyond it the cache starts afresh (a token is then verified again, nothing more). */
const verifiedTokensMax = 4096;

/**
 * The checks of every client call when auth is enabled. Reads only the state machine's
 * immutable AuthView (no database read) and caches verified tokens, emptied whenever the view
 * changes: the per-call cost is a map lookup and a binary search over the caller's merged
 * permission intervals (auth-permissions.ts).
 */
export class AuthGuard {
  private verified = new Map<string, TokenClaims>();
  private verifiedFor: AuthView | null = null;

  constructor(
    private readonly stateMachine: KvStateMachine,
    private readonly now: () => number = Date.now,
  ) {}

  /** The view in force; null when auth is disabled. */
  private get view(): AuthView | null {
    const view = this.stateMachine.auth;
    return view.enabled ? view : null;
  }

  /**
   * The caller of a call with `token` (empty: none) over a connection whose client certificate
   * names `certificateName` (null: none). With auth enabled: the token's user, else the
   * certificate's common name if it is a user; otherwise UnauthenticatedError.
   */
  resolve(token: string, certificateName: string | null): Caller {
    const view = this.view;
    if (view === null) return null;
    if (token !== '') return this.verify(view, token);
    if (certificateName !== null && certificateName !== '') {
      if (view.credentialRevision(certificateName) === null) throw new UnauthenticatedError(`client certificate common name ${JSON.stringify(certificateName)} is not a user`);
      return certificateName;
    }
    throw new UnauthenticatedError('auth is enabled: authenticate with a user and password (--user), or present a client certificate whose common name is a user');
  }

  /** The caller of a gRPC call: its metadata `token`, or its client certificate (etcd's rule). */
  resolveCall(call: { readonly metadata: grpc.Metadata; getAuthContext?: () => CallAuthContext | null }, frameToken = ''): Caller {
    if (this.view === null) return null;
    const token = frameToken !== '' ? frameToken : metadataToken(call.metadata);
    return this.resolve(token, token === '' ? certificateCommonName(call) : null);
  }

  /** Throws PermissionDeniedError unless `caller` may `access` `key`. */
  checkKey(caller: Caller, access: Access, key: Uint8Array): void {
    if (caller === null) return;
    const view = this.view;
    if (view === null || view.allowsKey(caller, access, key)) return;
    throw new PermissionDeniedError(permissionDeniedMessage(caller, { need: 'key', access, key }));
  }

  /** Throws PermissionDeniedError unless `caller` may `access` every key of `interval`. */
  checkRange(caller: Caller, access: Access, interval: KeyInterval): void {
    if (caller === null) return;
    const view = this.view;
    if (view === null || view.allows(caller, access, interval)) return;
    throw new PermissionDeniedError(permissionDeniedMessage(caller, { need: 'range', access, interval }));
  }

  /** Throws PermissionDeniedError unless `caller` holds the role root (management calls). */
  requireRoot(caller: Caller, what: string): void {
    if (caller === null) return;
    const view = this.view;
    if (view !== null && !view.isRoot(caller)) throw new PermissionDeniedError(permissionDeniedMessage(caller, { need: 'root', what }));
  }

  /**
   * The revision of the auth state the checks read now (AuthState.revision), which a write
   * checked for `caller` carries into its entry so that the apply checks it again if auth changes
   * before the entry (kv/auth-recheck.ts); undefined when nothing is checked (no caller, auth
   * disabled). Take it in the same turn of the event loop as the check: a later turn may see a
   * newer state than the one checked.
   */
  checkedRevision(caller: Caller): Index | undefined {
    return caller === null ? undefined : this.view?.state.revision;
  }

  /** `checkedRevision` with the user, as a command's fields (empty when nothing is checked). */
  checkedFor(caller: Caller): CheckedFor {
    const authRevision = this.checkedRevision(caller);
    return authRevision === undefined || caller === null ? {} : { user: caller, authRevision };
  }

  private verify(view: AuthView, token: string): string {
    if (this.verifiedFor !== view) {
      this.verified = new Map();
      this.verifiedFor = view;
    }
    let claims = this.verified.get(token);
    if (claims === undefined) {
      const result = verifyToken(token, view.state.secret, this.now());
      if (typeof result === 'string') throw new UnauthenticatedError(`${invalidTokenMessage}: ${result === 'expired' ? 'expired' : result === 'signature' ? 'bad signature (issued before auth was last enabled?)' : 'malformed'}; authenticate again`);
      claims = result;
      if (this.verified.size >= verifiedTokensMax) this.verified.clear();
      this.verified.set(token, claims);
    } else if (claims.expiresAtMs <= this.now()) {
      this.verified.delete(token);
      throw new UnauthenticatedError(`${invalidTokenMessage}: expired; authenticate again`);
    }
    // A password change or a deletion moves the user's credential revision: its tokens stop working.
    if (view.credentialRevision(claims.user) !== claims.credentialRevision) {
      throw new UnauthenticatedError(`${invalidTokenMessage}: revoked (the user was deleted or its password changed); authenticate again`);
    }
    return claims.user;
  }
}

function metadataToken(metadata: grpc.Metadata): string {
  const value = metadata.get(tokenMetadataKey)[0];
  return typeof value === 'string' ? value : '';
}

/** The common name of the client certificate of a TLS connection that presented one, else null. */
export function certificateCommonName(call: { getAuthContext?: () => CallAuthContext | null }): string | null {
  const certificate = call.getAuthContext?.()?.sslPeerCertificate;
  const name = certificate?.subject?.CN;
  if (typeof name === 'string') return name;
  if (Array.isArray(name) && typeof name[0] === 'string') return name[0];
  return null;
}
