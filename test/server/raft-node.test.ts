import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RaftCore, defaultRaftTunables, freshState, nodeId, type Entry, type LogPosition, type Membership, type Message } from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { RaftNode, defaultSnapshotPolicy, type AppliedStateMachine, type DurableLog } from '../../src/server/raft-node.js';
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
  const stateMachine = recordingStateMachine((entries) => {
    applied.push(...entries);
  });
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

  it('answers a proposal once its apply is visible, before the apply\'s write lands; the next Ready persists meanwhile, the next apply waits for it', async () => {
    const core = new RaftCore({ ...defaultRaftTunables, id: n1, rng: new SeededRng(1), electionTicks: 2, heartbeatTicks: 1 }, freshState({ voters: [n1], learners: [] }));
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let proposalWritesLanded = 0;
    let writing = false;
    const saved: number[] = [];
    const stateMachine: AppliedStateMachine<number> & { appliedIndex: number; applied: LogPosition } = {
      appliedIndex: 0,
      applied: { index: 0, term: 0 },
      async apply(entries, onVisible) {
        const last = entries[entries.length - 1];
        if (last !== undefined) {
          this.appliedIndex = last.index;
          this.applied = { index: last.index, term: last.term };
        }
        const outcomes = entries.map((e) => e.index);
        onVisible?.(outcomes);
        // The first batch is the leader's no-op; hold the writes of the proposals' batches.
        if (entries.some((e) => e.data.byteLength > 0)) {
          expect(writing).toBe(false); // one apply write at a time, in log order
          writing = true;
          await gate;
          writing = false;
          proposalWritesLanded += 1;
        }
        return outcomes;
      },
      prepareInstall(): never {
        throw new Error('no snapshots here');
      },
      async discardStaged(): Promise<void> {},
    };
    const node = new RaftNode<number>({
      core,
      log: { save: async (u) => void saved.push(...u.entries.map((e) => e.index)), compact: async () => {} },
      stateMachine,
      transport: new LoopbackTransport(),
      logger: pino({ level: 'silent' }),
      tickMs: 5,
      pendingProposalsMax: 100,
      pendingReadsMax: 100,
      snapshotPolicy: defaultSnapshotPolicy,
      incarnation: 'test',
      onFatal: () => undefined,
    });
    await node.start();
    try {
      await until(() => node.status().role === 'leader' && stateMachine.appliedIndex >= 1);
      const index = await node.propose(new Uint8Array([1]), 5000);
      expect(index).toBe(2);
      expect(proposalWritesLanded).toBe(0);
      let secondAnswered = false;
      const second = node.propose(new Uint8Array([2]), 5000).then((i) => {
        secondAnswered = true;
        return i;
      });
      await until(() => saved.includes(3));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(secondAnswered).toBe(false);
      openGate();
      expect(await second).toBe(3);
    } finally {
      openGate();
      await node.stop(1000);
    }
    expect(proposalWritesLanded).toBe(2);
  });

  it('stops for good when an apply write fails after its batch was answered', async () => {
    const core = new RaftCore({ ...defaultRaftTunables, id: n1, rng: new SeededRng(1), electionTicks: 2, heartbeatTicks: 1 }, freshState({ voters: [n1], learners: [] }));
    const diskFull = new Error('disk full');
    const stateMachine: AppliedStateMachine<number> & { appliedIndex: number; applied: LogPosition } = {
      appliedIndex: 0,
      applied: { index: 0, term: 0 },
      async apply(entries, onVisible) {
        const last = entries[entries.length - 1];
        if (last !== undefined) {
          this.appliedIndex = last.index;
          this.applied = { index: last.index, term: last.term };
        }
        const outcomes = entries.map((e) => e.index);
        onVisible?.(outcomes);
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (entries.some((e) => e.data.byteLength > 0)) throw diskFull;
        return outcomes;
      },
      prepareInstall(): never {
        throw new Error('no snapshots here');
      },
      async discardStaged(): Promise<void> {},
    };
    const fatal: Error[] = [];
    const node = new RaftNode<number>({
      core,
      log: { save: async () => {}, compact: async () => {} },
      stateMachine,
      transport: new LoopbackTransport(),
      logger: pino({ level: 'silent' }),
      tickMs: 5,
      pendingProposalsMax: 100,
      pendingReadsMax: 100,
      snapshotPolicy: defaultSnapshotPolicy,
      incarnation: 'test',
      onFatal: (error) => void fatal.push(error),
    });
    await node.start();
    try {
      await until(() => node.status().role === 'leader' && stateMachine.appliedIndex >= 1);
      expect(await node.propose(new Uint8Array([1]), 5000)).toBe(2);
      await until(() => fatal.length > 0);
      expect(fatal).toEqual([diskFull]);
      expect(() => node.propose(new Uint8Array([2]), 100)).toThrow(ShuttingDownError);
    } finally {
      await node.stop(1000);
    }
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

describe('the drive loop bounds the work of one Ready (a catch-up must not hold the event loop)', () => {
  const n2 = nodeId('n2');
  const n3 = nodeId('n3');

  /** A follower n2 of n1, n2, n3 whose transport the test feeds, with a log and state machine that record their batches. */
  async function follower(turnLimits: { stepEntriesMax: number; applyEntriesMax: number }): Promise<{
    node: RaftNode<number>;
    deliver: (messages: readonly Message[]) => void;
    saves: number[];
    applies: number[];
    sent: Message[];
  }> {
    const core = new RaftCore({ ...defaultRaftTunables, id: n2, rng: new SeededRng(2), electionTicks: 1000, heartbeatTicks: 1 }, freshState({ voters: [n1, n2, n3], learners: [] }));
    const saves: number[] = [];
    const applies: number[] = [];
    const sent: Message[] = [];
    let events: TransportEvents | null = null;
    const transport: Transport = {
      async start(e) {
        events = e;
      },
      send: (messages) => void sent.push(...messages),
      async close() {},
    };
    const stateMachine = recordingStateMachine((entries) => {
      applies.push(entries.length);
    });
    const node = new RaftNode<number>({
      core,
      log: { save: async (u) => void saves.push(u.entries.length), compact: async () => {} },
      stateMachine,
      transport,
      logger: pino({ level: 'silent' }),
      tickMs: 1000,
      pendingProposalsMax: 100,
      pendingReadsMax: 100,
      snapshotPolicy: { ...defaultSnapshotPolicy, entries: 1_000_000 },
      incarnation: 'test',
      onFatal: () => undefined,
      turnLimits,
    });
    await node.start();
    return { node, deliver: (messages) => events?.onMessages(messages), saves, applies, sent };
  }

  /** What a leader n1 in term 1 sends a follower that lacks everything: `count` entries in messages of `perMessage`. */
  function catchUp(count: number, perMessage: number): Message[] {
    const messages: Message[] = [];
    for (let first = 1; first <= count; first += perMessage) {
      const entries: Entry[] = [];
      for (let index = first; index < first + perMessage && index <= count; index++) entries.push({ index, term: 1, type: 'normal', data: new Uint8Array(32) });
      messages.push({ type: 'append', from: n1, to: n2, term: 1, prevLogIndex: first - 1, prevLogTerm: first === 1 ? 0 : 1, entries, commit: count });
    }
    return messages;
  }

  it('a window of 20,000 entries arriving at once is persisted at most stepEntriesMax per Ready and applied at most applyEntriesMax per batch', async () => {
    const { node, deliver, saves, applies, sent } = await follower({ stepEntriesMax: 2000, applyEntriesMax: 1000 });
    deliver(catchUp(20_000, 500));
    await until(() => node.status().lastIndex === 20_000 && applies.reduce((a, b) => a + b, 0) === 20_000);
    expect(saves.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(Math.max(...saves)).toBeLessThanOrEqual(2000);
    expect(Math.max(...applies)).toBeLessThanOrEqual(1000);
    // Every message was answered: the leader's window refills as the acknowledgements return.
    const acks = sent.filter((m) => m.type === 'append-response');
    expect(acks.length).toBe(40);
    await node.stop(1000);
  });

  it('one message larger than the bound is still stepped, alone', async () => {
    const { node, deliver, saves } = await follower({ stepEntriesMax: 100, applyEntriesMax: 100 });
    deliver(catchUp(1000, 1000));
    await until(() => node.status().lastIndex === 1000);
    expect(saves.filter((n) => n > 0)).toEqual([1000]);
    await node.stop(1000);
  });
});

/** A two-node cluster whose second node is this transport: it grants votes and acknowledges what n1 sends. */
class EchoFollowerTransport implements Transport {
  readonly order: string[] = [];
  private events: TransportEvents | null = null;
  async start(events: TransportEvents): Promise<void> {
    this.events = events;
  }
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.type === 'append') this.order.push(m.entries.length > 0 ? `append ${m.entries.map((e) => e.index).join(',')}` : `commit-only append ${m.commit}`);
      const from = m.to;
      const to = m.from;
      const reply: Message | null =
        m.type === 'vote-request'
          ? { type: 'vote-response', from, to, term: m.term, preVote: m.preVote, granted: true }
          : m.type === 'append'
            ? { type: 'append-response', from, to, term: m.term, success: true, index: m.prevLogIndex + m.entries.length, rejectHintIndex: 0, rejectHintTerm: 0 }
            : m.type === 'heartbeat'
              ? { type: 'heartbeat-response', from, to, term: m.term, readContext: m.readContext, leaseTick: m.leaseTick }
              : null;
      if (reply !== null) queueMicrotask(() => this.events?.onMessages([reply]));
    }
  }
  async close(): Promise<void> {}
}

