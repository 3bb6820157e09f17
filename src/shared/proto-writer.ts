/**
 * Protobuf wire encoding by hand, for the few hot messages encoded without protobufjs (KV.Stream's
 * answers, the peer batches): sizes first, then one buffer written front to back. Fields are
 * written as proto3 writes them: a zero number, false, an empty string or empty bytes is left
 * out, so the bytes decode to what protobufjs's own would. Numbers are whole, from 0 to 2^53-1
 * (ids, indexes, terms, revisions); anything else is a RangeError, never other bytes.
 */

const wireVarint = 0;
const wireLengthDelimited = 2;

/** Bytes of `value` as a varint. */
export function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

/** Bytes of a length-delimited field (tag, length, body) whose body is `length` bytes. */
export function messageFieldBytes(field: number, length: number): number {
  return varintBytes(field * 8) + varintBytes(length) + length;
}

/** Bytes of a varint field (left out when 0). */
export function varintFieldBytes(field: number, value: number): number {
  checkUnsigned(value);
  return value === 0 ? 0 : varintBytes(field * 8) + varintBytes(value);
}

/** Bytes of a bool field (left out when false). */
export function boolFieldBytes(field: number, value: boolean): number {
  return value ? varintBytes(field * 8) + 1 : 0;
}

/** Bytes of a string field (left out when empty). */
export function stringFieldBytes(field: number, value: string): number {
  return value === '' ? 0 : messageFieldBytes(field, Buffer.byteLength(value, 'utf8'));
}

/** Bytes of a bytes field (left out when empty). */
export function bytesFieldBytes(field: number, value: Uint8Array): number {
  return value.byteLength === 0 ? 0 : messageFieldBytes(field, value.byteLength);
}

function checkUnsigned(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf: ${value} is not a whole number from 0 to 2^53-1`);
}

/** Writes into a buffer sized beforehand with the functions above. */
export class ProtoWriter {
  private at = 0;
  private readonly buffer: Buffer;

  constructor(private readonly size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  /** The tag and length of a length-delimited field whose body (written next) is `length` bytes. */
  messageHeader(field: number, length: number): this {
    return this.varint(field * 8 + wireLengthDelimited).varint(length);
  }

  varintField(field: number, value: number): this {
    checkUnsigned(value);
    return value === 0 ? this : this.varint(field * 8 + wireVarint).varint(value);
  }

  boolField(field: number, value: boolean): this {
    return value ? this.varint(field * 8 + wireVarint).varint(1) : this;
  }

  stringField(field: number, value: string): this {
    if (value === '') return this;
    this.messageHeader(field, Buffer.byteLength(value, 'utf8'));
    this.at += this.buffer.write(value, this.at, 'utf8');
    return this;
  }

  bytesField(field: number, value: Uint8Array): this {
    if (value.byteLength === 0) return this;
    return this.messageHeader(field, value.byteLength).raw(value);
  }

  raw(bytes: Uint8Array): this {
    this.buffer.set(bytes, this.at);
    this.at += bytes.byteLength;
    return this;
  }

  /** The buffer, once exactly the size given was written (a sizing slip would corrupt the message). */
  finish(): Buffer {
    if (this.at !== this.size) throw new Error(`protobuf: wrote ${this.at} bytes, sized ${this.size}`);
    return this.buffer;
  }

  private varint(value: number): this {
    while (value >= 128) {
      this.buffer[this.at++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buffer[this.at++] = value;
    return this;
  }
}
