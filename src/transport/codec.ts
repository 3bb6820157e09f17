/**
 * Converts between the Raft core's `Message` union and the raftkv.v1 `RaftMessage` wire object.
 * Pure functions: no I/O, no state.
 *
 * The wire objects are the shapes @grpc/proto-loader produces with the options in
 * `../shared/proto.ts`: { keepCase: false, longs: Number, enums: String, defaults: true,
 * oneofs: true, bytes: Buffer }. Why these:
 * - keepCase false: camelCase fields line up with the TypeScript names (`prevLogIndex`).
 * - longs Number: terms and indexes are `number` in the core; a uint64 beyond 2^53 would lose
 *   precision, so `decodeMessage` refuses any value that is not a safe integer.
 * - enums String: a message type reads as 'APPEND' in logs and code; an enum number this version
 *   does not know stays a number after decoding and is refused.
 * - defaults true: every scalar field is present (0, false, ''), so "absent" and "zero" decode
 *   alike, as proto3 means them to; absent sub-messages decode as null and are refused where
 *   required (a snapshot message without its snapshot).
 * - bytes Buffer: entry and snapshot data arrive as Buffers (copied on decode, see `readBytes`).
 * - oneofs true: the peer proto has no oneof yet; this keeps the options one set for all protos.
 *
 * Encoding emits only the fields the message type uses; proto3 sends nothing for the rest.
 */
import {
  ConfChangeDecodeError,
  assertNever,
  decodeConfChange,
  membershipProblem,
  nodeId,
  type Entry,
  type EntryType,
  type Membership,
  type Message,
  type MessageType,
  type NodeId,
  type Snapshot,
} from '../raft/index.js';
import { malformed, readArray, readBool, readBytes, readNodeIdString, readRecord, readString, readUint, showValue } from './wire-fields.js';
import type { WireEntry, WireEntryType, WireMessageType, WireRaftMessage, WireSnapshot } from './wire-types.js';

const wireTypeOf: Readonly<Record<MessageType, WireMessageType>> = {
  'vote-request': 'VOTE_REQUEST',
  'vote-response': 'VOTE_RESPONSE',
  append: 'APPEND',
  'append-response': 'APPEND_RESPONSE',
  heartbeat: 'HEARTBEAT',
  'heartbeat-response': 'HEARTBEAT_RESPONSE',
  snapshot: 'SNAPSHOT',
  'timeout-now': 'TIMEOUT_NOW',
  'read-index': 'READ_INDEX',
  'read-index-response': 'READ_INDEX_RESPONSE',
};

const wireEntryTypeOf: Readonly<Record<EntryType, WireEntryType>> = {
  normal: 'ENTRY_TYPE_NORMAL',
  'conf-change': 'ENTRY_TYPE_CONF_CHANGE',
};

const entryTypeOf: ReadonlyMap<unknown, EntryType> = new Map(
  (Object.entries(wireEntryTypeOf) as [EntryType, WireEntryType][]).map(([type, wire]) => [wire, type]),
);

/** Where a heartbeat's `leaseTick` travels (raft.proto `lease_tick`). */
const leaseTickField = 'leaseTick';

const messageTypeOf: ReadonlyMap<unknown, MessageType> = new Map(
  (Object.entries(wireTypeOf) as [MessageType, WireMessageType][]).map(([type, wire]) => [wire, type]),
);

