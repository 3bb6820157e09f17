import { describe, expect, it } from 'vitest';
import {
  CommandDecodeError,
  InvalidArgumentError,
  decodeCommand,
  defaultCommandLimits,
  encodeCommand,
  validateCommand,
  type Command,
  type TxnCommand,
} from '../../src/kv/index.js';
import { decodeAppliedResult, encodeAppliedResult } from '../../src/kv/session-codec.js';
import { bytes } from '../storage/temp-stores.js';

const session = { clientId: '17', sequence: 4, ackedSequence: 2 };

const full: TxnCommand = {
  kind: 'txn',
  compare: [
    { key: bytes('a'), target: 'value', result: 'equal', value: bytes('1') },
    { key: bytes('b'), target: 'version', result: 'not-equal', number: 0 },
    { key: bytes('c'), target: 'create', result: 'less', number: 2 ** 40 },
    { key: bytes('d'), target: 'mod', result: 'greater', number: 7 },
    { key: bytes('e'), target: 'lease', result: 'equal', number: 0 },
  ],
  success: [
    { kind: 'put', key: bytes('a'), value: bytes('2') },
    { kind: 'delete', keys: { kind: 'key', key: bytes('b') } },
    { kind: 'delete', keys: { kind: 'prefix', prefix: bytes('p/') } },
    { kind: 'get', keys: { kind: 'interval', start: bytes('a'), end: bytes('z') }, limit: 10 },
    { kind: 'get', keys: { kind: 'interval', start: bytes('m'), end: new Uint8Array() }, limit: 0 },
  ],
  failure: [{ kind: 'get', keys: { kind: 'prefix', prefix: new Uint8Array() }, limit: 10_000 }],
};

const txns: { name: string; command: Command }[] = [
  { name: 'an empty txn', command: { kind: 'txn', compare: [], success: [], failure: [] } },
  { name: 'every compare target, result, op and selector', command: full },
  { name: 'a txn with a session', command: { ...full, session } },
];

