/**
 * `client.snapshot()` against a stand-in Maintenance server on loopback: the SDK checks the
 * stream's trailer and turns every failure into a typed error.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, InvalidArgumentError, RaftKvClient, SnapshotIntegrityError, UnavailableError, type SnapshotDownload } from '../../src/client/index.js';
import { serviceClient } from '../../src/shared/proto.js';

const header = { header: { revision: 42, term: 2, memberId: 'n1', clusterId: 'c', format: 1 } };
const chunks = [Buffer.from('chunk one'), Buffer.from('chunk two')];
const trailer = (sha256: Buffer = createHash('sha256').update(chunks[0]!).update(chunks[1]!).digest()) => ({ trailer: { sha256, chunks: 2, bytes: 18 } });

type Behaviour = (call: grpc.ServerWritableStream<unknown, unknown>) => void;

const servers: grpc.Server[] = [];
const clients: RaftKvClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) server.forceShutdown();
});

async function serve(behaviour: Behaviour): Promise<string> {
  const server = new grpc.Server();
  server.addService(serviceClient('raftkv/v1/kv.proto', 'Maintenance').service, { snapshot: behaviour });
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return `127.0.0.1:${port}`;
}

function client(endpoints: string[]): RaftKvClient {
  const created = new RaftKvClient({ endpoints });
  clients.push(created);
  return created;
}

async function drain(download: SnapshotDownload): Promise<Buffer[]> {
  const got: Buffer[] = [];
  for await (const chunk of download.chunks()) got.push(Buffer.from(chunk));
  return got;
}

const streams = (...messages: unknown[]): Behaviour => (call) => {
  for (const message of messages) call.write(message);
  call.end();
};

describe('client.snapshot', () => {
  it('yields the chunks and marks the download verified once the trailer matches, skipping a node that does not answer', async () => {
    const endpoint = await serve(streams(header, { data: chunks[0] }, { data: chunks[1] }, trailer()));
    const download = await client(['127.0.0.1:1', endpoint]).snapshot({ timeoutMs: 10_000 });
    expect(download).toMatchObject({ revision: 42, term: 2, memberId: 'n1', clusterId: 'c', format: 1, endpoint });
    expect(download.verified).toBeNull();
    expect(await drain(download)).toEqual(chunks);
    expect(download.verified).toEqual({ sha256: trailer().trailer.sha256.toString('hex'), chunks: 2, bytes: 18 });
  });

  it('refuses a stream whose checksum does not match: SnapshotIntegrityError', async () => {
    const endpoint = await serve(streams(header, { data: chunks[0] }, { data: chunks[1] }, trailer(Buffer.alloc(32))));
    const download = await client([endpoint]).snapshot();
    await expect(drain(download)).rejects.toThrow(SnapshotIntegrityError);
    expect(download.verified).toBeNull();
  });

  it('refuses a stream that ends without its trailer, or does not begin with its header', async () => {
    const cut = await serve(streams(header, { data: chunks[0] }));
    await expect(drain(await client([cut]).snapshot())).rejects.toThrow(/ended after 1 chunks without its trailer/);
    const headless = await serve(streams({ data: chunks[0] }));
    await expect(client([headless]).snapshot()).rejects.toThrow(SnapshotIntegrityError);
  });

  it('maps refusals to typed errors: INVALID_ARGUMENT at once, UNAVAILABLE after retrying until the deadline', async () => {
    const invalid = await serve((call) => call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'no' }));
    await expect(client([invalid]).snapshot()).rejects.toThrow(InvalidArgumentError);
    let attempts = 0;
    const busy = await serve((call) => {
      attempts += 1;
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'busy' });
    });
    await expect(client([busy]).snapshot({ timeoutMs: 1500 })).rejects.toThrow(UnavailableError);
    expect(attempts).toBeGreaterThan(1);
  });

  it('cancel() mid-stream ends the iteration with CancelledError', async () => {
    const endpoint = await serve((call) => {
      call.write(header);
      call.write({ data: chunks[0] });
    });
    const download = await client([endpoint]).snapshot();
    const iterator = download.chunks()[Symbol.asyncIterator]();
    expect(Buffer.from((await iterator.next()).value as Uint8Array)).toEqual(chunks[0]);
    download.cancel();
    await expect(iterator.next()).rejects.toThrow(CancelledError);
  });
});
