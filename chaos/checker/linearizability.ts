/**
 * Linearizability of a register history, decided per key (a history is linearizable iff the
 * history of every key is: P-compositionality) by the Wing–Gong search with Lowe's memoization,
 * the algorithm porcupine uses.
 *
 * The search walks a time-ordered doubly linked list of call and return entries. At each call
 * entry it tries to linearize that operation next: if the model accepts it and the resulting
 * configuration (set of linearized operations, model state) has not been reached before, it
 * removes the operation's two entries from the list ("lift"), pushes it and starts again from
 * the head. Meeting a return entry means that operation should already be linearized: the search
 * pops the last choice, puts its entries back ("unlift") and tries the next call after it. The
 * memo of reached configurations is what makes the search practical: one that failed once fails
 * again. On top of that, indeterminate operations are only placed where they matter (see search).
 *
 * Cost: linear-ish in the history when concurrency is low, exponential in the worst case. The
 * expensive case is a violation late in a long history that has indeterminate writes and few
 * distinct values: every open indeterminate write can stand in for a write of its value, and each
 * way of using them is a new configuration. With unique values (or no indeterminate operations)
 * a violation at the end of 1000 operations takes well under a second; with 5 values and 10 or
 * more indeterminate writes it can exhaust the limits and come back 'unknown'. A workload that
 * writes unique values keeps its histories checkable.
 */
import {
  assertNever,
  assertWellFormedHistory,
  describeOperation,
  type IndexedOperation,
  type Operation,
  type RegisterValue,
} from './history.js';
import {
  initialRegisterState,
  nextRegisterState,
  registerCommandOf,
  type RegisterCommand,
  type RegisterState,
} from './register-model.js';

/** Limits of one {@link checkLinearizability} call. */
export interface LinearizabilityOptions {
  /**
   * Budget for the whole check, over all keys. When it runs out, keys not yet decided are
   * 'unknown'. The check is synchronous: it holds the event loop for up to this long.
   */
  readonly timeLimitMs: number;
  /** Memory the memo of one key may use before that key is given up as 'unknown'. */
  readonly memoBytesMax?: number;
  /** Monotonic clock in milliseconds; `performance.now` by default. Read every few thousand steps. */
  readonly now?: () => number;
}

/** Used when {@link LinearizabilityOptions.memoBytesMax} is not given. */
export const defaultMemoBytesMax = 512 * 1024 * 1024;

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

/** What the search of one key did. */
export interface KeyCheckStats {
  /** Operations given to the search. */
  readonly operationsChecked: number;
  /** Operations that constrain nothing (aborted ones, indeterminate gets) and were left out. */
  readonly operationsDropped: number;
  /** Call and return entries visited. */
  readonly searchSteps: number;
  /** Distinct configurations reached (linearized set, state, and the obligation of search()). */
  readonly memoEntries: number;
  readonly elapsedMs: number;
}

/**
 * Where the search got furthest in a history that is not linearizable: no order of the
 * pending operations lets the search pass the completion of `blocked`.
 */
export interface Violation {
  /** The longest sequence of operations the search could linearize, in linearization order. */
  readonly longestPrefix: readonly IndexedOperation[];
  /** The register after that prefix. */
  readonly stateAfterPrefix: RegisterValue;
  /** The operation that had to be linearized by its completion, and could not be. */
  readonly blocked: IndexedOperation;
  /** Operations invoked before that completion and not in the prefix, `blocked` among them. */
  readonly pending: readonly IndexedOperation[];
}

/** The verdict for one key. */
export type KeyCheck =
  | {
      readonly verdict: 'linearizable';
      readonly key: string;
      readonly stats: KeyCheckStats;
      /** A witness: the checked operations in an order the register could have run them. */
      readonly linearization: readonly IndexedOperation[];
    }
  | {
      readonly verdict: 'not-linearizable';
      readonly key: string;
      readonly stats: KeyCheckStats;
      readonly violation: Violation;
    }
  | {
      readonly verdict: 'unknown';
      readonly key: string;
      readonly stats: KeyCheckStats;
      readonly reason: 'time-limit' | 'memo-limit';
    };

/** The verdict for a whole history. */
export interface LinearizabilityResult {
  /** not-linearizable if any key is; otherwise unknown if any key is; otherwise linearizable. */
  readonly verdict: Verdict;
  /** One entry per key, in order of first appearance in the history. */
  readonly perKey: readonly KeyCheck[];
  readonly elapsedMs: number;
}

