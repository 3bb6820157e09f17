/**
 * Executes a nemesis plan against a backend: injects each fault, confirms it is in effect,
 * holds it, heals it, and confirms the cluster recovered, recording every check.
 *
 * Confirmations (a fault nobody can show was in effect proves nothing):
 * - partitions: a probe across every cut link fails (link-probe.ts), and every node left
 *   without a two-way majority (an isolated leader, a minority) is seen not leading.
 * - kill: the process exited on SIGKILL and its client port no longer answers.
 * - pause: the process is in state T (stopped; docker: the container is paused) and does not answer.
 * - kill-majority: as kill, for each victim, and no survivor leads without a quorum.
 * - membership: each step through the SDK is confirmed by the member list (the removed node is
 *   gone, the added one is a learner and then a voter, N voters and no joint configuration in
 *   the end), and the removed node's process is stopped.
 * Observations that are expected but not required (a new leader on the majority side) are
 * recorded too, marked optional.
 *
 * Heal checks: probes across every healed link reach the far node, restarted nodes listen, and
 * the whole cluster settles (one leader followed by all, every node caught up).
 *
 * Node ids change: a membership fault replaces one node by a fresh one. Plans name the initial
 * nodes, and the runner reads a replaced node's id as its successor's (n2 replaced by n4 means
 * "kill n2" kills n4), so every kind keeps its shape whatever the ids are now.
 */
import type { ClusterBackend, Link } from './backend.js';
import { describeLink } from './backend.js';
import { type ClusterObserver, type LeaderClaim } from './cluster-observer.js';
import { addLearner, describeMembers, isVoterSet, promoteMember, removeMember, waitForMembers, type MembershipApi, type MembershipStepOptions } from './membership-change.js';
import {
  bridgeLinks,
  connectedMajority,
  describeFault,
  halfLinks,
  isolateLinks,
  killMajorityVictims,
  nodesWithoutQuorum,
  ringLinks,
  type Fault,
  type FaultKind,
  type PlannedFault,
} from './nemesis.js';
import { AbortedError, sleep, throwIfAborted, waitUntil } from './wait.js';

/** One confirmation or heal check. */
export interface FaultCheck {
  readonly what: string;
  readonly ok: boolean;
  /** A failed required check fails the run; an optional one is only reported. */
  readonly required: boolean;
  readonly detail: string;
  /** Run clock, ms. */
  readonly atMs: number;
}

/** What happened to one planned fault. */
export interface FaultRecord {
  readonly index: number;
  readonly kind: FaultKind;
  readonly planned: string;
  readonly plannedStartMs: number;
  readonly holdMs: number;
  /** injected: it ran (see the checks); skipped: no time left in the window; failed: could not be injected. */
  status: 'injected' | 'skipped' | 'failed';
  /** What it did, resolved: "isolate n2 (leader, term 3)". */
  description: string;
  startedMs: number | null;
  /** When healing began: the fault was in effect from `startedMs` to here. */
  healStartedMs: number | null;
  /** When the heal was confirmed (the cluster settled), or given up on. */
  healedMs: number | null;
  readonly targets: string[];
  readonly cutLinks: string[];
  /** membership: the nodes removed from and added to the cluster. */
  readonly removedNodes: string[];
  readonly addedNodes: string[];
  readonly confirmations: FaultCheck[];
  readonly healChecks: FaultCheck[];
  error: string | null;
}

/** What the runner asks of the observer (a fake in tests). */
export type RunnerObserver = Pick<ClusterObserver, 'leader' | 'waitForLeader' | 'waitForNoLeader' | 'waitForSilence' | 'waitForSettled'>;

/** An SDK client for membership changes, closed after each fault. */
export type MembershipSession = MembershipApi & { close(): void };

export interface NemesisRunnerOptions {
  readonly backend: ClusterBackend;
  readonly observer: RunnerObserver;
  /** A membership client over these client endpoints (the current members'). */
  readonly membershipClient: (endpoints: readonly string[]) => MembershipSession;
  /** The run clock: ms since the workload started. */
  readonly clock: () => number;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
  /** tickMs x electionTicks of the nodes: how fast leadership changes are expected. */
  readonly electionTimeoutMs: number;
}

/** What is broken right now, so that it can be undone whatever happens. */
interface Damage {
  links: Link[];
  killed: string[];
  paused: string[];
}

