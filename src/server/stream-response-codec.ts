/**
 * KV.Stream's answers (kv.proto StreamResponse), encoded straight to protobuf bytes for the
 * results every write and read makes: put, get, delete, and errors. protobufjs (through
 * proto-loader) builds a message object per result, header and key-value before encoding, the
 * leader's largest allocation per put after the values themselves. The other results (range,
 * compare-and-swap, register-session, txn) go through `fallback`, the method's own serializer,
 * one result at a time: a repeated field is its records one after another, so the pieces join
 * into one StreamResponse. The bytes decode to what protobufjs's own would.
 */
import type { WireStreamResult } from '../shared/kv-stream-wire.js';
import { ProtoWriter, boolFieldBytes, bytesFieldBytes, messageFieldBytes, stringFieldBytes, varintFieldBytes } from '../shared/proto-writer.js';

/** What KV.Stream writes: the results completed in one turn of the event loop. */
export interface StreamResponseValue {
  readonly results: readonly WireStreamResult[];
}

interface WireHeader {
  readonly memberId: string;
  readonly term: number;
  readonly revision: number;
}

interface WireKeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

/** StreamResult's field numbers (kv.proto). */
const resultField = { id: 1, code: 2, message: 3, leaderId: 4, leaderAddress: 5, put: 6, get: 7, delete: 8 } as const;

type PutAnswer = { readonly header: WireHeader | null; readonly version: number; readonly modRevision: number };
type GetAnswer = { readonly header: WireHeader | null; readonly found: boolean; readonly kv: WireKeyValue | null };
type DeleteAnswer = { readonly header: WireHeader | null; readonly deleted: boolean };

/** KV.Stream's response serializer: results of the common kinds encoded here, the rest by `fallback`. */
export function streamResponseSerializer(fallback: (value: StreamResponseValue) => Buffer): (value: StreamResponseValue) => Buffer {
  return (value) => {
    const sizes: number[] = [];
    const pieces: (WireStreamResult | Buffer)[] = value.results.map((result) => {
      const size = hasDirectEncoding(result) ? directBytes(result) : null;
      if (size === null) return fallback({ results: [result] });
      sizes.push(size);
      return result;
    });
    let direct = 0;
    let total = 0;
    for (const piece of pieces) total += Buffer.isBuffer(piece) ? piece.length : messageFieldBytes(1, sizes[direct++] as number);
    const out = new ProtoWriter(total);
    direct = 0;
    for (const piece of pieces) {
      if (Buffer.isBuffer(piece)) out.raw(piece);
      else writeResult(out.messageHeader(1, sizes[direct++] as number), piece);
    }
    return out.finish();
  };
}

/**
 * The encoded size of a result, or null when one of its numbers is not a whole number from 0 to
 * 2^53-1 (an operation id a client chose beyond 2^53, say): protobufjs then encodes it as it
 * always did, rather than the answer failing.
 */
function directBytes(result: WireStreamResult): number | null {
  try {
    return resultBytes(result);
  } catch (error) {
    if (error instanceof RangeError) return null;
    throw error;
  }
}

/** An error (no response), or a put, get or delete answer. */
function hasDirectEncoding(result: WireStreamResult): boolean {
  let responses = 0;
  for (const key in result) {
    if (key === 'id' || key === 'code' || key === 'message' || key === 'leaderId' || key === 'leaderAddress') continue;
    if (result[key] === undefined || result[key] === null) continue;
    if (key !== 'put' && key !== 'get' && key !== 'delete') return false;
    responses++;
  }
  return responses <= 1;
}

function resultBytes(result: WireStreamResult): number {
  let bytes = varintFieldBytes(resultField.id, result.id) + varintFieldBytes(resultField.code, result.code);
  bytes += stringFieldBytes(resultField.message, result.message) + stringFieldBytes(resultField.leaderId, result.leaderId) + stringFieldBytes(resultField.leaderAddress, result.leaderAddress);
  const put = result['put'] as PutAnswer | undefined;
  if (put != null) bytes += messageFieldBytes(resultField.put, putBytes(put));
  const get = result['get'] as GetAnswer | undefined;
  if (get != null) bytes += messageFieldBytes(resultField.get, getBytes(get));
  const removed = result['delete'] as DeleteAnswer | undefined;
  if (removed != null) bytes += messageFieldBytes(resultField.delete, deleteBytes(removed));
  return bytes;
}

function writeResult(out: ProtoWriter, result: WireStreamResult): void {
  out.varintField(resultField.id, result.id).varintField(resultField.code, result.code);
  out.stringField(resultField.message, result.message).stringField(resultField.leaderId, result.leaderId).stringField(resultField.leaderAddress, result.leaderAddress);
  const put = result['put'] as PutAnswer | undefined;
  if (put != null) {
    writeHeaderField(out.messageHeader(resultField.put, putBytes(put)), put.header);
    out.varintField(2, put.version).varintField(3, put.modRevision);
  }
  const get = result['get'] as GetAnswer | undefined;
  if (get != null) {
    writeHeaderField(out.messageHeader(resultField.get, getBytes(get)), get.header);
    out.boolField(2, get.found);
    const kv = get.kv;
    if (kv != null) {
      out.messageHeader(3, keyValueBytes(kv));
      out.bytesField(1, kv.key).bytesField(2, kv.value).varintField(3, kv.createRevision).varintField(4, kv.modRevision).varintField(5, kv.version).varintField(6, kv.lease);
    }
  }
  const removed = result['delete'] as DeleteAnswer | undefined;
  if (removed != null) {
    writeHeaderField(out.messageHeader(resultField.delete, deleteBytes(removed)), removed.header);
    out.boolField(2, removed.deleted);
  }
}

function headerBytes(header: WireHeader): number {
  return stringFieldBytes(1, header.memberId) + varintFieldBytes(2, header.term) + varintFieldBytes(3, header.revision);
}

function headerFieldBytes(header: WireHeader | null): number {
  return header == null ? 0 : messageFieldBytes(1, headerBytes(header));
}

function writeHeaderField(out: ProtoWriter, header: WireHeader | null): void {
  if (header == null) return;
  out.messageHeader(1, headerBytes(header)).stringField(1, header.memberId).varintField(2, header.term).varintField(3, header.revision);
}

function putBytes(put: PutAnswer): number {
  return headerFieldBytes(put.header) + varintFieldBytes(2, put.version) + varintFieldBytes(3, put.modRevision);
}

function getBytes(get: GetAnswer): number {
  return headerFieldBytes(get.header) + boolFieldBytes(2, get.found) + (get.kv == null ? 0 : messageFieldBytes(3, keyValueBytes(get.kv)));
}

function deleteBytes(removed: DeleteAnswer): number {
  return headerFieldBytes(removed.header) + boolFieldBytes(2, removed.deleted);
}

function keyValueBytes(kv: WireKeyValue): number {
  return (
    bytesFieldBytes(1, kv.key) +
    bytesFieldBytes(2, kv.value) +
    varintFieldBytes(3, kv.createRevision) +
    varintFieldBytes(4, kv.modRevision) +
    varintFieldBytes(5, kv.version) +
    varintFieldBytes(6, kv.lease)
  );
}