/**
 * Decides whether `history` is linearizable with respect to a register per key, starting
 * absent. Operations are concurrent unless one completed strictly before the other was invoked
 * (equal times count as concurrent). Indeterminate operations complete at +Infinity: a put or
 * cas may take effect at any point after its invocation, or never. See
 * {@link registerCommandOf} for how each outcome constrains the history.
 * Throws InvalidHistoryError if an operation breaks the history invariants.
 */
export function checkLinearizability(
  history: readonly Operation[],
  options: LinearizabilityOptions,
): LinearizabilityResult {
  assertWellFormedHistory(history);
  const now = options.now ?? (() => performance.now());
  const startMs = now();
  const deadlineMs = startMs + options.timeLimitMs;
  const memoBytesMax = options.memoBytesMax ?? defaultMemoBytesMax;

  const budget: Budget = { now, deadlineMs, memoBytesMax };
  const perKey = [...partitionByKey(history)].map(([key, ops]) => checkKey(key, ops, budget));
  return { verdict: overallVerdict(perKey), perKey, elapsedMs: now() - startMs };
}

/** A human-readable account of a violation, one operation per line, for reports. */
export function describeViolation(key: string, violation: Violation, prefixLinesMax = 20): string {
  const line = ({ index, operation }: IndexedOperation): string => `    #${index} ${describeOperation(operation)}`;
  const prefix = violation.longestPrefix;
  const shown = prefix.slice(Math.max(0, prefix.length - prefixLinesMax));
  const state = violation.stateAfterPrefix === null ? 'nil' : JSON.stringify(violation.stateAfterPrefix);
  return [
    `key ${JSON.stringify(key)} is not linearizable`,
    `  longest linearizable prefix: ${prefix.length} operations, leaving the register at ${state}`,
    ...(shown.length < prefix.length ? [`    ... ${prefix.length - shown.length} earlier`] : []),
    ...shown.map(line),
    `  stuck at the completion of:`,
    line(violation.blocked),
    `  pending, none of which could come next:`,
    ...violation.pending.map(line),
  ].join('\n');
}

function overallVerdict(perKey: readonly KeyCheck[]): Verdict {
  if (perKey.some((check) => check.verdict === 'not-linearizable')) return 'not-linearizable';
  if (perKey.some((check) => check.verdict === 'unknown')) return 'unknown';
  return 'linearizable';
}

function partitionByKey(history: readonly Operation[]): Map<string, IndexedOperation[]> {
  const byKey = new Map<string, IndexedOperation[]>();
  history.forEach((operation, index) => {
    const ops = byKey.get(operation.key);
    if (ops === undefined) byKey.set(operation.key, [{ index, operation }]);
    else ops.push({ index, operation });
  });
  return byKey;
}

interface Budget {
  readonly now: () => number;
  readonly deadlineMs: number;
  readonly memoBytesMax: number;
}

/** An operation prepared for the search. */
interface SearchOperation {
  readonly source: IndexedOperation;
  readonly command: RegisterCommand;
  readonly invokeTime: number;
  /** +Infinity for an indeterminate operation. */
  readonly returnTime: number;
}

function checkKey(key: string, ops: readonly IndexedOperation[], budget: Budget): KeyCheck {
  const startMs = budget.now();
  const searchOps: SearchOperation[] = [];
  for (const source of ops) {
    const command = registerCommandOf(source.operation);
    if (command === undefined) continue;
    const { invokeTime, completeTime, outcome } = source.operation;
    searchOps.push({ source, command, invokeTime, returnTime: outcome === 'indeterminate' ? Infinity : completeTime });
  }
  const { result, searchSteps, memoEntries } = startMs >= budget.deadlineMs ? outOfTime : search(searchOps, budget);
  const stats: KeyCheckStats = {
    operationsChecked: searchOps.length,
    operationsDropped: ops.length - searchOps.length,
    searchSteps,
    memoEntries,
    elapsedMs: budget.now() - startMs,
  };
  const sources = (ids: readonly number[]): IndexedOperation[] => ids.map((id) => searchOps[id]!.source);
  switch (result.kind) {
    case 'linearizable':
      return { verdict: 'linearizable', key, stats, linearization: sources(result.order) };
    case 'not-linearizable': {
      const { deepest } = result;
      const violation: Violation = {
        longestPrefix: sources(deepest.prefix),
        stateAfterPrefix: deepest.state,
        blocked: searchOps[deepest.blocked]!.source,
        pending: sources(deepest.pending),
      };
      return { verdict: 'not-linearizable', key, stats, violation };
    }
    case 'gave-up':
      return { verdict: 'unknown', key, stats, reason: result.reason };
    default:
      return assertNever(result);
  }
}

