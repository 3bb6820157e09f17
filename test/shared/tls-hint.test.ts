import { describe, expect, it } from 'vitest';
import { tlsMismatchHint } from '../../src/shared/tls-hint.js';

/** The hints added to connection failures, from the details grpc-js gives for each mismatch. */
describe('tlsMismatchHint', () => {
  const flags = '--cacert/--cert/--key';
  it.each([
    ['a TLS client meeting a plaintext server', 'No connection established. Last error: Error: write EPROTO ... wrong version number', true, /does not speak TLS/],
    ['a certificate the server refuses with an alert', 'Error: ... alert certificate required', true, /TLS handshake failed/],
    ['a handshake that never completes', 'Failed to connect before the deadline', true, /handshake did not complete/],
    ['a TLS 1.3 server resetting a certificate it refused', 'No connection established. Last error: Error: read ECONNRESET', true, /reset after the TLS handshake: the other side may not trust/],
    ['a plaintext client meeting a TLS server', 'Failed to connect before the deadline', false, /probably requires TLS/],
  ])('%s', (_what, detail, usingTls, hint) => {
    expect(tlsMismatchHint(detail, usingTls, flags)).toMatch(hint);
  });

  it.each([
    ['a node that is down (TLS)', 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1', true],
    ['a node that is down (plaintext)', 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1', false],
    ['a plaintext reset', 'No connection established. Last error: Error: read ECONNRESET', false],
  ])('says nothing of TLS for %s', (_what, detail, usingTls) => {
    expect(tlsMismatchHint(detail, usingTls, flags)).toBeNull();
  });
});
