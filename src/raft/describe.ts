import { assertNever } from './assert.js';
import type { ConfChangeOp, ConfChangeRecord } from './conf-change.js';
import { describeMembership } from './membership.js';
import type { Message } from './message.js';
import type { Ready } from './ready.js';
import type { Entry } from './types.js';

/**
 * The one canonical text of a message (STYLE habit 12): logs, simulator transcripts and test
 * failures all use it, so they can be diffed and grepped.
 */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'vote-request':
      return `${head}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''} last=${m.lastLogIndex}/t${m.lastLogTerm}`;
    case 'vote-response':
      return `${head}${m.preVote ? ' pre' : ''} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `${head} prev=${m.prevLogIndex}/t${m.prevLogTerm} commit=${m.commit} entries=${describeEntries(m.entries)}`;
    case 'append-response':
      return m.success
        ? `${head} ok index=${m.index}`
        : `${head} reject index=${m.index} hint=${m.rejectHintIndex}/t${m.rejectHintTerm}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} lease=${m.leaseTick}${m.readContext === '' ? '' : ` read=${m.readContext}`}`;
    case 'heartbeat-response':
      return `${head} lease=${m.leaseTick}${m.readContext === '' ? '' : ` read=${m.readContext}`}`;
    case 'snapshot':
      return `${head} snapshot=${m.snapshot.meta.index}/t${m.snapshot.meta.term} ${describeMembership(m.snapshot.meta.membership)}`;
    case 'timeout-now':
      return head;
    case 'read-index':
      return `${head} read=${m.context}`;
    case 'read-index-response':
      return `${head} read=${m.context} index=${m.index}`;
    default:
      return assertNever(m, 'message');
  }
}

/**
 * Entries as `[first..last]/tTERM...` runs, compact enough for one log line. A conf-change entry
 * stands alone, marked `INDEX/tTERM:conf`.
 */
export function describeEntries(entries: readonly Entry[]): string {
  if (entries.length === 0) return '[]';
  const runs: string[] = [];
  let start = entries[0] as Entry;
  let previous = start;
  for (const entry of entries.slice(1)) {
    if (entry.term !== previous.term || entry.type !== 'normal' || previous.type !== 'normal') {
      runs.push(run(start, previous));
      start = entry;
    }
    previous = entry;
  }
  runs.push(run(start, previous));
  return `[${runs.join(' ')}]`;
}

function run(first: Entry, last: Entry): string {
  if (first.type === 'conf-change') return `${first.index}/t${first.term}:conf`;
  return first.index === last.index ? `${first.index}/t${first.term}` : `${first.index}..${last.index}/t${first.term}`;
}

/** The canonical text of a conf-change entry's data, e.g. `requested add-learner(n4,auto) -> voters=n1,n2,n3 learners=n4 auto=n4`. */
export function describeConfChange(record: ConfChangeRecord): string {
  const ops = record.ops.map(describeConfChangeOp).join(' ');
  return `${record.kind}${ops === '' ? '' : ` ${ops}`} -> ${describeMembership(record.membership)}`;
}

function describeConfChangeOp(op: ConfChangeOp): string {
  switch (op.type) {
    case 'add-learner':
      return `add-learner(${op.node}${op.autoPromote ? ',auto' : ''})`;
    case 'promote':
    case 'remove':
      return `${op.type}(${op.node})`;
    default:
      return assertNever(op, 'conf change operation');
  }
}

/** The canonical one-line text of a Ready. */
export function describeReady(ready: Ready): string {
  const parts: string[] = [];
  if (ready.softState) parts.push(`soft=${ready.softState.role}/t${ready.softState.term}/leader=${ready.softState.leader ?? '-'}`);
  if (ready.hardState) parts.push(`hard=t${ready.hardState.term}/vote=${ready.hardState.vote ?? '-'}/commit=${ready.hardState.commit}`);
  if (ready.membership) parts.push(`membership=[${describeMembership(ready.membership)}]`);
  if (ready.snapshot) parts.push(`snapshot=${ready.snapshot.meta.index}/t${ready.snapshot.meta.term}`);
  if (ready.entries.length > 0) parts.push(`entries=${describeEntries(ready.entries)}`);
  if (ready.committedEntries.length > 0) parts.push(`apply=${describeEntries(ready.committedEntries)}`);
  if (ready.readStates.length > 0) parts.push(`reads=${ready.readStates.map((r) => `${r.context}@${r.index}`).join(',')}`);
  if (ready.messages.length > 0) parts.push(`messages=${ready.messages.length}`);
  return parts.length === 0 ? 'ready: empty' : `ready: ${parts.join(' ')}`;
}
