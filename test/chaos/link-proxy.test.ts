import { once } from 'node:events';
import { createServer as createHttp2Server, type Http2Server } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../chaos/link-proxy.js';
import { probeLink, splitAddress } from '../../chaos/link-probe.js';
import { withDeadline } from '../../chaos/wait.js';

/**
 * The per-link TCP proxy over real loopback sockets: an echo server stands for the far node.
 * Every wait is on an event, bounded by a deadline.
 */
describe('LinkProxy', () => {
  let echo: Server;
  let echoPort: number;
  let proxy: LinkProxy;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    echo = createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    echoPort = (echo.address() as { port: number }).port;
    proxy = await LinkProxy.open({ name: 'a->b', targetHost: '127.0.0.1', targetPort: echoPort });
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await proxy.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  /** A connection through the proxy, with everything it receives collected. */
  async function dial(): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
    const { host, port } = splitAddress(proxy.address);
    const socket = connect({ host, port });
    sockets.push(socket);
    socket.on('error', () => {});
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    const closed = once(socket, 'close');
    await withDeadline(once(socket, 'connect'), 2000, 'connect');
    return { socket, received: () => data, closed };
  }

  async function echoed(connection: Awaited<ReturnType<typeof dial>>, text: string): Promise<void> {
    const before = connection.received().length;
    connection.socket.write(text);
    const deadline = Date.now() + 2000;
    while (connection.received().length < before + text.length) {
      if (Date.now() > deadline) throw new Error(`no echo of ${JSON.stringify(text)}; got ${JSON.stringify(connection.received())}`);
      await withDeadline(once(connection.socket, 'data'), 2000, 'echo');
    }
    expect(connection.received().slice(before)).toBe(text);
  }

  it('listens on loopback and forwards both ways', async () => {
    expect(proxy.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const connection = await dial();
    await echoed(connection, 'hello');
    await echoed(connection, 'x'.repeat(100_000));
    expect(proxy.stats()).toMatchObject({ cut: false, forwarded: 1, open: 1 });
    expect((await probeLink(proxy.address, { timeoutMs: 1000, hello: Buffer.from('ping') })).reached).toBe(true);
  });

  it('cut closes the open connections and drops new ones', async () => {
    const connection = await dial();
    await echoed(connection, 'before');
    proxy.cut();
    expect(proxy.isCut).toBe(true);
    await withDeadline(connection.closed, 2000, 'the open connection to close');
    expect(proxy.stats()).toMatchObject({ severed: 1, open: 0 });

    const probe = await probeLink(proxy.address, { timeoutMs: 1000, hello: Buffer.from('ping') });
    expect(probe).toMatchObject({ reached: false, reason: 'closed' });
    expect(proxy.stats().refused).toBe(1);
    expect(proxy.stats().forwarded).toBe(1);
  });

  it('heal lets new connections through again', async () => {
    proxy.cut();
    expect((await probeLink(proxy.address, { timeoutMs: 1000, hello: Buffer.from('ping') })).reached).toBe(false);
    proxy.heal();
    expect(proxy.isCut).toBe(false);
    const connection = await dial();
    await echoed(connection, 'after');
    expect((await probeLink(proxy.address, { timeoutMs: 1000, hello: Buffer.from('ping') })).reached).toBe(true);
  });

  it('keeps its port across cuts, and refuses connections once closed', async () => {
    const address = proxy.address;
    proxy.cut();
    proxy.heal();
    expect(proxy.address).toBe(address);
    await proxy.close();
    const probe = await probeLink(address, { timeoutMs: 1000 });
    expect(probe).toMatchObject({ reached: false, reason: 'refused' });
    expect(() => proxy.heal()).toThrow(/closed/);
  });

  it('drops the connection when the far side is down', async () => {
    await new Promise<void>((resolve) => echo.close(() => resolve()));
    const probe = await probeLink(proxy.address, { timeoutMs: 1000, hello: Buffer.from('ping') });
    expect(probe.reached).toBe(false);
    echo = createServer(); // for afterEach
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
  });
});

describe('probeLink', () => {
  let server: Http2Server;

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('gets an answer from an HTTP/2 server (what a node peer port is) with the connection preface', async () => {
    server = createHttp2Server();
    server.on('session', (session) => session.on('error', () => {}));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const probe = await probeLink(`127.0.0.1:${port}`, { timeoutMs: 2000 });
    expect(probe.reached).toBe(true);
  });

  it('times out against a server that accepts and stays silent', async () => {
    const accepted: Socket[] = [];
    const silent = createServer((socket) => {
      socket.on('error', () => {});
      accepted.push(socket);
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    server = silent as unknown as Http2Server;
    const port = (silent.address() as { port: number }).port;
    const probe = await probeLink(`127.0.0.1:${port}`, { timeoutMs: 300 });
    expect(probe).toMatchObject({ reached: false, reason: 'timeout' });
    for (const socket of accepted) socket.destroy();
  });
});
