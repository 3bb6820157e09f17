/**
 * Lost acknowledged writes: after the cluster is healed and every operation has settled, a
 * final read of each key must still show what the cluster acknowledged. Two workloads:
 *
 * Registers. A put or cas with outcome 'ok' is acknowledged; one with outcome 'indeterminate'
 * may have taken effect at any time after its invocation, or never. Write w' follows w when w
 * completed strictly before w' was invoked. Let W be the acknowledged writes of a key and
 * M ⊆ W those no other acknowledged write follows: the acknowledged write applied last is in M,
 * because one that follows it was applied after it. After it only indeterminate writes can
 * change the register, so the final value must be the value of a write in M, of an
 * indeterminate put or cas, or (when W is empty) absent. If not, exactly one acknowledged
 * write is known lost (the last applied; the others were overwritten in some legal order) and
 * M lists the suspects. This never blames a correct run; losses it cannot see, such as a
 * rollback to an equal value, are the linearizability checker's job.
 *
 * Appends. Every appended value is unique; each acknowledged value must appear in the key's
 * final list exactly once. A value appearing twice was applied twice, acknowledged or not.
 */
import {
  assertWellFormedHistory,
  InvalidHistoryError,
  type IndexedOperation,
  type Operation,
  type RegisterValue,
} from './history.js';

/** What the final read of one register key says about its acknowledged writes. */
export type RegisterKeyDurability =
  | { readonly status: 'intact'; readonly key: string; readonly finalValue: RegisterValue }
  | {
      readonly status: 'lost';
      readonly key: string;
      readonly finalValue: RegisterValue;
      /** Acknowledged writes that may have been the last applied; one of them was lost. */
      readonly suspects: readonly IndexedOperation[];
    }
  /** No acknowledged write, and a final value that no write could have produced. */
  | { readonly status: 'unexplained'; readonly key: string; readonly finalValue: RegisterValue }
  /** Acknowledged writes but no final read: nothing can be said, and the run should fail. */
  | { readonly status: 'no-final-read'; readonly key: string; readonly acknowledgedWrites: number };

/** Lost writes of a register workload. */
export interface RegisterLostWrites {
  /** Acknowledged writes known lost: one per key with status 'lost'. Must be 0. */
  readonly lostCount: number;
  /** Every key with an acknowledged write or a final read, in order of first appearance. */
  readonly perKey: readonly RegisterKeyDurability[];
}

/**
 * Finds acknowledged register writes that the final reads do not account for (see the module
 * comment for the definition). `finalValues` maps each key to what a read after healing
 * returned (null: absent); it must have been read after every operation of `history` settled.
 * Throws InvalidHistoryError if an operation breaks the history invariants.
 */
export function findLostRegisterWrites(
  history: readonly Operation[],
  finalValues: ReadonlyMap<string, RegisterValue>,
): RegisterLostWrites {
  assertWellFormedHistory(history);
  const writesByKey = new Map<string, { acknowledged: IndexedOperation[]; maybeValues: Set<string> }>();
  const keys = new Set<string>();
  history.forEach((operation, index) => {
    keys.add(operation.key);
    if (operation.kind === 'get') return;
    let writes = writesByKey.get(operation.key);
    if (writes === undefined) {
      writes = { acknowledged: [], maybeValues: new Set() };
      writesByKey.set(operation.key, writes);
    }
    if (operation.outcome === 'ok') writes.acknowledged.push({ index, operation });
    else if (operation.outcome === 'indeterminate') writes.maybeValues.add(operation.value);
  });
  for (const key of finalValues.keys()) keys.add(key);

  const perKey: RegisterKeyDurability[] = [];
  for (const key of keys) {
    const { acknowledged, maybeValues } = writesByKey.get(key) ?? { acknowledged: [], maybeValues: new Set() };
    if (!finalValues.has(key)) {
      if (acknowledged.length > 0) {
        perKey.push({ status: 'no-final-read', key, acknowledgedWrites: acknowledged.length });
      }
      continue;
    }
    const finalValue = finalValues.get(key)!;
    let lastInvokeTime = -Infinity;
    for (const { operation } of acknowledged) lastInvokeTime = Math.max(lastInvokeTime, operation.invokeTime);
    const suspects = acknowledged.filter(({ operation }) => operation.completeTime >= lastInvokeTime);
    const explained =
      (acknowledged.length === 0 && finalValue === null) ||
      suspects.some(({ operation }) => writtenValue(operation) === finalValue) ||
      (finalValue !== null && maybeValues.has(finalValue));
    if (explained) perKey.push({ status: 'intact', key, finalValue });
    else if (acknowledged.length === 0) perKey.push({ status: 'unexplained', key, finalValue });
    else perKey.push({ status: 'lost', key, finalValue, suspects });
  }
  return { lostCount: perKey.filter((entry) => entry.status === 'lost').length, perKey };
}

function writtenValue(op: Operation): RegisterValue | undefined {
  return op.kind === 'get' ? undefined : op.value;
}

/** What the final read of one append key says about its acknowledged appends. */
export type AppendKeyDurability =
  | {
      readonly status: 'checked';
      readonly key: string;
      /** Acknowledged values absent from the final list. */
      readonly missing: readonly string[];
      /** Values present more than once in the final list. */
      readonly duplicated: readonly string[];
    }
  | { readonly status: 'no-final-read'; readonly key: string; readonly acknowledgedAppends: number };

/** Lost and duplicated appends of an append workload. */
export interface AppendLostWrites {
  /** Acknowledged values missing from their key's final list. Must be 0. */
  readonly lostCount: number;
  /** Values appearing more than once in a final list. Must be 0. */
  readonly duplicatedCount: number;
  /** Every key with an acknowledged append or a final read. */
  readonly perKey: readonly AppendKeyDurability[];
}

/**
 * Checks the final list of every key against the values whose append was acknowledged.
 * Values not acknowledged (indeterminate appends) may be present once or not at all.
 * Throws InvalidHistoryError if a key's acknowledged values repeat: the workload must append
 * unique values, or a duplicate could not be told from a double apply.
 */
export function findLostAppends(
  acknowledged: ReadonlyMap<string, readonly string[]>,
  finalLists: ReadonlyMap<string, readonly string[]>,
): AppendLostWrites {
  const keys = new Set([...acknowledged.keys(), ...finalLists.keys()]);
  const perKey: AppendKeyDurability[] = [];
  for (const key of keys) {
    const acked = acknowledged.get(key) ?? [];
    const ackedRepeats = repeated(acked);
    if (ackedRepeats.length > 0) {
      throw new InvalidHistoryError(
        `acknowledged appends to key ${JSON.stringify(key)} repeat ${JSON.stringify(ackedRepeats)}`,
      );
    }
    const finalList = finalLists.get(key);
    if (finalList === undefined) {
      if (acked.length > 0) perKey.push({ status: 'no-final-read', key, acknowledgedAppends: acked.length });
      continue;
    }
    const present = new Set(finalList);
    const missing = acked.filter((value) => !present.has(value));
    perKey.push({ status: 'checked', key, missing, duplicated: repeated(finalList) });
  }
  const checked = perKey.filter((entry) => entry.status === 'checked');
  return {
    lostCount: checked.reduce((sum, entry) => sum + entry.missing.length, 0),
    duplicatedCount: checked.reduce((sum, entry) => sum + entry.duplicated.length, 0),
    perKey,
  };
}

/** Values occurring more than once, each listed once, in order of their second occurrence. */
function repeated(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const repeats = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) repeats.add(value);
    seen.add(value);
  }
  return [...repeats];
}
