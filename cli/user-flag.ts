import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { ConfigError } from '../src/shared/errors.js';
import { splitUserSpec } from '../src/shared/user-spec.js';

/** The environment variable a password is taken from when none is given and stdin is no terminal (scripts). */
export const passwordEnvVar = 'RAFTKV_PASSWORD';

/**
 * A name and password from `NAME[:PASSWORD]` (etcdctl's form). Without `:PASSWORD`: asked for
 * without echo when stdin is a terminal; else taken from RAFTKV_PASSWORD (if not empty); else ConfigError
 * saying how to give one. `what` names the flag or argument in messages.
 */
export async function nameAndPassword(spec: string, what: string): Promise<{ name: string; password: string }> {
  const { name, password } = splitUserSpec(spec);
  if (name === '') throw new ConfigError(`${what}: a user name is required (NAME or NAME:PASSWORD), got ${JSON.stringify(spec)}`);
  if (password !== null) return { name, password };
  if (process.stdin.isTTY === true) return { name, password: await promptHidden(`Password for ${name}: `) };
  const fromEnv = process.env[passwordEnvVar];
  // Empty counts as unset: no user has an empty password.
  if (fromEnv !== undefined && fromEnv !== '') return { name, password: fromEnv };
  throw new ConfigError(`${what}: no password for ${name}, and stdin is not a terminal to ask for one; give ${name}:PASSWORD or set ${passwordEnvVar}`);
}

/** The SDK's `auth` option from --user (absent: none). */
export async function authFromFlag(user: string | undefined): Promise<{ user: string; password: string } | null> {
  if (user === undefined) return null;
  const { name, password } = await nameAndPassword(user, '--user');
  return { user: name, password };
}

/** Reads one line from the terminal without echoing it. */
async function promptHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new ConfigError('no password given (input closed)')));
    });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