const probeTimeoutMs = 1000;
/** How far behind the leader's log a learner may be to count as caught up before it is promoted (the leader has the last word). */
const learnerLagMax = 20;

export class NemesisRunner {
  private readonly options: NemesisRunnerOptions;
  private readonly damage: Damage = { links: [], killed: [], paused: [] };
  readonly records: FaultRecord[] = [];
  /** Run clock when the last heal was confirmed (or attempted); null before any fault. */
  lastHealMs: number | null = null;
  /** A node replaced by a membership fault -> the node that took its place. */
  private readonly successors = new Map<string, string>();

  constructor(options: NemesisRunnerOptions) {
    this.options = options;
  }

  /**
   * Runs the plan in order. A fault whose hold would end after `windowEndMs` (because earlier
   * ones ran long) is skipped. Every fault is healed before the next starts and before this
   * returns, unless the run is aborted (then the caller's cleanup stops everything).
   */
  async run(plan: readonly PlannedFault[], windowEndMs: number): Promise<FaultRecord[]> {
    const { clock, signal, log } = this.options;
    for (const planned of plan) {
      const waitMs = planned.startMs - clock();
      if (waitMs > 0) await sleep(waitMs, signal);
      const record = newRecord(planned);
      this.records.push(record);
      if (clock() + planned.holdMs > windowEndMs) {
        record.status = 'skipped';
        record.error = `no time left: would end at ${fmt(clock() + planned.holdMs)}, window ends at ${fmt(windowEndMs)}`;
        log(`fault ${planned.index}/${plan.length} ${record.planned}: skipped (${record.error})`);
        continue;
      }
      await this.runFault(planned, record, plan.length);
    }
    return this.records;
  }

  /** Undoes whatever is still broken (links, paused and killed nodes). For cleanup paths. */
  async healEverything(): Promise<void> {
    const { backend } = this.options;
    await backend.healAll().catch(() => {});
    this.damage.links = [];
    for (const id of this.damage.paused.splice(0)) await backend.resume(id).catch(() => {});
    for (const id of this.damage.killed.splice(0)) await backend.restart(id).catch(() => {});
  }

  private async runFault(planned: PlannedFault, record: FaultRecord, total: number): Promise<void> {
    const { clock, log, signal } = this.options;
    const label = `fault ${planned.index}/${total}`;
    record.startedMs = clock();
    try {
      await this.inject(planned.fault, record);
      record.status = 'injected';
      log(`${label} ${record.description}`);
      for (const check of record.confirmations) log(`  ${describeCheck(check)}`);
      const holdUntilMs = (record.startedMs ?? clock()) + planned.holdMs;
      if (holdUntilMs > clock()) await sleep(holdUntilMs - clock(), signal);
    } catch (error) {
      if (error instanceof AbortedError) throw error;
      record.error = (error as Error).message;
      log(`${label} ${record.planned}: FAILED to inject: ${record.error}`);
    }
    record.healStartedMs = clock();
    await this.heal(record);
    this.lastHealMs = clock();
    record.healedMs = this.lastHealMs;
    log(`${label} healed at ${fmt(record.healedMs)} (held ${fmt(record.healedMs - (record.startedMs ?? 0))})`);
    for (const check of record.healChecks) log(`  ${describeCheck(check)}`);
  }

  // -------------------------------------------------------------------------------------------
  // Injection