/** Operation ids below are indexes into the search's operation array. */
interface DeepestPoint {
  readonly prefix: readonly number[];
  readonly state: RegisterState;
  readonly blocked: number;
  readonly pending: readonly number[];
}

type SearchResult =
  | { readonly kind: 'linearizable'; readonly order: readonly number[] }
  | { readonly kind: 'not-linearizable'; readonly deepest: DeepestPoint }
  | { readonly kind: 'gave-up'; readonly reason: 'time-limit' | 'memo-limit' };

interface SearchOutcome {
  readonly result: SearchResult;
  readonly searchSteps: number;
  readonly memoEntries: number;
}

const outOfTime: SearchOutcome = { result: { kind: 'gave-up', reason: 'time-limit' }, searchSteps: 0, memoEntries: 0 };

/** The clock is read when the step counter's low bits are all zero: every 4096 steps. */
const clockCheckMask = 0xfff;

/**
 * The WGL search over one key. Entries of the linked list are numbered: the call of operation
 * i is i, its return is n + i, the head sentinel is 2n; -1 ends the list.
 *
 * Indeterminate operations would otherwise stay candidates forever and double the number of
 * configurations each. One is always legal and never has to precede anything (its return is at
 * +Infinity), so any linearization can be rewritten, moving such operations later or to the end
 * (where they may as well not have happened), into a canonical one; the search builds only those:
 * - one that would leave the state unchanged is not placed, and the search succeeds once every
 *   determinate operation is placed (the rest go at the end);
 * - identical ones (same command) are interchangeable once invoked, so they are placed in
 *   invocation order: only the first not yet placed of each class is a candidate;
 * - right after one comes an operation that depends on it: a determinate one that would be
 *   illegal in the state before it (the "obligation"), or an indeterminate cas that swaps from
 *   the value it wrote. Otherwise it could move one place later (before a write: to the end).
 * The obligation is part of the memo key, since it restricts what may come next.
 */
