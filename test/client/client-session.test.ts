import { describe, expect, it } from 'vitest';
import { ClientSession, sessionUnacknowledgedSpanMax } from '../../src/client/client-session.js';

describe('ClientSession', () => {
  it('acknowledges everything below the oldest write still in flight', () => {
    const session = new ClientSession();
    const first = session.begin();
    const second = session.begin();
    expect(session.header(second)).toMatchObject({ sequence: 2, ackedSequence: 0 });
    session.end(first);
    expect(session.header(second).ackedSequence).toBe(1);
  });

  it('counts the unacknowledged span from the oldest write in flight, not only the writes in flight', () => {
    // One slow write holds back the acknowledgement of every later one: the server keeps all
    // their results, so the span is what must stay below its per-session bound (1024).
    const session = new ClientSession();
    const slow = session.begin();
    for (let i = 0; i < 600; i++) session.end(session.begin());
    expect(session.unacknowledgedSpan).toBe(601);
    expect(session.unacknowledgedSpan).toBeGreaterThanOrEqual(sessionUnacknowledgedSpanMax);
    session.end(slow);
    expect(session.unacknowledgedSpan).toBe(0);
  });
});
