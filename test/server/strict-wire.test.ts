import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { checkWireFormat, strictService } from '../../src/server/strict-wire.js';
import { protoMessageTypes, serviceClient } from '../../src/shared/proto.js';

const kvProto = 'raftkv/v1/kv.proto';
const strict = (name: string): grpc.ServiceDefinition => strictService(serviceClient(kvProto, name).service, 'raftkv.v1', protoMessageTypes(kvProto));
const method = (service: grpc.ServiceDefinition, name: string): grpc.MethodDefinition<unknown, unknown> => service[name] as grpc.MethodDefinition<unknown, unknown>;

/** A length-delimited field: tag, length, bytes (lengths below 128). */
function lengthDelimited(field: number, bytes: Buffer): Buffer {
  expect(bytes.length).toBeLessThan(128);
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
}

function fieldNumber(message: string, field: string): number {
  const type = protoMessageTypes(kvProto)(`raftkv.v1.${message}`);
  const number = type?.field.find((f) => (f as { name?: string }).name === field)?.number;
  if (number === undefined) throw new Error(`no field ${field} in ${message}`);
  return number;
}

describe('checkWireFormat', () => {
  const grant = serviceClient(kvProto, 'Lease').service['LeaseGrant'];

  it('accepts what protobufjs encodes', () => {
    for (const request of [{}, { ttl: 30 }, { ttl: 9_000_000_000, id: Number.MAX_SAFE_INTEGER, session: { clientId: '12', sequence: 3, ackedSequence: 2 } }]) {
      expect(() => checkWireFormat(grant?.requestSerialize(request) as Buffer)).not.toThrow();
    }
  });

  it.each([
    ['a truncated varint (protobufjs reads it as ttl 2097151)', '0affffff'],
    ['a length past the end', '0a40616263'],
    ['wire type 6', '7e01'],
    ['wire type 7', '7f0102'],
    ['a truncated fixed64', '0901020304'],
    ['an endless varint', '08ffffffffffffffffffff01'],
    ['field number 0', '0001'],
  ])('refuses %s', (_what, hex) => {
    expect(() => checkWireFormat(Buffer.from(hex, 'hex'))).toThrow(/malformed protobuf/);
  });
});

describe('strictService', () => {
  it('builds a shape for every client service (every message type resolves)', () => {
    for (const name of ['KV', 'Cluster', 'Maintenance', 'Watch', 'Auth', 'Lease']) expect(() => strict(name)).not.toThrow();
  });

  it('decodes well-formed requests as protobufjs does', () => {
    const put = method(strict('KV'), 'Put');
    const request = { key: Buffer.from('k'), value: Buffer.from('v'), lease: 3_000_000_000, session: { clientId: '7', sequence: 9, ackedSequence: 8 } };
    expect(put.requestDeserialize(put.requestSerialize(request) as Buffer)).toMatchObject(request);
  });

  it('refuses a PutRequest cut one byte short, which protobufjs alone decodes with another lease', () => {
    const plain = serviceClient(kvProto, 'KV').service['Put'] as grpc.MethodDefinition<unknown, unknown>;
    const bytes = plain.requestSerialize({ key: Buffer.from('k'), value: Buffer.from('v'), lease: 3_000_000_000 }) as Buffer;
    const cut = bytes.subarray(0, bytes.length - 1);
    expect((plain.requestDeserialize(cut) as { lease: number }).lease).not.toBe(3_000_000_000);
    expect(() => method(strict('KV'), 'Put').requestDeserialize(cut)).toThrow(/malformed protobuf: a varint runs past the end/);
  });

  it('refuses a truncated varint inside a sub-message whose own length is right (a put on the KV stream)', () => {
    const plain = serviceClient(kvProto, 'KV').service['Put'] as grpc.MethodDefinition<unknown, unknown>;
    const put = plain.requestSerialize({ key: Buffer.from('k'), value: Buffer.from('v'), lease: 3_000_000_000 }) as Buffer;
    const operation = (inner: Buffer): Buffer => lengthDelimited(fieldNumber('StreamOperation', 'put'), inner);
    const streamRequest = (inner: Buffer): Buffer => lengthDelimited(fieldNumber('StreamRequest', 'operations'), operation(inner));
    const stream = method(strict('KV'), 'Stream');
    const whole = stream.requestDeserialize(streamRequest(put)) as { operations: { put: { lease: number } }[] };
    expect(whole.operations[0]?.put.lease).toBe(3_000_000_000);
    expect(() => stream.requestDeserialize(streamRequest(put.subarray(0, put.length - 1)))).toThrow(/malformed protobuf/);
  });
});