function search(ops: readonly SearchOperation[], budget: Budget): SearchOutcome {
  const n = ops.length;
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const order = entryOrder(ops);
  let tail = head;
  for (const entry of order) {
    next[tail] = entry;
    prev[entry] = tail;
    tail = entry;
  }
  next[tail] = -1;

  // Removing an entry leaves its own links as they were, so unlinking call then return and
  // relinking return then call, in stack order, restores the list exactly (dancing links).
  const unlink = (entry: number): void => {
    const before = prev[entry]!;
    const after = next[entry]!;
    next[before] = after;
    if (after !== -1) prev[after] = before;
  };
  const relink = (entry: number): void => {
    const after = next[entry]!;
    next[prev[entry]!] = entry;
    if (after !== -1) prev[after] = entry;
  };

  const commands = ops.map((op) => op.command);
  const { classOf, rankInClass, classCount } = indeterminateClasses(ops, order);
  // Invariant: the placed members of class c are its first placedInClass[c] in rank order.
  const placedInClass = new Int32Array(classCount);
  let determinateLeft = classOf.filter((c) => c === -1).length;

  const memo = new MemoTable(n, budget.memoBytesMax);
  const linearized = new Bitset(n);
  const chosen = new Int32Array(n);
  const statesBefore = new Array<RegisterState>(n);
  const obligationsBefore = new Array<RegisterState | undefined>(n);
  let depth = 0;
  let state: RegisterState = initialRegisterState;
  // The state before the last placed operation if that one was indeterminate, else undefined.
  let obligation: RegisterState | undefined = undefined;
  let deepest: DeepestPoint | undefined;
  let steps = 0;
  const finish = (result: SearchResult): SearchOutcome => ({ result, searchSteps: steps, memoEntries: memo.size });

  let entry = next[head]!;
  while (determinateLeft > 0) {
    steps += 1;
    if ((steps & clockCheckMask) === 0 && budget.now() >= budget.deadlineMs) {
      return finish({ kind: 'gave-up', reason: 'time-limit' });
    }
    if (entry < n) {
      const c = classOf[entry]!;
      const command = commands[entry]!;
      let after: RegisterState | undefined;
      if (c === -1) {
        const dependsOnLast = obligation === undefined || nextRegisterState(obligation, command) === undefined;
        after = dependsOnLast ? nextRegisterState(state, command) : undefined;
      } else if (
        rankInClass[entry] === placedInClass[c] &&
        (obligation === undefined || command.kind === 'maybe-swap')
      ) {
        after = nextRegisterState(state, command);
        if (after === state) after = undefined;
      }
      if (after !== undefined) {
        const obligationAfter = c === -1 ? undefined : state;
        linearized.flip(entry);
        const added = memo.addIfAbsent(linearized, after, obligationAfter);
        if (added === 'full') return finish({ kind: 'gave-up', reason: 'memo-limit' });
        if (added === 'added') {
          chosen[depth] = entry;
          statesBefore[depth] = state;
          obligationsBefore[depth] = obligation;
          depth += 1;
          state = after;
          obligation = obligationAfter;
          if (c === -1) determinateLeft -= 1;
          else placedInClass[c]! += 1;
          unlink(entry);
          unlink(n + entry);
          entry = next[head]!;
          continue;
        }
        linearized.flip(entry);
      }
      entry = next[entry]!;
    } else {
      if (deepest === undefined || depth > deepest.prefix.length) {
        const prefix = Array.from(chosen.subarray(0, depth));
        deepest = { prefix, state, blocked: entry - n, pending: pendingCalls(next, head, entry, n) };
      }
      if (depth === 0) return finish({ kind: 'not-linearizable', deepest });
      depth -= 1;
      const op = chosen[depth]!;
      state = statesBefore[depth]!;
      obligation = obligationsBefore[depth];
      const c = classOf[op]!;
      if (c === -1) determinateLeft += 1;
      else placedInClass[c]! -= 1;
      linearized.flip(op);
      relink(n + op);
      relink(op);
      entry = next[op]!;
    }
  }
  // The indeterminate operations not placed go last, where they are always legal.
  const unplaced = order.filter((e) => e < n && !linearized.has(e));
  return finish({ kind: 'linearizable', order: [...chosen.subarray(0, depth), ...unplaced] });
}

interface IndeterminateClasses {
  readonly classOf: Int32Array;
  readonly rankInClass: Int32Array;
  readonly classCount: number;
}

/**
 * Groups indeterminate operations with equal commands. classOf[i] is operation i's class, or
 * -1 for a determinate operation; rankInClass[i] its position within the class in list order.
 */
function indeterminateClasses(ops: readonly SearchOperation[], order: readonly number[]): IndeterminateClasses {
  const n = ops.length;
  const classOf = new Int32Array(n).fill(-1);
  const rankInClass = new Int32Array(n);
  const classIds = new Map<string, number>();
  const sizes: number[] = [];
  for (const entry of order) {
    if (entry >= n || ops[entry]!.returnTime !== Infinity) continue;
    const signature = JSON.stringify(ops[entry]!.command);
    let c = classIds.get(signature);
    if (c === undefined) {
      c = sizes.length;
      classIds.set(signature, c);
      sizes.push(0);
    }
    classOf[entry] = c;
    rankInClass[entry] = sizes[c]!;
    sizes[c] = sizes[c]! + 1;
  }
  return { classOf, rankInClass, classCount: sizes.length };
}

/** Call entries between the head and `stop`: operations invoked but not yet linearized. */
function pendingCalls(next: Int32Array, head: number, stop: number, n: number): number[] {
  const calls: number[] = [];
  for (let entry = next[head]!; entry !== stop && entry !== -1; entry = next[entry]!) {
    if (entry < n) calls.push(entry);
  }
  return calls;
}

/**
 * Entries in time order. At equal times calls come first, so operations that touch are
 * concurrent: the order is only trusted when one completed strictly before the other began.
 */
function entryOrder(ops: readonly SearchOperation[]): number[] {
  const n = ops.length;
  const time = (entry: number): number => (entry < n ? ops[entry]!.invokeTime : ops[entry - n]!.returnTime);
  const entries = Array.from({ length: 2 * n }, (_, entry) => entry);
  return entries.sort((a, b) => time(a) - time(b) || Number(a >= n) - Number(b >= n) || a - b);
}