  private async inject(fault: Fault, record: FaultRecord): Promise<void> {
    const { backend, observer } = this.options;
    const ids = backend.nodeIds;
    const needsLeader =
      fault.kind === 'partition-leader' ||
      ((fault.kind === 'kill' || fault.kind === 'pause') && fault.target.kind === 'leader') ||
      (fault.kind === 'membership' && fault.remove.kind === 'leader') ||
      fault.kind === 'kill-majority';
    const leader = needsLeader ? await observer.waitForLeader(ids, this.waitOptions(10_000)) : await observer.leader();
    const leaderNote = (id: string): string => (leader?.id === id ? ` (leader, term ${leader.term})` : '');

    switch (fault.kind) {
      case 'partition-leader': {
        const isolated = (leader as NonNullable<typeof leader>).id;
        record.targets.push(isolated);
        record.description = `partition-leader: isolate ${isolated}${leaderNote(isolated)}`;
        await this.partition(isolateLinks(ids, isolated), record, leader?.term);
        return;
      }
      case 'partition-half': {
        const { majority, minority, links } = halfLinks(this.resolveAll(fault.order));
        record.description = `partition-half: ${majority.join(',')} | ${minority.join(',')}${leader === null ? '' : ` (leader was ${leader.id})`}`;
        await this.partition(links, record, leader?.term);
        return;
      }
      case 'partition-bridge': {
        const order = this.resolveAll(fault.order);
        const { bridge, links } = bridgeLinks(order);
        record.description = `${describeFault({ ...fault, order })} (bridge ${bridge}${leader === null ? '' : `, leader was ${leader.id}`})`;
        await this.partition(links, record, leader?.term);
        return;
      }
      case 'partition-ring': {
        const order = this.resolveAll(fault.order);
        record.description = `${describeFault({ ...fault, order })}${leader === null ? '' : ` (leader was ${leader.id})`}`;
        await this.partition(ringLinks(order), record, leader?.term);
        return;
      }
      case 'kill': {
        const victim = fault.target.kind === 'leader' ? (leader as NonNullable<typeof leader>).id : this.resolve(fault.target.id);
        record.targets.push(victim);
        record.description = `kill -9 ${victim}${leaderNote(victim)}`;
        await this.kill([victim], record);
        if (leader?.id === victim) {
          await this.observe(record, `the others elect a new leader`, false, async () => {
            const next = await observer.waitForLeader(ids.filter((id) => id !== victim), { ...this.waitOptions(10_000), aboveTerm: leader.term });
            return `${next.id} in term ${next.term}`;
          });
        }
        return;
      }
      case 'kill-majority': {
        const victims = killMajorityVictims({ ...fault, order: this.resolveAll(fault.order) }, leader?.id ?? null);
        const survivors = ids.filter((id) => !victims.includes(id));
        record.targets.push(...victims);
        record.description = `kill-majority: kill -9 ${victims.map((id) => `${id}${leaderNote(id)}`).join(', ')}`;
        await this.kill(victims, record);
        await this.observe(record, `no survivor (${survivors.join(',')}) leads without a quorum`, true, async () =>
          describeRoles(await observer.waitForNoLeader(survivors, this.waitOptions(this.stepDownTimeoutMs()))),
        );
        return;
      }
      case 'pause': {
        const victim = fault.target.kind === 'leader' ? (leader as NonNullable<typeof leader>).id : this.resolve(fault.target.id);
        record.targets.push(victim);
        const how = backend.kind === 'docker' ? 'docker pause' : 'SIGSTOP';
        record.description = `pause (${how}) ${victim}${leaderNote(victim)}`;
        this.damage.paused.push(victim);
        await this.observe(record, `${victim} is stopped (${how})`, true, async () => {
          await backend.pause(victim);
          return backend.kind === 'docker' ? 'container state paused' : 'process state T';
        });
        await this.observe(record, `${victim} does not answer`, true, async () => {
          await observer.waitForSilence([victim], { ...this.waitOptions(5000), statusTimeoutMs: 500 });
          return 'status timed out';
        });
        if (leader?.id === victim) {
          await this.observe(record, `the others elect a new leader`, false, async () => {
            const next = await observer.waitForLeader(ids.filter((id) => id !== victim), { ...this.waitOptions(10_000), aboveTerm: leader.term });
            return `${next.id} in term ${next.term}`;
          });
        }
        return;
      }
      case 'membership': {
        const victim = fault.remove.kind === 'leader' ? (leader as LeaderClaim).id : this.resolve(fault.remove.id);
        const session = this.options.membershipClient(ids.map((id) => backend.clientEndpoint(id)));
        try {
          if (fault.variant === 'replace') await this.replaceMember(session, victim, leaderNote(victim), record);
          else await this.addLearnerThenRemove(session, victim, leaderNote(victim), record);
        } finally {
          session.close();
        }
        if (leader?.id === victim) {
          await this.observe(record, 'the others elect a new leader', false, async () => {
            const next = await observer.waitForLeader(backend.nodeIds, { ...this.waitOptions(10_000), aboveTerm: leader.term });
            return `${next.id} in term ${next.term}`;
          });
        }
        return;
      }
      default:
        return assertNever(fault);
    }
  }

