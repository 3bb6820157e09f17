/**
 * The data of a `conf-change` entry, encoded by the core itself so every node (and the driver,
 * for the context) reads it the same way:
 *
 *   v1 u8 | kind u8 (0 requested, 1 auto-promote, 2 leave-joint)
 *   | ops: u16 count, each: type u8 (0 add-learner, 1 promote, 2 remove) | flags u8 (1 = autoPromote) | node id
 *   | context: u32 length + bytes
 *   | membership: voters, learners, outgoingVoters, autoPromote: each a u16 count of node ids
 *     | the membership's context (conf-change.ts rule 7): u32 length + bytes
 *
 * A node id is a u8 length + UTF-8. Decoding checks everything and throws ConfChangeDecodeError
 * naming the field; the transport calls it on entries from peers, so the core only sees valid data.
 */
import { assertNever } from './assert.js';
import { confChangeContextBytesMax, type ConfChangeKind, type ConfChangeOp, type ConfChangeRecord } from './conf-change.js';
import { autoPromoteOf, contextOf, membershipProblem, normalizeMembership, outgoingVotersOf } from './membership.js';
import { nodeId, type Membership, type NodeId } from './types.js';

const formatVersion = 1;
const kinds: readonly ConfChangeKind[] = ['requested', 'auto-promote', 'leave-joint'];
const opTypes: readonly ConfChangeOp['type'][] = ['add-learner', 'promote', 'remove'];
const nodeIdBytesMax = 0xff;
const listLengthMax = 0xffff;

/** The data of a conf-change entry is not what this version writes. */
export class ConfChangeDecodeError extends Error {
  override readonly name = 'ConfChangeDecodeError';
  readonly code = 'RAFT_CONF_CHANGE_DECODE';
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(record: ConfChangeRecord): Uint8Array {
  const parts: number[] = [formatVersion, kinds.indexOf(record.kind)];
  const chunks: Uint8Array[] = [];
  const flush = (): void => {
    chunks.push(Uint8Array.from(parts));
    parts.length = 0;
  };
  const u16 = (value: number): void => {
    parts.push((value >>> 8) & 0xff, value & 0xff);
  };
  const id = (value: NodeId): void => {
    const bytes = utf8.encode(value);
    if (bytes.byteLength === 0 || bytes.byteLength > nodeIdBytesMax) throw new RangeError(`conf change: node id ${JSON.stringify(value)} must be 1..${nodeIdBytesMax} bytes`);
    parts.push(bytes.byteLength, ...bytes);
  };
  const list = (ids: readonly NodeId[]): void => {
    if (ids.length > listLengthMax) throw new RangeError(`conf change: at most ${listLengthMax} members per list`);
    u16(ids.length);
    ids.forEach(id);
  };

  u16(record.ops.length);
  for (const op of record.ops) {
    parts.push(opTypes.indexOf(op.type), op.type === 'add-learner' && op.autoPromote ? 1 : 0);
    id(op.node);
  }
  const bytes = (value: Uint8Array): void => {
    const length = value.byteLength;
    parts.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
    flush();
    chunks.push(value);
  };
  bytes(record.context);
  const m = record.membership;
  for (const ids of [m.voters, m.learners, outgoingVotersOf(m), autoPromoteOf(m)]) list(ids);
  bytes(contextOf(m));
  flush();

  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Decodes and validates the data of a conf-change entry; throws ConfChangeDecodeError naming what is wrong. */
export function decodeConfChange(data: Uint8Array): ConfChangeRecord {
  let offset = 0;
  const need = (bytes: number, field: string): void => {
    if (offset + bytes > data.byteLength) throw new ConfChangeDecodeError(`conf change: ${field}: truncated at byte ${offset}`);
  };
  const u8 = (field: string): number => {
    need(1, field);
    return data[offset++] as number;
  };
  const u16 = (field: string): number => (u8(field) << 8) | u8(field);
  const id = (field: string): NodeId => {
    const length = u8(`${field} length`);
    if (length === 0) throw new ConfChangeDecodeError(`conf change: ${field}: empty node id`);
    need(length, field);
    let text: string;
    try {
      text = utf8Decoder.decode(data.subarray(offset, offset + length));
    } catch (error) {
      throw new ConfChangeDecodeError(`conf change: ${field}: not UTF-8`, { cause: error });
    }
    offset += length;
    return nodeId(text);
  };
  const list = (field: string): NodeId[] => {
    const count = u16(`${field} count`);
    return Array.from({ length: count }, (_, i) => id(`${field}[${i}]`));
  };

  const version = u8('version');
  if (version !== formatVersion) throw new ConfChangeDecodeError(`conf change: unknown format version ${version}`);
  const kind = kinds[u8('kind')];
  if (kind === undefined) throw new ConfChangeDecodeError(`conf change: unknown kind ${data[offset - 1]}`);
  const ops: ConfChangeOp[] = [];
  const opCount = u16('ops count');
  for (let i = 0; i < opCount; i++) {
    const type = opTypes[u8(`ops[${i}].type`)];
    if (type === undefined) throw new ConfChangeDecodeError(`conf change: ops[${i}].type: unknown type ${data[offset - 1]}`);
    const flags = u8(`ops[${i}].flags`);
    if (flags > 1 || (flags === 1 && type !== 'add-learner')) throw new ConfChangeDecodeError(`conf change: ops[${i}].flags: unknown flags ${flags}`);
    const node = id(`ops[${i}].node`);
    ops.push(makeOp(type, node, flags === 1));
  }
  const bytes = (field: string): Uint8Array => {
    const length = u16(`${field} length`) * 0x10000 + u16(`${field} length`);
    if (length > confChangeContextBytesMax) throw new ConfChangeDecodeError(`conf change: ${field} is ${length} bytes, at most ${confChangeContextBytesMax}`);
    need(length, field);
    const value = data.slice(offset, offset + length);
    offset += length;
    return value;
  };
  const context = bytes('context');
  const membership: Membership = normalizeMembership({
    voters: list('voters'),
    learners: list('learners'),
    outgoingVoters: list('outgoingVoters'),
    autoPromote: list('autoPromote'),
    context: bytes('membership context'),
  });
  if (offset !== data.byteLength) throw new ConfChangeDecodeError(`conf change: ${data.byteLength - offset} bytes after the end`);
  const problem = membershipProblem(membership);
  if (problem !== null) throw new ConfChangeDecodeError(`conf change: membership: ${problem}`);
  if (membership.voters.length === 0) throw new ConfChangeDecodeError('conf change: membership: no voters');
  return { kind, ops, context, membership };
}

function makeOp(type: ConfChangeOp['type'], node: NodeId, autoPromote: boolean): ConfChangeOp {
  switch (type) {
    case 'add-learner':
      return { type, node, autoPromote };
    case 'promote':
    case 'remove':
      return { type, node };
    default:
      return assertNever(type, 'conf change operation');
  }
}
