/**
 * The nemesis plan: which faults a run injects, when, and for how long, drawn from one seeded
 * RNG so that a seed replays the same schedule. This module is pure (no I/O, no clock): the
 * runner (nemesis-runner.ts) executes a plan against a backend and confirms every fault.
 *
 * Targets that depend on the cluster at the time ("the leader") are resolved when the fault
 * is injected; everything else (which nodes, which order, how long) is fixed by the seed. Plans
 * name the initial nodes; once a membership fault has replaced a node, the runner reads its id
 * as its successor's (see NemesisRunner), so every kind keeps working as ids change.
 *
 * One fault is active at a time: each is healed (and the heal confirmed) before the next, so
 * that a confirmation such as "the isolated leader lost leadership" means what it says.
 */
import { SeededRng } from '../src/shared/seeded-rng.js';
import type { Link } from './backend.js';

/** Every fault the nemesis knows, in the order `all` lists them. */
export const faultKinds = [
  'partition-leader',
  'partition-half',
  'partition-bridge',
  'partition-ring',
  'kill',
  'kill-majority',
  'pause',
  'membership',
] as const;

export type FaultKind = (typeof faultKinds)[number];

/** A node chosen now, or "whoever leads when the fault starts". */
export type Target = { readonly kind: 'leader' } | { readonly kind: 'node'; readonly id: string };

/**
 * A fault as planned. `order` is a seeded permutation of the node ids that fixes the shape:
 * - partition-half: the first majority of `order` against the rest.
 * - partition-bridge: two halves joined by one node (order[floor(n/2)]) that sees both.
 * - partition-ring: nodes on a ring in `order`; each hears a majority, no two the same one.
 * - kill-majority: the nodes to kill, taken from `order` (after the leader, if `withLeader`).
 * - membership: `replace` removes `remove` (through the SDK), stops it, and starts a fresh node
 *   that joins by itself (a learner the leader promotes once caught up); `learner` adds a fresh
 *   node as a learner, promotes it once caught up, then removes `remove`. The size stays the same.
 */
export type Fault =
  | { readonly kind: 'partition-leader' }
  | { readonly kind: 'partition-half'; readonly order: readonly string[] }
  | { readonly kind: 'partition-bridge'; readonly order: readonly string[] }
  | { readonly kind: 'partition-ring'; readonly order: readonly string[] }
  | { readonly kind: 'kill'; readonly target: Target }
  | { readonly kind: 'kill-majority'; readonly withLeader: boolean; readonly order: readonly string[] }
  | { readonly kind: 'pause'; readonly target: Target }
  | { readonly kind: 'membership'; readonly variant: MembershipVariant; readonly remove: Target };

export const membershipVariants = ['replace', 'learner'] as const;
export type MembershipVariant = (typeof membershipVariants)[number];

/** One fault of a plan. Times are milliseconds since the workload started. */
export interface PlannedFault {
  /** 1-based position in the plan. */
  readonly index: number;
  readonly fault: Fault;
  readonly startMs: number;
  /** How long the fault stays in effect before it is healed. */
  readonly holdMs: number;
}

export interface NemesisPlanOptions {
  /** The kinds to draw from; each appears once before any repeats (a shuffled deck). */
  readonly kinds: readonly FaultKind[];
  readonly nodeIds: readonly string[];
  readonly seed: number;
  /** No fault before this. */
  readonly windowStartMs: number;
  /** Every fault, with its heal allowance, ends by this. */
  readonly windowEndMs: number;
  readonly holdMsMin: number;
  readonly holdMsMax: number;
  /** Quiet time between a heal and the next fault. */
  readonly gapMsMin: number;
  readonly gapMsMax: number;
}

/**
 * Time reserved after a fault's hold for healing it and confirming the heal: a killed node
 * must start again (a fresh Node.js process) and catch up.
 */
export function healAllowanceMs(kind: FaultKind): number {
  switch (kind) {
    case 'kill':
    case 'kill-majority':
      return 3000;
    case 'membership':
      // A fresh node process starts, joins, catches up (a snapshot) and is promoted, all while
      // the fault is being injected; the allowance keeps the schedule from running late.
      return 8000;
    case 'partition-leader':
    case 'partition-half':
    case 'partition-bridge':
    case 'partition-ring':
    case 'pause':
      return 1000;
    default:
      return assertNever(kind);
  }
}

/** Mixes the run seed into the nemesis stream, so it differs from the workload's. */
export function nemesisSeed(seed: number): number {
  return (seed ^ 0x6e656d65) >>> 0;
}

/**
 * The schedule for a run: faults back to back inside the window, each with a seeded hold and
 * gap, kinds dealt from a reshuffled deck so every named kind comes up before any repeats.
 * Stops at the first fault that would not end inside the window. Deterministic in its options.
 */