/** Encodes one message for the wire. Total over the union: every message the core makes can be sent. */
export function encodeMessage(message: Message): WireRaftMessage {
  const head = { type: wireTypeOf[message.type], from: message.from, to: message.to, term: message.term };
  switch (message.type) {
    case 'vote-request':
      return {
        ...head,
        preVote: message.preVote,
        lastLogIndex: message.lastLogIndex,
        lastLogTerm: message.lastLogTerm,
        transfer: message.transfer,
      };
    case 'vote-response':
      return { ...head, preVote: message.preVote, granted: message.granted };
    case 'append':
      return {
        ...head,
        prevLogIndex: message.prevLogIndex,
        prevLogTerm: message.prevLogTerm,
        entries: message.entries.map(encodeEntry),
        commit: message.commit,
      };
    case 'append-response':
      return {
        ...head,
        success: message.success,
        index: message.index,
        rejectHintIndex: message.rejectHintIndex,
        rejectHintTerm: message.rejectHintTerm,
      };
    case 'heartbeat':
      return { ...head, commit: message.commit, context: message.readContext, [leaseTickField]: message.leaseTick };
    case 'heartbeat-response':
      return { ...head, context: message.readContext, [leaseTickField]: message.leaseTick };
    case 'snapshot':
      return { ...head, snapshot: encodeSnapshot(message.snapshot) };
    case 'timeout-now':
      return head;
    case 'read-index':
      return { ...head, context: message.context };
    case 'read-index-response':
      return { ...head, context: message.context, index: message.index };
    default:
      return assertNever(message, 'message');
  }
}

function encodeEntry(entry: Entry): WireEntry {
  return { term: entry.term, index: entry.index, type: wireEntryTypeOf[entry.type], data: entry.data };
}

function encodeSnapshot(snapshot: Snapshot): WireSnapshot {
  const { meta } = snapshot;
  return {
    meta: {
      index: meta.index,
      term: meta.term,
      membership: {
        voters: [...meta.membership.voters],
        learners: [...meta.membership.learners],
        outgoingVoters: [...(meta.membership.outgoingVoters ?? [])],
        autoPromote: [...(meta.membership.autoPromote ?? [])],
        context: meta.membership.context ?? new Uint8Array(0),
      },
    },
    data: snapshot.data,
  };
}

/**
 * Decodes and validates one message from a peer. `path` names the message in errors (e.g.
 * `messages[3]`).
 *
 * Contract: returns a message the core can step without further checks on its shape — known
 * type, non-empty `from`/`to`, every number a safe non-negative integer, and the invariants a
 * correct sender always keeps (terms never above the message term; append entries contiguous
 * after `prevLogIndex` with non-decreasing terms; a snapshot with metadata and a membership
 * that has a voter). Anything else throws a `PeerProtocolError` ('malformed') naming the field
 * and the bad value. It does not check who the message is for: see `decodeBatch`.
 */
export function decodeMessage(wire: unknown, path = 'message'): Message {
  const record = readRecord(wire, path);
  const type = messageTypeOf.get(record['type']);
  if (type === undefined) throw malformed(`${path}.type`, `unknown message type ${showValue(record['type'])}`);
  const from = nodeId(readNodeIdString(record, 'from', path));
  const to = nodeId(readNodeIdString(record, 'to', path));
  const term = readUint(record, 'term', path);
  const head = { from, to, term };
  switch (type) {
    case 'vote-request': {
      const lastLogIndex = readUint(record, 'lastLogIndex', path);
      const lastLogTerm = notAboveTerm(readUint(record, 'lastLogTerm', path), term, `${path}.lastLogTerm`);
      return {
        type,
        ...head,
        preVote: readBool(record, 'preVote', path),
        lastLogIndex,
        lastLogTerm,
        transfer: readBool(record, 'transfer', path),
      };
    }
    case 'vote-response':
      return { type, ...head, preVote: readBool(record, 'preVote', path), granted: readBool(record, 'granted', path) };
    case 'append': {
      const prevLogIndex = readUint(record, 'prevLogIndex', path);
      const prevLogTerm = notAboveTerm(readUint(record, 'prevLogTerm', path), term, `${path}.prevLogTerm`);
      const entries = decodeEntries(record, path, { prevLogIndex, prevLogTerm, term });
      return { type, ...head, prevLogIndex, prevLogTerm, entries, commit: readUint(record, 'commit', path) };
    }
    case 'append-response':
      return {
        type,
        ...head,
        success: readBool(record, 'success', path),
        index: readUint(record, 'index', path),
        rejectHintIndex: readUint(record, 'rejectHintIndex', path),
        rejectHintTerm: readUint(record, 'rejectHintTerm', path),
      };
    case 'heartbeat':
      return {
        type,
        ...head,
        commit: readUint(record, 'commit', path),
        readContext: readString(record, 'context', path),
        leaseTick: readUint(record, leaseTickField, path),
      };
    case 'heartbeat-response':
      return { type, ...head, readContext: readString(record, 'context', path), leaseTick: readUint(record, leaseTickField, path) };
    case 'snapshot':
      return { type, ...head, snapshot: decodeSnapshot(record['snapshot'], `${path}.snapshot`, term) };
    case 'timeout-now':
      return { type, ...head };
    case 'read-index':
      return { type, ...head, context: readString(record, 'context', path) };
    case 'read-index-response':
      return { type, ...head, context: readString(record, 'context', path), index: readUint(record, 'index', path) };
    default:
      return assertNever(type, 'message type');
  }
}