  /**
   * membership, variant replace: remove `victim` through the SDK, stop it, start a fresh node
   * with --join (it adds itself as a learner the leader promotes once caught up), and see it
   * promoted.
   */
  private async replaceMember(api: MembershipApi, victim: string, note: string, record: FaultRecord): Promise<void> {
    const { backend, signal } = this.options;
    const size = backend.nodeIds.length;
    record.targets.push(victim);
    record.description = `membership replace: remove ${victim}${note}, then a fresh node joins`;
    await this.step(record, `${victim} removed from the configuration`, async () => describeMembers(await removeMember(api, victim, this.stepOptions())));
    record.removedNodes.push(victim);
    await this.step(record, `${victim} stopped`, async () => {
      await backend.removeNode(victim);
      return `state ${backend.nodeState(victim)}`;
    });
    const join = backend.nodeIds.map((id) => backend.clientEndpoint(id));
    let added = '';
    await this.step(record, `a fresh node started with --join ${join.join(',')}`, async () => {
      added = await backend.addNode(join, signal);
      return backend.describeNode(added);
    });
    record.addedNodes.push(added);
    this.successors.set(victim, added);
    record.description = `membership replace: remove ${victim}${note}, add ${added} (--join)`;
    await this.step(record, `${added} promoted to voter by the leader: ${size} voters, not joint`, async () =>
      describeMembers(await waitForMembers(api, `${added} promoted and ${backend.nodeIds.join(',')} all voters`, (list) => isVoterSet(list, backend.nodeIds), this.stepOptions())),
    );
  }

  /**
   * membership, variant learner: add a fresh node as a learner that stays one, start it, promote
   * it once caught up, then remove `victim` and stop it: the size is back to what it was.
   */
  private async addLearnerThenRemove(api: MembershipApi, victim: string, note: string, record: FaultRecord): Promise<void> {
    const { backend, signal } = this.options;
    const size = backend.nodeIds.length;
    const added = backend.nextNodeId();
    if (added === null) throw new Error('no spare node slot left for the learner');
    const addresses = backend.memberAddresses(added);
    record.targets.push(victim);
    record.description = `membership learner: add ${added} as a learner, promote it, remove ${victim}${note}`;
    await this.step(record, `${added} added as a learner (no auto-promotion)`, async () => {
      const list = await addLearner(api, { id: added, peerAddress: addresses.peer, clientAddress: addresses.client }, this.stepOptions());
      const entry = list.members.find((member) => member.id === added);
      if (entry?.role !== 'learner') throw new Error(`${added} is listed as ${entry?.role ?? 'absent'}, not a learner: ${describeMembers(list)}`);
      return describeMembers(list);
    });
    const join = backend.nodeIds.map((id) => backend.clientEndpoint(id));
    await this.step(record, `${added} started with --join ${join.join(',')}`, async () => {
      const started = await backend.addNode(join, signal);
      if (started !== added) throw new Error(`the backend started ${started}, not ${added}`);
      return backend.describeNode(added);
    });
    record.addedNodes.push(added);
    await this.step(record, `${added} caught up (lag <= ${learnerLagMax} entries)`, async () =>
      describeMembers(
        await waitForMembers(api, `${added} to catch up`, (list) => {
          const lag = list.members.find((member) => member.id === added)?.lag;
          return lag !== undefined && lag !== null && lag <= learnerLagMax;
        }, this.stepOptions()),
      ),
    );
    await this.step(record, `${added} promoted to voter`, async () => describeMembers(await promoteMember(api, added, this.stepOptions())));
    await this.step(record, `${victim} removed from the configuration`, async () => describeMembers(await removeMember(api, victim, this.stepOptions())));
    record.removedNodes.push(victim);
    await this.step(record, `${victim} stopped`, async () => {
      await backend.removeNode(victim);
      return `state ${backend.nodeState(victim)}`;
    });
    this.successors.set(victim, added);
    await this.step(record, `${size} voters (${backend.nodeIds.join(',')}), not joint`, async () =>
      describeMembers(await waitForMembers(api, `${backend.nodeIds.join(',')} all voters`, (list) => isVoterSet(list, backend.nodeIds), this.stepOptions())),
    );
  }

  /** A required confirmation that the next step depends on: if it fails, the fault stops here. */
  private async step(record: FaultRecord, what: string, fn: () => Promise<string>): Promise<void> {
    const check = await this.runCheck(what, true, fn);
    record.confirmations.push(check);
    if (!check.ok) throw new Error(`${what}: ${check.detail}`);
  }

  private stepOptions(): MembershipStepOptions {
    return { timeoutMs: 30_000, intervalMs: 200, callTimeoutMs: 3000, signal: this.options.signal };
  }

