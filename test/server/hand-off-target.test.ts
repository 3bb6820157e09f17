import { describe, expect, it } from 'vitest';
import { nodeId, type NodeId } from '../../src/raft/index.js';
import { handOffTarget } from '../../src/server/hand-off-target.js';

const [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId];

function leader(progress: Record<string, { match: number; state: string }>, learners: NodeId[] = []): Parameters<typeof handOffTarget>[0] {
  const voters = [n1, ...Object.keys(progress).map(nodeId)].filter((id) => !learners.includes(id));
  return {
    id: n1,
    role: 'leader',
    membership: { voters, learners },
    progress: new Map(Object.entries({ n1: { match: 100, state: 'replicate' }, ...progress }).map(([id, p]) => [nodeId(id), { ...p, next: p.match + 1, lag: 100 - p.match, voter: voters.includes(nodeId(id)) }])),
  };
}

describe('handOffTarget (thesis §3.10: hand leadership to a caught-up voter)', () => {
  it('picks the voter with the highest match', () => {
    expect(handOffTarget(leader({ n2: { match: 90, state: 'replicate' }, n3: { match: 100, state: 'replicate' } }))).toBe(n3);
  });
  it('prefers a voter it is replicating to over one it only probes, however far its match', () => {
    expect(handOffTarget(leader({ n2: { match: 100, state: 'probe' }, n3: { match: 40, state: 'replicate' } }))).toBe(n3);
  });
  it('falls back to the most caught-up voter when it replicates to none', () => {
    expect(handOffTarget(leader({ n2: { match: 10, state: 'probe' }, n3: { match: 70, state: 'snapshot' } }))).toBe(n3);
  });
  it('never picks a learner', () => {
    expect(handOffTarget(leader({ n2: { match: 50, state: 'replicate' }, n4: { match: 100, state: 'replicate' } }, [n4]))).toBe(n2);
  });
  it('has no target alone, or when not the leader', () => {
    expect(handOffTarget(leader({}))).toBeNull();
    expect(handOffTarget({ ...leader({ n2: { match: 100, state: 'replicate' } }), role: 'follower' })).toBeNull();
  });
});