/** A term carried inside a message never exceeds the sender's term (§5.1: terms only grow). */
function notAboveTerm(value: number, term: number, field: string): number {
  if (value > term) throw malformed(field, `${value} is above the message term ${term}`);
  return value;
}

/**
 * Entries of an AppendEntries: entry i must sit at prevLogIndex+1+i (§5.3: the follower appends
 * them right after the matched position), and terms never decrease along a log, starting from
 * prevLogTerm and never above the leader's term.
 */
function decodeEntries(
  record: Record<string, unknown>,
  path: string,
  at: { prevLogIndex: number; prevLogTerm: number; term: number },
): Entry[] {
  const list = readArray(record, 'entries', path);
  if (!Number.isSafeInteger(at.prevLogIndex + list.length)) {
    throw malformed(`${path}.entries`, `${list.length} entries after prevLogIndex ${at.prevLogIndex} overflow a safe index`);
  }
  const entries: Entry[] = [];
  let previousTerm = at.prevLogTerm;
  for (const [i, item] of list.entries()) {
    const field = `${path}.entries[${i}]`;
    const entry = readRecord(item, field);
    const index = readUint(entry, 'index', field);
    const expected = at.prevLogIndex + 1 + i;
    if (index !== expected) throw malformed(`${field}.index`, `expected ${expected} (contiguous after prevLogIndex ${at.prevLogIndex}), got ${index}`);
    const term = notAboveTerm(readUint(entry, 'term', field), at.term, `${field}.term`);
    if (term < previousTerm) throw malformed(`${field}.term`, `${term} is below the previous term ${previousTerm} (log terms never decrease)`);
    previousTerm = term;
    const type = entryTypeOf.get(entry['type']);
    if (type === undefined) throw malformed(`${field}.type`, `unknown entry type ${showValue(entry['type'])}`);
    const data = readBytes(entry, 'data', field);
    if (type === 'conf-change') {
      // The core decodes a conf-change entry when it appends it; a bad one must stop here.
      try {
        decodeConfChange(data);
      } catch (error) {
        if (error instanceof ConfChangeDecodeError) throw malformed(`${field}.data`, error.message);
        throw error;
      }
    }
    entries.push({ term, index, type, data });
  }
  return entries;
}

/** A snapshot covers at least one entry (index ≥ 1, term ≥ 1) and names a membership with a voter. */
function decodeSnapshot(value: unknown, path: string, messageTerm: number): Snapshot {
  if (value === null || value === undefined) throw malformed(path, 'a snapshot message must carry a snapshot');
  const snapshot = readRecord(value, path);
  const metaPath = `${path}.meta`;
  if (snapshot['meta'] === null || snapshot['meta'] === undefined) throw malformed(metaPath, 'a snapshot must carry its metadata');
  const meta = readRecord(snapshot['meta'], metaPath);
  const index = readUint(meta, 'index', metaPath);
  if (index === 0) throw malformed(`${metaPath}.index`, 'a snapshot must cover at least index 1, got 0');
  const term = notAboveTerm(readUint(meta, 'term', metaPath), messageTerm, `${metaPath}.term`);
  if (term === 0) throw malformed(`${metaPath}.term`, 'an entry at index >= 1 has a term >= 1, got 0');
  const membership = decodeMembership(meta['membership'], `${metaPath}.membership`);
  return { meta: { index, term, membership }, data: readBytes(snapshot, 'data', path) };
}

