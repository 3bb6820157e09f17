import { encodeCommand, type Command, type CommandSession, type SessionLimitsChange } from '../../src/kv/index.js';
import type { Entry } from '../../src/raft/index.js';
import { bytes } from '../storage/temp-stores.js';

/** A committed entry carrying `command`. */
export function commandEntry(index: number, command: Command, term = 1): Entry {
  return { index, term, type: 'normal', data: encodeCommand(command) };
}

/**
 * An entry as raftkv wrote it before sessions were registered (command format 1): the same
 * layout for put, delete and cas, with format byte 1.
 */
export function formatOneEntry(index: number, command: Command, term = 1): Entry {
  const data = encodeCommand(command);
  data[0] = 1;
  return { index, term, type: 'normal', data };
}

/** The leader's no-op. */
export function noOpEntry(index: number, term = 1): Entry {
  return { index, term, type: 'normal', data: new Uint8Array() };
}

export function put(key: string, value: string, session?: CommandSession): Command {
  return session === undefined ? { kind: 'put', key: bytes(key), value: bytes(value) } : { kind: 'put', key: bytes(key), value: bytes(value), session };
}

/** A session registration: the session's id is the index it is applied at, in decimal. */
export function register(): Command {
  return { kind: 'register-session' };
}

export function setLimits(limits: SessionLimitsChange, onlyIfUnset = false): Command {
  return { kind: 'set-session-limits', limits, onlyIfUnset };
}

export function session(clientId: string, sequence: number, ackedSequence = 0): CommandSession {
  return { clientId, sequence, ackedSequence };
}

/** Entries for `commands` at consecutive indexes from `from`. */
export function entriesFrom(from: number, commands: readonly (Command | null)[]): Entry[] {
  return commands.map((command, i) => (command === null ? noOpEntry(from + i) : commandEntry(from + i, command)));
}
