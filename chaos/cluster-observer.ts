/**
 * Watches the cluster from outside through the Status RPC of each node: who is leader, whether
 * the nodes agree, whether they have caught up. Client traffic is never cut, so a node that does
 * not answer is dead, stopped or overloaded, never merely partitioned.
 */
import { RaftKvClient, type ClientTls, type ClusterStatus } from '../src/client/index.js';
import { waitUntil, type WaitOptions } from './wait.js';

/** A node that claims leadership, and in which term. */
export interface LeaderClaim {
  readonly id: string;
  readonly term: number;
}

/** The cluster after healing: one leader everyone follows, and every node caught up to a point. */
export interface SettledCluster {
  readonly leader: LeaderClaim;
  /** Every node's applied index reached this (the leader's commit index when the wait began). */
  readonly caughtUpTo: number;
}

const statusTimeoutMsDefault = 1000;

export class ClusterObserver {
  private readonly client: RaftKvClient;
  private readonly endpointOf: (id: string) => string;
  private readonly currentIds: () => readonly string[];

  /**
   * `nodeIds`: the nodes to watch, or a function giving the current members (they change with
   * membership faults); every wait reads it afresh.
   */
  constructor(nodeIds: readonly string[] | (() => readonly string[]), endpointOf: (id: string) => string, tls?: ClientTls) {
    this.currentIds = typeof nodeIds === 'function' ? nodeIds : () => nodeIds;
    this.endpointOf = endpointOf;
    this.client = new RaftKvClient({ endpoints: this.currentIds().map(endpointOf), transport: 'unary', timeoutMs: statusTimeoutMsDefault, ...(tls === undefined ? {} : { tls }) });
  }

  /** The nodes watched now. */
  get nodeIds(): readonly string[] {
    return this.currentIds();
  }

  /** The node's status, or null if it did not answer within `timeoutMs`. */
  async status(id: string, timeoutMs = statusTimeoutMsDefault): Promise<ClusterStatus | null> {
    try {
      return await this.client.status(this.endpointOf(id), { timeoutMs });
    } catch {
      return null;
    }
  }

  /** Statuses of `ids`, asked in parallel. */
  async statuses(ids: readonly string[] = this.nodeIds, timeoutMs = statusTimeoutMsDefault): Promise<Map<string, ClusterStatus | null>> {
    const answers = await Promise.all(ids.map(async (id) => [id, await this.status(id, timeoutMs)] as const));
    return new Map(answers);
  }

  /** Among `ids`, the node claiming leadership in the highest term, or null if none does. */
  async leader(ids: readonly string[] = this.nodeIds, timeoutMs = statusTimeoutMsDefault): Promise<LeaderClaim | null> {
    return highestLeader(await this.statuses(ids, timeoutMs));
  }

  /** Until some node of `ids` claims leadership (in a term above `aboveTerm`, if given). */
  waitForLeader(ids: readonly string[], options: WaitOptions & { aboveTerm?: number }): Promise<LeaderClaim> {
    return waitUntil(
      `a leader among ${ids.join(',')}${options.aboveTerm === undefined ? '' : ` in a term above ${options.aboveTerm}`}`,
      async () => {
        const claim = await this.leader(ids);
        return claim !== null && claim.term > (options.aboveTerm ?? -1) ? claim : undefined;
      },
      options,
    );
  }

  /**
   * Until no node of `ids` claims leadership. A node that does not answer does not claim it (a
   * stopped process serves nobody). Returns each node's role as last seen.
   */
  waitForNoLeader(ids: readonly string[], options: WaitOptions): Promise<Map<string, string>> {
    return waitUntil(
      `no leader among ${ids.join(',')}`,
      async () => {
        const statuses = await this.statuses(ids);
        if ([...statuses.values()].some((status) => status?.role === 'leader')) return undefined;
        return new Map([...statuses].map(([id, status]) => [id, status === null ? 'no answer' : `${status.role} term ${status.term}`]));
      },
      options,
    );
  }

