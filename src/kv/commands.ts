/**
 * The commands the key-value state machine replicates, their results, and their wire format.
 *
 * Encoding, version 2 (integers big-endian):
 *
 *   format u8 = 2 | kind u8 (1 put, 2 delete, 3 cas, 4 register-session, 5 set-session-limits, 6 auth, 7 txn,
 *                            8 compact, 9 lease-grant, 10 lease-revoke, 12 put with a lease,
 *                            20 lease-checkpoint)
 *   put, delete, cas, txn, lease-grant, lease-revoke, put with a lease:
 *     has-session u8 (0/1) [session: clientId u8 length + UTF-8 | sequence u64 | ackedSequence u64]
 *     key: u16 length + bytes
 *     put:  value u32 length + bytes
 *     put with a lease: value u32 length + bytes | lease u64 (not 0)
 *     cas:  compare u8 (1 value: u32 length + bytes, 2 version: u64)
 *           action u8 (1 put: value u32 length + bytes, 2 delete)
 *   register-session: nothing more
 *   set-session-limits: only-if-unset u8 (0/1) | one u64 per limit, in sessionLimitNames order (0: unchanged)
 *   auth: op u8 and its fields (auth-state.ts, writeAuthOp)
 *   txn: has-session u8 [session] | the transaction as txn-command.ts lays it out (no key of its own)
 *   lease-grant: has-session u8 [session] | id u64 (0: the apply picks one) | ttlSeconds u64
 *   lease-revoke: has-session u8 [session] | id u64
 *   compact: revision u64
 *   lease-checkpoint: count u16 (1..leaseCheckpointsMax) | count x (id u64 | remainingSeconds u64)
 *   auth, txn, compact and the lease kinds (lease-checkpoint last) were added to format 2
 *   compatibly: a log without them
 *   decodes as before. A put without a lease keeps kind 1, so what older nodes wrote and read is
 *   unchanged.
 *
 * Version 3 is version 2 with, right after the kind, who the write was checked for:
 *
 *   format u8 = 3 | kind u8 | user u8 length + UTF-8 (an auth name) | authRevision u64 (>= 1) | the rest as in format 2
 *
 * for the kinds a permission check guards (put, put with a lease, delete, cas, txn, lease-revoke,
 * and the root-only auth, compact and set-session-limits). A command checked for no user (auth
 * disabled, or proposed by the cluster itself) is written in format 2, byte for byte as before,
 * so a log written before format 3 existed decodes and applies exactly as it did (README
 * "Authentication and roles": the apply checks a format 3 command again when auth changed
 * between its check and its entry).
 *
 * Version 1, written before sessions were registered through the log, has the same layout for
 * put, delete and cas, and no other kinds. Its sessions were created implicitly by a client's
 * first write, and a log written then may still hold such entries when a node is upgraded. They
 * are decoded with `session.implicit` set and applied with the old rule (sessions.ts), exactly
 * as the replicas that applied them before the upgrade did: a replica must never apply an entry
 * differently from another. Nothing encodes version 1 any more. Every committed entry must
 * decode on every replica, so the decoder checks only format limits (what the encoding can
 * express, and the session limit bounds, which are constants), never the configurable API
 * limits: replicas with different configurations still agree on every entry.
 */
import type { KeyRecord } from './key-record.js';
import { CommandDecodeError, InvalidArgumentError } from './errors.js';
import { authLimits, readAuthOp, validateAuthName, validateAuthOp, writeAuthOp, type AuthApplyResult, type AuthOp } from './auth-state.js';
import type { PermissionDenial } from './auth-permissions.js';
import { sessionLimitNames, validateSessionLimits, type SessionLimits, type SessionLimitsChange } from './session-limits.js';
import { assertNever, type Index } from '../raft/index.js';
import { clientIdBytesMax } from '../storage/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter, utf8Bytes } from '../shared/binary-codec.js';
import { readTxn, txnOpsFormatMax, txnPayloadBytes, validateTxn, writeTxn, type TxnBody, type TxnResult } from './txn-command.js';

