/**
 * The worst event-loop delay each node reported during a run, gathered from its Status (the
 * same RPC on every backend): polled through the run, and once more at the end. A node reports
 * its worst delay since its process started, so polling keeps what an incarnation reported
 * before a kill took it; its stall count restarts with the process, so counts are summed over
 * incarnations.
 */
import type { ClusterStatus } from '../src/client/index.js';

/** One node's worst delay seen, and its stalls (delays above its threshold), over every incarnation. */
export interface NodeLoopDelay {
  readonly id: string;
  /** null when the node never answered. */
  readonly worstMs: number | null;
  readonly stalls: number;
  /** Status answers that carried these figures. */
  readonly samples: number;
}

export interface LoopDelayReport {
  readonly nodes: readonly NodeLoopDelay[];
  /** The worst over every node; null when none answered. */
  readonly worstMs: number | null;
  readonly worstNode: string | null;
  /** What the nodes count as a stall (their loop_stall_threshold_ms); null when none answered. */
  readonly stallThresholdMs: number | null;
  /** For scale: a leader held this long is deposed. */
  readonly electionTimeoutMs: number;
}

interface NodeTally {
  worstMs: number | null;
  /** Stalls of earlier incarnations, and the count the current one last reported. */
  stallsBefore: number;
  stallsNow: number;
  samples: number;
}

/** Accumulates Status answers into a LoopDelayReport. */
export class LoopDelayTally {
  private readonly nodes = new Map<string, NodeTally>();
  private stallThresholdMs: number | null = null;

  constructor(nodeIds: readonly string[]) {
    for (const id of nodeIds) this.nodes.set(id, { worstMs: null, stallsBefore: 0, stallsNow: 0, samples: 0 });
  }

  /** Takes one poll's answers (null: the node did not answer). */
  record(statuses: ReadonlyMap<string, Pick<ClusterStatus, 'loopDelayMaxMs' | 'loopDelayRecentMaxMs' | 'loopStalls' | 'loopStallThresholdMs'> | null>): void {
    for (const [id, status] of statuses) {
      if (status === null) continue;
      let tally = this.nodes.get(id);
      if (tally === undefined) {
        tally = { worstMs: null, stallsBefore: 0, stallsNow: 0, samples: 0 };
        this.nodes.set(id, tally);
      }
      tally.worstMs = Math.max(tally.worstMs ?? 0, status.loopDelayMaxMs, status.loopDelayRecentMaxMs);
      // A count below the last one is a new incarnation, counting from zero again.
      if (status.loopStalls < tally.stallsNow) tally.stallsBefore += tally.stallsNow;
      tally.stallsNow = status.loopStalls;
      tally.samples += 1;
      if (status.loopStallThresholdMs > 0) this.stallThresholdMs = status.loopStallThresholdMs;
    }
  }

  report(electionTimeoutMs: number): LoopDelayReport {
    const nodes = [...this.nodes].map(([id, tally]) => ({ id, worstMs: tally.worstMs, stalls: tally.stallsBefore + tally.stallsNow, samples: tally.samples }));
    let worst: NodeLoopDelay | null = null;
    for (const node of nodes) if (node.worstMs !== null && (worst === null || node.worstMs > (worst.worstMs ?? 0))) worst = node;
    return { nodes, worstMs: worst?.worstMs ?? null, worstNode: worst?.id ?? null, stallThresholdMs: this.stallThresholdMs, electionTimeoutMs };
  }
}

/** Polls the nodes' Status every `intervalMs` into a tally, one poll at a time. */
export class LoopDelayWatch {
  readonly tally: LoopDelayTally;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(
    nodeIds: readonly string[],
    private readonly poll: () => Promise<ReadonlyMap<string, ClusterStatus | null>>,
    private readonly intervalMs: number,
  ) {
    this.tally = new LoopDelayTally(nodeIds);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.polling === null) this.polling = this.pollOnce().finally(() => (this.polling = null));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops polling and takes one last poll (for the figures of the run's end). */
  async finish(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
    await this.pollOnce();
  }

  private async pollOnce(): Promise<void> {
    try {
      this.tally.record(await this.poll());
    } catch {
      // A poll that fails as a whole says nothing about delays; the next one may.
    }
  }
}

/** "worst 182 ms on n2 (election timeout 1000 ms); n1 40 ms, n2 182 ms (1 stall > 100 ms), n3 -" */
export function describeLoopDelay(report: LoopDelayReport): string {
  const ms = (value: number | null): string => (value === null ? '-' : `${value} ms`);
  const threshold = report.stallThresholdMs === null ? '' : ` > ${report.stallThresholdMs} ms`;
  const perNode = report.nodes.map((node) => `${node.id} ${ms(node.worstMs)}${node.stalls > 0 ? ` (${node.stalls} stall${node.stalls === 1 ? '' : 's'}${threshold})` : ''}`);
  const head = report.worstMs === null ? 'no node reported' : `worst ${report.worstMs} ms on ${report.worstNode}`;
  return `${head} (election timeout ${report.electionTimeoutMs} ms); ${perNode.join(', ')}`;
}
