import { describe, expect, it } from 'vitest';
import { splitUserSpec } from '../../src/shared/user-spec.js';

describe('splitUserSpec', () => {
  it.each([
    ['root', { name: 'root', password: null }],
    ['root:pw', { name: 'root', password: 'pw' }],
    ['root:p:w', { name: 'root', password: 'p:w' }],
    ['root:', { name: 'root', password: '' }],
    [':pw', { name: '', password: 'pw' }],
  ])('%s', (spec, expected) => {
    expect(splitUserSpec(spec)).toEqual(expected);
  });
});
