/**
 * MessageBatch: the unit a peer stream carries. Encoding wraps messages; decoding checks that a
 * batch is ours to accept before any of its messages may reach the core. Pure functions.
 */
import { nodeId, type Message, type NodeId } from '../raft/index.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { PeerProtocolError } from './errors.js';
import { readArray, readRecord, readString, showValue } from './wire-fields.js';
import type { WireMessageBatch } from './wire-types.js';

/** Who this node is, as far as accepting a batch goes. */
export interface BatchReceiver {
  readonly clusterId: string;
  readonly selfId: NodeId;
  /** Whether `id` is a current peer of this node (never this node itself). */
  isKnownPeer(id: string): boolean;
}

/** A batch that passed every check: all of its messages come from `from` and are for this node. */
export interface DecodedBatch {
  readonly from: NodeId;
  readonly messages: readonly Message[];
  /** The sender's client address ('' when it announces none). */
  readonly senderClientAddress: string;
}

/** Wraps messages from this node for one peer. The caller groups them by `to`. */
export function encodeBatch(clusterId: string, from: NodeId, messages: readonly Message[], senderClientAddress = ''): WireMessageBatch {
  return { clusterId, from, messages: messages.map(encodeMessage), senderClientAddress };
}

/**
 * Validates a whole batch, all or nothing: a batch with one bad message is refused entirely, so
 * the core never sees half of what a broken peer sent.
 *
 * Checks, in order: the cluster id is ours ('wrong-cluster'); `from` is a known peer
 * ('unknown-peer'); every message decodes (`decodeMessage`, 'malformed'); every message's
 * `from` is the batch's and its `to` is this node ('misaddressed'). Throws `PeerProtocolError`.
 */
export function decodeBatch(wire: unknown, receiver: BatchReceiver): DecodedBatch {
  const batch = readRecord(wire, 'batch');
  const clusterId = readString(batch, 'clusterId', 'batch');
  if (clusterId !== receiver.clusterId) {
    throw new PeerProtocolError('wrong-cluster', 'batch.clusterId', `expected cluster ${showValue(receiver.clusterId)}, got ${showValue(clusterId)}`);
  }
  const from = readString(batch, 'from', 'batch');
  if (!receiver.isKnownPeer(from)) {
    throw new PeerProtocolError('unknown-peer', 'batch.from', `${showValue(from)} is not a peer of ${showValue(receiver.selfId)}`);
  }
  const messages = readArray(batch, 'messages', 'batch').map((wireMessage, i) => {
    const path = `batch.messages[${i}]`;
    const message = decodeMessage(wireMessage, path);
    if (message.from !== from) {
      throw new PeerProtocolError('misaddressed', `${path}.from`, `expected the batch sender ${showValue(from)}, got ${showValue(message.from)}`);
    }
    if (message.to !== receiver.selfId) {
      throw new PeerProtocolError('misaddressed', `${path}.to`, `expected this node ${showValue(receiver.selfId)}, got ${showValue(message.to)}`);
    }
    return message;
  });
  const senderClientAddress = batch['senderClientAddress'] === undefined ? '' : readString(batch, 'senderClientAddress', 'batch');
  if (senderClientAddress.length > 300) {
    throw new PeerProtocolError('malformed', 'batch.senderClientAddress', `${senderClientAddress.length} characters is too long for an address`);
  }
  return { from: nodeId(from), messages, senderClientAddress };
}
