/**
 * A MessageBatch (raft.proto) encoded straight from the core's messages to protobuf bytes, for
 * the peer stream's hot path: no wire objects per message and entry, no protobufjs message
 * instances. The bytes decode (protobufjs, then decodeBatch) to exactly what
 * `serializeBatch(encodeBatch(...))` gives. A snapshot message (rare, and carrying a membership)
 * goes through `encodeOne`, protobufjs's encoding of a batch holding only it: a repeated field
 * is its records one after another, so that record joins the others as it is.
 */
import { assertNever, type Entry, type Message, type MessageType, type NodeId } from '../raft/index.js';
import {
  ProtoWriter,
  boolFieldBytes,
  bytesFieldBytes,
  messageFieldBytes,
  stringFieldBytes,
  varintFieldBytes,
} from '../shared/proto-writer.js';

/** raft.proto MessageType numbers. */
const messageTypeNumber: Readonly<Record<MessageType, number>> = {
  'vote-request': 1,
  'vote-response': 2,
  append: 3,
  'append-response': 4,
  heartbeat: 5,
  'heartbeat-response': 6,
  snapshot: 7,
  'timeout-now': 8,
  'read-index': 9,
  'read-index-response': 10,
};

/** raft.proto RaftMessage field numbers. */
const field = {
  type: 1,
  from: 2,
  to: 3,
  term: 4,
  preVote: 5,
  lastLogIndex: 6,
  lastLogTerm: 7,
  transfer: 8,
  granted: 9,
  prevLogIndex: 10,
  prevLogTerm: 11,
  entries: 12,
  commit: 13,
  success: 14,
  index: 15,
  rejectHintIndex: 16,
  rejectHintTerm: 17,
  context: 18,
  leaseTick: 20,
} as const;

/** MessageBatch field numbers. */
const batchField = { clusterId: 1, from: 2, messages: 3, senderClientAddress: 4 } as const;

/**
 * The bytes of a MessageBatch from `from` carrying `messages`. `encodeOne(message)` must give the
 * bytes protobufjs makes of a MessageBatch holding only `message` (used for snapshot messages).
 */
export function encodeBatchBytes(clusterId: string, from: NodeId, messages: readonly Message[], senderClientAddress: string, encodeOne: (message: Message) => Buffer): Buffer {
  const pieces: (Message | Buffer)[] = messages.map((message) => (message.type === 'snapshot' ? encodeOne(message) : message));
  const sizes = pieces.map((piece) => (Buffer.isBuffer(piece) ? piece.length : messageBytes(piece)));
  let total = stringFieldBytes(batchField.clusterId, clusterId) + stringFieldBytes(batchField.from, from) + stringFieldBytes(batchField.senderClientAddress, senderClientAddress);
  pieces.forEach((piece, i) => {
    total += Buffer.isBuffer(piece) ? piece.length : messageFieldBytes(batchField.messages, sizes[i] as number);
  });
  const out = new ProtoWriter(total);
  out.stringField(batchField.clusterId, clusterId).stringField(batchField.from, from);
  pieces.forEach((piece, i) => {
    if (Buffer.isBuffer(piece)) out.raw(piece);
    else writeMessage(out.messageHeader(batchField.messages, sizes[i] as number), piece);
  });
  out.stringField(batchField.senderClientAddress, senderClientAddress);
  return out.finish();
}

function entryBytes(entry: Entry): number {
  return varintFieldBytes(1, entry.term) + varintFieldBytes(2, entry.index) + varintFieldBytes(3, entry.type === 'conf-change' ? 1 : 0) + bytesFieldBytes(4, entry.data);
}