/** Makes a write exactly-once (Raft thesis §6.3; proto Session). */
export interface CommandSession {
  /**
   * The session's id, as its registration answered it: the log index of the `register-session`
   * command, in decimal (Raft thesis §6.3). An id is never reused, so a session that is gone
   * cannot come back and take a late retry as new. 1..clientIdBytesMax UTF-8 bytes.
   */
  readonly clientId: string;
  /** The write's number, from 1; a retry keeps it. */
  readonly sequence: number;
  /** Every write up to this sequence has been answered: their results may be forgotten. Below `sequence`. */
  readonly ackedSequence: number;
  /**
   * Set only on commands decoded from format 1 (see the file comment): a client with nothing
   * acked that the table does not hold gets a session, as before registration existed.
   */
  readonly implicit?: true;
}

/**
 * Who a write's permission was checked for on the node that took it, and the revision
 * (AuthState.revision) of the auth state that check read: both or neither. Neither when nothing
 * was checked (auth disabled, or a command the cluster proposes itself, such as a lease's
 * expiry). The apply checks the write again, against the auth state in force at its entry, when
 * that state's revision is newer (state-machine.ts), so a revoke that commits between the check
 * and the write's entry is not outrun.
 */
export interface CheckedFor {
  readonly user?: string;
  readonly authRevision?: Index;
}

/** What a compare-and-swap compares. */
export type CasCompare =
  | { readonly kind: 'value'; readonly value: Uint8Array }
  /** 0 means "the key is absent". */
  | { readonly kind: 'version'; readonly version: number };

/** What a compare-and-swap does when the comparison holds. */
export type CasAction = { readonly kind: 'put'; readonly value: Uint8Array } | { readonly kind: 'delete' };

/** A command on one key: what clients write. */
export type KeyCommand =
  /** `lease`: attach the key to it (absent or 0: no lease, which detaches the key from its old one). */
  | ({ readonly kind: 'put'; readonly key: Uint8Array; readonly value: Uint8Array; readonly lease?: number; readonly session?: CommandSession } & CheckedFor)
  | ({ readonly kind: 'delete'; readonly key: Uint8Array; readonly session?: CommandSession } & CheckedFor)
  | ({
      readonly kind: 'cas';
      readonly key: Uint8Array;
      readonly compare: CasCompare;
      readonly action: CasAction;
      readonly session?: CommandSession;
    } & CheckedFor);

/** Opens a client session whose id is the index this command is committed at (Raft thesis §6.3). */
export interface RegisterSessionCommand {
  readonly kind: 'register-session';
}

/**
 * Changes the cluster's session limits at the index it is committed at. `onlyIfUnset`: apply it
 * only if the log has set no limits yet (what a leader proposes from its own flags, so a later
 * leader with other flags never overrides limits set earlier).
 */
export interface SetSessionLimitsCommand extends CheckedFor {
  readonly kind: 'set-session-limits';
  readonly limits: SessionLimitsChange;
  readonly onlyIfUnset: boolean;
}

/** A multi-key transaction (txn-command.ts), exactly-once with a session like a key command. */
export type TxnCommand = TxnBody & { readonly session?: CommandSession } & CheckedFor;

/** A change to users, roles or the auth flag (auth-state.ts). */
export interface AuthCommand extends CheckedFor {
  readonly kind: 'auth';
  readonly op: AuthOp;
}

/**
 * Grants a lease (lease-table.ts) of `ttlSeconds` (the leader has already raised it to the
 * minimum). `id` 0: the apply picks one from the entry's index, never a live lease's.
 */
export interface LeaseGrantCommand {
  readonly kind: 'lease-grant';
  readonly id: number;
  readonly ttlSeconds: number;
  readonly session?: CommandSession;
}

/** Revokes a lease: deletes every key attached to it, in this one entry. */
export interface LeaseRevokeCommand extends CheckedFor {
  readonly kind: 'lease-revoke';
  readonly id: number;
  readonly session?: CommandSession;
}

/** A lease command. */
export type LeaseCommand = LeaseGrantCommand | LeaseRevokeCommand;

/** How long one lease had left when the leader took a checkpoint. */
export interface LeaseCheckpoint {
  readonly id: number;
  /** Seconds; 0 clears the checkpoint (a keep-alive renewed the lease to its full TTL). */
  readonly remainingSeconds: number;
}

/**
 * The leader's record of how long leases had left (etcd's lease checkpoints), so that a later
 * leader starts each from what it had left rather than from its full TTL. Proposed by the leader
 * alone, without a session; a lease that is gone by the time it applies is skipped.
 */
export interface LeaseCheckpointCommand {
  readonly kind: 'lease-checkpoint';
  readonly checkpoints: readonly LeaseCheckpoint[];
}

