/**
 * The few ASN.1 DER encodings an X.509 certificate needs (ITU-T X.690 §8, §10), written out so
 * that `raftkv certs` needs neither openssl nor a certificate library. Every function returns the
 * complete TLV (tag, length, value).
 */

/** A tag and its content: the length in DER's definite form (X.690 §8.1.3, §10.1). */
export function tlv(tag: number, content: Uint8Array): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const lengthBytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
  return Buffer.concat([Buffer.from([tag, 0x80 | lengthBytes.length, ...lengthBytes]), content]);
}

export function sequence(...items: readonly Uint8Array[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

export function set(...items: readonly Uint8Array[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

export function boolean(value: boolean): Buffer {
  return tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
}

/** A non-negative INTEGER given as big-endian bytes, in its minimal two's-complement form. */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = Buffer.from(bytes.subarray(start));
  const content = trimmed.length === 0 ? Buffer.from([0]) : (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return tlv(0x02, content);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`DER: ${value} is not a small non-negative integer`);
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return unsignedInteger(bytes);
}

/** An OBJECT IDENTIFIER in dotted form (X.690 §8.19). */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => {
    const n = Number(arc);
    if (!/^\d+$/.test(arc) || !Number.isSafeInteger(n)) throw new RangeError(`DER: "${dotted}" is not an object identifier`);
    return n;
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || first > 2 || (first < 2 && second > 39)) throw new RangeError(`DER: "${dotted}" is not an object identifier`);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const groups: number[] = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v % 128));
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

export function octetString(content: Uint8Array): Buffer {
  return tlv(0x04, content);
}

/** A BIT STRING of whole bytes (a key or signature). */
export function bitString(content: Uint8Array): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([0]), content]));
}

/**
 * A BIT STRING of named bits (X.690 §11.2.2: trailing zero bits are dropped), bit 0 first, as
 * KeyUsage is written.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(0x03, Buffer.from([0]));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[Math.floor(bit / 8)] = (bytes[Math.floor(bit / 8)] as number) | (0x80 >> bit % 8);
  const unused = 7 - (highest % 8);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}

export function utf8String(value: string): Buffer {
  return tlv(0x0c, Buffer.from(value, 'utf8'));
}

/** A time as X.509 wants it (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime after. */
export function time(at: Date): Buffer {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const rest = `${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}Z`;
  const year = at.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(`${pad(year % 100)}${rest}`, 'ascii'));
  return tlv(0x18, Buffer.from(`${pad(year, 4)}${rest}`, 'ascii'));
}

/** [n] EXPLICIT: the whole inner TLV wrapped in a constructed context-specific tag. */
export function explicit(tagNumber: number, inner: Uint8Array): Buffer {
  return tlv(0xa0 | tagNumber, inner);
}

/** [n] IMPLICIT of a primitive type: the content under a context-specific tag. */
export function implicitPrimitive(tagNumber: number, content: Uint8Array): Buffer {
  return tlv(0x80 | tagNumber, content);
}

/** One element read back: its tag and where its content lies. */
export interface DerElement {
  readonly tag: number;
  /** The whole TLV. */
  readonly bytes: Buffer;
  readonly content: Buffer;
}

/** Reads the element at `offset` (definite lengths only, as DER has). */
export function readElement(buffer: Buffer, offset: number): DerElement {
  const tag = buffer[offset];
  let lengthByte = buffer[offset + 1];
  if (tag === undefined || lengthByte === undefined) throw new RangeError(`DER: no element at offset ${offset}`);
  let contentStart = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new RangeError(`DER: unsupported length form at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = buffer[contentStart + i];
      if (lengthByte === undefined) throw new RangeError(`DER: truncated length at offset ${offset}`);
      length = length * 256 + lengthByte;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > buffer.length) throw new RangeError(`DER: element at offset ${offset} runs past the end`);
  return { tag, bytes: buffer.subarray(offset, end), content: buffer.subarray(contentStart, end) };
}

/** The elements of a constructed element's content, in order. */
export function readChildren(content: Buffer): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = 0; offset < content.length; offset += children[children.length - 1]!.bytes.length) {
    children.push(readElement(content, offset));
  }
  return children;
}
