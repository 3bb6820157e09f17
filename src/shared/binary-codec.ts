/**
 * Big-endian binary writing and reading for everything raftkv stores or replicates: Raft log
 * entries and metadata, state machine records, replicated commands. Integers are unsigned;
 * a "u64" holds any safe JavaScript integer (below 2^53), the most an index, term, version or
 * sequence can reach.
 */
import { assertNever } from '../raft/index.js';

/** Malformed bytes: too short, trailing garbage, an out-of-range integer, invalid UTF-8. */
export class BinaryDecodeError extends Error {
  override readonly name = 'BinaryDecodeError';
  readonly code = 'BINARY_DECODE';
}

const twoTo32 = 2 ** 32;
const initialCapacityBytes = 64;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();

/**
 * Where a ByteWriter's bytes live. `own`: a buffer of their own, for results that are kept (a
 * kept result must not pin an 8 KiB slab of Node's shared pool). `pooled`: Node's pool, for
 * bytes handed to LevelDB and dropped (the binding copies them): an own ArrayBuffer per record,
 * several per write, showed in CPU profiles under write load, in the allocation and in the GC.
 */
export type ByteWriterAllocation = 'own' | 'pooled';

/** Appends fields to a growing buffer. Programmer errors (a negative or unsafe integer) throw RangeError. */
export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(
    capacityBytes: number = initialCapacityBytes,
    private readonly allocation: ByteWriterAllocation = 'own',
  ) {
    this.buffer = allocate(Math.max(capacityBytes, 8), allocation);
  }

  u8(value: number): this {
    checkUnsigned(value, 0xff, 'u8');
    this.reserve(1).writeUInt8(value, this.length);
    this.length += 1;
    return this;
  }

  u16(value: number): this {
    checkUnsigned(value, 0xffff, 'u16');
    this.reserve(2).writeUInt16BE(value, this.length);
    this.length += 2;
    return this;
  }

  u32(value: number): this {
    checkUnsigned(value, 0xffff_ffff, 'u32');
    this.reserve(4).writeUInt32BE(value, this.length);
    this.length += 4;
    return this;
  }

  u64(value: number): this {
    checkUnsigned(value, Number.MAX_SAFE_INTEGER, 'u64');
    const buffer = this.reserve(8);
    buffer.writeUInt32BE(Math.floor(value / twoTo32), this.length);
    buffer.writeUInt32BE(value % twoTo32, this.length + 4);
    this.length += 8;
    return this;
  }

  /** The bytes as they are, no length: only for a last field whose end is the end of the record. */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.byteLength).set(bytes, this.length);
    this.length += bytes.byteLength;
    return this;
  }

  /** Bytes preceded by their length as a u8, u16 or u32. */
  bytes(bytes: Uint8Array, lengthWidth: LengthWidth): this {
    this.writeLength(bytes.byteLength, lengthWidth);
    return this.raw(bytes);
  }

  /** A string as UTF-8 bytes preceded by their length. */
  string(text: string, lengthWidth: LengthWidth): this {
    return this.bytes(utf8.encode(text), lengthWidth);
  }

  /** The bytes written so far; the writer must not be used afterwards. */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  private writeLength(length: number, width: LengthWidth): void {
    switch (width) {
      case 'u8':
        this.u8(length);
        return;
      case 'u16':
        this.u16(length);
        return;
      case 'u32':
        this.u32(length);
        return;
      default:
        assertNever(width, 'length width');
    }
  }

  private reserve(bytes: number): Buffer {
    if (this.length + bytes > this.buffer.byteLength) {
      const grown = allocate(Math.max(this.buffer.byteLength * 2, this.length + bytes), this.allocation);
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    return this.buffer;
  }
}

function allocate(bytes: number, allocation: ByteWriterAllocation): Buffer {
  return allocation === 'pooled' ? Buffer.allocUnsafe(bytes) : Buffer.allocUnsafeSlow(bytes);
}

/** How many bytes carry a length prefix. */
export type LengthWidth = 'u8' | 'u16' | 'u32';

/** Reads fields in order; every shortfall or bad value throws BinaryDecodeError naming the field. */
export class ByteReader {
  private readonly view: Buffer;
  private offset = 0;

  constructor(private readonly source: Uint8Array) {
    this.view = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  }

  get remainingBytes(): number {
    return this.view.byteLength - this.offset;
  }

  u8(field: string): number {
    this.need(1, field);
    const value = this.view.readUInt8(this.offset);
    this.offset += 1;
    return value;
  }

