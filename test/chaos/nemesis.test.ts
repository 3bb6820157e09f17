import { describe, expect, it } from 'vitest';
import type { Link } from '../../chaos/backend.js';
import {
  bridgeLinks,
  connectedMajority,
  faultKinds,
  halfLinks,
  healAllowanceMs,
  isolateLinks,
  killMajorityVictims,
  nodesWithoutQuorum,
  parseNemesis,
  planNemesis,
  ringLinks,
  spareNodesFor,
  type FaultKind,
  type NemesisPlanOptions,
} from '../../chaos/nemesis.js';

const three = ['n1', 'n2', 'n3'];
const five = ['n1', 'n2', 'n3', 'n4', 'n5'];

const options = (overrides: Partial<NemesisPlanOptions> = {}): NemesisPlanOptions => ({
  kinds: [...faultKinds],
  nodeIds: five,
  seed: 1,
  windowStartMs: 2000,
  windowEndMs: 120_000,
  holdMsMin: 2000,
  holdMsMax: 5000,
  gapMsMin: 1000,
  gapMsMax: 2000,
  ...overrides,
});

const key = (link: Link): string => `${link.from}->${link.to}`;
const keys = (links: readonly Link[]): string[] => links.map(key).sort();

describe('planNemesis', () => {
  it('is deterministic per seed', () => {
    for (const seed of [0, 1, 2, 42, 0xffffffff]) {
      expect(planNemesis(options({ seed }))).toEqual(planNemesis(options({ seed })));
    }
  });

  it('differs between seeds', () => {
    const plans = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => JSON.stringify(planNemesis(options({ seed })))));
    expect(plans.size).toBe(8);
  });

  it('keeps every fault, with its hold and heal allowance, inside the window and apart from the next', () => {
    for (let seed = 0; seed < 50; seed++) {
      const o = options({ seed, windowEndMs: 60_000 });
      const plan = planNemesis(o);
      expect(plan.length).toBeGreaterThan(0);
      plan.forEach((planned, i) => {
        expect(planned.index).toBe(i + 1);
        expect(planned.startMs).toBeGreaterThanOrEqual(o.windowStartMs);
        expect(planned.holdMs).toBeGreaterThanOrEqual(o.holdMsMin);
        expect(planned.holdMs).toBeLessThanOrEqual(o.holdMsMax);
        const endMs = planned.startMs + planned.holdMs + healAllowanceMs(planned.fault.kind);
        expect(endMs).toBeLessThanOrEqual(o.windowEndMs);
        const next = plan[i + 1];
        if (next !== undefined) expect(next.startMs).toBeGreaterThanOrEqual(endMs + o.gapMsMin);
      });
    }
  });

  it('deals every named kind once before any repeats', () => {
    for (let seed = 0; seed < 20; seed++) {
      const plan = planNemesis(options({ seed }));
      const kinds = plan.map((planned) => planned.fault.kind);
      expect(new Set(kinds.slice(0, faultKinds.length)).size).toBe(faultKinds.length);
    }
    const only: FaultKind[] = ['kill', 'pause'];
    const kinds = planNemesis(options({ kinds: only })).map((planned) => planned.fault.kind);
    expect(new Set(kinds)).toEqual(new Set(only));
    expect(new Set(kinds.slice(0, 2)).size).toBe(2);
  });

  it('draws targets only among the nodes', () => {
    for (let seed = 0; seed < 20; seed++) {
      for (const { fault } of planNemesis(options({ seed, nodeIds: three }))) {
        if ('order' in fault) expect([...fault.order].sort()).toEqual(three);
        if ('target' in fault && fault.target.kind === 'node') expect(three).toContain(fault.target.id);
        if ('remove' in fault && fault.remove.kind === 'node') expect(three).toContain(fault.remove.id);
      }
    }
  });

  it('draws both membership variants, removing the leader sometimes, and asks one spare slot per membership fault', () => {
    const faults = [];
    for (let seed = 0; seed < 40; seed++) {
      const plan = planNemesis(options({ seed, kinds: ['membership'], nodeIds: three }));
      expect(spareNodesFor(plan)).toBe(plan.length);
      faults.push(...plan.map((planned) => planned.fault));
    }
    const membership = faults.flatMap((fault) => (fault.kind === 'membership' ? [fault] : []));
    expect(membership.length).toBe(faults.length);
    expect(new Set(membership.map((fault) => fault.variant))).toEqual(new Set(['replace', 'learner']));
    expect(membership.some((fault) => fault.remove.kind === 'leader')).toBe(true);
    expect(membership.some((fault) => fault.remove.kind === 'node')).toBe(true);
    expect(spareNodesFor(planNemesis(options({ kinds: ['kill', 'pause'] })))).toBe(0);
  });

  it('gives membership the heal allowance of a node that starts, joins and catches up', () => {
    expect(healAllowanceMs('membership')).toBeGreaterThan(healAllowanceMs('kill'));
  });

  it('plans nothing for no kinds or a window too short for any fault', () => {
    expect(planNemesis(options({ kinds: [] }))).toEqual([]);
    expect(planNemesis(options({ windowEndMs: 3000 }))).toEqual([]);
  });

  it('rejects options that cannot make a plan', () => {
    expect(() => planNemesis(options({ holdMsMin: 5, holdMsMax: 1 }))).toThrow(/hold range/);
    expect(() => planNemesis(options({ nodeIds: ['n1', 'n1'] }))).toThrow(/repeated/);
  });
});