  /** The node that stands for planned node `id` now: itself, or whoever replaced it (and so on). */
  private resolve(id: string): string {
    let current = id;
    for (let hops = 0; this.successors.has(current); hops++) {
      if (hops > this.successors.size) throw new Error(`a cycle among the successors of ${id}`);
      current = this.successors.get(current) as string;
    }
    if (!this.options.backend.nodeIds.includes(current)) {
      throw new Error(`planned node ${id}${current === id ? '' : ` (now ${current})`} is not a member (members: ${this.options.backend.nodeIds.join(', ')})`);
    }
    return current;
  }

  private resolveAll(ids: readonly string[]): string[] {
    return ids.map((id) => this.resolve(id));
  }

  private async partition(links: readonly Link[], record: FaultRecord, leaderTerm: number | undefined): Promise<void> {
    const { backend, observer } = this.options;
    const ids = backend.nodeIds;
    this.damage.links.push(...links);
    for (const link of links) await backend.cut(link.from, link.to);
    record.cutLinks.push(...links.map(describeLink));

    await this.observe(record, `a probe across each of the ${links.length} cut links fails`, true, async () => {
      const results = await Promise.all(links.map(async (link) => ({ link, reached: await backend.probe(link.from, link.to, probeTimeoutMs) })));
      const through = results.filter((result) => result.reached).map((result) => describeLink(result.link));
      if (through.length > 0) throw new Error(`reached the far side: ${through.join(', ')}`);
      return `${results.length}/${results.length} failed`;
    });
    const open = firstOpenLink(ids, links);
    if (open !== null) {
      await this.observe(record, `a probe across an open link (${describeLink(open)}) succeeds`, false, async () => {
        if (!(await backend.probe(open.from, open.to, probeTimeoutMs))) throw new Error('no answer');
        return 'answered';
      });
    }
    const leaderless = nodesWithoutQuorum(ids, links);
    if (leaderless.length > 0) {
      await this.observe(record, `${leaderless.join(',')} (no two-way majority) ${leaderless.length === 1 ? 'does' : 'do'} not lead`, true, async () =>
        describeRoles(await observer.waitForNoLeader(leaderless, this.waitOptions(this.stepDownTimeoutMs()))),
      );
    }
    const majoritySide = connectedMajority(ids, links);
    if (majoritySide !== null && majoritySide.length < ids.length && (record.kind === 'partition-leader' || record.kind === 'partition-half')) {
      await this.observe(record, `the majority side (${majoritySide.join(',')}) elects a leader`, false, async () => {
        // An isolated leader is replaced in a later term; a half split may keep its leader.
        const aboveTerm = record.kind === 'partition-leader' ? leaderTerm : undefined;
        const next = await observer.waitForLeader(majoritySide, { ...this.waitOptions(10_000), ...(aboveTerm === undefined ? {} : { aboveTerm }) });
        return `${next.id} in term ${next.term}`;
      });
    }
  }

  private async kill(victims: readonly string[], record: FaultRecord): Promise<void> {
    const { backend, observer } = this.options;
    this.damage.killed.push(...victims);
    await Promise.all(
      victims.map((id) =>
        this.observe(record, `${id} exited on SIGKILL`, true, async () => {
          await backend.kill(id);
          return `state ${backend.nodeState(id)}`;
        }),
      ),
    );
    await this.observe(record, `${victims.join(',')} ${victims.length === 1 ? 'does' : 'do'} not answer`, true, async () => {
      await observer.waitForSilence(victims, this.waitOptions(5000));
      return 'client port closed';
    });
  }

  // -------------------------------------------------------------------------------------------
  // Healing