  u16(field: string): number {
    this.need(2, field);
    const value = this.view.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.view.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  u64(field: string): number {
    this.need(8, field);
    const high = this.view.readUInt32BE(this.offset);
    const low = this.view.readUInt32BE(this.offset + 4);
    this.offset += 8;
    const value = high * twoTo32 + low;
    if (!Number.isSafeInteger(value)) throw new BinaryDecodeError(`${field}: ${high}:${low} is beyond 2^53`);
    return value;
  }

  /** A 0/1 byte. */
  boolean(field: string): boolean {
    const value = this.u8(field);
    if (value > 1) throw new BinaryDecodeError(`${field}: expected 0 or 1, got ${value}`);
    return value === 1;
  }

  /** Moves past `length` bytes without reading them (the caller takes a view of them). */
  skip(length: number, field: string): void {
    this.need(length, field);
    this.offset += length;
  }

  /** Exactly `length` bytes, copied so the result does not pin the source buffer. */
  raw(length: number, field: string): Uint8Array {
    this.need(length, field);
    const bytes = new Uint8Array(length);
    bytes.set(this.view.subarray(this.offset, this.offset + length));
    this.offset += length;
    return bytes;
  }

  /** Everything left. */
  rest(field: string): Uint8Array {
    return this.raw(this.remainingBytes, field);
  }

  /** Length-prefixed bytes of at most `lengthMax` bytes, copied (see `raw`). */
  bytes(lengthWidth: LengthWidth, lengthMax: number, field: string): Uint8Array {
    return this.raw(this.checkedLength(lengthWidth, lengthMax, field), field);
  }

  /**
   * Length-prefixed bytes of at most `lengthMax` bytes as a view into the source, not a copy:
   * whoever keeps the result keeps the whole source alive. Only for a source that is a tight
   * buffer of its own (an entry's data), never a slice of a bigger one (a received frame).
   */
  bytesView(lengthWidth: LengthWidth, lengthMax: number, field: string): Uint8Array {
    const length = this.checkedLength(lengthWidth, lengthMax, field);
    this.need(length, field);
    const view = new Uint8Array(this.source.buffer, this.source.byteOffset + this.offset, length);
    this.offset += length;
    return view;
  }

  /** A length-prefixed UTF-8 string; invalid UTF-8 is an error, never replaced. */
  string(lengthWidth: LengthWidth, lengthMax: number, field: string): string {
    const length = this.checkedLength(lengthWidth, lengthMax, field);
    this.need(length, field);
    const text = decodeUtf8(this.view.subarray(this.offset, this.offset + length), field);
    this.offset += length;
    return text;
  }

  /**
   * Whether the next field, prefixed by its length, holds exactly `bytes`. Reads nothing and
   * allocates nothing: what a decoder that reuses the values it has seen (interns them) compares
   * with before it reads.
   */
  nextEquals(lengthWidth: LengthWidth, bytes: Uint8Array): boolean {
    const widthBytes = lengthWidth === 'u8' ? 1 : lengthWidth === 'u16' ? 2 : 4;
    if (this.remainingBytes < widthBytes + bytes.byteLength) return false;
    const length = lengthWidth === 'u8' ? this.view.readUInt8(this.offset) : lengthWidth === 'u16' ? this.view.readUInt16BE(this.offset) : this.view.readUInt32BE(this.offset);
    if (length !== bytes.byteLength) return false;
    // A loop, not Buffer#compare: for the short fields this serves it is several times cheaper.
    const start = this.offset + widthBytes;
    for (let i = 0; i < length; i++) if (this.view[start + i] !== bytes[i]) return false;
    return true;
  }

  /** Asserts that every byte was consumed: trailing bytes mean a different format or corruption. */
  end(what: string): void {
    if (this.remainingBytes !== 0) throw new BinaryDecodeError(`${what}: ${this.remainingBytes} unexpected trailing bytes`);
  }

  private checkedLength(width: LengthWidth, lengthMax: number, field: string): number {
    const length = this.readLength(width, field);
    if (length > lengthMax) throw new BinaryDecodeError(`${field}: ${length} bytes exceeds the limit of ${lengthMax}`);
    return length;
  }

  // The field's name for an error is built only on an error: this runs for every key and value.
  private readLength(width: LengthWidth, field: string): number {
    const widthBytes = width === 'u8' ? 1 : width === 'u16' ? 2 : 4;
    if (this.remainingBytes < widthBytes) this.need(widthBytes, `${field} length`);
    const length = width === 'u8' ? this.view.readUInt8(this.offset) : width === 'u16' ? this.view.readUInt16BE(this.offset) : this.view.readUInt32BE(this.offset);
    this.offset += widthBytes;
    return length;
  }

  private need(bytes: number, field: string): void {
    if (this.remainingBytes < bytes) {
      throw new BinaryDecodeError(`${field}: needs ${bytes} bytes, ${this.remainingBytes} left`);
    }
  }
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Strict UTF-8 decoding: invalid bytes throw BinaryDecodeError instead of becoming U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, field: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (error) {
    throw new BinaryDecodeError(`${field}: invalid UTF-8`, { cause: error });
  }
}

/** The bytes of a UTF-8 string. */
export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

function checkUnsigned(value: number, max: number, width: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${width}: ${value} is not an integer in [0, ${max}]`);
  }
}
