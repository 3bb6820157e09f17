import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../src/client/describe-failure.js';

const status = (code: grpc.status, details: string): Error & { code: number; details: string } =>
  Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details });

describe('describeFailure', () => {
  it.each([
    [status(grpc.status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: '), 'UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:1'],
    [status(grpc.status.UNAVAILABLE, 'No connection established. Last error: null. Resolution note: '), 'UNAVAILABLE: no connection'],
    [status(grpc.status.UNAVAILABLE, 'Name resolution failed for target dns:nowhere:1. Resolution note: DNS lookup failed'), 'UNAVAILABLE: Name resolution failed for target dns:nowhere:1. Resolution note: DNS lookup failed'],
    [status(grpc.status.UNAVAILABLE, 'node shutting down'), 'UNAVAILABLE: node shutting down'],
    [status(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded after 0.501s,LB pick: 0.000s'), 'DEADLINE_EXCEEDED: Deadline exceeded after 0.501s,LB pick: 0.000s'],
    [status(grpc.status.INTERNAL, ''), 'INTERNAL'],
    [new Error('something\n  broke'), 'something broke'],
    ['a string', 'a string'],
  ])('describes %s in one line', (error, text) => {
    expect(describeFailure(error)).toBe(text);
  });
});
