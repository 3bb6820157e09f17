import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { nodeId } from '../../src/raft/index.js';
import { GrpcTransport, TransportConfigError, TransportStateError, defaultTransportLimits } from '../../src/transport/index.js';
import { resolveTransportOptions } from '../../src/transport/transport-options.js';
import { heartbeat } from './fixtures.js';

const base = { clusterId: 'c', selfId: nodeId('n1'), listenAddress: '127.0.0.1:0', peers: new Map(), logger: pino({ level: 'silent' }) };

describe('transport options', () => {
  it('fills in the documented defaults', () => {
    const resolved = resolveTransportOptions(base);
    expect(resolved.limits).toEqual({ queueMessagesMax: 4096, queueBytesMax: 64 * 1024 * 1024, batchMessagesMax: 512, messageBytesMax: 16 * 1024 * 1024, batchBytesMax: 1024 * 1024 });
    expect(resolved.limits).toEqual(defaultTransportLimits);
    expect(resolved.backoff).toEqual({ initialMs: 50, maxMs: 2000 });
    expect(resolved.keepalive).toEqual({ timeMs: 2000, timeoutMs: 1000 });
  });

  it.each([
    [{ clusterId: '' }, /clusterId/],
    [{ listenAddress: 'localhost' }, /listenAddress must be "host:port"/],
    [{ listenAddress: '127.0.0.1:70000' }, /listenAddress/],
    [{ peers: new Map([[nodeId('n2'), 'nowhere']]) }, /peers\[n2\]/],
    [{ peerDialOverrides: new Map([[nodeId('n2'), 'nowhere']]) }, /peerDialOverrides\[n2\] must be "host:port"/],
    [{ limits: { queueMessagesMax: 0 } }, /limits.queueMessagesMax must be an integer >= 1, got 0/],
    [{ limits: { messageBytesMax: 100 } }, /limits.messageBytesMax/],
    [{ limits: { batchBytesMax: 32 * 1024 * 1024 } }, /limits.batchBytesMax \(33554432\) must not exceed limits.messageBytesMax/],
    [{ limits: { queueBytesMax: 1024 * 1024 } }, /limits.queueBytesMax must be an integer >= 16777216/],
    [{ backoff: { initialMs: 100, maxMs: 10 } }, /backoff.maxMs must be an integer >= 100/],
  ])('refuses %o', (change, message) => {
    expect(() => resolveTransportOptions({ ...base, ...change })).toThrow(TransportConfigError);
    expect(() => resolveTransportOptions({ ...base, ...change })).toThrow(message);
  });

  it('refuses to send before start and to read the address before binding', () => {
    const transport = new GrpcTransport(base);
    expect(() => transport.send([heartbeat(nodeId('n1'), nodeId('n2'), 1)])).toThrow(TransportStateError);
    expect(() => transport.boundAddress).toThrow(TransportStateError);
  });
});