function messageBytes(message: Message): number {
  let bytes = varintFieldBytes(field.type, messageTypeNumber[message.type]) + stringFieldBytes(field.from, message.from) + stringFieldBytes(field.to, message.to) + varintFieldBytes(field.term, message.term);
  switch (message.type) {
    case 'vote-request':
      bytes += boolFieldBytes(field.preVote, message.preVote) + varintFieldBytes(field.lastLogIndex, message.lastLogIndex) + varintFieldBytes(field.lastLogTerm, message.lastLogTerm);
      return bytes + boolFieldBytes(field.transfer, message.transfer);
    case 'vote-response':
      return bytes + boolFieldBytes(field.preVote, message.preVote) + boolFieldBytes(field.granted, message.granted);
    case 'append':
      bytes += varintFieldBytes(field.prevLogIndex, message.prevLogIndex) + varintFieldBytes(field.prevLogTerm, message.prevLogTerm);
      for (const entry of message.entries) bytes += messageFieldBytes(field.entries, entryBytes(entry));
      return bytes + varintFieldBytes(field.commit, message.commit);
    case 'append-response':
      bytes += boolFieldBytes(field.success, message.success) + varintFieldBytes(field.index, message.index);
      return bytes + varintFieldBytes(field.rejectHintIndex, message.rejectHintIndex) + varintFieldBytes(field.rejectHintTerm, message.rejectHintTerm);
    case 'heartbeat':
      return bytes + varintFieldBytes(field.commit, message.commit) + stringFieldBytes(field.context, message.readContext) + varintFieldBytes(field.leaseTick, message.leaseTick);
    case 'heartbeat-response':
      return bytes + stringFieldBytes(field.context, message.readContext) + varintFieldBytes(field.leaseTick, message.leaseTick);
    case 'timeout-now':
      return bytes;
    case 'read-index':
      return bytes + stringFieldBytes(field.context, message.context);
    case 'read-index-response':
      return bytes + varintFieldBytes(field.index, message.index) + stringFieldBytes(field.context, message.context);
    case 'snapshot':
      throw new Error('a snapshot message is encoded by encodeOne');
    default:
      return assertNever(message, 'message');
  }
}

/** Writes `message`'s fields in field-number order (as protobufjs does). */
function writeMessage(out: ProtoWriter, message: Message): void {
  out.varintField(field.type, messageTypeNumber[message.type]).stringField(field.from, message.from).stringField(field.to, message.to).varintField(field.term, message.term);
  switch (message.type) {
    case 'vote-request':
      out.boolField(field.preVote, message.preVote).varintField(field.lastLogIndex, message.lastLogIndex).varintField(field.lastLogTerm, message.lastLogTerm);
      out.boolField(field.transfer, message.transfer);
      return;
    case 'vote-response':
      out.boolField(field.preVote, message.preVote).boolField(field.granted, message.granted);
      return;
    case 'append':
      out.varintField(field.prevLogIndex, message.prevLogIndex).varintField(field.prevLogTerm, message.prevLogTerm);
      for (const entry of message.entries) {
        out.messageHeader(field.entries, entryBytes(entry));
        out.varintField(1, entry.term).varintField(2, entry.index).varintField(3, entry.type === 'conf-change' ? 1 : 0).bytesField(4, entry.data);
      }
      out.varintField(field.commit, message.commit);
      return;
    case 'append-response':
      out.boolField(field.success, message.success).varintField(field.index, message.index);
      out.varintField(field.rejectHintIndex, message.rejectHintIndex).varintField(field.rejectHintTerm, message.rejectHintTerm);
      return;
    case 'heartbeat':
      out.varintField(field.commit, message.commit).stringField(field.context, message.readContext).varintField(field.leaseTick, message.leaseTick);
      return;
    case 'heartbeat-response':
      out.stringField(field.context, message.readContext).varintField(field.leaseTick, message.leaseTick);
      return;
    case 'timeout-now':
      return;
    case 'read-index':
      out.stringField(field.context, message.context);
      return;
    case 'read-index-response':
      out.varintField(field.index, message.index).stringField(field.context, message.context);
      return;
    case 'snapshot':
      throw new Error('a snapshot message is encoded by encodeOne');
    default:
      assertNever(message, 'message');
  }
}