export function planNemesis(options: NemesisPlanOptions): PlannedFault[] {
  checkPlanOptions(options);
  const plan: PlannedFault[] = [];
  if (options.kinds.length === 0) return plan;
  const rng = new SeededRng(nemesisSeed(options.seed));
  let deck: FaultKind[] = [];
  let atMs = options.windowStartMs;
  for (;;) {
    if (deck.length === 0) deck = rng.shuffled(options.kinds);
    const kind = deck.shift() as FaultKind;
    const holdMs = between(rng, options.holdMsMin, options.holdMsMax);
    const fault = drawFault(kind, options.nodeIds, rng);
    const gapMs = between(rng, options.gapMsMin, options.gapMsMax);
    if (atMs + holdMs + healAllowanceMs(kind) > options.windowEndMs) return plan;
    plan.push({ index: plan.length + 1, fault, startMs: atMs, holdMs });
    atMs += holdMs + healAllowanceMs(kind) + gapMs;
  }
}

function drawFault(kind: FaultKind, nodeIds: readonly string[], rng: SeededRng): Fault {
  switch (kind) {
    case 'partition-leader':
      return { kind };
    case 'partition-half':
    case 'partition-bridge':
    case 'partition-ring':
      return { kind, order: rng.shuffled(nodeIds) };
    case 'kill':
    case 'pause':
      // Half the time the leader, the other half any node (the leader again, possibly).
      return { kind, target: rng.chance(1, 2) ? { kind: 'leader' } : { kind: 'node', id: rng.pick(nodeIds) } };
    case 'kill-majority':
      return { kind, withLeader: rng.chance(1, 2), order: rng.shuffled(nodeIds) };
    case 'membership': {
      const variant = rng.pick(membershipVariants);
      return { kind, variant, remove: rng.chance(1, 2) ? { kind: 'leader' } : { kind: 'node', id: rng.pick(nodeIds) } };
    }
    default:
      return assertNever(kind);
  }
}

/** Node slots a backend must lay out beyond the initial nodes: one per membership fault (each adds a fresh node). */
export function spareNodesFor(plan: readonly PlannedFault[]): number {
  return plan.filter((planned) => planned.fault.kind === 'membership').length;
}

/** Parses "kill,pause" or "all" into kinds, in the given order, without repeats. */
export function parseNemesis(text: string): FaultKind[] | { readonly error: string } {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) return { error: `expected fault names, got "${text}"` };
  if (names.includes('none')) return names.length === 1 ? [] : { error: '"none" cannot be combined with other faults' };
  const kinds: FaultKind[] = [];
  for (const name of names) {
    if (name === 'all') {
      for (const kind of faultKinds) if (!kinds.includes(kind)) kinds.push(kind);
      continue;
    }
    const kind = faultKinds.find((known) => known === name);
    if (kind === undefined) return { error: `unknown fault "${name}" (known: ${faultKinds.join(', ')}, all, none)` };
    if (!kinds.includes(kind)) kinds.push(kind);
  }
  return kinds;
}

// ---------------------------------------------------------------------------------------------
// Partition shapes. A partition is a set of directed links to cut; links are directed because
// each node dials the other (see link-proxy.ts), and the ring of an even majority needs one way
// cuts. Symmetric shapes cut both directions.

/** Votes needed to win in a cluster of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Every directed link between a node of `a` and a node of `b`, both ways. */
export function linksBetween(a: readonly string[], b: readonly string[]): Link[] {
  const links: Link[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x === y) continue;
      links.push({ from: x, to: y }, { from: y, to: x });
    }
  }
  return links;
}

/** partition-leader: the leader alone, on both sides of every link. */
export function isolateLinks(nodeIds: readonly string[], isolated: string): Link[] {
  return linksBetween([isolated], nodeIds.filter((id) => id !== isolated));
}

/** partition-half: the first majority of `order` cannot talk to the rest. */
export function halfLinks(order: readonly string[]): { majority: string[]; minority: string[]; links: Link[] } {
  const m = majority(order.length);
  const major = order.slice(0, m);
  const minor = order.slice(m);
  return { majority: major, minority: minor, links: linksBetween(major, minor) };
}

/**
 * partition-bridge: order[0..h) and order(h..n) are cut from each other, order[h] (h = floor(n/2))
 * talks to both. With 5 nodes: {a,b} | c | {d,e}; with 3: {a} | b | {c}.
 */
export function bridgeLinks(order: readonly string[]): { bridge: string; links: Link[] } {
  const h = Math.floor(order.length / 2);
  return { bridge: order[h] as string, links: linksBetween(order.slice(0, h), order.slice(h + 1)) };
}

/**
 * partition-ring: on a ring in `order`, node i hears the m-1 nodes nearest to it (m = majority):
 * k = floor((m-1)/2) on each side, plus its successor at distance k+1 when m-1 is odd. So each
 * node hears a majority (itself included) and no two hear the same one. With 5 nodes this is
 * symmetric (each hears both neighbours); with 3 it is one way (each hears only its successor),
 * so no node hears back from anyone it sends to and no leader can stand.
 */
