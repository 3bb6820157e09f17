/**
 * The commands the key-value state machine replicates, their results, and their wire format.
 *
 * Encoding, version 1 (integers big-endian):
 *
 *   format u8 = 1 | kind u8 (1 put, 2 delete, 3 cas) | has-session u8 (0/1)
 *   [session: clientId u8 length + UTF-8 | sequence u64 | ackedSequence u64]
 *   key: u16 length + bytes
 *   put:  value u32 length + bytes
 *   cas:  compare u8 (1 value: u32 length + bytes, 2 version: u64)
 *         action u8 (1 put: value u32 length + bytes, 2 delete)
 *
 * A decoder of a later version reads the format byte first and may accept older formats; this
 * one accepts only 1. Every committed entry must decode on every replica, so the decoder checks
 * only format limits (what the encoding can express), never the configurable API limits:
 * replicas with different configurations still agree on every entry.
 */
import type { KeyRecord } from './key-record.js';
import { CommandDecodeError, InvalidArgumentError } from './errors.js';
import { assertNever, type Index } from '../raft/index.js';
import { clientIdBytesMax } from '../storage/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter, utf8Bytes } from '../shared/binary-codec.js';

/** Makes a write exactly-once (Raft thesis §6.3; proto Session). */
export interface CommandSession {
  /** Chosen at random by the client; 1..clientIdBytesMax UTF-8 bytes. */
  readonly clientId: string;
  /** The write's number, from 1; a retry keeps it. */
  readonly sequence: number;
  /** Every write up to this sequence has been answered: their results may be forgotten. Below `sequence`. */
  readonly ackedSequence: number;
}

/** What a compare-and-swap compares. */
export type CasCompare =
  | { readonly kind: 'value'; readonly value: Uint8Array }
  /** 0 means "the key is absent". */
  | { readonly kind: 'version'; readonly version: number };

/** What a compare-and-swap does when the comparison holds. */
export type CasAction = { readonly kind: 'put'; readonly value: Uint8Array } | { readonly kind: 'delete' };

/** A replicated command. */
export type Command =
  | { readonly kind: 'put'; readonly key: Uint8Array; readonly value: Uint8Array; readonly session?: CommandSession }
  | { readonly kind: 'delete'; readonly key: Uint8Array; readonly session?: CommandSession }
  | {
      readonly kind: 'cas';
      readonly key: Uint8Array;
      readonly compare: CasCompare;
      readonly action: CasAction;
      readonly session?: CommandSession;
    };

/** The key after a put. */
export interface PutResult {
  readonly kind: 'put';
  readonly version: number;
  readonly modRevision: Index;
}

export interface DeleteResult {
  readonly kind: 'delete';
  /** False when the key was already absent. */
  readonly deleted: boolean;
}

export interface CasResult {
  readonly kind: 'cas';
  readonly succeeded: boolean;
  /** The key as it was when compared (null: absent); on success, the key before the swap. */
  readonly previous: KeyRecord | null;
  /** On success the swap's revision (its log index); on failure the key's modRevision, 0 if absent. */
  readonly modRevision: Index;
}

/** The result of a command that was applied: what a session remembers for retries. */
export type AppliedResult = PutResult | DeleteResult | CasResult;

/**
 * Why a session command was refused without being applied (its outcome is unknown to the
 * client, which must not assume it took effect or not):
 * - `acknowledged`: the sequence is at or below the session's acked sequence, so its result was
 *   answered and forgotten; a late duplicate of an answered write.
 * - `evicted`: the result was dropped by the per-session bound (sessions.ts).
 * - `unknown-session`: no session for the client, yet it has acknowledged writes: its session
 *   expired or was evicted. The client must start a new session (a new client id).
 */
export type StaleReason = 'acknowledged' | 'evicted' | 'unknown-session';

export interface StaleSessionResult {
  readonly kind: 'stale-session';
  readonly reason: StaleReason;
  readonly clientId: string;
  readonly sequence: number;
}

/** What applying a command answers. */
export type CommandResult = AppliedResult | StaleSessionResult;

/** Bounds on a command's fields. */
export interface CommandLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly clientIdBytesMax: number;
}

/** The most the encoding carries (the widths of its length prefixes, and a sane value cap). */
export const commandFormatLimits: CommandLimits = {
  keyBytesMax: 0xffff,
  valueBytesMax: 64 * 1024 * 1024,
  clientIdBytesMax,
};

/** The client API's default limits (DESIGN.md "The client API"); the server may configure others. */
export const defaultCommandLimits: CommandLimits = {
  keyBytesMax: 4096,
  valueBytesMax: 1024 * 1024,
  clientIdBytesMax: 128,
};

/**
 * Throws InvalidArgumentError naming the first field that breaks `limits` or a rule: key of
 * 1..keyBytesMax bytes, values up to valueBytesMax, a non-negative integer expected version,
 * a client id of 1..clientIdBytesMax bytes, 1 <= sequence, 0 <= ackedSequence < sequence.
 */
export function validateCommand(command: Command, limits: CommandLimits): void {
  checkBytes('key', command.key, 1, limits.keyBytesMax);
  switch (command.kind) {
    case 'put':
      checkBytes('value', command.value, 0, limits.valueBytesMax);
      break;
    case 'delete':
      break;
    case 'cas':
      validateCas(command.compare, command.action, limits);
      break;
    default:
      assertNever(command, 'command');
  }
  if (command.session !== undefined) validateSession(command.session, limits);
}

