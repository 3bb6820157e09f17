import { afterEach } from 'vitest';
import type { RaftKvClient } from '../../src/client/index.js';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import type { KvOperations, PutRequest } from '../../src/server/kv-service.js';
import { kvStreams, type KvStreams } from '../../src/server/kv-stream.js';
import { serviceClient } from '../../src/shared/proto.js';

const kvProto = 'raftkv/v1/kv.proto';

/** What a fake node's operations see: the request and whether the node was shutting down. */
export interface SeenOperation {
  readonly kind: keyof KvOperations;
  readonly request: unknown;
}

/**
 * One in-process gRPC server with the real KV.Stream handler over operations the test writes:
 * enough to drive the SDK and the stream's shutdown without Raft. Unset operations answer
 * INTERNAL; Cluster.Status answers what `status` returns (or never, when it returns null).
 */
export class FakeNode {
  private constructor(
    readonly address: string,
    readonly streams: KvStreams,
    /** Every operation the node's handlers were given, in order. */
    readonly seen: readonly SeenOperation[],
    /** KV streams clients opened. */
    readonly opened: { streams: number },
    private readonly server: grpc.Server,
  ) {}

  static async start(handlers: Partial<Omit<KvOperations, 'proposeAuth' | 'requireLeader'>> & { status?: () => Record<string, unknown> | null }): Promise<FakeNode> {
    const seen: SeenOperation[] = [];
    const wrap =
      (kind: Exclude<keyof KvOperations, 'proposeAuth' | 'proposeLease' | 'requireLeader'>) =>
      (request: never, timeoutMs: number): Promise<unknown> => {
        seen.push({ kind, request });
        const handler = handlers[kind] as ((request: never, timeoutMs: number) => Promise<unknown>) | undefined;
        return handler === undefined ? Promise.reject(new Error(`${kind} is not faked`)) : handler(request, timeoutMs);
      };
    const operations: KvOperations = {
      proposeAuth: () => Promise.reject(new Error('auth is not faked')),
      proposeLease: () => Promise.reject(new Error('leases are not faked')),
      requireLeader: () => undefined,
      put: wrap('put') as unknown as KvOperations['put'],
      get: wrap('get') as unknown as KvOperations['get'],
      delete: wrap('delete') as unknown as KvOperations['delete'],
      range: wrap('range') as unknown as KvOperations['range'],
      compareAndSwap: wrap('compareAndSwap') as unknown as KvOperations['compareAndSwap'],
      txn: wrap('txn') as unknown as KvOperations['txn'],
      // Every writing SDK registers a session first: a fake node hands out one unless told otherwise.
      registerSession: (handlers.registerSession === undefined
        ? (_request: never, _timeoutMs: number) => {
            seen.push({ kind: 'registerSession', request: {} as never });
            return Promise.resolve({ header: { memberId: 'fake', term: 1, revision: 1 }, clientId: `fake-${seen.length}`, resultsPerSessionMax: 1024 });
          }
        : wrap('registerSession')) as unknown as KvOperations['registerSession'],
      setSessionLimits: wrap('setSessionLimits') as unknown as KvOperations['setSessionLimits'],
      compact: wrap('compact') as unknown as KvOperations['compact'],
    };
    const streams = kvStreams(operations, { requestTimeoutMs: 5000, inflightMax: 1000, logger: pino({ level: 'silent' }) });
    const server = new grpc.Server();
    const opened = { streams: 0 };
    server.addService(serviceClient(kvProto, 'KV').service, {
      stream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        opened.streams++;
        streams.handler(call);
      },
    });
    server.addService(serviceClient(kvProto, 'Cluster').service, {
      status: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
        const status = handlers.status?.() ?? null;
        if (status !== null) callback(null, status);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    return new FakeNode(`127.0.0.1:${port}`, streams, seen, opened, server);
  }

  /** The (client id, sequence) of every put this node saw. */
  putSessions(): string[] {
    return this.seen.filter((op) => op.kind === 'put').map((op) => {
      const session = (op.request as PutRequest).session;
      return `${session?.clientId}/${session?.sequence}`;
    });
  }

  /** Resolves once the server closed; true if it did so gracefully within `timeoutMs`, false if it had to be forced. */
  close(timeoutMs = 5000): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve(false);
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** A generated KV client, for the raw stream. */
export function rawKvClient(address: string): grpc.Client & { stream(): grpc.ClientDuplexStream<unknown, unknown> } {
  const KV = serviceClient(kvProto, 'KV');
  return new KV(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { stream(): grpc.ClientDuplexStream<unknown, unknown> };
}

/**
 * For a describe block: returns `track`, which remembers fake nodes and clients and closes them
 * after each test, newest first.
 */
export function closedAfterEach(): <T extends FakeNode | RaftKvClient>(thing: T) => T {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  return (thing) => {
    cleanup.push(() => (thing instanceof FakeNode ? thing.close(100) : thing.close()));
    return thing;
  };
}
