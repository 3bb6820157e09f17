/** The replicated key-value state machine: commands, their pure semantics, sessions, and the LevelDB-backed machine. */
export { KvStateMachine, defaultKvStateMachineOptions, rangeBytesMax, rangeKeysMax } from './state-machine.js';
export type { ApplyOutcome, EventsPage, KvStateMachineOptions, RangeQuery, RangeResult, ReadOptions, SnapshotInstall } from './state-machine.js';
export { compareForSort, effectiveOrder, hasRangeFilters, isPlainRange, passesRangeFilters, rangeSortOrders, rangeSortTargets, validateRangeOptions } from './range-options.js';
export type { RangeOptions, RangeSortOrder, RangeSortTarget } from './range-options.js';
export { RangeCollector } from './range-collector.js';
export type { RangeAnswer } from './range-collector.js';
export { SnapshotChunker, decodeSnapshotChunk, defaultSnapshotChunkBytes, snapshotRecordFormat } from './snapshot-format.js';
export type { SnapshotRecord, SnapshotRecordKind } from './snapshot-format.js';
export { commandFormatLimits, decodeCommand, defaultCommandLimits, encodeCommand, isKeyCommand, isLeaseCommand, leaseCheckpointsMax, leaseTtlSecondsMax, validateCommand } from './commands.js';
export { LeaseTable, decodeLeaseRecord } from './lease-table.js';
export type { LeaseInfo, LeaseRecord } from './lease-table.js';
export type {
  AppliedResult,
  AuthCommand,
  CheckedFor,
  CasAction,
  CasCompare,
  CasResult,
  Command,
  CommandLimits,
  CommandResult,
  CommandSession,
  DeleteResult,
  KeyCommand,
  LeaseCheckpoint,
  LeaseCheckpointCommand,
  LeaseCheckpointResult,
  LeaseCommand,
  LeaseExistsResult,
  LeaseGrantCommand,
  LeaseGrantResult,
  LeaseNotFoundResult,
  LeaseRevokeCommand,
  LeaseRevokeResult,
  PermissionDeniedResult,
  PutResult,
  RegisterSessionCommand,
  SessionLimitsResult,
  SessionRegisteredResult,
  SetSessionLimitsCommand,
  StaleReason,
  StaleSessionResult,
  TxnCommand,
} from './commands.js';
export { applyCommand, compareHolds } from './apply-command.js';
export { applyTxn, selectorContains, txnCompareHolds, txnGetBytesMax } from './apply-txn.js';
export type { TxnKeyspace } from './apply-txn.js';
export { defaultTxnOpsMax, txnGetKeysMax, txnKeys, txnOpsFormatMax, txnWrites, validateTxn } from './txn-command.js';
export type { KeySelector, TxnBody, TxnCompare, TxnCompareResult, TxnCompareTarget, TxnLimits, TxnOp, TxnOpResult, TxnResult } from './txn-command.js';
export type { CommandEffect } from './apply-command.js';
export type { KeyRecord, KeyValue } from './key-record.js';
export { decodeKeyRecord, encodeKeyRecord, leaseOf } from './key-record.js';
export { SessionTable } from './sessions.js';
export type { Admission, SessionChanges, SessionHeader, SessionResultChange, SessionState } from './sessions.js';
export { defaultSessionLimits, mergeSessionLimits, sessionLimitBounds, sessionLimitNames, validateSessionLimits } from './session-limits.js';
export type { SessionLimits, SessionLimitsChange } from './session-limits.js';
export { CommandDecodeError, CompactedError, CorruptCommittedEntryError, FutureRevisionError, InvalidArgumentError, StateMachineFailedError } from './errors.js';
export type { KvEvent, StateChange } from './kv-event.js';
export { BackupEncoder, BackupFileError, backupFileVersion, backupRecordFormat, memorySource, readBackup } from './backup-format.js';
export type { BackupFileProblem, BackupHeader, BackupSummary, BackupVisitor, ByteSource } from './backup-format.js';
export { readBackupFile, syncDirectory, writeBackupFile } from './backup-file.js';
export type { BackupStream } from './backup-file.js';
export {
  applyAuthOp,
  authLimits,
  decodeAuthState,
  emptyAuthState,
  encodeAuthState,
  isToEnd,
  permissionTypes,
  printableKey,
  rootName,
  scryptMemoryBytesMax,
  validateAuthName,
  validateAuthOp,
  validatePermissionRange,
} from './auth-state.js';
export type { AuthApplyResult, AuthOp, AuthRefusal, AuthRole, AuthState, AuthUser, PasswordRecord, Permission, PermissionType } from './auth-state.js';
export { AuthView, covers, coversKey, describeInterval, keyInterval, mergeIntervals, permissionDeniedMessage, permissionInterval, prefixEnd, prefixInterval, prefixRangeEnd } from './auth-permissions.js';
export type { Access, KeyInterval, PermissionDenial } from './auth-permissions.js';
export { keyCommandDenial, leaseRevokeDenial, needsRecheck, rootDenial, selectorInterval, txnDenial } from './auth-recheck.js';