describe('parseNemesis', () => {
  it('reads names, all and none', () => {
    expect(parseNemesis('kill,pause')).toEqual(['kill', 'pause']);
    expect(parseNemesis('all')).toEqual([...faultKinds]);
    expect(parseNemesis('pause,all')).toEqual(['pause', ...faultKinds.filter((kind) => kind !== 'pause')]);
    expect(parseNemesis('kill,kill')).toEqual(['kill']);
    expect(parseNemesis('none')).toEqual([]);
  });

  it('names what it does not know', () => {
    expect(parseNemesis('kill,explode')).toEqual({ error: expect.stringContaining('unknown fault "explode"') });
    expect(parseNemesis('')).toEqual({ error: expect.any(String) });
    expect(parseNemesis('none,kill')).toEqual({ error: expect.stringContaining('none') });
  });
});

describe('partition shapes', () => {
  it('partition-leader cuts the leader off both ways, and only it loses its quorum', () => {
    const links = isolateLinks(five, 'n3');
    expect(links).toHaveLength(8);
    expect(links.every((link) => link.from === 'n3' || link.to === 'n3')).toBe(true);
    expect(nodesWithoutQuorum(five, links)).toEqual(['n3']);
    expect(connectedMajority(five, links)).toEqual(['n1', 'n2', 'n4', 'n5']);
  });

  it('partition-half splits a majority from a minority', () => {
    const { majority, minority, links } = halfLinks(['n4', 'n2', 'n5', 'n1', 'n3']);
    expect(majority).toEqual(['n4', 'n2', 'n5']);
    expect(minority).toEqual(['n1', 'n3']);
    expect(links).toHaveLength(2 * 3 * 2);
    expect(nodesWithoutQuorum(five, links).sort()).toEqual(['n1', 'n3']);
    expect(connectedMajority(five, links)).toEqual(['n2', 'n4', 'n5']);
    expect(nodesWithoutQuorum(three, halfLinks(['n2', 'n1', 'n3']).links)).toEqual(['n3']);
  });

  it('partition-bridge leaves one node talking to both halves, and everyone a quorum', () => {
    const { bridge, links } = bridgeLinks(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(bridge).toBe('n3');
    expect(keys(links)).toEqual(
      keys([
        { from: 'n1', to: 'n4' }, { from: 'n4', to: 'n1' }, { from: 'n1', to: 'n5' }, { from: 'n5', to: 'n1' },
        { from: 'n2', to: 'n4' }, { from: 'n4', to: 'n2' }, { from: 'n2', to: 'n5' }, { from: 'n5', to: 'n2' },
      ]),
    );
    expect(nodesWithoutQuorum(five, links)).toEqual([]);
    const small = bridgeLinks(['n3', 'n1', 'n2']);
    expect(small.bridge).toBe('n1');
    expect(keys(small.links)).toEqual(['n2->n3', 'n3->n2']);
  });

  it('partition-ring of 5: each node hears its two neighbours, symmetric, every node keeps a quorum', () => {
    const order = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const links = ringLinks(order);
    expect(links).toHaveLength(10);
    const cut = new Set(links.map(key));
    for (const link of links) expect(cut.has(`${link.to}->${link.from}`)).toBe(true);
    expect(cut.has('n1->n2')).toBe(false);
    expect(cut.has('n1->n5')).toBe(false);
    expect(cut.has('n1->n3')).toBe(true);
    expect(nodesWithoutQuorum(five, links)).toEqual([]);
    // Each node hears a majority (itself and two others), and no two hear the same one.
    const heard = order.map((to) => [to, ...order.filter((from) => from !== to && !cut.has(`${from}->${to}`))].sort().join(','));
    expect(new Set(heard).size).toBe(5);
  });

  it('partition-ring of 3: each node hears only its successor, so no node can lead', () => {
    const links = ringLinks(['n1', 'n2', 'n3']);
    // n1 hears n2, n2 hears n3, n3 hears n1: everything else into each node is cut.
    expect(keys(links)).toEqual(['n1->n2', 'n2->n3', 'n3->n1']);
    expect(nodesWithoutQuorum(three, links)).toEqual(three);
    expect(connectedMajority(three, links)).toBeNull();
  });
});

describe('killMajorityVictims', () => {
  it('takes the leader first when asked, a majority in all', () => {
    expect(killMajorityVictims({ withLeader: true, order: ['n4', 'n1', 'n3', 'n2', 'n5'] }, 'n5')).toEqual(['n5', 'n4', 'n1']);
    expect(killMajorityVictims({ withLeader: true, order: ['n2', 'n1', 'n3'] }, 'n1')).toEqual(['n1', 'n2']);
  });

  it('spares the leader otherwise', () => {
    const victims = killMajorityVictims({ withLeader: false, order: ['n4', 'n1', 'n3', 'n2', 'n5'] }, 'n1');
    expect(victims).toEqual(['n4', 'n3', 'n2']);
  });
});
