/**
 * The chaos harness's checkers: linearizability of register histories (per key, Wing–Gong with
 * memoization) and of multi-key transaction histories (per connected component of keys), lost
 * acknowledged writes, and the history formats they read.
 */
export {
  assertWellFormedHistory,
  describeOperation,
  formatHistoryJsonLines,
  InvalidHistoryError,
  parseHistoryJsonLines,
  readHistoryFile,
  writeHistoryFile,
  type CasOperation,
  type GetOperation,
  type IndexedOperation,
  type Operation,
  type OperationKind,
  type OperationTiming,
  type Outcome,
  type PutOperation,
  type RegisterValue,
} from './history.js';
export {
  initialRegisterState,
  nextRegisterState,
  registerCommandOf,
  type RegisterCommand,
  type RegisterState,
} from './register-model.js';
export {
  checkLinearizability,
  defaultMemoBytesMax,
  describeViolation,
  type KeyCheck,
  type KeyCheckStats,
  type LinearizabilityOptions,
  type LinearizabilityResult,
  type Verdict,
  type Violation,
} from './linearizability.js';
export {
  findLostAppends,
  findLostRegisterWrites,
  type AppendKeyDurability,
  type AppendLostWrites,
  type RegisterKeyDurability,
  type RegisterLostWrites,
} from './lost-writes.js';
export { parseJepsenLog, type JepsenLogOptions } from './jepsen-log.js';
export { isClosedSubHistory, shrinkViolation, type FailingCore, type ShrinkOptions } from './failing-core.js';
export { compareHolds as txnModelCompareHolds, describeTxnOperation, nextTxnState, txnOperationKeys, type TxnKeyState, type TxnModelCompare, type TxnOperation, type TxnState } from './txn-model.js';
export { checkTxnLinearizability, describeTxnViolation, txnComponents, type TxnCheckOptions, type TxnCheckResult, type TxnComponentCheck, type TxnVerdict } from './txn-linearizability.js';
