/**
 * A MessageBatch (raft.proto) read from protobuf bytes into the very object @grpc/proto-loader
 * would give (the options in ../shared/proto.ts: camelCase, uint64 as numbers, enums by name,
 * bytes as Buffers, defaults filled in), without protobufjs's message instances and the copy its
 * toObject makes of each. decodeBatch then checks it as before. It is stricter than protobufjs
 * in one way: a known field sent with the wrong wire type, a group, or an unknown wire type is
 * refused (protobufjs reads such a field by its declared type regardless, and gets garbage).
 * Byte fields are views into `bytes` (decodeMessage copies what it keeps).
 */

/** Thrown for bytes that are not a well-formed MessageBatch; grpc-js answers INTERNAL and the stream ends. */
export class BatchReadError extends Error {
  override readonly name = 'BatchReadError';
}

const messageTypeNames = [
  'MESSAGE_TYPE_UNSPECIFIED',
  'VOTE_REQUEST',
  'VOTE_RESPONSE',
  'APPEND',
  'APPEND_RESPONSE',
  'HEARTBEAT',
  'HEARTBEAT_RESPONSE',
  'SNAPSHOT',
  'TIMEOUT_NOW',
  'READ_INDEX',
  'READ_INDEX_RESPONSE',
] as const;
const entryTypeNames = ['ENTRY_TYPE_NORMAL', 'ENTRY_TYPE_CONF_CHANGE'] as const;

const varintType = 0;
const lengthDelimited = 2;

/** A cursor over one message's bytes [at, end). */
class Reader {
  constructor(
    readonly bytes: Buffer,
    public at: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.at >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new BatchReadError(`a varint runs past the end at byte ${this.at}`);
      const byte = this.bytes[this.at++] as number;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) return value;
    }
    throw new BatchReadError(`a varint longer than 10 bytes at byte ${this.at}`);
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wireType: number } {
    const tag = this.varint();
    const wireType = tag % 8;
    const field = (tag - wireType) / 8;
    if (field === 0) throw new BatchReadError(`field number 0 at byte ${this.at}`);
    return { field, wireType };
  }

  /** The body of a length-delimited field, as a reader of its own. */
  sub(): Reader {
    const length = this.varint();
    if (length > this.end - this.at) throw new BatchReadError(`a field of ${length} bytes runs past the end at byte ${this.at}`);
    const sub = new Reader(this.bytes, this.at, this.at + length);
    this.at += length;
    return sub;
  }

  bytesField(): Buffer {
    const sub = this.sub();
    return this.bytes.subarray(sub.at, sub.end);
  }

  string(): string {
    const sub = this.sub();
    return this.bytes.toString('utf8', sub.at, sub.end);
  }

  skip(wireType: number): void {
    if (wireType === varintType) this.varint();
    else if (wireType === lengthDelimited) this.sub();
    else if (wireType === 1 || wireType === 5) {
      const width = wireType === 1 ? 8 : 4;
      if (width > this.end - this.at) throw new BatchReadError(`a fixed${width * 8} runs past the end at byte ${this.at}`);
      this.at += width;
    } else throw new BatchReadError(`wire type ${wireType} at byte ${this.at}`);
  }
}

function expectWireType(actual: number, expected: number, what: string, at: number): void {
  if (actual !== expected) throw new BatchReadError(`${what}: wire type ${actual}, expected ${expected}, at byte ${at}`);
}

/** An enum by its name when this version knows the number, else the number (as protobufjs leaves it). */
function enumValue(names: readonly string[], value: number): string | number {
  return names[value] ?? value;
}

/** Reads a MessageBatch; throws BatchReadError for malformed bytes. */
export function readMessageBatch(bytes: Buffer): unknown {
  const reader = new Reader(bytes, 0, bytes.length);
  const batch = { messages: [] as unknown[], clusterId: '', from: '', senderClientAddress: '' };
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (field >= 1 && field <= 4) expectWireType(wireType, lengthDelimited, `MessageBatch field ${field}`, reader.at);
    if (field === 1) batch.clusterId = reader.string();
    else if (field === 2) batch.from = reader.string();
    else if (field === 3) batch.messages.push(readRaftMessage(reader.sub()));
    else if (field === 4) batch.senderClientAddress = reader.string();
    else reader.skip(wireType);
  }
  return batch;
}

/** RaftMessage fields that are uint64 (by field number) and their names. */
const raftMessageNumbers: Readonly<Record<number, string>> = {
  4: 'term',
  6: 'lastLogIndex',
  7: 'lastLogTerm',
  10: 'prevLogIndex',
  11: 'prevLogTerm',
  13: 'commit',
  15: 'index',
  16: 'rejectHintIndex',
  17: 'rejectHintTerm',
  20: 'leaseTick',
};
const raftMessageBools: Readonly<Record<number, string>> = { 5: 'preVote', 8: 'transfer', 9: 'granted', 14: 'success' };
const raftMessageStrings: Readonly<Record<number, string>> = { 2: 'from', 3: 'to', 18: 'context' };

