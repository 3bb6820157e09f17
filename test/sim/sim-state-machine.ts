import type { Entry, Index } from '../../src/raft/index.js';

/**
 * The simulator's replicated state machine: it folds every applied command into a running hash,
 * so two nodes that applied the same commands at the same indexes hold the same hash. It is
 * persisted atomically with its applied index, as the real LevelDB state machine is.
 */
export interface SimStateMachine {
  readonly applied: Index;
  readonly hash: number;
  readonly commands: number;
}

export const emptyStateMachine: SimStateMachine = { applied: 0, hash: 0x811c9dc5, commands: 0 };

export function applyEntry(state: SimStateMachine, entry: Entry): SimStateMachine {
  let hash = mix(state.hash, entry.index);
  for (const byte of entry.data) hash = mix(hash, byte);
  return { applied: entry.index, hash, commands: state.commands + (entry.data.byteLength > 0 ? 1 : 0) };
}

export function encodeStateMachine(state: SimStateMachine): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(state));
}

export function decodeStateMachine(data: Uint8Array): SimStateMachine {
  return JSON.parse(new TextDecoder().decode(data)) as SimStateMachine;
}

/** FNV-1a step over one 32-bit value. */
function mix(hash: number, value: number): number {
  let h = hash;
  for (let shift = 0; shift < 32; shift += 8) {
    h ^= (value >>> shift) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A 32-bit hash of a command's bytes, for comparing entries cheaply. */
export function dataHash(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const byte of data) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h ^ data.byteLength;
}
