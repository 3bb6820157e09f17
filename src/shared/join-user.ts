/** The environment variable a joining node takes its user's password from (`--join-user NAME` without `:PASSWORD`). */
export const joinPasswordEnvVar = 'RAFTKV_JOIN_PASSWORD';

/**
 * What a node that joins a cluster with auth on needs to add itself as `user`: the flag, and the
 * environment that carries the password (kept off the command line, where `ps` would show it).
 */
export function nodeJoinUser(credentials: { readonly user: string; readonly password: string }): { flags: string[]; env: Record<string, string> } {
  return { flags: ['--join-user', credentials.user], env: { [joinPasswordEnvVar]: credentials.password } };
}