/** The most checkpoints one command carries (etcd's maxLeaseCheckpointBatchSize). */
export const leaseCheckpointsMax = 1000;

/**
 * Drops the history below `revision`: reads and watches from it on keep working, older ones get
 * CompactedError. Every replica sets its compact revision in the batch that applies it.
 */
export interface CompactCommand extends CheckedFor {
  readonly kind: 'compact';
  readonly revision: Index;
}

/** A replicated command. */
export type Command = KeyCommand | RegisterSessionCommand | SetSessionLimitsCommand | TxnCommand | AuthCommand | CompactCommand | LeaseCommand | LeaseCheckpointCommand;

/** Whether `command` grants or revokes a lease. */
export function isLeaseCommand(command: Command): command is LeaseCommand {
  return command.kind === 'lease-grant' || command.kind === 'lease-revoke';
}

/** Whether `command` writes a key (and may carry a session). */
export function isKeyCommand(command: Command): command is KeyCommand {
  return command.kind === 'put' || command.kind === 'delete' || command.kind === 'cas';
}

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

export interface LeaseGrantResult {
  readonly kind: 'lease-grant';
  readonly id: number;
  readonly ttlSeconds: number;
}

export interface LeaseRevokeResult {
  readonly kind: 'lease-revoke';
  /** How many keys the revoke deleted. */
  readonly deleted: number;
}

/**
 * A lease command, or a put (alone or in a transaction's branch that ran) naming a lease that
 * does not exist: nothing was changed (etcd: ErrLeaseNotFound).
 */
export interface LeaseNotFoundResult {
  readonly kind: 'lease-not-found';
  readonly id: number;
}

/** A grant of an id that a live lease already has: nothing was changed (etcd: ErrLeaseExists). */
export interface LeaseExistsResult {
  readonly kind: 'lease-exists';
  readonly id: number;
}

/**
 * A write refused at apply: the auth state in force at its entry no longer lets `user` do it
 * (checked again because auth changed after the node that took it checked it). Nothing was
 * changed; the client gets PERMISSION_DENIED, as from the check at the node.
 */
export interface PermissionDeniedResult {
  readonly kind: 'permission-denied';
  readonly user: string;
  readonly denial: PermissionDenial;
}

/** The result of a command that was applied: what a session remembers for retries. */
export type AppliedResult = PutResult | DeleteResult | CasResult | TxnResult | LeaseGrantResult | LeaseRevokeResult | LeaseNotFoundResult | LeaseExistsResult | PermissionDeniedResult;

/**
 * Why a write with a session was refused. This attempt was never applied; what an earlier
 * attempt of the same write did differs:
 * - `acknowledged`: the sequence is at or below the session's acked sequence, so its result was
 *   answered and forgotten; a late duplicate of an answered write. Outcome unknown.
 * - `evicted`: the result was dropped by the per-session bound (sessions.ts). Outcome unknown.
 * - `unknown-session`: the session is not registered: it expired, was evicted, or never
 *   existed. Session ids are never reused, so no attempt under this session can be applied any
 *   more; an earlier attempt may have been applied before the session went, which only the
 *   client can know (it knows whether it sent one). A new session must be registered.
 */
export type StaleReason = 'acknowledged' | 'evicted' | 'unknown-session';

export interface StaleSessionResult {
  readonly kind: 'stale-session';
  readonly reason: StaleReason;
  readonly clientId: string;
  readonly sequence: number;
}

/** A session was registered: `clientId` is its id (the registration's index, in decimal). */
export interface SessionRegisteredResult {
  readonly kind: 'session-registered';
  readonly clientId: string;
  /** The limits in force when it was registered. */
  readonly limits: SessionLimits;
}

/** The session limits in force after a `set-session-limits`; `changed` is false when `onlyIfUnset` skipped it. */
export interface SessionLimitsResult {
  readonly kind: 'session-limits';
  readonly limits: SessionLimits;
  readonly changed: boolean;
}

/**
 * A compaction's outcome. Refused, it changed nothing: `compacted` when `revision` is at or
 * below the compact revision already in force, `future` when it is not below the compaction's
 * own index (the newest revision there was when it applied).
 */
export type CompactResult =
  | { readonly kind: 'compact'; readonly outcome: 'compacted'; readonly compactRevision: Index }
  | { readonly kind: 'compact'; readonly outcome: 'refused'; readonly reason: 'compacted' | 'future'; readonly revision: Index; readonly compactRevision: Index; readonly currentRevision: Index };

