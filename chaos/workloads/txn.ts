/**
 * The txn workload: a few accounts, each holding a balance, and clients that move one unit
 * between two of them in a transaction that compares both accounts' versions (as read just
 * before) and writes both, plus read-only transactions of every account. A non-atomic apply
 * shows as a read that sees one half of a transfer, or as money created or lost.
 *
 * Every transaction goes to the transaction checker (checker/txn-linearizability.ts) in a
 * history of its own. The register history gets each transaction's projection on single keys,
 * which is exact because every written value is unique (a balance and a fresh tag): a compare
 * on a key's version then holds exactly when the key holds the value read at that version, so
 * a committed transfer is, on each of its keys, a cas from the value read; a read-only
 * transaction is a get of each key. A failed transfer is recorded there as aborted (per key it
 * changed nothing; what it observed is left to the transaction checker). So the per-key checks
 * (linearizability, lost writes, the liveness guards) see these runs as any other, and the
 * final balances must add up to what the accounts started with.
 */
import type { RaftKvClient, TxnResult } from '../../src/client/index.js';
import { txnCompare, txnOp } from '../../src/client/index.js';
import type { Operation, RegisterValue, TxnOperation } from '../checker/index.js';
import { registerDurability } from './register.js';
import type { Invocation } from '../history-recorder.js';
import { assertNotHarnessBug, workloadKeys, type Durability, type Workload, type WorkerContext } from './workload.js';

export interface TxnWorkloadOptions {
  readonly accounts: number;
  /** Percent of steps that only read every account; the rest transfer. */
  readonly readPercent?: number;
}

/** Every account starts with this balance. */
export const initialBalance = 100;

interface Account {
  readonly key: string;
  readonly value: string | null;
  readonly version: number;
}

export class TxnWorkload implements Workload {
  readonly name = 'txn';
  readonly keys: readonly string[];
  private readonly readPercent: number;
  private readonly transactions: TxnOperation[] = [];
  private created = false;

  constructor(options: TxnWorkloadOptions) {
    if (options.accounts < 2) throw new Error('the txn workload needs at least 2 accounts');
    this.keys = workloadKeys('t', options.accounts);
    this.readPercent = options.readPercent ?? 30;
  }

  /** Every transaction so far, for the transaction checker. */
  history(): readonly TxnOperation[] {
    return this.transactions;
  }

  async step(context: WorkerContext): Promise<void> {
    if (!this.created) {
      await this.create(context);
      return;
    }
    const accounts = await this.readAll(context);
    if (accounts === undefined || context.rng.int(100) < this.readPercent || context.stopping.aborted) return;
    const from = context.rng.int(accounts.length);
    const to = (from + 1 + context.rng.int(accounts.length - 1)) % accounts.length;
    await this.transfer(context, accounts[from] as Account, accounts[to] as Account);
  }