function decodeMembership(value: unknown, path: string): Membership {
  if (value === null || value === undefined) throw malformed(path, 'a snapshot must carry its membership');
  const membership = readRecord(value, path);
  // Voters and learners are disjoint, so they share one `seen`; outgoing voters may repeat
  // voters, and autoPromote names learners (membershipProblem checks both below).
  const readIds = (key: 'voters' | 'learners' | 'outgoingVoters' | 'autoPromote', seen = new Set<string>()): NodeId[] => {
    // Fields a peer of an older version does not send decode as absent: empty lists.
    if (membership[key] === undefined || membership[key] === null) return [];
    return readArray(membership, key, path).map((id, i) => {
      const field = `${path}.${key}[${i}]`;
      if (typeof id !== 'string' || id.length === 0) throw malformed(field, `expected a non-empty node id, got ${showValue(id)}`);
      if (seen.has(id)) throw malformed(field, `node ${showValue(id)} is listed twice`);
      seen.add(id);
      return nodeId(id);
    });
  };
  const votersAndLearners = new Set<string>();
  const voters = readIds('voters', votersAndLearners);
  const learners = readIds('learners', votersAndLearners);
  const outgoingVoters = readIds('outgoingVoters');
  const autoPromote = readIds('autoPromote');
  if (voters.length === 0) throw malformed(`${path}.voters`, 'a membership needs at least one voter');
  // A peer of an older version sends no context: empty.
  const context = membership['context'] === undefined || membership['context'] === null ? new Uint8Array(0) : readBytes(membership, 'context', path);
  const decoded: Membership = {
    voters,
    learners,
    ...(outgoingVoters.length > 0 ? { outgoingVoters } : {}),
    ...(autoPromote.length > 0 ? { autoPromote } : {}),
    ...(context.byteLength > 0 ? { context } : {}),
  };
  const problem = membershipProblem(decoded);
  if (problem !== null) throw malformed(path, problem);
  return decoded;
}

/** Bytes a string may take in UTF-8: at most 3 per UTF-16 code unit. */
function stringBytesMax(value: string): number {
  return value.length * 3;
}

/**
 * An upper bound on the encoded size of a message, cheap enough for every send. The sender keeps
 * each batch under the gRPC message size limit with it; being generous costs a little batching,
 * being short would get the whole stream refused with RESOURCE_EXHAUSTED.
 */
export function messageBytesUpperBound(message: Message): number {
  // Envelope: the RaftMessage's tag and length, type, from, to, term, and the other scalar
  // fields one type uses (at most three varints of 11 bytes with their tags, a few bools, a
  // string's tag and length): under 70 bytes for any type, so 128 leaves room.
  const envelopeBytes = 128 + stringBytesMax(message.from) + stringBytesMax(message.to);
  switch (message.type) {
    case 'append':
      return envelopeBytes + message.entries.reduce((sum, entry) => sum + 40 + entry.data.byteLength, 0);
    case 'snapshot': {
      const { membership } = message.snapshot.meta;
      const ids = [...membership.voters, ...membership.learners, ...(membership.outgoingVoters ?? []), ...(membership.autoPromote ?? [])];
      const contextBytes = 16 + (membership.context?.byteLength ?? 0);
      return envelopeBytes + 64 + contextBytes + message.snapshot.data.byteLength + ids.reduce((sum, id) => sum + 6 + stringBytesMax(id), 0);
    }
    case 'heartbeat':
    case 'heartbeat-response':
      return envelopeBytes + stringBytesMax(message.readContext);
    case 'read-index':
    case 'read-index-response':
      return envelopeBytes + stringBytesMax(message.context);
    case 'vote-request':
    case 'vote-response':
    case 'append-response':
    case 'timeout-now':
      return envelopeBytes;
    default:
      return assertNever(message, 'message');
  }
}
