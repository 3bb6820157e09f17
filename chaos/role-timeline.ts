/**
 * Each node's role and term over a run, as the harness's Status polls saw them: for the report's
 * timeline. A poll is a sample, not every transition: a leadership that lasted less than the
 * poll interval may not show. A node that does not answer is 'down' (killed, paused, or
 * overloaded: client traffic is never cut, so never merely partitioned).
 */
import type { ClusterStatus } from '../src/client/index.js';

/** One stretch of a node in one role and term; `toMs` is the last sample that saw it. */
export interface RoleSpan {
  readonly fromMs: number;
  toMs: number;
  /** The node's own word ('leader', 'follower', 'candidate', 'learner', ...), or 'down'. */
  readonly role: string;
  /** null while down. */
  readonly term: number | null;
}

/** Spans per node, in order of first appearance. */
export type RoleHistory = ReadonlyMap<string, readonly RoleSpan[]>;

/** Spans kept per node: a flapping node over a long run stays bounded. */
const spansPerNodeMax = 10_000;

export class RoleTimeline {
  private readonly spans = new Map<string, RoleSpan[]>();

  /** Takes one poll's answers at `atMs` (run clock). */
  record(atMs: number, statuses: ReadonlyMap<string, Pick<ClusterStatus, 'role' | 'term'> | null>): void {
    for (const [id, status] of statuses) {
      const role = status === null ? 'down' : status.role;
      const term = status === null ? null : status.term;
      let spans = this.spans.get(id);
      if (spans === undefined) {
        spans = [];
        this.spans.set(id, spans);
      }
      const last = spans[spans.length - 1];
      if (last !== undefined && last.role === role && last.term === term) {
        last.toMs = atMs;
        continue;
      }
      // The change happened somewhere since the last sample: the new span starts there.
      if (last !== undefined) last.toMs = atMs;
      if (spans.length < spansPerNodeMax) spans.push({ fromMs: atMs, toMs: atMs, role, term });
    }
  }

  history(): RoleHistory {
    return this.spans;
  }
}