function readRaftMessage(reader: Reader): Record<string, unknown> {
  const message: Record<string, unknown> = {
    entries: [],
    type: messageTypeNames[0],
    from: '',
    to: '',
    term: 0,
    preVote: false,
    lastLogIndex: 0,
    lastLogTerm: 0,
    transfer: false,
    granted: false,
    prevLogIndex: 0,
    prevLogTerm: 0,
    commit: 0,
    success: false,
    index: 0,
    rejectHintIndex: 0,
    rejectHintTerm: 0,
    context: '',
    snapshot: null,
    leaseTick: 0,
  };
  const entries = message['entries'] as unknown[];
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    const number = raftMessageNumbers[field];
    const flag = raftMessageBools[field];
    const text = raftMessageStrings[field];
    if (field === 1) {
      expectWireType(wireType, varintType, 'RaftMessage.type', reader.at);
      message['type'] = enumValue(messageTypeNames, reader.varint());
    } else if (number !== undefined) {
      expectWireType(wireType, varintType, `RaftMessage.${number}`, reader.at);
      message[number] = reader.varint();
    } else if (flag !== undefined) {
      expectWireType(wireType, varintType, `RaftMessage.${flag}`, reader.at);
      message[flag] = reader.varint() !== 0;
    } else if (text !== undefined) {
      expectWireType(wireType, lengthDelimited, `RaftMessage.${text}`, reader.at);
      message[text] = reader.string();
    } else if (field === 12) {
      expectWireType(wireType, lengthDelimited, 'RaftMessage.entries', reader.at);
      entries.push(readEntry(reader.sub()));
    } else if (field === 19) {
      expectWireType(wireType, lengthDelimited, 'RaftMessage.snapshot', reader.at);
      message['snapshot'] = readSnapshot(reader.sub());
    } else reader.skip(wireType);
  }
  return message;
}

function readEntry(reader: Reader): Record<string, unknown> {
  const entry: Record<string, unknown> = { term: 0, index: 0, type: entryTypeNames[0], data: emptyBytes() };
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (field === 1 || field === 2 || field === 3) {
      expectWireType(wireType, varintType, `Entry field ${field}`, reader.at);
      const value = reader.varint();
      if (field === 1) entry['term'] = value;
      else if (field === 2) entry['index'] = value;
      else entry['type'] = enumValue(entryTypeNames, value);
    } else if (field === 4) {
      expectWireType(wireType, lengthDelimited, 'Entry.data', reader.at);
      entry['data'] = reader.bytesField();
    } else reader.skip(wireType);
  }
  return entry;
}

function readSnapshot(reader: Reader): Record<string, unknown> {
  const snapshot: Record<string, unknown> = { meta: null, data: emptyBytes() };
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (field === 1 || field === 2) expectWireType(wireType, lengthDelimited, `Snapshot field ${field}`, reader.at);
    if (field === 1) snapshot['meta'] = readSnapshotMeta(reader.sub());
    else if (field === 2) snapshot['data'] = reader.bytesField();
    else reader.skip(wireType);
  }
  return snapshot;
}

function readSnapshotMeta(reader: Reader): Record<string, unknown> {
  const meta: Record<string, unknown> = { index: 0, term: 0, membership: null };
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (field === 1 || field === 2) {
      expectWireType(wireType, varintType, `SnapshotMeta field ${field}`, reader.at);
      meta[field === 1 ? 'index' : 'term'] = reader.varint();
    } else if (field === 3) {
      expectWireType(wireType, lengthDelimited, 'SnapshotMeta.membership', reader.at);
      meta['membership'] = readMembership(reader.sub());
    } else reader.skip(wireType);
  }
  return meta;
}

const membershipLists: Readonly<Record<number, string>> = { 1: 'voters', 2: 'learners', 3: 'outgoingVoters', 4: 'autoPromote' };

function readMembership(reader: Reader): Record<string, unknown> {
  const membership: Record<string, unknown> = { voters: [], learners: [], outgoingVoters: [], autoPromote: [], context: emptyBytes() };
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    const list = membershipLists[field];
    if (list !== undefined) {
      expectWireType(wireType, lengthDelimited, `Membership.${list}`, reader.at);
      (membership[list] as string[]).push(reader.string());
    } else if (field === 5) {
      expectWireType(wireType, lengthDelimited, 'Membership.context', reader.at);
      membership['context'] = reader.bytesField();
    } else reader.skip(wireType);
  }
  return membership;
}

function emptyBytes(): Buffer {
  return Buffer.alloc(0);
}
