import { PeerProtocolError } from './errors.js';

/**
 * Field readers for values that came off the wire. Each returns the value with its proper type
 * or throws a `PeerProtocolError` ('malformed') naming the field path and showing the bad value.
 * They assume nothing about the input: proto-loader's shapes are a convention, not a guarantee.
 */

/** A short, safe rendering of a bad value for an error message (never the whole of a big one). */
export function showValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (Array.isArray(value)) return `<array of ${value.length}>`;
  return `<${typeof value}>`;
}

export function malformed(field: string, message: string): PeerProtocolError {
  return new PeerProtocolError('malformed', field, message);
}

/** A sub-message; `null`/absent is refused (the caller decides whether the field is required). */
export function readRecord(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(field, `expected a message, got ${showValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/** A uint64 read as a number: must be a safe, non-negative integer (indexes and terms stay far below 2^53). */
export function readUint(record: Record<string, unknown>, key: string, path: string): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`${path}.${key}`, `expected a non-negative safe integer, got ${showValue(value)}`);
  }
  return value;
}

export function readBool(record: Record<string, unknown>, key: string, path: string): boolean {
  const value = record[key];
  if (typeof value !== 'boolean') throw malformed(`${path}.${key}`, `expected a boolean, got ${showValue(value)}`);
  return value;
}

export function readString(record: Record<string, unknown>, key: string, path: string): string {
  const value = record[key];
  if (typeof value !== 'string') throw malformed(`${path}.${key}`, `expected a string, got ${showValue(value)}`);
  return value;
}

/** A node id: a non-empty string (an id must name something). */
export function readNodeIdString(record: Record<string, unknown>, key: string, path: string): string {
  const value = readString(record, key, path);
  if (value.length === 0) throw malformed(`${path}.${key}`, 'expected a non-empty node id, got ""');
  return value;
}

/**
 * Bytes, copied into a fresh Uint8Array. Why copy: the decoder hands out slices of gRPC's
 * receive buffer, and an entry kept in the Raft log would otherwise pin a whole frame (up to
 * messageBytesMax) in memory; a plain Uint8Array also compares equal to what the sender had.
 */
export function readBytes(record: Record<string, unknown>, key: string, path: string): Uint8Array {
  const value = record[key];
  if (!(value instanceof Uint8Array)) throw malformed(`${path}.${key}`, `expected bytes, got ${showValue(value)}`);
  return new Uint8Array(value);
}

export function readArray(record: Record<string, unknown>, key: string, path: string): readonly unknown[] {
  const value = record[key];
  if (!Array.isArray(value)) throw malformed(`${path}.${key}`, `expected a list, got ${showValue(value)}`);
  return value;
}
