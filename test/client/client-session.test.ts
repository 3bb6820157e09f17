import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ClientSession, WriteAttempts, attemptOutcome, unacknowledgedSpanMaxFor } from '../../src/client/client-session.js';

describe('ClientSession', () => {
  it('acknowledges everything below the oldest write still in flight', () => {
    const session = new ClientSession('7', 512);
    const first = session.begin();
    const second = session.begin();
    expect(session.header(second)).toEqual({ clientId: '7', sequence: 2, ackedSequence: 0 });
    session.end(first);
    expect(session.header(second).ackedSequence).toBe(1);
  });

  it('counts the unacknowledged span from the oldest write in flight, not only the writes in flight', () => {
    // One slow write holds back the acknowledgement of every later one: the server keeps all
    // their results, so the span is what must stay below its per-session bound.
    const session = new ClientSession('7', unacknowledgedSpanMaxFor(1024));
    const slow = session.begin();
    for (let i = 0; i < 600; i++) session.end(session.begin());
    expect(session.unacknowledgedSpan).toBe(601);
    expect(session.full).toBe(true);
    session.end(slow);
    expect(session.unacknowledgedSpan).toBe(0);
    expect(session.full).toBe(false);
  });

  it('keeps the span at half the cluster bound, and at least 1', () => {
    expect([unacknowledgedSpanMaxFor(1024), unacknowledgedSpanMaxFor(3), unacknowledgedSpanMaxFor(1)]).toEqual([512, 1, 1]);
  });
});

describe('attemptOutcome: what a failed attempt says about whether it was applied', () => {
  it.each([
    [grpc.status.FAILED_PRECONDITION, 'not-applied'],
    [grpc.status.RESOURCE_EXHAUSTED, 'not-applied'],
    [grpc.status.INVALID_ARGUMENT, 'not-applied'],
    [grpc.status.ABORTED, 'not-applied'],
    [grpc.status.DEADLINE_EXCEEDED, 'unknown'],
    [grpc.status.UNAVAILABLE, 'unknown'],
    [grpc.status.CANCELLED, 'unknown'],
    [grpc.status.OUT_OF_RANGE, 'unknown'],
    [grpc.status.INTERNAL, 'unknown'],
    [undefined, 'unknown'],
  ] as const)('status %s: %s', (code, outcome) => {
    expect(attemptOutcome(code)).toBe(outcome);
  });
});

describe('WriteAttempts: resend under a new session only when no attempt may have been applied (Raft thesis §6.3)', () => {
  it('(a) no earlier attempt, or only definite refusals: resend', () => {
    const attempts = new WriteAttempts();
    expect(attempts.afterSessionGone()).toBe('resend');
    attempts.failed('not-applied');
    attempts.failed('not-applied');
    expect(attempts.afterSessionGone()).toBe('resend');
  });

  it('(b) an attempt whose outcome is unknown, before or after definite ones: outcome unknown, never resent', () => {
    const attempts = new WriteAttempts();
    attempts.failed('not-applied');
    attempts.failed('unknown');
    attempts.failed('not-applied');
    expect(attempts.mayHaveApplied).toBe(true);
    expect(attempts.afterSessionGone()).toBe('outcome-unknown');
  });
});
