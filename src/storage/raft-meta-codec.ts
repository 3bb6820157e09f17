/**
 * Stored forms of the Raft metadata in `raft-meta`. Each starts with a format version byte so
 * it can evolve; decoders throw BinaryDecodeError on anything they do not recognise.
 *
 *   hard state:    v1 | term u64 | commit u64 | vote: u8 length + UTF-8 (length 0 = no vote)
 *   log position:  v1 | index u64 | term u64
 *   membership:    v1 | voters: u16 count, each u8 length + UTF-8 | learners: the same
 *                  v2 | voters | learners | outgoingVoters | autoPromote (each as above); v2 is
 *                  written only for a joint configuration or one with auto-promote learners, so
 *                  a store that never saw a membership change reads the same to older versions
 *                  v3 | as v2 | context: u32 length + bytes (conf-change.ts rule 7); written only
 *                  for a membership with a context
 *   snapshot meta: v1 | index u64 | term u64 | membership (as above, with its version byte)
 */
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';
import { nodeId, type HardState, type LogPosition, type Membership, type NodeId, type SnapshotMeta } from '../raft/index.js';

const formatVersion = 1;
/** The membership format with the joint-consensus and auto-promotion lists. */
const membershipFormatVersion2 = 2;
/** The membership format with the configuration's context (the driver's address book). */
const membershipFormatVersion3 = 3;
/** The most bytes a membership's context may hold (the core's bound). */
export const membershipContextBytesMax = 64 * 1024;
/** Node ids are length-prefixed by one byte. */
export const nodeIdBytesMax = 0xff;
/** Members per list: a u16 count. */
export const membersMax = 0xffff;

export function encodeHardState(hardState: HardState): Uint8Array {
  return new ByteWriter()
    .u8(formatVersion)
    .u64(hardState.term)
    .u64(hardState.commit)
    .string(hardState.vote ?? '', 'u8')
    .finish();
}

export function decodeHardState(value: Uint8Array): HardState {
  const reader = versioned(value, 'hard state');
  const term = reader.u64('hard state term');
  const commit = reader.u64('hard state commit');
  const vote = reader.string('u8', nodeIdBytesMax, 'hard state vote');
  reader.end('hard state');
  return { term, commit, vote: vote === '' ? null : nodeId(vote) };
}

export function encodeLogPosition(position: LogPosition): Uint8Array {
  return new ByteWriter(17).u8(formatVersion).u64(position.index).u64(position.term).finish();
}

export function decodeLogPosition(value: Uint8Array): LogPosition {
  const reader = versioned(value, 'log position');
  const position = { index: reader.u64('log position index'), term: reader.u64('log position term') };
  reader.end('log position');
  return position;
}

export function encodeMembership(membership: Membership): Uint8Array {
  const writer = new ByteWriter();
  writeMembership(writer, membership);
  return writer.finish();
}

export function decodeMembership(value: Uint8Array): Membership {
  const reader = new ByteReader(value);
  const membership = readMembership(reader);
  reader.end('membership');
  return membership;
}

export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  const writer = new ByteWriter().u8(formatVersion).u64(meta.index).u64(meta.term);
  writeMembership(writer, meta.membership);
  return writer.finish();
}

export function decodeSnapshotMeta(value: Uint8Array): SnapshotMeta {
  const reader = versioned(value, 'snapshot meta');
  const index = reader.u64('snapshot meta index');
  const term = reader.u64('snapshot meta term');
  const membership = readMembership(reader);
  reader.end('snapshot meta');
  return { index, term, membership };
}

function writeMembership(writer: ByteWriter, membership: Membership): void {
  const outgoingVoters = membership.outgoingVoters ?? [];
  const autoPromote = membership.autoPromote ?? [];
  const context = membership.context ?? new Uint8Array(0);
  const version = context.byteLength > 0 ? membershipFormatVersion3 : outgoingVoters.length > 0 || autoPromote.length > 0 ? membershipFormatVersion2 : formatVersion;
  writer.u8(version);
  const lists = version === formatVersion ? [membership.voters, membership.learners] : [membership.voters, membership.learners, outgoingVoters, autoPromote];
  for (const list of lists) {
    writer.u16(list.length);
    for (const id of list) writer.string(id, 'u8');
  }
  if (version === membershipFormatVersion3) writer.bytes(context, 'u32');
}

function readMembership(reader: ByteReader): Membership {
  const version = reader.u8('membership version');
  if (version !== formatVersion && version !== membershipFormatVersion2 && version !== membershipFormatVersion3) {
    throw new BinaryDecodeError(`membership: unknown format version ${version}`);
  }
  const voters = readNodeIds(reader, 'voters');
  const learners = readNodeIds(reader, 'learners');
  if (version === formatVersion) return { voters, learners };
  const outgoingVoters = readNodeIds(reader, 'outgoingVoters');
  const autoPromote = readNodeIds(reader, 'autoPromote');
  const context = version === membershipFormatVersion3 ? reader.bytes('u32', membershipContextBytesMax, 'membership context') : new Uint8Array(0);
  return {
    voters,
    learners,
    ...(outgoingVoters.length > 0 ? { outgoingVoters } : {}),
    ...(autoPromote.length > 0 ? { autoPromote } : {}),
    ...(context.byteLength > 0 ? { context } : {}),
  };
}

function readNodeIds(reader: ByteReader, field: string): NodeId[] {
  const count = reader.u16(`membership ${field} count`);
  const ids: NodeId[] = [];
  for (let i = 0; i < count; i++) {
    const id = reader.string('u8', nodeIdBytesMax, `membership ${field}[${i}]`);
    if (id === '') throw new BinaryDecodeError(`membership ${field}[${i}]: empty node id`);
    ids.push(nodeId(id));
  }
  return ids;
}

function versioned(value: Uint8Array, what: string): ByteReader {
  const reader = new ByteReader(value);
  const version = reader.u8(`${what} version`);
  if (version !== formatVersion) throw new BinaryDecodeError(`${what}: unknown format version ${version}`);
  return reader;
}