  private async heal(record: FaultRecord): Promise<void> {
    const { backend, observer } = this.options;
    throwIfAborted(this.options.signal);
    const links = this.damage.links.splice(0);
    if (links.length > 0) {
      await this.healCheck(record, 'every cut link healed', async () => {
        await backend.healAll();
        return `${links.length} links open`;
      });
      await this.healCheck(record, `a probe across each of the ${links.length} healed links answers`, async () => {
        await Promise.all(
          links.map((link) =>
            waitUntil(`${describeLink(link)} to carry traffic`, async () => ((await backend.probe(link.from, link.to, probeTimeoutMs)) ? true : undefined), this.waitOptions(10_000)),
          ),
        );
        return `${links.length}/${links.length} answered`;
      });
    }
    for (const id of this.damage.paused.splice(0)) {
      await this.healCheck(record, `${id} resumed (${backend.kind === 'docker' ? 'docker unpause' : 'SIGCONT'})`, async () => {
        await backend.resume(id);
        return 'running';
      });
    }
    const killed = this.damage.killed.splice(0);
    if (killed.length > 0) {
      await this.healCheck(record, `${killed.join(',')} restarted on ${killed.length === 1 ? 'its' : 'their'} data`, async () => {
        await Promise.all(killed.map((id) => backend.restart(id)));
        return 'listening';
      });
    }
    if (record.kind === 'membership') {
      await this.healCheck(record, `the configuration is ${backend.nodeIds.join(',')}, all voters, not joint`, async () => {
        const session = this.options.membershipClient(backend.nodeIds.map((id) => backend.clientEndpoint(id)));
        try {
          return describeMembers(await waitForMembers(session, 'the configuration to be the current nodes, all voters', (list) => isVoterSet(list, backend.nodeIds), this.stepOptions()));
        } finally {
          session.close();
        }
      });
    }
    await this.healCheck(record, 'the cluster settles (one leader, all caught up)', async () => {
      const settled = await observer.waitForSettled(this.waitOptions(30_000));
      return `leader ${settled.leader.id} term ${settled.leader.term}, all applied >= ${settled.caughtUpTo}`;
    });
  }

  // -------------------------------------------------------------------------------------------

  private async observe(record: FaultRecord, what: string, required: boolean, fn: () => Promise<string>): Promise<void> {
    record.confirmations.push(await this.runCheck(what, required, fn));
  }

  private async healCheck(record: FaultRecord, what: string, fn: () => Promise<string>): Promise<void> {
    record.healChecks.push(await this.runCheck(what, true, fn));
  }

  private async runCheck(what: string, required: boolean, fn: () => Promise<string>): Promise<FaultCheck> {
    try {
      const detail = await fn();
      return { what, ok: true, required, detail, atMs: this.options.clock() };
    } catch (error) {
      if (error instanceof AbortedError) throw error;
      return { what, ok: false, required, detail: (error as Error).message, atMs: this.options.clock() };
    }
  }

  private waitOptions(timeoutMs: number): { timeoutMs: number; intervalMs: number; signal: AbortSignal } {
    return { timeoutMs, intervalMs: 100, signal: this.options.signal };
  }

  /** CheckQuorum steps a leader down within an election timeout; allow ten, and at least 5 s. */
  private stepDownTimeoutMs(): number {
    return Math.max(5000, 10 * this.options.electionTimeoutMs);
  }
}

/** Whether every injected fault was confirmed and healed: the failures, one line each. */
export function faultProblems(records: readonly FaultRecord[]): string[] {
  const problems: string[] = [];
  for (const record of records) {
    if (record.status === 'failed') problems.push(`fault ${record.index} (${record.planned}) was not injected: ${record.error}`);
    for (const check of [...record.confirmations, ...record.healChecks]) {
      if (check.required && !check.ok) problems.push(`fault ${record.index} (${record.description}): ${check.what}: ${check.detail}`);
    }
  }
  return problems;
}

/** "ok   what: detail" or "FAIL what: detail"; optional checks say so. */
export function describeCheck(check: FaultCheck): string {
  return `${check.ok ? 'ok  ' : check.required ? 'FAIL' : 'miss'} ${check.what}: ${check.detail}${check.required ? '' : ' (optional)'}`;
}

function newRecord(planned: PlannedFault): FaultRecord {
  return {
    index: planned.index,
    kind: planned.fault.kind,
    planned: describeFault(planned.fault),
    plannedStartMs: planned.startMs,
    holdMs: planned.holdMs,
    status: 'failed',
    description: describeFault(planned.fault),
    startedMs: null,
    healStartedMs: null,
    healedMs: null,
    targets: [],
    cutLinks: [],
    removedNodes: [],
    addedNodes: [],
    confirmations: [],
    healChecks: [],
    error: null,
  };
}

function firstOpenLink(ids: readonly string[], cut: readonly Link[]): Link | null {
  const isCut = new Set(cut.map(describeLink));
  for (const from of ids) for (const to of ids) if (from !== to && !isCut.has(describeLink({ from, to }))) return { from, to };
  return null;
}

function describeRoles(roles: ReadonlyMap<string, string>): string {
  return [...roles].map(([id, role]) => `${id} ${role}`).join(', ');
}

function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
