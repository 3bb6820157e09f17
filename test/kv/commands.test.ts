import { describe, expect, it } from 'vitest';
import {
  CommandDecodeError,
  InvalidArgumentError,
  decodeCommand,
  defaultCommandLimits,
  encodeCommand,
  validateCommand,
  type Command,
} from '../../src/kv/index.js';
import { bytes } from '../storage/temp-stores.js';

const session = { clientId: 'client-7f3a', sequence: 42, ackedSequence: 40 };

const commands: { name: string; command: Command }[] = [
  { name: 'put', command: { kind: 'put', key: bytes('k'), value: bytes('v') } },
  { name: 'put with empty value and binary key', command: { kind: 'put', key: new Uint8Array([0, 255]), value: new Uint8Array() } },
  { name: 'put with session', command: { kind: 'put', key: bytes('k'), value: bytes('v'), session } },
  { name: 'delete', command: { kind: 'delete', key: bytes('gone') } },
  { name: 'delete with session', command: { kind: 'delete', key: bytes('gone'), session } },
  {
    name: 'cas on value, put',
    command: { kind: 'cas', key: bytes('k'), compare: { kind: 'value', value: bytes('old') }, action: { kind: 'put', value: bytes('new') } },
  },
  {
    name: 'cas on version 0, delete, with session',
    command: { kind: 'cas', key: bytes('k'), compare: { kind: 'version', version: 0 }, action: { kind: 'delete' }, session },
  },
  {
    name: 'cas on a large version',
    command: { kind: 'cas', key: bytes('k'), compare: { kind: 'version', version: 2 ** 40 }, action: { kind: 'put', value: bytes('') } },
  },
  { name: 'register-session', command: { kind: 'register-session' } },
  { name: 'set-session-limits, all of them', command: { kind: 'set-session-limits', limits: { resultsPerSessionMax: 8, resultBytesPerSessionMax: 4096, sessionsMax: 3, sessionIdleEntriesMax: 2 ** 40 }, onlyIfUnset: true } },
  { name: 'set-session-limits, one of them', command: { kind: 'set-session-limits', limits: { sessionsMax: 1 }, onlyIfUnset: false } },
];

