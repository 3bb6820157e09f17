import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { OutcomeUnknownError, RaftKvClient, SessionExpiredError } from '../../src/client/index.js';

/**
 * The SDK's session decisions, with its one network seam (`attempt`) scripted: no ports, no
 * time. Each test says what the "cluster" answers and checks what the SDK sent.
 */
type Sent = { method: string; clientId?: string; sequence?: number };
type Answer = Record<string, unknown> | grpc.status | Promise<Record<string, unknown>>;

function scripted(answerPut: (put: Sent, putsSoFar: number) => Answer, resultsPerSessionMax = 1024): { client: RaftKvClient; sent: Sent[] } {
  const client = new RaftKvClient({ endpoints: ['127.0.0.1:1'], timeoutMs: 2000, random: () => 0 });
  const sent: Sent[] = [];
  let registrations = 0;
  let puts = 0;
  (client as unknown as { attempt: (...args: unknown[]) => Promise<Record<string, unknown>> }).attempt = async (_endpoint, _service, method, request) => {
    const session = (request as { session?: { clientId: string; sequence: number } }).session;
    const record: Sent = { method: method as string, ...(session === undefined ? {} : { clientId: session.clientId, sequence: session.sequence }) };
    sent.push(record);
    const answer: Answer = method === 'registerSession' ? { clientId: String(++registrations), resultsPerSessionMax } : answerPut(record, ++puts);
    if (typeof answer === 'number') throw Object.assign(new Error(grpc.status[answer]), { code: answer, details: `scripted ${grpc.status[answer]}`, metadata: new grpc.Metadata() });
    return answer;
  };
  clients.push(client);
  return { client, sent };
}

const clients: RaftKvClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

const ok = { version: 1, modRevision: 10 };

describe('RaftKvClient sessions', () => {
  it('registers once, lazily, shared by concurrent writes: no round-trip per write', async () => {
    const { client, sent } = scripted(() => ok);
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.put(`k${i}`, 'v')));
    await client.put('k', 'v');
    expect(sent.filter((s) => s.method === 'registerSession')).toHaveLength(1);
    expect(sent.filter((s) => s.method === 'put').map((s) => s.clientId)).toEqual(new Array(11).fill('1'));
    expect(sent.filter((s) => s.method === 'put').map((s) => s.sequence)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  });

  it('registers the next session in the background when one nearly fills, and moves new writes to it', async () => {
    // 8 results per session: the SDK keeps the span below 4 and starts the next session at 3.
    let release = (): void => undefined;
    const slow = new Promise<Record<string, unknown>>((resolve) => {
      release = () => resolve(ok);
    });
    const { client, sent } = scripted((_, n) => (n === 1 ? slow : ok), 8);
    const held = client.put('slow', 'v'); // holds back the acknowledgement of everything after it
    await client.put('k2', 'v');
    await client.put('k3', 'v');
    await client.put('k4', 'v'); // span 3: the next session is registered before this write is sent
    await client.put('k5', 'v');
    expect(sent).toEqual([
      { method: 'registerSession' },
      { method: 'put', clientId: '1', sequence: 1 },
      { method: 'put', clientId: '1', sequence: 2 },
      { method: 'put', clientId: '1', sequence: 3 },
      { method: 'registerSession' },
      { method: 'put', clientId: '1', sequence: 4 },
      { method: 'put', clientId: '2', sequence: 1 },
    ]);
    release();
    await held;
  });

  it('(a) a session found gone on the first attempt: registers a new one and sends the write again under it', async () => {
    const { client, sent } = scripted((_, n) => (n === 1 ? grpc.status.ABORTED : ok));
    await expect(client.put('k', 'v')).resolves.toEqual({ revision: 10, version: 1 });
    expect(sent).toEqual([
      { method: 'registerSession' },
      { method: 'put', clientId: '1', sequence: 1 },
      { method: 'registerSession' },
      { method: 'put', clientId: '2', sequence: 1 },
    ]);
    // The next write uses the new session.
    await client.put('k', 'v');
    expect(sent.at(-1)).toEqual({ method: 'put', clientId: '2', sequence: 2 });
  });

  it('(a) earlier attempts refused definitely (not the leader) count as not applied: resent', async () => {
    const { client, sent } = scripted((_, n) => (n === 1 ? grpc.status.FAILED_PRECONDITION : n === 2 ? grpc.status.ABORTED : ok));
    await expect(client.put('k', 'v')).resolves.toMatchObject({ revision: 10 });
    expect(sent.filter((s) => s.method === 'put').map((s) => s.clientId)).toEqual(['1', '1', '2']);
  });

  it('(b) an earlier attempt unanswered, then the session gone: OutcomeUnknownError, never resent as new', async () => {
    const { client, sent } = scripted((_, n) => (n === 1 ? grpc.status.DEADLINE_EXCEEDED : n === 2 ? grpc.status.ABORTED : ok));
    const error = await client.put('k', 'v').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as OutcomeUnknownError).code).toBe('OUTCOME_UNKNOWN');
    expect((error as Error).cause).toBeInstanceOf(SessionExpiredError);
    expect(sent.filter((s) => s.method === 'put').map((s) => s.clientId)).toEqual(['1', '1']);
    // The gone session is dropped: the next write registers a new one.
    await client.put('other', 'v');
    expect(sent.slice(-2)).toEqual([{ method: 'registerSession' }, { method: 'put', clientId: '2', sequence: 1 }]);
  });

  it('(b) a forgotten result (OUT_OF_RANGE) is an unknown outcome, not retried', async () => {
    const { client, sent } = scripted(() => grpc.status.OUT_OF_RANGE);
    await expect(client.put('k', 'v')).rejects.toBeInstanceOf(OutcomeUnknownError);
    expect(sent.filter((s) => s.method === 'put')).toHaveLength(1);
  });

  it('gives up with SessionExpiredError (not applied) when every new session is gone again before the write reaches the log', async () => {
    const { client, sent } = scripted(() => grpc.status.ABORTED);
    const error = await client.put('k', 'v').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionExpiredError);
    expect(sent.filter((s) => s.method === 'put').map((s) => s.clientId)).toEqual(['1', '2', '3']);
  });
});