/** The command's bytes, after validating it against the format limits (so it will decode). */
export function encodeCommand(command: Command): Uint8Array {
  validateCommand(command, commandFormatLimits);
  const writer = new ByteWriter(32 + command.key.byteLength + valueBytes(command));
  writer.u8(formatVersion).u8(kindByte[command.kind]).u8(command.session === undefined ? 0 : 1);
  if (command.session !== undefined) {
    writer.string(command.session.clientId, 'u8').u64(command.session.sequence).u64(command.session.ackedSequence);
  }
  writer.bytes(command.key, 'u16');
  switch (command.kind) {
    case 'put':
      writer.bytes(command.value, 'u32');
      break;
    case 'delete':
      break;
    case 'cas':
      writeCas(writer, command.compare, command.action);
      break;
    default:
      assertNever(command, 'command');
  }
  return writer.finish();
}

/** The command in `bytes`; throws CommandDecodeError (with the reason as `cause`) if they are not one. */
export function decodeCommand(bytes: Uint8Array): Command {
  try {
    const command = readCommand(new ByteReader(bytes));
    validateCommand(command, commandFormatLimits);
    return command;
  } catch (error) {
    if (error instanceof BinaryDecodeError || error instanceof InvalidArgumentError) {
      throw new CommandDecodeError(`not a command: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

const formatVersion = 1;
const kindByte = { put: 1, delete: 2, cas: 3 } as const satisfies Record<Command['kind'], number>;

function readCommand(reader: ByteReader): Command {
  const version = reader.u8('format version');
  if (version !== formatVersion) throw new BinaryDecodeError(`format version: unknown version ${version}`);
  const kind = reader.u8('kind');
  const session = reader.boolean('has session') ? readSession(reader) : undefined;
  const key = reader.bytes('u16', commandFormatLimits.keyBytesMax, 'key');
  let command: Command;
  switch (kind) {
    case kindByte.put:
      command = { kind: 'put', key, value: reader.bytes('u32', commandFormatLimits.valueBytesMax, 'value') };
      break;
    case kindByte.delete:
      command = { kind: 'delete', key };
      break;
    case kindByte.cas:
      command = { kind: 'cas', key, compare: readCompare(reader), action: readAction(reader) };
      break;
    default:
      throw new BinaryDecodeError(`kind: unknown command kind ${kind}`);
  }
  reader.end('command');
  return session === undefined ? command : { ...command, session };
}

function readSession(reader: ByteReader): CommandSession {
  return {
    clientId: reader.string('u8', commandFormatLimits.clientIdBytesMax, 'session.clientId'),
    sequence: reader.u64('session.sequence'),
    ackedSequence: reader.u64('session.ackedSequence'),
  };
}

function readCompare(reader: ByteReader): CasCompare {
  const kind = reader.u8('compare kind');
  if (kind === 1) return { kind: 'value', value: reader.bytes('u32', commandFormatLimits.valueBytesMax, 'compare.value') };
  if (kind === 2) return { kind: 'version', version: reader.u64('compare.version') };
  throw new BinaryDecodeError(`compare kind: unknown kind ${kind}`);
}

function readAction(reader: ByteReader): CasAction {
  const kind = reader.u8('action kind');
  if (kind === 1) return { kind: 'put', value: reader.bytes('u32', commandFormatLimits.valueBytesMax, 'action.value') };
  if (kind === 2) return { kind: 'delete' };
  throw new BinaryDecodeError(`action kind: unknown kind ${kind}`);
}

function writeCas(writer: ByteWriter, compare: CasCompare, action: CasAction): void {
  switch (compare.kind) {
    case 'value':
      writer.u8(1).bytes(compare.value, 'u32');
      break;
    case 'version':
      writer.u8(2).u64(compare.version);
      break;
    default:
      assertNever(compare, 'cas compare');
  }
  switch (action.kind) {
    case 'put':
      writer.u8(1).bytes(action.value, 'u32');
      break;
    case 'delete':
      writer.u8(2);
      break;
    default:
      assertNever(action, 'cas action');
  }
}

function validateCas(compare: CasCompare, action: CasAction, limits: CommandLimits): void {
  switch (compare.kind) {
    case 'value':
      checkBytes('compare.value', compare.value, 0, limits.valueBytesMax);
      break;
    case 'version':
      checkInteger('compare.version', compare.version, 0);
      break;
    default:
      assertNever(compare, 'cas compare');
  }
  if (action.kind === 'put') checkBytes('action.value', action.value, 0, limits.valueBytesMax);
}

function validateSession(session: CommandSession, limits: CommandLimits): void {
  checkBytes('session.clientId', utf8Bytes(session.clientId), 1, limits.clientIdBytesMax);
  checkInteger('session.sequence', session.sequence, 1);
  checkInteger('session.ackedSequence', session.ackedSequence, 0);
  if (session.ackedSequence >= session.sequence) {
    throw new InvalidArgumentError('session.ackedSequence', 'must be below session.sequence', `${session.ackedSequence} >= ${session.sequence}`);
  }
}

function checkBytes(field: string, bytes: Uint8Array, min: number, max: number): void {
  if (bytes.byteLength < min || bytes.byteLength > max) {
    throw new InvalidArgumentError(field, `${min}..${max} bytes`, `${bytes.byteLength} bytes`);
  }
}

function checkInteger(field: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(field, `an integer from ${min} to 2^53-1`, `got ${value}`);
  }
}

function valueBytes(command: Command): number {
  switch (command.kind) {
    case 'put':
      return command.value.byteLength;
    case 'delete':
      return 0;
    case 'cas':
      return (command.compare.kind === 'value' ? command.compare.value.byteLength : 0) +
        (command.action.kind === 'put' ? command.action.value.byteLength : 0);
    default:
      return assertNever(command, 'command');
  }
}
