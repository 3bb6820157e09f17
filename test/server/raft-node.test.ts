import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RaftCore, defaultRaftTunables, freshState, nodeId, type Entry, type Membership, type Message } from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { RaftNode, defaultSnapshotPolicy, type DurableLog } from '../../src/server/raft-node.js';
import { MembershipChangeRefusedError, ShuttingDownError } from '../../src/shared/errors.js';
import type { Transport, TransportEvents } from '../../src/transport/transport.js';

const n1 = nodeId('n1');

/** A one-node cluster's transport: nothing to send, but it records being started and closed. */
class LoopbackTransport implements Transport {
  started = false;
  closed = false;
  async start(_events: TransportEvents): Promise<void> {
    this.started = true;
  }
  send(_messages: readonly Message[]): void {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

function singleNode(
  log: DurableLog,
  onFatal: (error: Error) => void,
  onConfiguration?: (inForce: Membership, committed: Membership) => void,
): { node: RaftNode<number>; transport: LoopbackTransport; applied: Entry[] } {
  const core = new RaftCore({ ...defaultRaftTunables, id: n1, rng: new SeededRng(1), electionTicks: 2, heartbeatTicks: 1 }, freshState({ voters: [n1], learners: [] }));
  const applied: Entry[] = [];
  const stateMachine = {
    appliedIndex: 0,
    applied: { index: 0, term: 0 },
    async apply(entries: readonly Entry[]): Promise<number[]> {
      applied.push(...entries);
      const last = entries[entries.length - 1];
      if (last !== undefined) {
        this.appliedIndex = last.index;
        this.applied = { index: last.index, term: last.term };
      }
      return entries.map((e) => e.index);
    },
    prepareInstall(): never {
      throw new Error('a single node never receives a snapshot');
    },
    async discardStaged(): Promise<void> {},
  };
  const transport = new LoopbackTransport();
  const node = new RaftNode<number>({
    core,
    log,
    stateMachine,
    transport,
    logger: pino({ level: 'silent' }),
    tickMs: 5,
    pendingProposalsMax: 100,
    pendingReadsMax: 100,
    snapshotPolicy: defaultSnapshotPolicy,
    incarnation: 'test',
    onFatal,
    ...(onConfiguration === undefined ? {} : { onConfiguration }),
  });
  return { node, transport, applied };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('membership changes through the drive loop', () => {
  it('resolves a change once applied, follows the new configuration, and refuses bad changes with the core\'s reason', async () => {
    const followed: Membership[] = [];
    const { node, applied } = singleNode({ save: async () => {}, compact: async () => {} }, () => undefined, (inForce) => void followed.push(inForce));
    await node.start();
    await until(() => node.status().role === 'leader');
    const context = new TextEncoder().encode('book');
    const membership = await node.changeMembership({ ops: [{ type: 'add-learner', node: nodeId('n2'), autoPromote: false }], context }, 5000);
    expect(membership).toEqual({ voters: [n1], learners: ['n2'], context });
    expect(applied.some((e) => e.type === 'conf-change')).toBe(true);
    expect(followed.at(-1)).toEqual(membership);
    await expect(node.changeMembership({ ops: [{ type: 'remove', node: n1 }], context }, 5000)).rejects.toMatchObject({
      reason: 'would-remove-last-voter',
      message: 'would-remove-last-voter: the change would leave no voter',
    });
    await expect(node.changeMembership({ ops: [{ type: 'remove', node: nodeId('n9') }], context }, 5000)).rejects.toBeInstanceOf(MembershipChangeRefusedError);
    expect(node.status().membership).toEqual(membership);
    await node.stop(1000);
  });
});

describe('the drive loop', () => {
  it('persists, applies and answers a proposal on a single node', async () => {
    const saved: Entry[] = [];
    const { node, transport, applied } = singleNode({ save: async (u) => void saved.push(...u.entries), compact: async () => {} }, () => undefined);
    await node.start();
    await until(() => node.status().role === 'leader');
    const index = await node.propose(new TextEncoder().encode('x'), 5000);
    expect(saved.map((e) => e.index)).toContain(index);
    expect(applied.map((e) => e.index)).toContain(index);
    await node.linearizableBarrier(5000);
    await node.stop(1000);
    expect(transport.closed).toBe(true);
    expect(() => node.propose(new Uint8Array(), 100)).toThrow(ShuttingDownError);
  });

  it('has no one to hand leadership to alone, keeps leading, and reports not-leader once stopped', async () => {
    const { node } = singleNode({ save: async () => {}, compact: async () => {} }, () => undefined);
    await node.start();
    await until(() => node.status().role === 'leader');
    expect(await node.handOffLeadership(1000)).toEqual({ kind: 'no-target' });
    expect(node.status().role).toBe('leader');
    await node.stop(1000);
    expect(await node.handOffLeadership(1000)).toEqual({ kind: 'not-leader' });
  });

  it('stops for good when storage fails: reports it, fails waiting writes, and still closes the transport', async () => {
    let failing = false;
    const fatal: Error[] = [];
    const { node, transport } = singleNode(
      {
        save: async () => {
          if (failing) throw new Error('disk on fire');
        },
        compact: async () => {},
      },
      (error) => fatal.push(error),
    );
    await node.start();
    await until(() => node.status().role === 'leader');
    failing = true;
    await expect(node.propose(new TextEncoder().encode('y'), 5000)).rejects.toThrow(/disk on fire/);
    expect(fatal.map((e) => e.message)).toEqual(['disk on fire']);
    expect(() => node.propose(new Uint8Array(), 100)).toThrow(ShuttingDownError);
    await node.stop(1000);
    expect(transport.closed).toBe(true);
  });
});