/** How many of a checkpoint's leases still existed and took their remaining TTL. */
export interface LeaseCheckpointResult {
  readonly kind: 'lease-checkpoint';
  readonly recorded: number;
}

/** What applying a command answers. */
export type CommandResult = AppliedResult | StaleSessionResult | SessionRegisteredResult | SessionLimitsResult | AuthApplyResult | CompactResult | LeaseCheckpointResult;

/** Bounds on a command's fields. */
export interface CommandLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly clientIdBytesMax: number;
  /** Compares, and operations per branch, of one transaction (`--max-txn-ops`); absent: txnOpsFormatMax. */
  readonly txnOpsMax?: number;
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
 * a client id of 1..clientIdBytesMax bytes, 1 <= sequence, 0 <= ackedSequence < sequence;
 * session limits within sessionLimitBounds, at least one of them.
 */
export function validateCommand(command: Command, limits: CommandLimits): void {
  if (command.kind !== 'register-session' && command.kind !== 'lease-grant' && command.kind !== 'lease-checkpoint') validateCheckedFor(command);
  switch (command.kind) {
    case 'register-session':
      return;
    case 'compact':
      checkInteger('revision', command.revision, 1);
      return;
    case 'auth':
      validateAuthOp(command.op);
      return;
    case 'set-session-limits':
      if (sessionLimitNames.every((name) => command.limits[name] === undefined)) {
        throw new InvalidArgumentError('sessionLimits', 'at least one limit', 'none given');
      }
      validateSessionLimits(command.limits);
      return;
    case 'txn':
      validateTxn(command, { keyBytesMax: limits.keyBytesMax, valueBytesMax: limits.valueBytesMax, txnOpsMax: limits.txnOpsMax ?? txnOpsFormatMax });
      if (command.session !== undefined) validateSession(command.session, limits);
      return;
    case 'lease-grant':
      checkInteger('id', command.id, 0);
      checkIntegerMax('ttl', command.ttlSeconds, 1, leaseTtlSecondsMax);
      if (command.session !== undefined) validateSession(command.session, limits);
      return;
    case 'lease-revoke':
      checkInteger('id', command.id, 1);
      if (command.session !== undefined) validateSession(command.session, limits);
      return;
    case 'lease-checkpoint':
      checkIntegerMax('checkpoints', command.checkpoints.length, 1, leaseCheckpointsMax);
      for (const [i, checkpoint] of command.checkpoints.entries()) {
        checkInteger(`checkpoints[${i}].id`, checkpoint.id, 1);
        checkIntegerMax(`checkpoints[${i}].remainingSeconds`, checkpoint.remainingSeconds, 0, leaseTtlSecondsMax);
      }
      return;
    case 'put':
    case 'delete':
    case 'cas':
      break;
    default:
      assertNever(command, 'command');
  }
  checkBytes('key', command.key, 1, limits.keyBytesMax);
  switch (command.kind) {
    case 'put':
      checkBytes('value', command.value, 0, limits.valueBytesMax);
      if (command.lease !== undefined) checkInteger('lease', command.lease, 0);
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
  if (command.kind === 'register-session') return new ByteWriter(2).u8(formatVersion).u8(kindByte[command.kind]).finish();
  if (command.kind === 'compact') return writeHead(new ByteWriter(10 + checkedBytes(command)), kindByte[command.kind], command).u64(command.revision).finish();
  if (command.kind === 'lease-checkpoint') {
    const writer = new ByteWriter(4 + 16 * command.checkpoints.length).u8(formatVersion).u8(kindByte[command.kind]).u16(command.checkpoints.length);
    for (const { id, remainingSeconds } of command.checkpoints) writer.u64(id).u64(remainingSeconds);
    return writer.finish();
  }
  if (command.kind === 'auth') {
    const writer = writeHead(new ByteWriter(64 + checkedBytes(command)), kindByte[command.kind], command);
    writeAuthOp(writer, command.op);
    return writer.finish();
  }
  if (command.kind === 'set-session-limits') {
    const writer = writeHead(new ByteWriter(3 + 8 * sessionLimitNames.length + checkedBytes(command)), kindByte[command.kind], command).u8(command.onlyIfUnset ? 1 : 0);
    for (const name of sessionLimitNames) writer.u64(command.limits[name] ?? 0);
    return writer.finish();
  }
  // Nothing writes format 1 any more: a command carrying its implicit session cannot be encoded.
  if (command.session?.implicit === true) throw new InvalidArgumentError('session.implicit', 'format 1 only, no longer written', 'set');
  if (command.kind === 'txn') {
    const writer = writeHead(new ByteWriter(32 + txnPayloadBytes(command) + checkedBytes(command)), kindByte[command.kind], command);
    writeSession(writer, command.session);
    writeTxn(writer, command);
    return writer.finish();
  }
  if (command.kind === 'lease-grant') {
    const writer = new ByteWriter(64).u8(formatVersion).u8(kindByte[command.kind]);
    writeSession(writer, command.session);
    return writer.u64(command.id).u64(command.ttlSeconds).finish();
  }
  if (command.kind === 'lease-revoke') {
    const writer = writeHead(new ByteWriter(64 + checkedBytes(command)), kindByte[command.kind], command);
    writeSession(writer, command.session);
    return writer.u64(command.id).finish();
  }
  const leased = command.kind === 'put' && (command.lease ?? 0) !== 0;
  // Room for all of it (a UTF-8 character takes at most 3 bytes per UTF-16 unit), so that the
  // bytes are one tight buffer: a decoded command's key and value are views into them.
  const sessionBytes = command.session === undefined ? 0 : 17 + 3 * command.session.clientId.length;
  const writer = new ByteWriter(32 + sessionBytes + checkedBytes(command) + command.key.byteLength + valueBytes(command));
  writeHead(writer, leased ? leasedPutKindByte : kindByte[command.kind], command);
  writeSession(writer, command.session);
  writer.bytes(command.key, 'u16');
  switch (command.kind) {
    case 'put':
      writer.bytes(command.value, 'u32');
      if (leased) writer.u64(command.lease ?? 0);
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

/**
 * The command in `bytes`; throws CommandDecodeError (with the reason as `cause`) if they are not one.
 * Its key and value are views into `bytes`, not copies (a put's value goes from here into the key
 * cache, so this is its one copy after the entry's): pass bytes of the command's own, such as an
 * entry's data, not a slice of a bigger buffer that they would pin.
 */
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

const formatVersion = 2;
/** Format 2 with the user and auth revision a write was checked for (see the file comment). */
const checkedFormatVersion = 3;
/** Format 1: put, delete and cas only, sessions created implicitly (see the file comment). */
const implicitSessionsFormatVersion = 1;
const kindByte = {
  put: 1,
  delete: 2,
  cas: 3,
  'register-session': 4,
  'set-session-limits': 5,
  auth: 6,
  txn: 7,
  compact: 8,
  'lease-grant': 9,
  'lease-revoke': 10,
  'lease-checkpoint': 20,
} as const satisfies Record<Command['kind'], number>;
/** A put that names a lease (a put without one keeps kind 1; see the file comment). */
const leasedPutKindByte = 12;
/** The kinds format 3 may carry: those a permission check guards. */
const checkedKinds: ReadonlySet<number> = new Set([kindByte.put, leasedPutKindByte, kindByte.delete, kindByte.cas, kindByte.txn, kindByte['lease-revoke'], kindByte.auth, kindByte.compact, kindByte['set-session-limits']]);

/** The longest TTL a lease may have, in seconds (etcd's MaxLeaseTTL). */
export const leaseTtlSecondsMax = 9_000_000_000;

/** Throws InvalidArgumentError unless `user` and `authRevision` are both absent, or an auth name and a revision from 1. */
function validateCheckedFor(command: CheckedFor): void {
  if (command.user === undefined) {
    if (command.authRevision !== undefined) throw new InvalidArgumentError('authRevision', 'only with a user', `${command.authRevision} without one`);
    return;
  }
  // A name seen before was validated then (every replica decodes every write: keep it cheap).
  if (!isRecentUser(command.user)) validateAuthName('user', command.user);
  if (command.authRevision === undefined) throw new InvalidArgumentError('authRevision', 'with a user', 'absent');
  checkInteger('authRevision', command.authRevision, 1);
}

/** The most bytes writeHead adds for `command`'s user and auth revision (UTF-8: at most 3 bytes per UTF-16 unit). */
function checkedBytes(command: CheckedFor): number {
  return command.user === undefined ? 0 : 9 + 3 * command.user.length;
}

/** Format, kind, and the user and revision a command was checked for: format 3 with them, else 2. */
function writeHead(writer: ByteWriter, kind: number, command: CheckedFor): ByteWriter {
  if (command.user === undefined) return writer.u8(formatVersion).u8(kind);
  return writer.u8(checkedFormatVersion).u8(kind).bytes(userBytes(command.user), 'u8').u64(command.authRevision ?? 0);
}

/**
 * The last few users written or read, with their UTF-8 bytes, so that the writes of one user
 * share one name string and its bytes rather than each making its own (every replica decodes
 * every write; the leader encodes it too): a put checked for a user allocates nothing for it.
 * Only validated names enter; bounded; used from one thread.
 */
const recentUsers: { readonly bytes: Uint8Array; readonly text: string }[] = [];
const recentUsersMax = 8;

function rememberUser(text: string, bytes: Uint8Array): void {
  if (recentUsers.length >= recentUsersMax) recentUsers.pop();
  recentUsers.unshift({ bytes, text });
}

/** Whether `user` is a name already validated (one of recentUsers; compared by identity first, so cheap). */
function isRecentUser(user: string): boolean {
  for (const recent of recentUsers) if (recent.text === user) return true;
  return false;
}

/** The UTF-8 bytes of a validated user name. */
function userBytes(user: string): Uint8Array {
  for (const recent of recentUsers) if (recent.text === user) return recent.bytes;
  const bytes = utf8Bytes(user);
  rememberUser(user, bytes);
  return bytes;
}

function readUser(reader: ByteReader): string {
  for (const recent of recentUsers) {
    if (reader.nextEquals('u8', recent.bytes)) {
      reader.skip(1 + recent.bytes.byteLength, 'user');
      return recent.text;
    }
  }
  const text = reader.string('u8', authLimits.nameBytesMax, 'user');
  validateAuthName('user', text);
  rememberUser(text, utf8Bytes(text));
  return text;
}

/** `command` with the session and the checked-for fields that are set (one object more at most, as before format 3). */
function withHead<C extends object>(command: C, session: CommandSession | undefined, user: string | undefined, authRevision: Index | undefined): C {
  if (user === undefined) return session === undefined ? command : { ...command, session };
  return session === undefined ? { ...command, user, authRevision } : { ...command, session, user, authRevision };
}

function readCommand(reader: ByteReader): Command {
  const version = reader.u8('format version');
  if (version !== formatVersion && version !== checkedFormatVersion && version !== implicitSessionsFormatVersion) throw new BinaryDecodeError(`format version: unknown version ${version}`);
  const kind = reader.u8('kind');
  if (version === implicitSessionsFormatVersion && kind !== kindByte.put && kind !== kindByte.delete && kind !== kindByte.cas) {
    throw new BinaryDecodeError(`kind: unknown command kind ${kind} in format ${version}`);
  }
  let user: string | undefined;
  let authRevision: Index | undefined;
  if (version === checkedFormatVersion) {
    if (!checkedKinds.has(kind)) throw new BinaryDecodeError(`kind: command kind ${kind} carries no user (format ${version})`);
    user = readUser(reader);
    authRevision = reader.u64('authRevision');
  }
  if (kind === kindByte['register-session']) {
    reader.end('command');
    return { kind: 'register-session' };
  }
  if (kind === kindByte.compact) {
    const revision = reader.u64('revision');
    reader.end('command');
    return withHead<Command>({ kind: 'compact', revision }, undefined, user, authRevision);
  }
  if (kind === kindByte['lease-checkpoint']) {
    const count = reader.u16('checkpoint count');
    if (count < 1 || count > leaseCheckpointsMax) throw new BinaryDecodeError(`checkpoint count: ${count}, not in 1..${leaseCheckpointsMax}`);
    const checkpoints: LeaseCheckpoint[] = [];
    for (let i = 0; i < count; i++) checkpoints.push({ id: reader.u64(`checkpoints[${i}].id`), remainingSeconds: reader.u64(`checkpoints[${i}].remainingSeconds`) });
    reader.end('command');
    const command: LeaseCheckpointCommand = { kind: 'lease-checkpoint', checkpoints };
    validateCommand(command, commandFormatLimits);
    return command;
  }
  if (kind === kindByte.auth) {
    const op = readAuthOp(reader);
    reader.end('command');
    return withHead<Command>({ kind: 'auth', op }, undefined, user, authRevision);
  }
  if (kind === kindByte['set-session-limits']) {
    const onlyIfUnset = reader.boolean('only-if-unset');
    const limits: { -readonly [K in keyof SessionLimits]?: number } = {};
    for (const name of sessionLimitNames) {
      const value = reader.u64(`sessionLimits.${name}`);
      if (value !== 0) limits[name] = value;
    }
    reader.end('command');
    return withHead<Command>({ kind: 'set-session-limits', limits, onlyIfUnset }, undefined, user, authRevision);
  }
  const session = reader.boolean('has session') ? readSession(reader, version === implicitSessionsFormatVersion) : undefined;
  if (kind === kindByte.txn) {
    const txn = readTxn(reader, commandFormatLimits);
    reader.end('command');
    return withHead<Command>(txn, session, user, authRevision);
  }
  if (kind === kindByte['lease-grant'] || kind === kindByte['lease-revoke']) {
    const id = reader.u64('id');
    const lease: LeaseCommand = kind === kindByte['lease-grant'] ? { kind: 'lease-grant', id, ttlSeconds: reader.u64('ttl') } : { kind: 'lease-revoke', id };
    reader.end('command');
    return withHead<Command>(lease, session, user, authRevision);
  }
  const key = reader.bytesView('u16', commandFormatLimits.keyBytesMax, 'key');
  // Each built whole, absent fields as undefined: this runs for every write on every replica, and
  // spreading a command to add its session (and user) cost more than the rest of its decoding.
  let command: KeyCommand;
  switch (kind) {
    case kindByte.put:
      command = { kind: 'put', key, value: reader.bytesView('u32', commandFormatLimits.valueBytesMax, 'value'), session, user, authRevision };
      break;
    case leasedPutKindByte: {
      const value = reader.bytesView('u32', commandFormatLimits.valueBytesMax, 'value');
      const lease = reader.u64('lease');
      if (lease === 0) throw new BinaryDecodeError('lease: 0 in a put with a lease (written as kind 1)');
      command = { kind: 'put', key, value, lease, session, user, authRevision };
      break;
    }
    case kindByte.delete:
      command = { kind: 'delete', key, session, user, authRevision };
      break;
    case kindByte.cas:
      command = { kind: 'cas', key, compare: readCompare(reader), action: readAction(reader), session, user, authRevision };
      break;
    default:
      throw new BinaryDecodeError(`kind: unknown command kind ${kind}`);
  }
  reader.end('command');
  return command;
}

function writeSession(writer: ByteWriter, session: CommandSession | undefined): void {
  writer.u8(session === undefined ? 0 : 1);
  if (session !== undefined) writer.string(session.clientId, 'u8').u64(session.sequence).u64(session.ackedSequence);
}

function readSession(reader: ByteReader, implicit: boolean): CommandSession {
  const session = {
    clientId: reader.string('u8', commandFormatLimits.clientIdBytesMax, 'session.clientId'),
    sequence: reader.u64('session.sequence'),
    ackedSequence: reader.u64('session.ackedSequence'),
  };
  return implicit ? { ...session, implicit: true } : session;
}

function readCompare(reader: ByteReader): CasCompare {
  const kind = reader.u8('compare kind');
  if (kind === 1) return { kind: 'value', value: reader.bytesView('u32', commandFormatLimits.valueBytesMax, 'compare.value') };
  if (kind === 2) return { kind: 'version', version: reader.u64('compare.version') };
  throw new BinaryDecodeError(`compare kind: unknown kind ${kind}`);
}

function readAction(reader: ByteReader): CasAction {
  const kind = reader.u8('action kind');
  if (kind === 1) return { kind: 'put', value: reader.bytesView('u32', commandFormatLimits.valueBytesMax, 'action.value') };
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
  // Its UTF-8 length without encoding it (every replica checks every write's session on decode).
  const clientIdBytes = Buffer.byteLength(session.clientId, 'utf8');
  if (clientIdBytes < 1 || clientIdBytes > limits.clientIdBytesMax) {
    throw new InvalidArgumentError('session.clientId', `1..${limits.clientIdBytesMax} bytes`, `${clientIdBytes} bytes`);
  }
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

function checkIntegerMax(field: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `an integer from ${min} to ${max}`, `got ${value}`);
  }
}

function valueBytes(command: KeyCommand): number {
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
