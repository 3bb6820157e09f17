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
const wireVarint = 0;
const wireLengthDelimited = 2;

/** KV.Stream's response serializer: results of the common kinds encoded here, the rest by `fallback`. */
export function streamResponseSerializer(fallback: (value: StreamResponseValue) => Buffer): (value: StreamResponseValue) => Buffer {
  return (value) => {
    const pieces: (WireStreamResult | Buffer)[] = value.results.map((result) => (hasDirectEncoding(result) ? result : fallback({ results: [result] })));
    const sizes = pieces.map((piece) => (Buffer.isBuffer(piece) ? piece.length : resultBytes(piece)));
    let total = 0;
    pieces.forEach((piece, i) => {
      total += Buffer.isBuffer(piece) ? piece.length : fieldBytes(1, sizes[i] as number);
    });
    const out = new Writer(Buffer.allocUnsafe(total));
    pieces.forEach((piece, i) => {
      if (Buffer.isBuffer(piece)) out.raw(piece);
      else {
        out.tag(1, wireLengthDelimited).varint(sizes[i] as number);
        writeResult(out, piece);
      }
    });
    return out.finish(total);
  };
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
  let bytes = varintField(resultField.id, result.id) + varintField(resultField.code, result.code);
  bytes += stringField(resultField.message, result.message) + stringField(resultField.leaderId, result.leaderId) + stringField(resultField.leaderAddress, result.leaderAddress);
  const put = result['put'] as { header: WireHeader; version: number; modRevision: number } | undefined;
  if (put != null) bytes += fieldBytes(resultField.put, putBytes(put));
  const get = result['get'] as { header: WireHeader; found: boolean; kv: WireKeyValue | null } | undefined;
  if (get != null) bytes += fieldBytes(resultField.get, getBytes(get));
  const removed = result['delete'] as { header: WireHeader; deleted: boolean } | undefined;
  if (removed != null) bytes += fieldBytes(resultField.delete, deleteBytes(removed));
  return bytes;
}

function writeResult(out: Writer, result: WireStreamResult): void {
  out.varintField(resultField.id, result.id).varintField(resultField.code, result.code);
  out.stringField(resultField.message, result.message).stringField(resultField.leaderId, result.leaderId).stringField(resultField.leaderAddress, result.leaderAddress);
  const put = result['put'] as { header: WireHeader; version: number; modRevision: number } | undefined;
  if (put != null) {
    out.tag(resultField.put, wireLengthDelimited).varint(putBytes(put));
    writeHeaderField(out, put.header);
    out.varintField(2, put.version).varintField(3, put.modRevision);
  }
  const get = result['get'] as { header: WireHeader; found: boolean; kv: WireKeyValue | null } | undefined;
  if (get != null) {
    out.tag(resultField.get, wireLengthDelimited).varint(getBytes(get));
    writeHeaderField(out, get.header);
    out.varintField(2, get.found ? 1 : 0);
    if (get.kv != null) {
      const kv = get.kv;
      out.tag(3, wireLengthDelimited).varint(keyValueBytes(kv));
      out.bytesField(1, kv.key).bytesField(2, kv.value).varintField(3, kv.createRevision).varintField(4, kv.modRevision).varintField(5, kv.version).varintField(6, kv.lease);
    }
  }
  const removed = result['delete'] as { header: WireHeader; deleted: boolean } | undefined;
  if (removed != null) {
    out.tag(resultField.delete, wireLengthDelimited).varint(deleteBytes(removed));
    writeHeaderField(out, removed.header);
    out.varintField(2, removed.deleted ? 1 : 0);
  }
}

function headerBytes(header: WireHeader): number {
  return stringField(1, header.memberId) + varintField(2, header.term) + varintField(3, header.revision);
}

function headerFieldBytes(header: WireHeader | null | undefined): number {
  return header == null ? 0 : fieldBytes(1, headerBytes(header));
}

function writeHeaderField(out: Writer, header: WireHeader | null | undefined): void {
  if (header == null) return;
  out.tag(1, wireLengthDelimited).varint(headerBytes(header));
  out.stringField(1, header.memberId).varintField(2, header.term).varintField(3, header.revision);
}

function putBytes(put: { header: WireHeader; version: number; modRevision: number }): number {
  return headerFieldBytes(put.header) + varintField(2, put.version) + varintField(3, put.modRevision);
}

function getBytes(get: { header: WireHeader; found: boolean; kv: WireKeyValue | null }): number {
  return headerFieldBytes(get.header) + varintField(2, get.found ? 1 : 0) + (get.kv == null ? 0 : fieldBytes(3, keyValueBytes(get.kv)));
}

function deleteBytes(removed: { header: WireHeader; deleted: boolean }): number {
  return headerFieldBytes(removed.header) + varintField(2, removed.deleted ? 1 : 0);
}

function keyValueBytes(kv: WireKeyValue): number {
  return (
    bytesField(1, kv.key) + bytesField(2, kv.value) + varintField(3, kv.createRevision) + varintField(4, kv.modRevision) + varintField(5, kv.version) + varintField(6, kv.lease)
  );
}

// Sizes, as proto3 writes fields: a zero number, an empty string or empty bytes is left out.

function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

function fieldBytes(field: number, length: number): number {
  return varintBytes(field * 8) + varintBytes(length) + length;
}

function varintField(field: number, value: number): number {
  checkUnsigned(value);
  return value === 0 ? 0 : varintBytes(field * 8) + varintBytes(value);
}

function stringField(field: number, value: string): number {
  return value === '' ? 0 : fieldBytes(field, Buffer.byteLength(value, 'utf8'));
}

function bytesField(field: number, value: Uint8Array): number {
  return value.byteLength === 0 ? 0 : fieldBytes(field, value.byteLength);
}

/** The numbers here are ids, revisions, versions and lease ids: whole and from 0 to 2^53-1. */
function checkUnsigned(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`StreamResult: ${value} is not a whole number from 0 to 2^53-1`);
}

/** Writes into a buffer sized beforehand. */
class Writer {
  private at = 0;

  constructor(private readonly buffer: Buffer) {}

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  varint(value: number): this {
    while (value >= 128) {
      this.buffer[this.at++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buffer[this.at++] = value;
    return this;
  }

  varintField(field: number, value: number): this {
    return value === 0 ? this : this.tag(field, wireVarint).varint(value);
  }

  stringField(field: number, value: string): this {
    if (value === '') return this;
    this.tag(field, wireLengthDelimited).varint(Buffer.byteLength(value, 'utf8'));
    this.at += this.buffer.write(value, this.at, 'utf8');
    return this;
  }

  bytesField(field: number, value: Uint8Array): this {
    if (value.byteLength === 0) return this;
    this.tag(field, wireLengthDelimited).varint(value.byteLength);
    return this.raw(value);
  }

  raw(bytes: Uint8Array): this {
    this.buffer.set(bytes, this.at);
    this.at += bytes.byteLength;
    return this;
  }

  /** The buffer, once exactly `expected` bytes were written (a sizing slip would corrupt the frame). */
  finish(expected: number): Buffer {
    if (this.at !== expected) throw new Error(`StreamResponse: wrote ${this.at} bytes, sized ${expected}`);
    return this.buffer;
  }
}
