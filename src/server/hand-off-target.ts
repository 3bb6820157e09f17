import type { NodeId, RaftStatus } from '../raft/index.js';

/**
 * The voter a stopping leader hands leadership to: the most caught-up one among those it is
 * replicating to (state 'replicate', so recently reachable), else the most caught-up at all;
 * null when there is no other voter, or this node does not lead. A caught-up target takes over
 * at once (TimeoutNow, thesis §3.10); one that is behind first receives the missing entries.
 */
export function handOffTarget(status: Pick<RaftStatus, 'id' | 'role' | 'membership' | 'progress'>): NodeId | null {
  if (status.role !== 'leader') return null;
  let best: { id: NodeId; replicating: number; match: number } | null = null;
  for (const id of status.membership.voters) {
    if (id === status.id) continue;
    const progress = status.progress.get(id);
    if (progress === undefined) continue;
    const candidate = { id, replicating: progress.state === 'replicate' ? 1 : 0, match: progress.match };
    if (best === null || candidate.replicating > best.replicating || (candidate.replicating === best.replicating && candidate.match > best.match)) {
      best = candidate;
    }
  }
  return best?.id ?? null;
}