export function ringLinks(order: readonly string[]): Link[] {
  const n = order.length;
  const heard = majority(n) - 1;
  const k = Math.floor(heard / 2);
  const links: Link[] = [];
  order.forEach((to, i) => {
    const hears = new Set<string>();
    for (let d = 1; d <= k; d++) {
      hears.add(order[(i + d) % n] as string);
      hears.add(order[(i - d + n) % n] as string);
    }
    if (heard % 2 === 1) hears.add(order[(i + k + 1) % n] as string);
    for (const from of order) if (from !== to && !hears.has(from)) links.push({ from, to });
  });
  return links;
}

/**
 * Nodes that cannot lead while `cut` is in effect: a leader needs a majority (itself included)
 * it can both send to and hear from, or CheckQuorum makes it step down within an election
 * timeout. These are the nodes whose loss of leadership confirms a partition.
 */
export function nodesWithoutQuorum(nodeIds: readonly string[], cut: readonly Link[]): string[] {
  const isCut = new Set(cut.map((link) => `${link.from}->${link.to}`));
  const m = majority(nodeIds.length);
  return nodeIds.filter((x) => {
    const both = nodeIds.filter((y) => y !== x && !isCut.has(`${x}->${y}`) && !isCut.has(`${y}->${x}`));
    return both.length + 1 < m;
  });
}

/**
 * The nodes that stay fully connected to each other with a majority, if there is such a group
 * (the side expected to elect a leader). Only for the symmetric shapes where it is well defined.
 */
export function connectedMajority(nodeIds: readonly string[], cut: readonly Link[]): string[] | null {
  const isCut = new Set(cut.map((link) => `${link.from}->${link.to}`));
  const m = majority(nodeIds.length);
  // Components of the graph of links open both ways.
  const seen = new Set<string>();
  for (const start of nodeIds) {
    if (seen.has(start)) continue;
    const component: string[] = [];
    const stack = [start];
    seen.add(start);
    while (stack.length > 0) {
      const x = stack.pop() as string;
      component.push(x);
      for (const y of nodeIds) {
        if (seen.has(y) || isCut.has(`${x}->${y}`) || isCut.has(`${y}->${x}`)) continue;
        seen.add(y);
        stack.push(y);
      }
    }
    if (component.length >= m) return component.sort();
  }
  return null;
}

/** One line per fault for logs and reports, e.g. "partition-half [n2,n3 | n1]". */
export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'partition-leader':
      return 'partition-leader';
    case 'partition-half': {
      const { majority: major, minority: minor } = halfLinks(fault.order);
      return `partition-half [${major.join(',')} | ${minor.join(',')}]`;
    }
    case 'partition-bridge': {
      const h = Math.floor(fault.order.length / 2);
      return `partition-bridge [${fault.order.slice(0, h).join(',')} | ${fault.order[h]} | ${fault.order.slice(h + 1).join(',')}]`;
    }
    case 'partition-ring':
      return `partition-ring [${fault.order.join(' > ')}]`;
    case 'kill':
    case 'pause':
      return `${fault.kind} ${fault.target.kind === 'leader' ? 'leader' : fault.target.id}`;
    case 'kill-majority':
      return `kill-majority ${fault.withLeader ? 'with leader' : 'from'} [${fault.order.join(',')}]`;
    case 'membership': {
      const removed = fault.remove.kind === 'leader' ? 'leader' : fault.remove.id;
      return fault.variant === 'replace' ? `membership replace ${removed}` : `membership learner, then remove ${removed}`;
    }
    default:
      return assertNever(fault);
  }
}

/** The nodes kill-majority kills: the leader first when asked for, then `order`, a majority in all. */
export function killMajorityVictims(fault: { readonly withLeader: boolean; readonly order: readonly string[] }, leader: string | null): string[] {
  const m = majority(fault.order.length);
  if (fault.withLeader && leader !== null) return [leader, ...fault.order.filter((id) => id !== leader)].slice(0, m);
  return fault.order.filter((id) => id !== leader).slice(0, m);
}

function between(rng: SeededRng, min: number, max: number): number {
  return min + rng.int(max - min + 1);
}

function checkPlanOptions(options: NemesisPlanOptions): void {
  const problems: string[] = [];
  if (options.nodeIds.length < 1) problems.push('no nodes');
  if (new Set(options.nodeIds).size !== options.nodeIds.length) problems.push('repeated node ids');
  if (!Number.isInteger(options.seed)) problems.push(`seed ${options.seed} is not an integer`);
  for (const [name, min, max] of [
    ['hold', options.holdMsMin, options.holdMsMax],
    ['gap', options.gapMsMin, options.gapMsMax],
  ] as const) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) problems.push(`${name} range [${min}, ${max}] is not valid`);
  }
  if (options.windowEndMs < options.windowStartMs) problems.push('window ends before it starts');
  if (problems.length > 0) throw new RangeError(`nemesis plan: ${problems.join('; ')}`);
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
