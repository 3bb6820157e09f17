import type { Membership, NodeId } from './types.js';

const emptyContext = new Uint8Array(0);
/** The most bytes a configuration's context may hold (the same bound as a change's context). */
export const membershipContextBytesMax = 64 * 1024;

/*
 * Helpers over the Membership value. A valid membership (`membershipProblem` returns null) has
 * non-empty ids, each listed once per list; learners disjoint from both voter sets (voters and
 * outgoingVoters may share the members a joint change keeps); autoPromote a subset of learners;
 * and, while joint, incoming voters.
 */

/** Whether `membership` is a joint configuration C_old,new (thesis §4.3). */
export function isJoint(membership: Membership): boolean {
  return (membership.outgoingVoters?.length ?? 0) > 0;
}

/** The voters of the outgoing configuration; empty when not joint. */
export function outgoingVotersOf(membership: Membership): readonly NodeId[] {
  return membership.outgoingVoters ?? [];
}

/** Learners to be promoted automatically; empty when none. */
export function autoPromoteOf(membership: Membership): readonly NodeId[] {
  return membership.autoPromote ?? [];
}

/** The opaque context carried with the configuration; empty when none (conf-change.ts rule 7). */
export function contextOf(membership: Membership): Uint8Array {
  return membership.context ?? emptyContext;
}

/** Whether `id` votes in either configuration (so it may campaign and its vote counts). */
export function isVoterIn(membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id) || outgoingVotersOf(membership).includes(id);
}

/** Whether `id` is in the membership at all: voter, outgoing voter or learner. */
export function isMemberOf(membership: Membership, id: NodeId): boolean {
  return isVoterIn(membership, id) || membership.learners.includes(id);
}

/** Every member, each once: voters, then outgoing-only voters, then learners. */
export function allMembers(membership: Membership): NodeId[] {
  const out = [...membership.voters];
  for (const id of [...outgoingVotersOf(membership), ...membership.learners]) if (!out.includes(id)) out.push(id);
  return out;
}

/** The membership with the optional lists spelled out, so two equal memberships compare equal. */
export function normalizeMembership(membership: Membership): Membership {
  const outgoingVoters = outgoingVotersOf(membership);
  const autoPromote = autoPromoteOf(membership);
  const context = contextOf(membership);
  return {
    voters: [...membership.voters],
    learners: [...membership.learners],
    ...(outgoingVoters.length > 0 ? { outgoingVoters: [...outgoingVoters] } : {}),
    ...(autoPromote.length > 0 ? { autoPromote: [...autoPromote] } : {}),
    ...(context.byteLength > 0 ? { context } : {}),
  };
}

/** Same members in the same roles (list order ignored), with the same context bytes. */
export function sameMembership(a: Membership, b: Membership): boolean {
  return (
    sameSet(a.voters, b.voters) &&
    sameSet(a.learners, b.learners) &&
    sameSet(outgoingVotersOf(a), outgoingVotersOf(b)) &&
    sameSet(autoPromoteOf(a), autoPromoteOf(b)) &&
    sameBytes(contextOf(a), contextOf(b))
  );
}

/** What is wrong with `membership` as a value, or null if nothing is. */
export function membershipProblem(membership: Membership): string | null {
  const lists: [string, readonly NodeId[]][] = [
    ['voters', membership.voters],
    ['learners', membership.learners],
    ['outgoingVoters', outgoingVotersOf(membership)],
    ['autoPromote', autoPromoteOf(membership)],
  ];
  for (const [name, list] of lists) {
    if (list.some((id) => id.length === 0)) return `${name}: an empty node id`;
    if (new Set(list).size !== list.length) return `${name}: a node is listed twice`;
  }
  for (const id of membership.learners) {
    if (isVoterIn(membership, id)) return `${id} is both a learner and a voter`;
  }
  for (const id of autoPromoteOf(membership)) {
    if (!membership.learners.includes(id)) return `autoPromote: ${id} is not a learner`;
  }
  if (isJoint(membership) && membership.voters.length === 0) return 'a joint configuration needs incoming voters';
  const contextBytes = contextOf(membership).byteLength;
  if (contextBytes > membershipContextBytesMax) return `context: ${contextBytes} bytes, at most ${membershipContextBytesMax}`;
  return null;
}

/** The one canonical text of a membership (STYLE habit 12). */
export function describeMembership(membership: Membership): string {
  const parts = [`voters=${membership.voters.join(',') || '-'}`];
  if (isJoint(membership)) parts.push(`outgoing=${outgoingVotersOf(membership).join(',')}`);
  if (membership.learners.length > 0) parts.push(`learners=${membership.learners.join(',')}`);
  if (autoPromoteOf(membership).length > 0) parts.push(`auto=${autoPromoteOf(membership).join(',')}`);
  return parts.join(' ');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

function sameSet(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}
