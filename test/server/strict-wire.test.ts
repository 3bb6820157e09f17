import { describe, expect, it } from 'vitest';
import { checkWireFormat } from '../../src/server/strict-wire.js';
import { serviceClient } from '../../src/shared/proto.js';

describe('checkWireFormat', () => {
  const grant = serviceClient('raftkv/v1/kv.proto', 'Lease').service['LeaseGrant'];

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
