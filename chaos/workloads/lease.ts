/**
 * The lease workload: register operations on a few keys (checked for linearizability and lost
 * writes as in the register workload), and beside them each client runs leases one after
 * another: it grants one, attaches a key of its own to it, then either keeps it alive for a few
 * TTLs (and then revokes it or lets it expire), revokes it at once, or lets it expire, reading
 * the key at every step. What each lease's client saw goes to checker/lease-check.ts.
 *
 * Lease keys are not register keys: an expiry deletes a key without a write in the history, so
 * they are judged by the lease rules only.
 */
import type { LeaseKeepAlive } from '../../src/client/index.js';
import { checkLeases, type FaultWindow, type LeaseCheckResult, type LeaseLog } from '../checker/lease-check.js';
import type { Operation, RegisterValue } from '../checker/index.js';
import { RegisterWorkload } from './register.js';
import { nowMs } from '../wait.js';
import { assertNotHarnessBug, type Durability, type Workload, type WorkerContext } from './workload.js';

export interface LeaseWorkloadOptions {
  /** Register keys. */
  readonly keys: number;
  readonly ttlSeconds: number;
  readonly electionTimeoutMs: number;
  /** What rule 3 allows beyond 2 TTL + an election timeout (checker/lease-check.ts). */
  readonly slackMs: number;
}

type Mode = 'keep-then-revoke' | 'keep-then-expire' | 'revoke' | 'expire';
const modes: readonly Mode[] = ['keep-then-revoke', 'keep-then-expire', 'revoke', 'expire'];

interface ActiveLease {
  readonly log: LeaseLog;
  readonly mode: Mode;
  phase: 'hold' | 'revoked' | 'expiring';
  holdUntilMs: number;
  handle: LeaseKeepAlive | null;
}

/** Share of steps that are register operations; the rest advance the client's lease. */
const registerPercent = 40;

export class LeaseWorkload implements Workload {
  readonly name = 'lease';
  private readonly registers: RegisterWorkload;
  private readonly logs: LeaseLog[] = [];
  private readonly active = new Map<number, ActiveLease>();
  private readonly handles = new Set<LeaseKeepAlive>();
  private leaseCount = 0;
  private stopHooked = false;

  constructor(private readonly options: LeaseWorkloadOptions) {
    this.registers = new RegisterWorkload({ keys: options.keys });
  }

  get keys(): readonly string[] {
    return this.registers.keys;
  }

  async step(context: WorkerContext): Promise<void> {
    if (!this.stopHooked) {
      this.stopHooked = true;
      context.stopping.addEventListener('abort', () => this.stopKeepAlives(), { once: true });
    }
    if (context.rng.int(100) < registerPercent) return this.registers.step(context);
    const active = this.active.get(context.worker);
    if (active === undefined) await this.begin(context);
    else await this.advance(context, active);
  }

  durability(history: readonly Operation[], finalValues: ReadonlyMap<string, RegisterValue>): Durability {
    this.stopKeepAlives();
    return this.registers.durability(history, finalValues);
  }

  /** The lease rules over every lease of the run (call after the workload stopped); `faults` on chaos/wait.ts nowMs. */
  checkLeases(faults: readonly FaultWindow[]): LeaseCheckResult {
    this.stopKeepAlives();
    return checkLeases(this.logs, { electionTimeoutMs: this.options.electionTimeoutMs, slackMs: this.options.slackMs, faults });
  }

  private stopKeepAlives(): void {
    const now = nowMs();
    for (const active of this.active.values()) this.stopKeepAlive(active, now);
    for (const handle of this.handles) handle.stop();
    this.handles.clear();
  }

  private stopKeepAlive(active: ActiveLease, now: number): void {
    if (active.handle === null) return;
    active.handle.stop();
    this.handles.delete(active.handle);
    active.handle = null;
    active.log.keepAliveStopMs = now;
  }