/** A fixed-size set of operation ids with an incrementally maintained hash (Zobrist style). */
class Bitset {
  readonly words: Uint32Array;
  /** Invariant: the XOR of bitHash(i) over every member i. */
  hash = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  flip(i: number): void {
    this.words[i >>> 5]! ^= 1 << (i & 31);
    this.hash ^= bitHash(i);
  }
}

/** A well-mixed 32-bit value per bit (murmur3's finalizer), so XOR-ing them hashes a set. */
function bitHash(i: number): number {
  let h = Math.imul(i + 1, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The configurations reached: (linearized set, state, obligation). Open addressing with the hash
 * beside each slot, so most probes touch one cache line; the sets live in fixed-size pages, so
 * growing never copies them. Each entry costs its bits plus a few dozen bytes, and no garbage.
 */
class MemoTable {
  size = 0;
  private readonly wordsPerEntry: number;
  private readonly entriesMax: number;
  /** Sets, pageEntries per page. */
  private readonly pages: Uint32Array[] = [];
  private readonly states: RegisterState[] = [];
  private readonly obligations: (RegisterState | undefined)[] = [];
  private entryHashes = new Int32Array(1024);
  /** Pairs (hash, entry + 1); 0 marks an empty slot. The slot count is a power of two. */
  private slots = new Int32Array(2 * 2048);

  constructor(operations: number, bytesMax: number) {
    this.wordsPerEntry = Math.ceil(operations / 32);
    // Per entry: its bits, hash, two state references, two slots at half load.
    const bytesPerEntry = 4 * this.wordsPerEntry + 4 + 8 + 8 + 16;
    this.entriesMax = Math.max(1, Math.floor(bytesMax / bytesPerEntry));
  }

  /** Adds the configuration unless it is there; 'full' when the memory budget is spent. */
  addIfAbsent(set: Bitset, state: RegisterState, obligation: RegisterState | undefined): 'added' | 'present' | 'full' {
    const obligationHash = obligation === undefined ? 0x2545f491 : Math.imul(stateHash(obligation), 0x27d4eb2f);
    const hash = set.hash ^ stateHash(state) ^ obligationHash;
    const mask = this.slots.length / 2 - 1;
    let slot = hash & mask;
    for (let found = this.slots[2 * slot + 1]!; found !== 0; found = this.slots[2 * slot + 1]!) {
      const e = found - 1;
      const same =
        this.slots[2 * slot] === hash &&
        this.states[e] === state &&
        this.obligations[e] === obligation &&
        this.sameBits(e, set);
      if (same) return 'present';
      slot = (slot + 1) & mask;
    }
    if (this.size >= this.entriesMax) return 'full';
    const e = this.size;
    this.size += 1;
    if (e % pageEntries === 0) this.pages.push(new Uint32Array(pageEntries * this.wordsPerEntry));
    this.pages[this.pages.length - 1]!.set(set.words, (e % pageEntries) * this.wordsPerEntry);
    this.states.push(state);
    this.obligations.push(obligation);
    if (e === this.entryHashes.length) {
      const hashes = new Int32Array(2 * e);
      hashes.set(this.entryHashes);
      this.entryHashes = hashes;
    }
    this.entryHashes[e] = hash;
    this.slots[2 * slot] = hash;
    this.slots[2 * slot + 1] = e + 1;
    if (2 * this.size > mask) this.rehash();
    return 'added';
  }

  private sameBits(e: number, set: Bitset): boolean {
    const page = this.pages[Math.floor(e / pageEntries)]!;
    const base = (e % pageEntries) * this.wordsPerEntry;
    for (let w = 0; w < this.wordsPerEntry; w += 1) {
      if (page[base + w] !== set.words[w]) return false;
    }
    return true;
  }

  private rehash(): void {
    this.slots = new Int32Array(2 * this.slots.length);
    const mask = this.slots.length / 2 - 1;
    for (let e = 0; e < this.size; e += 1) {
      const hash = this.entryHashes[e]!;
      let slot = hash & mask;
      while (this.slots[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
      this.slots[2 * slot] = hash;
      this.slots[2 * slot + 1] = e + 1;
    }
  }
}

const pageEntries = 4096;

/** Register values are few and short; a cheap string hash keeps states of one set apart. */
function stateHash(state: RegisterState): number {
  if (state === null) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < state.length; i += 1) h = Math.imul(h ^ state.charCodeAt(i), 0x01000193);
  return h | 1;
}
