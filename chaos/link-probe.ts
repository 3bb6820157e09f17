/**
 * Probes whether a link carries traffic end to end: dial the address a node dials for a peer
 * (its proxy), speak first, and wait for the far side to answer. The far side of a healthy link
 * is the peer's gRPC server, which answers the HTTP/2 connection preface with its SETTINGS
 * frame; a cut link closes the connection without a byte, and a dead or stopped peer stays
 * silent until the deadline. Only an answer counts as "reached": connecting alone proves nothing,
 * because the proxy accepts connections even while the link is cut. A peer port with TLS does
 * not answer a plaintext preface, so over TLS the probe's hello is a real TLS handshake: the
 * server's first flight (or an alert from it) is its answer.
 */
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** The HTTP/2 client connection preface followed by an empty SETTINGS frame (RFC 9113 §3.4). */
export const http2Preface: Buffer = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 0x04, 0, 0, 0, 0, 0]),
]);

export type ProbeResult =
  | { readonly reached: true; readonly elapsedMs: number }
  | { readonly reached: false; readonly elapsedMs: number; readonly reason: 'closed' | 'refused' | 'timeout' | 'error'; readonly detail: string };

/**
 * Dials `host:port`, writes `hello`, and reports whether any byte came back within `timeoutMs`.
 * Always closes its socket and clears its timer before resolving; never rejects.
 */
export function probeLink(address: string, options: { timeoutMs: number; hello?: Buffer; tls?: boolean }): Promise<ProbeResult> {
  const { host, port } = splitAddress(address);
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const socket: Socket =
      options.tls === true
        ? // No client certificate and no verification: a handshake the server answers at all is the proof.
          connectTls({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'] })
        : connect({ host, port, noDelay: true });
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const elapsed = (): number => performance.now() - started;
    const timer = setTimeout(
      () => finish({ reached: false, elapsedMs: elapsed(), reason: 'timeout', detail: `no answer within ${options.timeoutMs} ms` }),
      options.timeoutMs,
    );
    timer.unref();
    if (options.tls === true) {
      socket.once('secureConnect', () => finish({ reached: true, elapsedMs: elapsed() }));
    } else {
      socket.once('connect', () => socket.write(options.hello ?? http2Preface));
      socket.once('data', () => finish({ reached: true, elapsedMs: elapsed() }));
    }
    socket.once('error', (error: NodeJS.ErrnoException) =>
      // A TLS alert from the server (it refused this certificate-less client) is an answer too.
      finish(options.tls === true && error.code?.startsWith('ERR_SSL_') === true ? { reached: true, elapsedMs: elapsed() } : {
        reached: false,
        elapsedMs: elapsed(),
        reason: error.code === 'ECONNREFUSED' ? 'refused' : 'error',
        detail: error.code ?? error.message,
      }),
    );
    socket.once('close', () => finish({ reached: false, elapsedMs: elapsed(), reason: 'closed', detail: 'closed without an answer' }));
  });
}

/** "host:port" (IPv4 or a name; the harness uses loopback only) into its parts. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not host:port: "${address}"`);
  return { host: address.slice(0, colon), port };
}