  private async begin(context: WorkerContext): Promise<void> {
    const { client, rng } = context;
    const grantInvokeMs = nowMs();
    let granted;
    try {
      granted = await client.lease.grant(this.options.ttlSeconds, { timeoutMs: context.opTimeoutMs });
    } catch (error) {
      // Granted or not, an unknown lease expires on its own; nothing of it is checked.
      assertNotHarnessBug(error);
      context.noteError(error);
      return;
    }
    const log: LeaseLog = {
      id: granted.id,
      key: `lease/w${context.worker}-${this.leaseCount++}`,
      ttlMs: granted.ttlSeconds * 1000,
      grantInvokeMs,
      grantAckMs: nowMs(),
      attachAckMs: null,
      keepAliveStartMs: null,
      renewalsMs: [],
      keepAliveStopMs: null,
      revokeInvokeMs: null,
      revokeAckMs: null,
      reads: [],
    };
    this.logs.push(log);
    const mode = rng.pick(modes);
    const active: ActiveLease = { log, mode, phase: mode === 'expire' ? 'expiring' : 'hold', holdUntilMs: 0, handle: null };
    this.active.set(context.worker, active);
    try {
      await client.put(log.key, context.nextValue(), { lease: log.id, timeoutMs: context.opTimeoutMs });
      log.attachAckMs = nowMs();
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
    }
    if (mode === 'keep-then-revoke' || mode === 'keep-then-expire') {
      log.keepAliveStartMs = nowMs();
      const handle = client.lease.keepAlive(log.id, { onRenewal: () => log.renewalsMs.push(nowMs()) });
      handle.done.catch((error: unknown) => context.noteError(error));
      this.handles.add(handle);
      active.handle = handle;
      // Two to four TTLs: long enough for renewals to matter across a fault.
      active.holdUntilMs = nowMs() + log.ttlMs * (2 + rng.int(3));
    }
  }

  private async advance(context: WorkerContext, active: ActiveLease): Promise<void> {
    const { log } = active;
    const present = await this.read(context, log);
    const now = nowMs();
    switch (active.phase) {
      case 'hold':
        if (active.mode === 'revoke' || now >= active.holdUntilMs) {
          this.stopKeepAlive(active, now);
          if (active.mode === 'keep-then-expire') active.phase = 'expiring';
          else await this.revoke(context, active);
        }
        return;
      case 'revoked':
        this.active.delete(context.worker);
        return;
      case 'expiring': {
        // Done once seen gone; or, past any bound, give up (the checker has the reads).
        // (Faults may hold expiry up: the checker allows for them; this only bounds the polling.)
        const giveUpMs = (log.keepAliveStopMs ?? log.grantAckMs) + 3 * log.ttlMs + this.options.electionTimeoutMs + this.options.slackMs + 20_000;
        if (present === false || now > giveUpMs) this.active.delete(context.worker);
        return;
      }
      default:
        return;
    }
  }

  private async revoke(context: WorkerContext, active: ActiveLease): Promise<void> {
    const { log } = active;
    log.revokeInvokeMs = nowMs();
    try {
      await context.client.lease.revoke(log.id, { timeoutMs: context.opTimeoutMs });
      log.revokeAckMs = nowMs();
      active.phase = 'revoked';
    } catch (error) {
      // Revoked or not (an earlier attempt may have been applied, or it expired): it expires at the latest.
      assertNotHarnessBug(error);
      context.noteError(error);
      active.phase = 'expiring';
    }
  }

  /** Reads the lease's key (linearizable, on a node chosen at random); null when the read failed. */
  private async read(context: WorkerContext, log: LeaseLog): Promise<boolean | null> {
    const invokeMs = nowMs();
    try {
      const kv = await context.reader().get(log.key, { timeoutMs: context.opTimeoutMs });
      log.reads.push({ invokeMs, doneMs: nowMs(), present: kv !== null });
      return kv !== null;
    } catch (error) {
      assertNotHarnessBug(error);
      context.noteError(error);
      return null;
    }
  }
}
