/**
 * One directed network link between two nodes, as a TCP proxy the harness controls. Node X
 * reaches node Y's peer port only through the proxy for (X, Y): X's --peers names the proxy's
 * address as Y's. Raft traffic is one client-streaming call per direction (each node dials the
 * other), so the proxy for (X, Y) carries exactly what X sends to Y, and cutting it silences
 * X -> Y while Y -> X goes on through its own proxy.
 *
 * Cutting destroys every connection in flight and destroys each new one as soon as it is
 * accepted; the proxy keeps its listening port, so the nodes' configuration never changes.
 * Healing lets new connections through again (the nodes reconnect by themselves).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { DeadlineError } from './wait.js';

export interface LinkProxyOptions {
  /** For logs and errors, e.g. "n1->n2". */
  readonly name: string;
  /** The real peer listen address of the destination node. */
  readonly targetHost: string;
  readonly targetPort: number;
  /** Where the proxy listens; loopback only. */
  readonly listenHost?: '127.0.0.1';
  /** How long dialling the target may take before the accepted connection is dropped. */
  readonly connectTimeoutMs?: number;
}

/** Counters since the proxy opened. */
export interface LinkProxyStats {
  readonly cut: boolean;
  /** Connections forwarded to the target. */
  readonly forwarded: number;
  /** Connections accepted while cut, and destroyed at once. */
  readonly refused: number;
  /** Connections destroyed by a cut while they were open. */
  readonly severed: number;
  /** Connection pairs open now. */
  readonly open: number;
  readonly bytesForwarded: number;
}

/** A connection accepted from the source and the one dialled to the target for it. */
interface Pair {
  readonly inbound: Socket;
  readonly outbound: Socket;
}

export class LinkProxy {
  readonly name: string;
  private readonly server: Server;
  private readonly targetHost: string;
  private readonly targetPort: number;
  private readonly connectTimeoutMs: number;
  // Invariant: holds exactly the pairs whose sockets are not both destroyed.
  private readonly pairs = new Set<Pair>();
  // Invariant: while true, no pair is open and every new connection is destroyed on accept.
  private linkCut = false;
  private closed = false;
  private forwarded = 0;
  private refused = 0;
  private severed = 0;
  private bytesForwarded = 0;

  private constructor(server: Server, options: LinkProxyOptions) {
    this.name = options.name;
    this.server = server;
    this.targetHost = options.targetHost;
    this.targetPort = options.targetPort;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listens on an ephemeral loopback port; resolves once it is bound. */
  static async open(options: LinkProxyOptions): Promise<LinkProxy> {
    const server = createServer({ noDelay: true });
    const proxy = new LinkProxy(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, options.listenHost ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // After listening, an error (e.g. EMFILE on accept) must not crash the harness.
    server.on('error', () => {});
    return proxy;
  }

  /** The address the source node dials, "127.0.0.1:port". */
  get address(): string {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') throw new Error(`link proxy ${this.name} is not listening`);
    return `${bound.address}:${bound.port}`;
  }

  get port(): number {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') throw new Error(`link proxy ${this.name} is not listening`);
    return bound.port;
  }

  get isCut(): boolean {
    return this.linkCut;
  }

  stats(): LinkProxyStats {
    return {
      cut: this.linkCut,
      forwarded: this.forwarded,
      refused: this.refused,
      severed: this.severed,
      open: this.pairs.size,
      bytesForwarded: this.bytesForwarded,
    };
  }

  /** Stops the link: open connections are destroyed now, new ones as soon as they arrive. */
  cut(): void {
    this.linkCut = true;
    for (const pair of [...this.pairs]) {
      this.severed++;
      this.destroyPair(pair);
    }
  }

  /** Lets new connections through again. */
  heal(): void {
    if (this.closed) throw new Error(`link proxy ${this.name} is closed`);
    this.linkCut = false;
  }

  /**
   * Stops listening and destroys every connection. Resolves when the listening socket is
   * closed, or rejects with DeadlineError after `timeoutMs`. Idempotent.
   */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.linkCut = true;
    for (const pair of [...this.pairs]) this.destroyPair(pair);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new DeadlineError(`link proxy ${this.name} did not close within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private accept(inbound: Socket): void {
    inbound.on('error', () => {}); // a reset from either side is normal here
    if (this.linkCut) {
      this.refused++;
      inbound.destroy();
      return;
    }
    this.forwarded++;
    const outbound = connect({ host: this.targetHost, port: this.targetPort, noDelay: true });
    outbound.on('error', () => {});
    const pair: Pair = { inbound, outbound };
    this.pairs.add(pair);
    // Without an answer in time the target is gone (killed, or SIGSTOPped with a full backlog).
    const connectTimer = setTimeout(() => this.destroyPair(pair), this.connectTimeoutMs);
    connectTimer.unref();
    outbound.once('connect', () => clearTimeout(connectTimer));
    inbound.setNoDelay(true);
    inbound.on('data', (chunk: Buffer) => {
      this.bytesForwarded += chunk.length;
    });
    outbound.on('data', (chunk: Buffer) => {
      this.bytesForwarded += chunk.length;
    });
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    // One side gone means the connection is gone: a half-open pair would hide a dead peer.
    const end = (): void => {
      clearTimeout(connectTimer);
      this.destroyPair(pair);
    };
    inbound.once('close', end);
    outbound.once('close', end);
  }

  private destroyPair(pair: Pair): void {
    this.pairs.delete(pair);
    pair.inbound.destroy();
    pair.outbound.destroy();
  }
}
