import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CompactedError, RaftKvClient } from '../../src/client/index.js';

/**
 * A compaction is not a session write: when an attempt's answer is lost, the retry may find its
 * own work done. The SDK's one network seam (`attempt`) is scripted: no ports, no time.
 */
type Refusal = { code: grpc.status; details: string; compactRevision?: number };
type Answer = { header: { revision: number } } | Refusal;

function scripted(answers: Answer[]): { client: RaftKvClient; sent: unknown[] } {
  const client = new RaftKvClient({ endpoints: ['127.0.0.1:1'], timeoutMs: 2000, random: () => 0 });
  const sent: unknown[] = [];
  (client as unknown as { attempt: (...args: unknown[]) => Promise<Record<string, unknown>> }).attempt = async (_endpoint, _service, method, request) => {
    sent.push({ method, request });
    const answer = answers.shift();
    if (answer === undefined) throw new Error('no scripted answer left');
    if ('code' in answer) {
      const metadata = new grpc.Metadata();
      if (answer.compactRevision !== undefined) metadata.set('compact-revision', String(answer.compactRevision));
      throw Object.assign(new Error(answer.details), { code: answer.code, details: answer.details, metadata });
    }
    return answer;
  };
  clients.push(client);
  return { client, sent };
}

const clients: RaftKvClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

const compacted = (requested: number, held: number): Answer => ({
  code: grpc.status.OUT_OF_RANGE,
  details: `revision ${requested} has been compacted; the oldest revision held is ${held}`,
  compactRevision: held,
});

describe('RaftKvClient.compact', () => {
  it('answers the store revision when the first attempt is answered', async () => {
    const { client, sent } = scripted([{ header: { revision: 42 } }]);
    await expect(client.compact(30)).resolves.toEqual({ revision: 42 });
    expect(sent).toHaveLength(1);
  });

  it('resolves when a retry after a lost answer finds the history compacted to its revision', async () => {
    const { client, sent } = scripted([{ code: grpc.status.UNAVAILABLE, details: 'connection reset' }, compacted(30, 30)]);
    await expect(client.compact(30)).resolves.toEqual({ revision: 30 });
    expect(sent).toHaveLength(2);
  });

  it('resolves when the retry finds it compacted further (another client did more)', async () => {
    const { client } = scripted([{ code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline' }, compacted(30, 35)]);
    await expect(client.compact(30)).resolves.toEqual({ revision: 35 });
  });

  it('refuses with CompactedError when no earlier attempt can have applied', async () => {
    const { client } = scripted([compacted(30, 30)]);
    const error = await client.compact(30).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CompactedError);
    expect((error as CompactedError).compactRevision).toBe(30);
  });

  it('refuses when the earlier attempts were refused outright (not the leader), not lost', async () => {
    const { client } = scripted([{ code: grpc.status.FAILED_PRECONDITION, details: 'not the leader' }, compacted(30, 30)]);
    await expect(client.compact(30)).rejects.toBeInstanceOf(CompactedError);
  });
});