describe('txn command encoding', () => {
  it.each(txns)('round-trips $name', ({ command }) => {
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
  });

  const valid = encodeCommand({ ...full, session });

  it('refuses every truncation of a valid txn', () => {
    for (let length = 0; length < valid.byteLength; length++) {
      expect(() => decodeCommand(valid.subarray(0, length)), `length ${length}`).toThrow(CommandDecodeError);
    }
  });

  it('decodes every one-byte corruption to a valid command or refuses it with CommandDecodeError, nothing else', () => {
    let refused = 0;
    for (let i = 0; i < valid.byteLength; i++) {
      for (const value of [0, 1, 2, 3, 4, 5, 6, 7, 0x7f, 0xff]) {
        const corrupt = Uint8Array.from(valid);
        corrupt[i] = value;
        let command: Command | null = null;
        try {
          command = decodeCommand(corrupt);
        } catch (error) {
          expect(error, `byte ${i} = ${value}`).toBeInstanceOf(CommandDecodeError);
          refused++;
        }
        // What decodes must be a command the encoder accepts and writes back byte for byte.
        if (command !== null) expect(Buffer.from(encodeCommand(command)).equals(corrupt), `byte ${i} = ${value}`).toBe(true);
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  const header = [2, 7, 0];
  const corrupt: { name: string; bytes: number[]; reason: RegExp }[] = [
    { name: 'a txn in format 1', bytes: [1, 7, 0, 0, 0, 0, 0, 0, 0], reason: /unknown command kind 7 in format 1/ },
    { name: 'an unknown compare target', bytes: [...header, 0, 1, 0, 1, 0x61, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], reason: /compare\[0\].target: unknown value 9/ },
    { name: 'an unknown compare result', bytes: [...header, 0, 1, 0, 1, 0x61, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], reason: /compare\[0\].result: unknown value 0/ },
    { name: 'an empty compare key', bytes: [...header, 0, 1, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], reason: /compare\[0\].key: 0 bytes/ },
    { name: 'an unknown op kind', bytes: [...header, 0, 0, 0, 1, 9, 0, 0], reason: /success\[0\] kind: unknown value 9/ },
    { name: 'an unknown selector kind', bytes: [...header, 0, 0, 0, 1, 2, 7, 0, 0], reason: /success\[0\] selector: unknown value 7/ },
    { name: 'a get limit above the most keys a get returns', bytes: [...header, 0, 0, 0, 1, 3, 1, 0, 1, 0x61, 0, 0, 0x27, 0x11, 0, 0], reason: /success\[0\].limit/ },
    { name: 'an interval that ends before it starts', bytes: [...header, 0, 0, 0, 0, 0, 1, 2, 3, 0, 1, 0x62, 0, 1, 0x61], reason: /failure\[0\].rangeEnd: .*must sort after key/ },
    { name: 'a trailing byte', bytes: [...header, 0, 0, 0, 0, 0, 0, 0], reason: /trailing/ },
  ];
  it.each(corrupt)('refuses $name', ({ bytes: input, reason }) => {
    expect(() => decodeCommand(Uint8Array.from(input))).toThrow(CommandDecodeError);
    try {
      decodeCommand(Uint8Array.from(input));
    } catch (error) {
      expect((error as Error).message).toMatch(reason);
    }
  });
});

describe('txn validation', () => {
  const ops = (n: number): TxnCommand['success'] => Array.from({ length: n }, (_, i) => ({ kind: 'put', key: bytes(`k${i}`), value: bytes('v') }));
  const invalid: { name: string; command: TxnCommand; field: string; limit?: RegExp }[] = [
    { name: 'too many success ops', command: { kind: 'txn', compare: [], success: ops(129), failure: [] }, field: 'success', limit: /at most 128 per transaction \(max-txn-ops\)/ },
    { name: 'too many failure ops', command: { kind: 'txn', compare: [], success: [], failure: ops(129) }, field: 'failure', limit: /max-txn-ops/ },
    {
      name: 'too many compares',
      command: { kind: 'txn', compare: Array.from({ length: 129 }, () => ({ key: bytes('k'), target: 'version', result: 'equal', number: 0 })), success: [], failure: [] },
      field: 'compare',
      limit: /max-txn-ops/,
    },
    { name: 'an empty put key', command: { kind: 'txn', compare: [], success: [{ kind: 'put', key: new Uint8Array(), value: bytes('v') }], failure: [] }, field: 'success[0].key' },
    { name: 'a fractional compare number', command: { kind: 'txn', compare: [{ key: bytes('k'), target: 'mod', result: 'equal', number: 1.5 }], success: [], failure: [] }, field: 'compare[0].number' },
    {
      name: 'a value above the API limit',
      command: { kind: 'txn', compare: [], success: [], failure: [{ kind: 'put', key: bytes('k'), value: new Uint8Array(1024 * 1024 + 1) }] },
      field: 'failure[0].value',
    },
  ];
  it.each(invalid)('refuses $name, naming $field', ({ command, field, limit }) => {
    const limits = { ...defaultCommandLimits, txnOpsMax: 128 };
    expect(() => validateCommand(command, limits)).toThrow(InvalidArgumentError);
    expect(() => validateCommand(command, limits)).toThrow(expect.objectContaining({ field, code: 'INVALID_ARGUMENT' }));
    if (limit !== undefined) expect(() => validateCommand(command, limits)).toThrow(limit);
  });

  it('takes a larger configured limit, and the format carries it', () => {
    const command: TxnCommand = { kind: 'txn', compare: [], success: ops(1000), failure: [] };
    expect(() => validateCommand(command, { ...defaultCommandLimits, txnOpsMax: 1000 })).not.toThrow();
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
  });
});

describe('txn result in a session', () => {
  it('round-trips through the session codec', () => {
    const result = {
      kind: 'txn',
      succeeded: true,
      revision: 12,
      responses: [
        { kind: 'put', version: 3, modRevision: 12 },
        { kind: 'delete-range', deleted: 2 },
        { kind: 'get', kvs: [{ key: bytes('a'), value: bytes('1'), version: 3, createRevision: 4, modRevision: 12 }], more: true, count: 7 },
        { kind: 'get', kvs: [], more: false, count: 0 },
        { kind: 'get', kvs: [], more: false, count: 5 },
      ],
    } as const;
    expect(decodeAppliedResult(encodeAppliedResult(result))).toEqual(result);
  });
});