describe('log compaction', () => {
  it('keeps retainEntries entries below a snapshot, fewer when they hold more than retainBytes', async () => {
    const compactions: number[] = [];
    const run = async (retainBytes: number): Promise<number> => {
      const core = new RaftCore({ ...defaultRaftTunables, id: n1, rng: new SeededRng(1), electionTicks: 2, heartbeatTicks: 1 }, freshState({ voters: [n1], learners: [] }));
      const node = new RaftNode<number>({
        core,
        log: { save: async () => {}, compact: async (to) => void compactions.push(to.index) },
        stateMachine: recordingStateMachine(() => undefined),
        transport: new LoopbackTransport(),
        logger: pino({ level: 'silent' }),
        tickMs: 5,
        pendingProposalsMax: 100,
        pendingReadsMax: 100,
        // A snapshot once 20 entries are applied, keeping 10 of them, or fewer by bytes.
        snapshotPolicy: { entries: 20, logBytes: 64 * 1024 * 1024, retainEntries: 10, retainBytes },
        incarnation: 'test',
        onFatal: () => undefined,
      });
      await node.start();
      try {
        await until(() => node.status().role === 'leader');
        // 1 KiB entries, one at a time, so that each is applied before the next.
        for (let i = 0; i < 20; i++) await node.propose(new Uint8Array(1024), 5000);
        await until(() => compactions.length > 0);
        const status = node.status();
        return status.snapshotIndex - status.compactedTo.index;
      } finally {
        compactions.length = 0;
        await node.stop(1000);
      }
    };
    expect(await run(64 * 1024 * 1024)).toBe(10);
    expect(await run(3 * 1024)).toBe(3);
    expect(await run(0)).toBe(0);
  });
});