describe('encodeCommand / decodeCommand', () => {
  it.each(commands)('round-trips $name', ({ command }) => {
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
  });

  it('decodes format 1 (written before session registration) with its session marked implicit, and never encodes it', () => {
    const v2 = encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v'), session });
    const v1 = Uint8Array.from([1, ...v2.subarray(1)]);
    const decoded = decodeCommand(v1);
    expect(decoded).toEqual({ kind: 'put', key: bytes('k'), value: bytes('v'), session: { ...session, implicit: true } });
    expect(() => encodeCommand(decoded)).toThrow(expect.objectContaining({ field: 'session.implicit' }));
    expect(decodeCommand(v2)).toEqual({ kind: 'put', key: bytes('k'), value: bytes('v'), session });
  });

  it('is compact: a put of a 1-byte key and value takes 11 bytes (3 header, 2+1 key, 4+1 value)', () => {
    expect(encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v') }).byteLength).toBe(11);
  });

  const valid = encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v') });
  const corrupt: { name: string; bytes: Uint8Array; reason: RegExp }[] = [
    { name: 'empty', bytes: new Uint8Array(), reason: /format version/ },
    { name: 'an unknown format version', bytes: Uint8Array.from([4, ...valid.subarray(1)]), reason: /unknown version 4/ },
    { name: 'a register-session in format 1', bytes: Uint8Array.from([1, 4]), reason: /unknown command kind 4 in format 1/ },
    { name: 'an unknown kind', bytes: Uint8Array.from([2, 200, ...valid.subarray(2)]), reason: /unknown command kind 200/ },
    { name: 'a bad session flag', bytes: Uint8Array.from([2, 1, 2, ...valid.subarray(3)]), reason: /has session/ },
    { name: 'a register-session with trailing bytes', bytes: Uint8Array.from([2, 4, 0]), reason: /trailing/ },
    {
      name: 'session limits out of bounds',
      bytes: Uint8Array.from([2, 5, 0, ...[0, 0, 0, 0, 0, 0, 0, 0], ...[0, 0, 0, 0, 0, 0, 0, 1], ...[0, 0, 0, 0, 0, 0, 0, 0], ...[0, 0, 0, 0, 0, 0, 0, 0]]),
      reason: /sessionLimits.resultBytesPerSessionMax/,
    },
    { name: 'session limits that change nothing', bytes: Uint8Array.from([2, 5, 0, ...new Array<number>(32).fill(0)]), reason: /at least one limit/ },
    { name: 'truncation', bytes: valid.subarray(0, valid.byteLength - 1), reason: /value: needs 1 bytes/ },
    { name: 'a trailing byte', bytes: Uint8Array.from([...valid, 0]), reason: /trailing/ },
    { name: 'an empty key', bytes: Uint8Array.from([2, 2, 0, 0, 0]), reason: /key: 0 bytes/ },
    {
      name: 'acked not below sequence',
      bytes: Uint8Array.from([2, 2, 1, 1, 0x61, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0x6b]),
      reason: /session.ackedSequence/,
    },
  ];
  it.each(corrupt)('rejects $name with CommandDecodeError', ({ bytes: input, reason }) => {
    let caught: unknown;
    try {
      decodeCommand(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CommandDecodeError);
    expect((caught as CommandDecodeError).code).toBe('COMMAND_DECODE');
    expect((caught as CommandDecodeError).cause).toBeInstanceOf(Error);
    expect((caught as Error).message).toMatch(reason);
  });
});

describe('validateCommand', () => {
  const invalid: { name: string; command: Command; field: string }[] = [
    { name: 'an empty key', command: { kind: 'delete', key: new Uint8Array() }, field: 'key' },
    { name: 'a key above the API limit', command: { kind: 'delete', key: new Uint8Array(4097) }, field: 'key' },
    { name: 'a value above the API limit', command: { kind: 'put', key: bytes('k'), value: new Uint8Array(1024 * 1024 + 1) }, field: 'value' },
    {
      name: 'a negative expected version',
      command: { kind: 'cas', key: bytes('k'), compare: { kind: 'version', version: -1 }, action: { kind: 'delete' } },
      field: 'compare.version',
    },
    {
      name: 'a fractional expected version',
      command: { kind: 'cas', key: bytes('k'), compare: { kind: 'version', version: 1.5 }, action: { kind: 'delete' } },
      field: 'compare.version',
    },
    { name: 'sequence 0', command: { kind: 'delete', key: bytes('k'), session: { clientId: 'c', sequence: 0, ackedSequence: 0 } }, field: 'session.sequence' },
    { name: 'acked equal to sequence', command: { kind: 'delete', key: bytes('k'), session: { clientId: 'c', sequence: 3, ackedSequence: 3 } }, field: 'session.ackedSequence' },
    { name: 'an empty client id', command: { kind: 'delete', key: bytes('k'), session: { clientId: '', sequence: 1, ackedSequence: 0 } }, field: 'session.clientId' },
    { name: 'a long client id', command: { kind: 'delete', key: bytes('k'), session: { clientId: 'x'.repeat(129), sequence: 1, ackedSequence: 0 } }, field: 'session.clientId' },
    { name: 'sessionsMax 0', command: { kind: 'set-session-limits', limits: { sessionsMax: 0 }, onlyIfUnset: false }, field: 'sessionLimits.sessionsMax' },
    { name: 'too many results per session', command: { kind: 'set-session-limits', limits: { resultsPerSessionMax: 65_537 }, onlyIfUnset: false }, field: 'sessionLimits.resultsPerSessionMax' },
    { name: 'a fractional idle limit', command: { kind: 'set-session-limits', limits: { sessionIdleEntriesMax: 1.5 }, onlyIfUnset: false }, field: 'sessionLimits.sessionIdleEntriesMax' },
    { name: 'no limit at all', command: { kind: 'set-session-limits', limits: {}, onlyIfUnset: false }, field: 'sessionLimits' },
  ];
  it.each(invalid)('rejects $name, naming $field', ({ command, field }) => {
    expect(() => validateCommand(command, defaultCommandLimits)).toThrow(InvalidArgumentError);
    expect(() => validateCommand(command, defaultCommandLimits)).toThrow(expect.objectContaining({ field, code: 'INVALID_ARGUMENT' }));
  });

  it('encodes what only the configurable API limits forbid, so replicas with other limits still agree', () => {
    const command: Command = { kind: 'delete', key: new Uint8Array(5000).fill(1) };
    expect(() => validateCommand(command, defaultCommandLimits)).toThrow(InvalidArgumentError);
    expect(decodeCommand(encodeCommand(command))).toEqual(command);
  });

  it('refuses to encode what the format cannot carry', () => {
    expect(() => encodeCommand({ kind: 'delete', key: new Uint8Array(70_000) })).toThrow(expect.objectContaining({ field: 'key' }));
  });
});

describe('commands checked for a user (format 3)', () => {
  const checked = { user: 'alice', authRevision: 17 };
  const txn: Command = {
    kind: 'txn',
    compare: [{ key: bytes('a/c'), target: 'version', result: 'equal', number: 1 }],
    success: [{ kind: 'put', key: bytes('a/x'), value: bytes('1') }],
    failure: [{ kind: 'delete', keys: { kind: 'prefix', prefix: bytes('a/') } }],
  };
  const checkedCommands: { name: string; command: Command }[] = [
    { name: 'put', command: { kind: 'put', key: bytes('k'), value: bytes('v'), ...checked } },
    { name: 'put with a lease and a session', command: { kind: 'put', key: bytes('k'), value: bytes('v'), lease: 7, session, ...checked } },
    { name: 'delete with a session', command: { kind: 'delete', key: bytes('k'), session, ...checked } },
    { name: 'cas', command: { kind: 'cas', key: bytes('k'), compare: { kind: 'version', version: 0 }, action: { kind: 'delete' }, ...checked } },
    { name: 'txn with a session', command: { ...txn, session, ...checked } },
    { name: 'lease-revoke', command: { kind: 'lease-revoke', id: 9, session, ...checked } },
    { name: 'auth', command: { kind: 'auth', op: { op: 'user-delete', name: 'bob' }, user: 'root', authRevision: 3 } },
    { name: 'compact', command: { kind: 'compact', revision: 12, user: 'root', authRevision: 3 } },
    { name: 'set-session-limits', command: { kind: 'set-session-limits', limits: { sessionsMax: 5 }, onlyIfUnset: false, user: 'root', authRevision: 3 } },
    { name: 'a user with non-ASCII letters', command: { kind: 'put', key: bytes('k'), value: bytes('v'), user: 'zoë-日本', authRevision: 2 ** 40 } },
  ];
  it.each(checkedCommands)('round-trips $name with its user and auth revision', ({ command }) => {
    const encoded = encodeCommand(command);
    expect(encoded[0]).toBe(3);
    expect(decodeCommand(encoded)).toEqual(command);
  });

  it('writes a command checked for no user in format 2, byte for byte as before (a put: 11 bytes)', () => {
    const plain = encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v') });
    expect([...plain]).toEqual([2, 1, 0, 0, 1, 0x6b, 0, 0, 0, 1, 0x76]);
    expect(encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v'), user: undefined, authRevision: undefined })).toEqual(plain);
    // The user and revision cost 1 + its bytes + 8 bytes, right after the kind.
    const stamped = encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v'), ...checked });
    expect([...stamped]).toEqual([3, 1, 5, ...bytes('alice'), 0, 0, 0, 0, 0, 0, 0, 17, ...plain.subarray(2)]);
  });

  it('decodes the writes of one user to one shared name', () => {
    const first = decodeCommand(encodeCommand({ kind: 'put', key: bytes('a'), value: bytes('1'), ...checked }));
    const second = decodeCommand(encodeCommand({ kind: 'delete', key: bytes('b'), ...checked }));
    expect(first).toMatchObject(checked);
    expect(second).toMatchObject(checked);
  });

  const stampedPut = encodeCommand({ kind: 'put', key: bytes('k'), value: bytes('v'), ...checked });
  const body = stampedPut.subarray(2 + 1 + 5 + 8);
  const revision17 = [0, 0, 0, 0, 0, 0, 0, 17];
  const malformed: { name: string; bytes: Uint8Array; reason: RegExp }[] = [
    { name: 'an empty user', bytes: Uint8Array.from([3, 1, 0, ...revision17, ...body]), reason: /user: 0 bytes/ },
    { name: 'a user with a control character', bytes: Uint8Array.from([3, 1, 2, 0x61, 0x0a, ...revision17, ...body]), reason: /user: got "a\\n" \(no control characters/ },
    { name: 'a user of invalid UTF-8', bytes: Uint8Array.from([3, 1, 2, 0xc3, 0x28, ...revision17, ...body]), reason: /user: invalid UTF-8/ },
    { name: 'a user longer than a name may be', bytes: Uint8Array.from([3, 1, 200, ...new Array<number>(200).fill(0x61), ...revision17, ...body]), reason: /user: 200 bytes exceeds/ },
    { name: 'auth revision 0', bytes: Uint8Array.from([3, 1, 5, ...bytes('alice'), 0, 0, 0, 0, 0, 0, 0, 0, ...body]), reason: /authRevision/ },
    { name: 'an auth revision beyond 2^53', bytes: Uint8Array.from([3, 1, 5, ...bytes('alice'), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...body]), reason: /authRevision: .* beyond 2\^53/ },
    { name: 'a truncated auth revision', bytes: Uint8Array.from([3, 1, 5, ...bytes('alice'), 0, 0, 0]), reason: /authRevision: needs/ },
    { name: 'a user on a register-session', bytes: Uint8Array.from([3, 4, 5, ...bytes('alice'), ...revision17]), reason: /kind 4 carries no user/ },
    { name: 'a user on a lease grant', bytes: Uint8Array.from([3, 9, 5, ...bytes('alice'), ...revision17, 0, ...new Array<number>(16).fill(1)]), reason: /kind 9 carries no user/ },
  ];
  it.each(malformed)('rejects $name with CommandDecodeError', ({ bytes: input, reason }) => {
    expect(() => decodeCommand(input)).toThrow(CommandDecodeError);
    expect(() => decodeCommand(input)).toThrow(reason);
  });

  it('validates a user and revision as a pair', () => {
    const put = { kind: 'put', key: bytes('k'), value: bytes('v') } as const;
    expect(() => validateCommand({ ...put, user: 'alice' }, defaultCommandLimits)).toThrow(expect.objectContaining({ field: 'authRevision' }));
    expect(() => validateCommand({ ...put, authRevision: 4 }, defaultCommandLimits)).toThrow(expect.objectContaining({ field: 'authRevision' }));
    expect(() => validateCommand({ ...put, user: 'a:b', authRevision: 4 }, defaultCommandLimits)).toThrow(expect.objectContaining({ field: 'user' }));
    expect(() => encodeCommand({ ...put, user: 'alice', authRevision: 0 })).toThrow(expect.objectContaining({ field: 'authRevision' }));
  });
});
