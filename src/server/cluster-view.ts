import type { LiveSample } from './live-stats.js';

/** The part of a member's Cluster.Status answer the cluster view reads. */
export interface MemberStatus {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** Its last few closed seconds (live-stats.ts); empty from a node too old to report them. */
  readonly recentSamples: readonly LiveSample[];
  /** The members' client addresses as it knows them ('' when it does not). */
  readonly members?: readonly { readonly id: string; readonly clientAddress: string }[];
}

/** A member of the configuration in force, as this node knows it. */
export interface KnownMember {
  readonly id: string;
  /** '' when this node does not know it. */
  readonly clientAddress: string;
  readonly voter: boolean;
}

export interface ClusterViewSource {
  readonly selfId: string;
  /** The members of the configuration in force on this node. */
  members(): readonly KnownMember[];
  /** This node's own status, without a network call. */
  localStatus(): MemberStatus;
  /** A member's Cluster.Status over gRPC; must give up by `timeoutMs`. */
  askStatus(clientAddress: string, timeoutMs: number): Promise<MemberStatus>;
}

/** A member in the view: its status, or why it could not be had. */
export type MemberView =
  | ({
      readonly id: string;
      readonly clientAddress: string;
      readonly voter: boolean;
      readonly reachable: true;
      /** Entries its applied index is behind the highest commit index reported. */
      readonly lagEntries: number;
      /** Its last few seconds: a page keeps them by member, so a member that dies keeps its past. */
      readonly samples: readonly LiveSample[];
    } & Omit<MemberStatus, 'id' | 'recentSamples' | 'members'>)
  | { readonly id: string; readonly clientAddress: string; readonly voter: boolean; readonly reachable: false; readonly error: string };

/** `/cluster.json`: every member as this node could reach it, the leader, and the cluster's recent seconds. */
export interface ClusterView {
  readonly askedBy: string;
  readonly asOfMs: number;
  /** The member that says it leads, in the highest term any reachable member reports; null if none does. */
  readonly leader: { readonly id: string; readonly term: number } | null;
  readonly members: readonly MemberView[];
  /**
   * The reachable members' recent seconds merged by second: operations summed; latency
   * quantiles the worst member's (a member's p99 is not additive).
   */
  readonly samples: readonly LiveSample[];
}

export interface ClusterViewOptions {
  /** The deadline of each member's Status call. */
  readonly askTimeoutMs: number;
  /** A view this recent is answered again instead of asking the members again (several pages open). */
  readonly reuseMs: number;
  readonly clock: () => number;
}

export const defaultClusterViewOptions: ClusterViewOptions = { askTimeoutMs: 1000, reuseMs: 500, clock: () => Date.now() };

/**
 * The whole cluster as one node sees it, for the live page: the node asks each member's
 * Cluster.Status (its own locally), all at once, each with a deadline, so a dead or partitioned
 * member costs at most `askTimeoutMs` and shows up as unreachable with the error. Requests that
 * arrive while a view is being made, or within `reuseMs` of one, share it.
 */
export class ClusterViewer {
  private readonly options: ClusterViewOptions;
  private latest: { readonly atMs: number; readonly view: Promise<ClusterView> } | null = null;

  constructor(
    private readonly source: ClusterViewSource,
    options: Partial<ClusterViewOptions> = {},
  ) {
    this.options = { ...defaultClusterViewOptions, ...options };
  }

  view(): Promise<ClusterView> {
    const nowMs = this.options.clock();
    if (this.latest !== null && nowMs - this.latest.atMs < this.options.reuseMs) return this.latest.view;
    const view = this.makeView();
    this.latest = { atMs: nowMs, view };
    return view;
  }

  private async makeView(): Promise<ClusterView> {
    const { source, options } = this;
    type Answer = { member: KnownMember; status: MemberStatus } | { member: KnownMember; error: string };
    const ask = async (member: KnownMember): Promise<Answer> => {
      try {
        if (member.id === source.selfId) return { member, status: source.localStatus() };
        if (member.clientAddress === '') return { member, error: 'no client address known for this member' };
        return { member, status: await source.askStatus(member.clientAddress, options.askTimeoutMs) };
      } catch (error) {
        return { member, error: (error as Error).message };
      }
    };
    const members = source.members();
    const first = await Promise.all(members.filter((m) => m.clientAddress !== '' || m.id === source.selfId).map(ask));
    // A follower learns a peer's client address only from messages that peer sends it, and
    // followers do not talk to each other: the leader, which hears from everyone, knows it.
    const learned = new Map<string, string>();
    for (const answer of first) if ('status' in answer) for (const m of answer.status.members ?? []) if (m.clientAddress !== '') learned.set(m.id, m.clientAddress);
    const second = await Promise.all(
      members.filter((m) => m.clientAddress === '' && m.id !== source.selfId).map((m) => ask({ ...m, clientAddress: learned.get(m.id) ?? '' })),
    );
    const byId = new Map([...first, ...second].map((a) => [a.member.id, a]));
    const answers = members.flatMap((m) => byId.get(m.id) ?? []);
    const reached = answers.flatMap((a) => ('status' in a ? [a.status] : []));
    const commitMax = Math.max(0, ...reached.map((s) => s.commitIndex));
    const leaders = reached.filter((s) => s.role === 'leader').sort((a, b) => b.term - a.term);
    const leader = leaders[0];
    return {
      askedBy: source.selfId,
      asOfMs: options.clock(),
      leader: leader === undefined ? null : { id: leader.id, term: leader.term },
      members: answers.map((answer): MemberView => {
        const { id, clientAddress, voter } = answer.member;
        if (!('status' in answer)) return { id, clientAddress, voter, reachable: false, error: answer.error };
        const s = answer.status;
        return {
          id,
          clientAddress,
          voter,
          reachable: true,
          role: s.role,
          term: s.term,
          leaderId: s.leaderId,
          commitIndex: s.commitIndex,
          appliedIndex: s.appliedIndex,
          lastIndex: s.lastIndex,
          snapshotIndex: s.snapshotIndex,
          lagEntries: Math.max(0, commitMax - s.appliedIndex),
          samples: s.recentSamples,
        };
      }),
      samples: mergeSamples(reached.map((s) => s.recentSamples)),
    };
  }
}

/** Sums the members' seconds by second; the quantiles are the worst of the members that answered operations. */
export function mergeSamples(perMember: readonly (readonly LiveSample[])[]): LiveSample[] {
  const bySecond = new Map<number, LiveSample>();
  for (const samples of perMember) {
    for (const s of samples) {
      const seen = bySecond.get(s.atMs);
      bySecond.set(
        s.atMs,
        seen === undefined
          ? { ...s }
          : {
              atMs: s.atMs,
              writes: seen.writes + s.writes,
              reads: seen.reads + s.reads,
              errors: seen.errors + s.errors,
              p50Ms: Math.max(seen.p50Ms, s.p50Ms),
              p99Ms: Math.max(seen.p99Ms, s.p99Ms),
            },
      );
    }
  }
  return [...bySecond.values()].sort((a, b) => a.atMs - b.atMs);
}