  durability(history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability {
    const durability = registerDurability(history, finalValues);
    const problems = [...durability.problems];
    const balances = this.keys.map((key) => balanceOf(finalValues.get(key) ?? null));
    if (balances.every((balance) => balance !== null)) {
      const total = balances.reduce<number>((sum, balance) => sum + (balance ?? 0), 0);
      const expected = initialBalance * this.keys.length;
      if (total !== expected) problems.push(`the accounts hold ${total} in total, not the ${expected} they started with: a transfer was applied in part`);
    } else if (balances.some((balance) => balance !== null)) {
      problems.push(`some accounts exist and others do not (${this.keys.map((key, i) => `${key}=${balances[i] ?? 'absent'}`).join(' ')}): their creation was applied in part`);
    }
    return { ...durability, problems };
  }

  /** Creates every account in one transaction, if none exists yet. */
  private async create(context: WorkerContext): Promise<void> {
    const tag = context.nextValue();
    const writes = this.keys.map((key) => ({ key, value: `${initialBalance} ${tag}` }));
    const outcome = await this.run(context, {
      compare: this.keys.map((key) => ({ key, target: 'version' as const, expected: 0 })),
      writes,
      projection: writes.map((write) => ({ ...write, expected: null })),
      request: (client, timeoutMs) => client.txn({ compare: this.keys.map((key) => txnCompare.version(key, 'equal', 0)), success: writes.map((w) => txnOp.put(w.key, w.value)) }, { timeoutMs }),
    });
    // Created by this client or an earlier one: either way the accounts exist.
    if (outcome === 'ok' || outcome === 'fail') this.created = true;
  }

  /** Reads every account in one read-only transaction; undefined if its outcome is unknown. */
  private async readAll(context: WorkerContext): Promise<Account[] | undefined> {
    const invokeTime = context.recorder.now();
    const invocations = this.keys.map((key) => context.recorder.invoke(context.process, key));
    const process = context.process;
    try {
      // Through a reader: a read-only transaction is served by whichever node it reaches (ReadIndex).
      const result = await context.reader().txn({ success: [txnOp.get('t', { prefix: true })] }, { timeoutMs: context.opTimeoutMs });
      const accounts = this.accountsOf(result);
      const completeTime = context.recorder.now();
      this.transactions.push({ process, invokeTime, completeTime, compare: [], writes: [], reads: accounts, outcome: 'ok' });
      invocations.forEach((invocation, i) => context.recorder.complete(invocation, { kind: 'get', outcome: 'ok', value: accounts[i]?.value ?? null }));
      return accounts;
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      // A read changes nothing and nobody saw its answer: nothing to check.
      for (const invocation of invocations) context.recorder.complete(invocation, { kind: 'get', outcome: 'indeterminate' });
      context.retire();
      return undefined;
    }
  }

  /** Moves one unit from `from` to `to` if neither changed since it was read. */
  private async transfer(context: WorkerContext, from: Account, to: Account): Promise<void> {
    const fromBalance = balanceOf(from.value);
    const toBalance = balanceOf(to.value);
    if (fromBalance === null || toBalance === null || fromBalance < 1) return;
    const tag = context.nextValue();
    const writes = [
      { key: from.key, value: `${fromBalance - 1} ${tag}` },
      { key: to.key, value: `${toBalance + 1} ${tag}` },
    ];
    await this.run(context, {
      compare: [
        { key: from.key, target: 'version', expected: from.version },
        { key: to.key, target: 'version', expected: to.version },
      ],
      writes,
      projection: [
        { ...writes[0]!, expected: from.value },
        { ...writes[1]!, expected: to.value },
      ],
      request: (client, timeoutMs) =>
        client.txn(
          {
            compare: [txnCompare.version(from.key, 'equal', from.version), txnCompare.version(to.key, 'equal', to.version)],
            success: writes.map((w) => txnOp.put(w.key, w.value)),
          },
          { timeoutMs },
        ),
    });
  }

  /** Runs a writing transaction and records it in both histories; returns its outcome. */
  private async run(
    context: WorkerContext,
    txn: {
      readonly compare: TxnOperation['compare'];
      readonly writes: TxnOperation['writes'];
      /** Per written key, the cas it is on that key alone. */
      readonly projection: readonly { readonly key: string; readonly value: string; readonly expected: string | null }[];
      readonly request: (client: RaftKvClient, timeoutMs: number) => Promise<TxnResult>;
    },
  ): Promise<TxnOperation['outcome']> {
    const process = context.process;
    const invokeTime = context.recorder.now();
    const invocations: [Invocation, (typeof txn.projection)[number]][] = txn.projection.map((cas) => [context.recorder.invoke(process, cas.key), cas]);
    let outcome: TxnOperation['outcome'];
    try {
      outcome = (await txn.request(context.client, context.opTimeoutMs)).succeeded ? 'ok' : 'fail';
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      outcome = 'indeterminate';
    }
    const completeTime = outcome === 'indeterminate' ? Infinity : context.recorder.now();
    this.transactions.push({ process, invokeTime, completeTime, compare: txn.compare, writes: txn.writes, reads: [], outcome });
    for (const [invocation, cas] of invocations) {
      context.recorder.complete(invocation, { kind: 'cas', expected: cas.expected, value: cas.value, outcome: outcome === 'fail' ? 'aborted' : outcome });
    }
    if (outcome === 'indeterminate') context.retire();
    return outcome;
  }

  private accountsOf(result: TxnResult): Account[] {
    const response = result.responses[0];
    const kvs = response !== undefined && 'get' in response ? response.get.kvs : [];
    const found = new Map(kvs.map((kv) => [kv.key.toString('utf8'), kv]));
    return this.keys.map((key) => {
      const kv = found.get(key);
      return { key, value: kv === undefined ? null : kv.value.toString('utf8'), version: kv?.version ?? 0 };
    });
  }
}

/** The balance in an account's value ("<balance> <tag>"), or null when absent or malformed. */
export function balanceOf(value: RegisterValue): number | null {
  if (value === null) return null;
  const balance = Number(value.split(' ')[0]);
  return Number.isSafeInteger(balance) ? balance : null;
}
