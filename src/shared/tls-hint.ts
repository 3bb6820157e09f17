/**
 * What a failed connection most likely means when TLS is set differently on the two sides, for
 * log lines and error messages; null when the failure says nothing about TLS.
 *
 * grpc-js reports a TLS client meeting a plaintext server as OpenSSL's "wrong version number",
 * and a plaintext client meeting a TLS server only as "Failed to connect" (the TCP connection
 * opened, HTTP/2 never started), which differs from a peer that is down (ECONNREFUSED and kin).
 */
/** Failures that say the peer was not reached at all: nothing to do with TLS. */
const networkFailure = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN/;

export function tlsMismatchHint(detail: string, usingTls: boolean, flags: string): string | null {
  if (usingTls) {
    if (/wrong version number|packet length too long|unknown protocol|before secure TLS connection/i.test(detail)) {
      return `the other side does not speak TLS: give it TLS too (${flags}), or none to either`;
    }
    if (/certificate|unknown ca|self.signed|unable to (get|verify)|alert|handshake/i.test(detail)) {
      return `the TLS handshake failed: each side's certificate must be signed by the CA the other trusts (${flags}) and name what the other expects`;
    }
    if (/Failed to connect/.test(detail) && !networkFailure.test(detail)) {
      return `the connection opened but the TLS handshake did not complete: the other side may not trust this side's certificate (${flags})`;
    }
    // In TLS 1.3 the client's side of the handshake ends before the server has checked the
    // client's certificate; a server that refuses it then resets the connection, which reaches
    // the client as a reset on read (a peer that is down refuses the connect instead).
    if (/read ECONNRESET/.test(detail)) {
      return `the connection was reset after the TLS handshake: the other side may not trust this side's certificate (${flags})`;
    }
    return null;
  }
  if (/Failed to connect/.test(detail) && !networkFailure.test(detail)) {
    return `the connection opened but the other side did not speak plaintext gRPC: it probably requires TLS (${flags})`;
  }
  return null;
}
