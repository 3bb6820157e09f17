/**
 * `--auth`: the harness turns authentication on before the workload starts, as an operator
 * would (a root user, a role with readwrite on the workload's key prefixes, a user holding it,
 * then `auth enable`), and proves it is enforced: an anonymous write and a write outside the
 * role's prefixes must both be refused. Workload clients then call as that user (tokens,
 * renewed across leader changes); the harness's own calls (membership, final reads, keyspace
 * comparison) call as root.
 */
import { randomBytes } from 'node:crypto';
import { AuthenticationError, PermissionDeniedError, RaftKvClient, type ClientTls } from '../src/client/index.js';

export interface ChaosCredentials {
  readonly user: string;
  readonly password: string;
}

/** How a harness client reaches the nodes: their TLS, and a user when auth is on. */
export interface ClientAccess {
  readonly tls?: ClientTls | undefined;
  readonly auth?: ChaosCredentials | undefined;
}

export interface ChaosAuth {
  readonly root: ChaosCredentials;
  readonly workload: ChaosCredentials;
  /** The prefixes the workload's role may read and write. */
  readonly prefixes: readonly string[];
}

export const workloadUser = 'chaos-workload';
export const workloadRole = 'chaos-readwrite';
/** No workload key starts with it (they start with a letter): writes here must be refused. */
export const outsideKey = '~chaos-outside';

/** Thrown when auth, once enabled, lets through a call it must refuse: the run fails. */
export class AuthNotEnforcedError extends Error {
  override readonly name = 'AuthNotEnforcedError';
}

/** The one-character prefixes of `keys` (workload keys are a letter and a number). */
export function keyPrefixes(keys: readonly string[]): string[] {
  return [...new Set(keys.map((key) => key.slice(0, 1)))].sort();
}

/**
 * Creates root, the workload's role and user, enables auth, and checks it is enforced. Every
 * call has `timeoutMs` and `signal`; the SDK retries unavailability within it.
 */
export async function enableChaosAuth(
  endpoints: readonly string[],
  tls: ClientTls | undefined,
  workloadKeys: readonly string[],
  options: { readonly timeoutMs: number; readonly signal: AbortSignal; readonly log: (line: string) => void },
): Promise<ChaosAuth> {
  const root: ChaosCredentials = { user: 'root', password: randomBytes(12).toString('base64url') };
  const workload: ChaosCredentials = { user: workloadUser, password: randomBytes(12).toString('base64url') };
  const prefixes = keyPrefixes(workloadKeys);
  const call = { timeoutMs: options.timeoutMs, signal: options.signal };
  const newClient = (auth?: ChaosCredentials): RaftKvClient =>
    new RaftKvClient({ endpoints: [...endpoints], transport: 'unary', timeoutMs: options.timeoutMs, ...(tls === undefined ? {} : { tls }), ...(auth === undefined ? {} : { auth }) });

  const setup = newClient();
  try {
    await setup.auth.addUser(root.user, root.password, call);
    await setup.auth.addRole(workloadRole, call);
    for (const prefix of prefixes) await setup.auth.grantPermission(workloadRole, 'readwrite', { prefix }, call);
    await setup.auth.addUser(workload.user, workload.password, call);
    await setup.auth.grantRole(workload.user, workloadRole, call);
    await setup.auth.enable(call);
  } finally {
    setup.close();
  }
  options.log(`auth enabled: user ${workload.user} with readwrite on prefixes ${prefixes.map((p) => JSON.stringify(p)).join(', ')}; the harness calls as root`);

  await expectRefused('an anonymous write', newClient(), call);
  await expectRefused(`a write by ${workload.user} outside its prefixes`, newClient(workload), call);
  options.log('auth enforced: an anonymous write and a write outside the role were refused');
  return { root, workload, prefixes };
}

async function expectRefused(what: string, client: RaftKvClient, call: { timeoutMs: number; signal: AbortSignal }): Promise<void> {
  try {
    await client.put(outsideKey, 'must be refused', call);
  } catch (error) {
    if (error instanceof PermissionDeniedError || error instanceof AuthenticationError) return;
    throw error;
  } finally {
    client.close();
  }
  throw new AuthNotEnforcedError(`auth is enabled, yet ${what} (to ${outsideKey}) succeeded`);
}
