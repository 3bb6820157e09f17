/**
 * Helpers for the gRPC transport tests: real servers on 127.0.0.1, event recorders, and
 * condition polling with a deadline (never a fixed sleep).
 */
import { connect, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { LogPosition, Message, NodeId } from '../../src/raft/index.js';
import { SnapshotBusyError } from '../../src/shared/errors.js';
import type { TransportEvents } from '../../src/transport/index.js';
import type { SnapshotReader, SnapshotStore, SnapshotWriter } from '../../src/transport/transport.js';

/** Polls `condition` every few milliseconds until it holds; fails after `timeoutMs` naming `what`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Everything a transport reported, in order. */
export class RecordedEvents implements TransportEvents {
  readonly messages: Message[] = [];
  readonly deliveries: (readonly Message[])[] = [];
  readonly unreachable: NodeId[] = [];
  readonly snapshotStatus: { peer: NodeId; delivered: boolean }[] = [];

  onMessages(messages: readonly Message[]): void {
    this.deliveries.push(messages);
    this.messages.push(...messages);
  }

  onUnreachable(peer: NodeId): void {
    this.unreachable.push(peer);
  }

  onSnapshotStatus(peer: NodeId, delivered: boolean): void {
    this.snapshotStatus.push({ peer, delivered });
  }

  from(peer: NodeId): Message[] {
    return this.messages.filter((message) => message.from === peer);
  }
}

/** A pino logger that keeps its records in memory, to assert on warnings. */
export function memoryLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.length > 0) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), records };
}

/** A port nothing listens on right now (bound, read back, released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/**
 * A TCP proxy that can start swallowing every byte in both directions while keeping the
 * connections open: a peer that is powered off or partitioned, where no RST ever comes and only
 * keepalive can tell.
 */
export class BlackholeProxy {
  private readonly server = createServer((client) => this.onConnection(client));
  private readonly sockets = new Set<Socket>();
  private blackholed = false;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(targetAddress: string): Promise<BlackholeProxy> {
    const separator = targetAddress.lastIndexOf(':');
    const proxy = new BlackholeProxy({ host: targetAddress.slice(0, separator), port: Number(targetAddress.slice(separator + 1)) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get address(): string {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    return `127.0.0.1:${address.port}`;
  }

  /** From now on nothing gets through, and nothing is closed either. */
  blackhole(): void {
    this.blackholed = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(from);
      from.on('data', (chunk: Buffer) => {
        if (!this.blackholed) to.write(chunk);
      });
      // Once blackholed, not even a close gets through: the other side must find out by itself.
      from.on('error', () => {
        if (!this.blackholed) to.destroy();
      });
      from.on('close', () => {
        this.sockets.delete(from);
        if (!this.blackholed) to.destroy();
      });
    }
  }
}

/** One snapshot as MemorySnapshotStore received it. */
export interface ReceivedSnapshot {
  readonly chunks: Uint8Array[];
  state: 'receiving' | 'finished' | 'aborted';
  readonly token: Uint8Array;
}

/**
 * A SnapshotStore over memory, for transport tests: it sends `outgoing` (chunks as given) and
 * keeps what it receives. The real one is the state machine's (test/kv/snapshot.test.ts).
 */
export class MemorySnapshotStore implements SnapshotStore {
  outgoing: { applied: LogPosition; chunks: Uint8Array[] } = { applied: { index: 40, term: 2 }, chunks: [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])] };
  readonly received: ReceivedSnapshot[] = [];
  /** Readers opened and not yet closed. */
  openReaders = 0;
  /** Makes write() reject (as the state machine does for data that is not a snapshot). */
  refuseWrites: Error | null = null;
  /** Holds each write until the test releases it, to see flow control at work. */
  writeGate: Promise<void> | null = null;

  async open(): Promise<SnapshotReader> {
    const { applied, chunks } = this.outgoing;
    this.openReaders += 1;
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      this.openReaders -= 1;
    };
    return {
      applied,
      async *chunks() {
        try {
          for (const chunk of chunks) yield chunk;
        } finally {
          await close();
        }
      },
      close,
    };
  }

  async receive(): Promise<SnapshotWriter> {
    if (this.received.some((snapshot) => snapshot.state === 'receiving')) throw new SnapshotBusyError('already receiving one');
    const snapshot: ReceivedSnapshot = { chunks: [], state: 'receiving', token: new Uint8Array([this.received.length + 1]) };
    this.received.push(snapshot);
    return {
      write: async (chunk) => {
        if (this.writeGate !== null) await this.writeGate;
        if (this.refuseWrites !== null) throw this.refuseWrites;
        snapshot.chunks.push(new Uint8Array(chunk));
      },
      finish: () => {
        snapshot.state = 'finished';
        return snapshot.token;
      },
      abort: async () => {
        if (snapshot.state === 'receiving') snapshot.state = 'aborted';
      },
    };
  }
}