  /** Until every node answers `null` (down, or stopped). */
  waitForSilence(ids: readonly string[], options: WaitOptions & { statusTimeoutMs?: number }): Promise<true> {
    return waitUntil(
      `no answer from ${ids.join(',')}`,
      async () => {
        const statuses = await this.statuses(ids, options.statusTimeoutMs ?? 300);
        return [...statuses.values()].every((status) => status === null) ? true : undefined;
      },
      options,
    );
  }

  /**
   * Until every node answers, exactly one leader (the highest term) is followed by all of them
   * in its term, and every node has applied what that leader had committed when the wait began
   * (sampled on the first poll with a leader).
   */
  async waitForSettled(options: WaitOptions): Promise<SettledCluster> {
    let target: { leader: LeaderClaim; commitIndex: number } | null = null;
    return waitUntil(
      `all of ${this.nodeIds.join(',')} to follow one leader and catch up`,
      async () => {
        const statuses = await this.statuses();
        const leader = highestLeader(statuses);
        if (leader === null) throw new Error(`no leader (${describeStatuses(statuses)})`);
        const leaderStatus = statuses.get(leader.id);
        if (target === null || target.leader.id !== leader.id || target.leader.term !== leader.term) {
          target = { leader, commitIndex: leaderStatus?.commitIndex ?? 0 };
        }
        for (const [id, status] of statuses) {
          if (status === null) throw new Error(`${id} does not answer (${describeStatuses(statuses)})`);
          if (status.term !== leader.term || status.leaderId !== leader.id) {
            throw new Error(`${id} is ${status.role} in term ${status.term} following "${status.leaderId}" (${describeStatuses(statuses)})`);
          }
          if (status.appliedIndex < target.commitIndex) throw new Error(`${id} applied ${status.appliedIndex} < ${target.commitIndex}`);
        }
        return { leader, caughtUpTo: target.commitIndex };
      },
      options,
    );
  }

  /**
   * Until every node has applied everything committed and all agree on one applied index, the
   * same on two polls `stableMs` apart (nothing is still trickling in). Returns that index.
   */
  waitForQuiet(options: WaitOptions & { stableMs?: number }): Promise<number> {
    let previous: number | null = null;
    return waitUntil(
      `all of ${this.nodeIds.join(',')} to reach one applied index`,
      async () => {
        const statuses = await this.statuses();
        const applied = new Set<number>();
        for (const [id, status] of statuses) {
          if (status === null) throw new Error(`${id} does not answer`);
          if (status.appliedIndex !== status.commitIndex) throw new Error(`${id} applied ${status.appliedIndex} of ${status.commitIndex} committed`);
          applied.add(status.appliedIndex);
        }
        if (applied.size !== 1) throw new Error(`applied indexes differ: ${describeStatuses(statuses)}`);
        const index = [...applied][0] as number;
        const stable = previous === index;
        previous = index;
        return stable ? index : undefined;
      },
      { ...options, intervalMs: options.stableMs ?? 500 },
    );
  }

  close(): void {
    this.client.close();
  }
}

/** The node claiming leadership in the highest term, or null. */
export function highestLeader(statuses: ReadonlyMap<string, ClusterStatus | null>): LeaderClaim | null {
  let best: LeaderClaim | null = null;
  for (const [id, status] of statuses) {
    if (status?.role !== 'leader') continue;
    if (best === null || status.term > best.term) best = { id, term: status.term };
  }
  return best;
}

/** "n1 leader t3 applied 40/40, n2 follower t3 applied 39/40, n3 -", for logs and errors. */
export function describeStatuses(statuses: ReadonlyMap<string, ClusterStatus | null>): string {
  return [...statuses]
    .map(([id, status]) =>
      status === null ? `${id} -` : `${id} ${status.role} t${status.term} applied ${status.appliedIndex}/${status.commitIndex}`,
    )
    .join(', ');
}
