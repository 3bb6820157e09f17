/**
 * Crash points for tests: `RAFTKV_FAILPOINTS=name[,name...]` makes the process kill itself with
 * SIGKILL (what a power cut or `kill -9` does: nothing is flushed, no handler runs) the first time
 * it reaches a named point. Unset in production, where `failpoint()` is one Set lookup.
 *
 * The points are the dangerous moments of snapshots and compaction (issue: crash safety).
 */
import { writeSync } from 'node:fs';
import { ConfigError } from './errors.js';

export const failpointNames = [
  /** The leader has sent the first chunk of a snapshot. */
  'snapshot-send-mid-stream',
  /** A follower has stored the first chunk of a snapshot it is receiving. */
  'snapshot-receive-mid-stream',
  /** A follower has received and verified a whole snapshot, before Raft sees it. */
  'snapshot-receive-before-install',
  /** A follower is about to write the install of a snapshot (the atomic switch). */
  'snapshot-install-before-commit',
  /** A follower has written the install, before it clears the state it replaced. */
  'snapshot-install-after-commit',
  /** A node has decided to compact its log, before it writes anything. */
  'compact-before-write',
  /** A node has written the compaction of its log. */
  'compact-after-write',
] as const;

export type FailpointName = (typeof failpointNames)[number];

/** Parses the variable's value; an unknown name is a ConfigError naming it and the known ones. */
export function parseFailpoints(value: string | undefined): ReadonlySet<FailpointName> {
  const names = (value ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  for (const name of names) {
    if (!(failpointNames as readonly string[]).includes(name)) {
      throw new ConfigError(`RAFTKV_FAILPOINTS: unknown failpoint ${JSON.stringify(name)}; known: ${failpointNames.join(', ')}`);
    }
  }
  return new Set(names as FailpointName[]);
}

let active: ReadonlySet<FailpointName> = new Set();

/** Reads RAFTKV_FAILPOINTS (called once at node start; throws ConfigError for an unknown name). */
export function armFailpointsFromEnvironment(): ReadonlySet<FailpointName> {
  active = parseFailpoints(process.env['RAFTKV_FAILPOINTS']);
  return active;
}

/** Kills the process with SIGKILL if `name` is armed; otherwise does nothing. */
export function failpoint(name: FailpointName): void {
  if (!active.has(name)) return;
  // Synchronous, so the line is out before the signal: tests look for it to know which point hit.
  writeSync(2, `raftkv failpoint ${name}: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