describe('the order of sending and applying', () => {
  it('in a Ready that only applies, the commit-only AppendEntries go once the apply has started, not before it', async () => {
    const n2 = nodeId('n2');
    const core = new RaftCore({ ...defaultRaftTunables, id: n1, rng: new SeededRng(1), electionTicks: 2, heartbeatTicks: 1 }, freshState({ voters: [n1, n2], learners: [] }));
    const transport = new EchoFollowerTransport();
    const stateMachine = recordingStateMachine(async (entries) => {
      transport.order.push(`apply ${entries.map((e) => e.index).join(',')}`);
      await Promise.resolve();
    });
    const node = new RaftNode<number>({
      core,
      log: { save: async () => {}, compact: async () => {} },
      stateMachine,
      transport,
      logger: pino({ level: 'silent' }),
      tickMs: 5,
      pendingProposalsMax: 100,
      pendingReadsMax: 100,
      snapshotPolicy: defaultSnapshotPolicy,
      incarnation: 'test',
      onFatal: () => undefined,
    });
    await node.start();
    try {
      await until(() => node.status().role === 'leader' && node.status().commit >= 1 && stateMachine.appliedIndex >= 1);
      const index = await node.propose(new Uint8Array([1]), 5000);
      const { order } = transport;
      const applied = order.indexOf(`apply ${index}`);
      const committed = order.findIndex((step) => step === `commit-only append ${index}`);
      expect(order.indexOf(`append ${index}`)).toBeGreaterThanOrEqual(0);
      expect(applied).toBeGreaterThan(order.indexOf(`append ${index}`));
      expect(committed).toBeGreaterThan(applied);
    } finally {
      await node.stop(1000);
    }
  });
});

/** A state machine that runs `onApply` for each batch, then answers each entry with its index. */
function recordingStateMachine(onApply: (entries: readonly Entry[]) => void | Promise<void>): AppliedStateMachine<number> & { appliedIndex: number; applied: LogPosition } {
  return {
    appliedIndex: 0,
    applied: { index: 0, term: 0 },
    async apply(entries: readonly Entry[]): Promise<number[]> {
      await onApply(entries);
      const last = entries[entries.length - 1];
      if (last !== undefined) {
        this.appliedIndex = last.index;
        this.applied = { index: last.index, term: last.term };
      }
      return entries.map((e) => e.index);
    },
    prepareInstall(): never {
      throw new Error('no snapshots here');
    },
    async discardStaged(): Promise<void> {},
  };
}
