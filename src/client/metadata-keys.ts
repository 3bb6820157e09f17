/** Trailing metadata of a FAILED_PRECONDITION "not the leader" answer (kv.proto). */
export const leaderIdMetadataKey = 'raftkv-leader-id';
export const leaderAddressMetadataKey = 'raftkv-leader-address';
/** Trailing metadata of a refused membership change: the reason (kv.proto). */
export const refusalMetadataKey = 'raftkv-refusal';
