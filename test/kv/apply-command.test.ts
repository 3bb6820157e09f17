import { describe, expect, it } from 'vitest';
import { applyCommand, type CommandEffect, type KeyCommand, type KeyRecord } from '../../src/kv/index.js';
import { InvariantError } from '../../src/raft/index.js';
import { bytes } from '../storage/temp-stores.js';

const key = bytes('k');
const present: KeyRecord = { value: bytes('v1'), version: 3, createRevision: 2, modRevision: 7 };

const put = (value: string): KeyCommand => ({ kind: 'put', key, value: bytes(value) });
const del: KeyCommand = { kind: 'delete', key };
const casVersion = (version: number, action: 'put' | 'delete'): KeyCommand => ({
  kind: 'cas',
  key,
  compare: { kind: 'version', version },
  action: action === 'put' ? { kind: 'put', value: bytes('new') } : { kind: 'delete' },
});
const casValue = (value: string): KeyCommand => ({ kind: 'cas', key, compare: { kind: 'value', value: bytes(value) }, action: { kind: 'put', value: bytes('new') } });

const cases: { name: string; current: KeyRecord | null; command: KeyCommand; effect: CommandEffect }[] = [
  {
    name: 'put creates an absent key at version 1',
    current: null,
    command: put('a'),
    effect: { result: { kind: 'put', version: 1, modRevision: 10 }, next: { value: bytes('a'), version: 1, createRevision: 10, modRevision: 10 }, changed: true },
  },
  {
    name: 'put on a present key increments the version and keeps createRevision',
    current: present,
    command: put('b'),
    effect: { result: { kind: 'put', version: 4, modRevision: 10 }, next: { value: bytes('b'), version: 4, createRevision: 2, modRevision: 10 }, changed: true },
  },
  {
    name: 'put of the same value still writes a new version',
    current: present,
    command: put('v1'),
    effect: { result: { kind: 'put', version: 4, modRevision: 10 }, next: { value: bytes('v1'), version: 4, createRevision: 2, modRevision: 10 }, changed: true },
  },
  { name: 'delete removes a present key', current: present, command: del, effect: { result: { kind: 'delete', deleted: true }, next: null, changed: true } },
  { name: 'delete of an absent key changes nothing', current: null, command: del, effect: { result: { kind: 'delete', deleted: false }, next: null, changed: false } },
  {
    name: 'cas on version 0 (absent) creates the key',
    current: null,
    command: casVersion(0, 'put'),
    effect: {
      result: { kind: 'cas', succeeded: true, previous: null, modRevision: 10 },
      next: { value: bytes('new'), version: 1, createRevision: 10, modRevision: 10 },
      changed: true,
    },
  },
  {
    name: 'cas on version 0 fails for a present key, reporting it',
    current: present,
    command: casVersion(0, 'put'),
    effect: { result: { kind: 'cas', succeeded: false, previous: present, modRevision: 7 }, next: present, changed: false },
  },
  {
    name: 'cas on the current version swaps',
    current: present,
    command: casVersion(3, 'put'),
    effect: {
      result: { kind: 'cas', succeeded: true, previous: present, modRevision: 10 },
      next: { value: bytes('new'), version: 4, createRevision: 2, modRevision: 10 },
      changed: true,
    },
  },
  {
    name: 'cas on a stale version fails',
    current: present,
    command: casVersion(2, 'put'),
    effect: { result: { kind: 'cas', succeeded: false, previous: present, modRevision: 7 }, next: present, changed: false },
  },
  {
    name: 'cas on a version of an absent key fails with modRevision 0',
    current: null,
    command: casVersion(1, 'put'),
    effect: { result: { kind: 'cas', succeeded: false, previous: null, modRevision: 0 }, next: null, changed: false },
  },
  {
    name: 'cas on the current version deletes',
    current: present,
    command: casVersion(3, 'delete'),
    effect: { result: { kind: 'cas', succeeded: true, previous: present, modRevision: 10 }, next: null, changed: true },
  },
  {
    name: 'cas delete on version 0 succeeds on an absent key and changes nothing',
    current: null,
    command: casVersion(0, 'delete'),
    effect: { result: { kind: 'cas', succeeded: true, previous: null, modRevision: 10 }, next: null, changed: false },
  },
  {
    name: 'cas on the current value swaps',
    current: present,
    command: casValue('v1'),
    effect: {
      result: { kind: 'cas', succeeded: true, previous: present, modRevision: 10 },
      next: { value: bytes('new'), version: 4, createRevision: 2, modRevision: 10 },
      changed: true,
    },
  },
  {
    name: 'cas on another value fails',
    current: present,
    command: casValue('v2'),
    effect: { result: { kind: 'cas', succeeded: false, previous: present, modRevision: 7 }, next: present, changed: false },
  },
  {
    name: 'cas on a value never holds for an absent key, even the empty value',
    current: null,
    command: casValue(''),
    effect: { result: { kind: 'cas', succeeded: false, previous: null, modRevision: 0 }, next: null, changed: false },
  },
];

describe('applyCommand', () => {
  it.each(cases)('$name', ({ current, command, effect }) => {
    expect(applyCommand(current, command, 10)).toEqual(effect);
  });

  it('recreates a deleted key at version 1 with a new createRevision', () => {
    const created = applyCommand(null, put('a'), 1).next;
    const updated = applyCommand(created, put('b'), 2).next;
    const deleted = applyCommand(updated, del, 3);
    expect(deleted.next).toBeNull();
    const recreated = applyCommand(deleted.next, put('c'), 4).next;
    expect(recreated).toEqual({ value: bytes('c'), version: 1, createRevision: 4, modRevision: 4 });
  });

  it('refuses an index not after the key modRevision (a replay bug)', () => {
    expect(() => applyCommand(present, put('x'), 7)).toThrow(InvariantError);
    expect(() => applyCommand(null, put('x'), 0)).toThrow(InvariantError);
  });
});
