/** Durable storage of one node: its LevelDB, the Raft log, and the binary helpers its records use. */
export { NodeStore } from './node-store.js';
export type { NodeStoreOptions, StoreOperation, StoreSnapshot, StoreWriteOptions } from './node-store.js';
export { RaftLogStore } from './raft-log-store.js';
export type { PersistedRaftState, RaftLogStoreOptions, RaftLogUpdate } from './raft-log-store.js';
export { StorageCorruptError, StorageError } from './errors.js';
export type { StorageErrorCode } from './errors.js';
export { decodeLogPosition, encodeLogPosition } from './raft-meta-codec.js';
export {
  clientIdBytesMax,
  clientIdOfSessionKey,
  describeKey,
  generationSublevelNames,
  prefixRange,
  sessionKey,
  sessionKeyRange,
  sessionLimitsKey,
  authStateKey,
  smMetaKeys,
  storageFormat,
  sublevelNames,
} from './keys.js';
export type { BinaryDb, BinarySublevel, GenerationSublevels, KeyRange, Sublevels } from './keys.js';
export { decodeStored } from './decode-stored.js';
