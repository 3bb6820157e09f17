import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAddress, parsePeers, readConfigFile, resolveNodeConfig } from '../../src/server/config.js';
import { nodeId } from '../../src/raft/index.js';
import { ConfigError } from '../../src/shared/errors.js';
import { tempDir } from '../support/temp-dir.js';

const base = { id: 'n1', data: '/tmp/x', listenPeer: '127.0.0.1:7001', listenClient: '127.0.0.1:8001' };

describe('node configuration', () => {
  it('fills in defaults for a single node', () => {
    const config = resolveNodeConfig(base, {});
    expect(config.peers).toEqual(new Map([['n1', '127.0.0.1:7001']]));
    expect(config).toMatchObject({ clusterId: 'raftkv', tickMs: 100, electionTicks: 10, heartbeatTicks: 1, advertiseClient: '127.0.0.1:8001' });
    expect(config.limits).toMatchObject({ keyBytesMax: 4096, valueBytesMax: 1024 * 1024, requestBytesMax: 1536 * 1024 });
    expect(config.sessionLimits).toEqual({ sessionsMax: 10_000, sessionIdleEntriesMax: 100_000, resultsPerSessionMax: 1024, resultBytesPerSessionMax: 4 * 1024 * 1024 });
  });

  it('reads the session limits a leader proposes for a new cluster', () => {
    const config = resolveNodeConfig({ ...base, sessionsMax: '3', sessionIdleEntriesMax: 50, sessionResultsMax: '8', sessionResultBytesMax: '2048' }, {});
    expect(config.sessionLimits).toEqual({ sessionsMax: 3, sessionIdleEntriesMax: 50, resultsPerSessionMax: 8, resultBytesPerSessionMax: 2048 });
  });

  it('reads --join (endpoints, deduplicated), --join-as and --advertise-peer; not joining by default', () => {
    expect(resolveNodeConfig(base, {})).toMatchObject({ join: [], joinAs: 'voter', joinTimeoutMs: 60_000, advertisePeer: '127.0.0.1:7001' });
    const joining = resolveNodeConfig({ ...base, join: '127.0.0.1:8002, 127.0.0.1:8003,127.0.0.1:8002', joinAs: 'learner', advertisePeer: '10.0.0.1:7001' }, {});
    expect(joining).toMatchObject({ join: ['127.0.0.1:8002', '127.0.0.1:8003'], joinAs: 'learner', advertisePeer: '10.0.0.1:7001' });
    expect(resolveNodeConfig({ ...base, join: ['127.0.0.1:8002'] }, {}).join).toEqual(['127.0.0.1:8002']);
  });

  it('reads --join-user name:password, or the name with the password from RAFTKV_JOIN_PASSWORD', () => {
    const joining = { ...base, join: '127.0.0.1:8002' };
    expect(resolveNodeConfig(joining, {}).joinUser).toBeNull();
    expect(resolveNodeConfig({ ...joining, joinUser: 'root:p:w' }, {}).joinUser).toEqual({ user: 'root', password: 'p:w' });
    expect(resolveNodeConfig({ ...joining, joinUser: 'root' }, { RAFTKV_JOIN_PASSWORD: 'from-env' }).joinUser).toEqual({ user: 'root', password: 'from-env' });
  });

  it('reads the read caches in MiB: LevelDB block cache and key cache (0 turns the key cache off)', () => {
    expect(resolveNodeConfig(base, {}).caches).toEqual({ storageCacheBytes: 8 * 1024 * 1024, keyCacheBytes: 64 * 1024 * 1024 });
    expect(resolveNodeConfig({ ...base, storageCacheMb: '256', keyCacheMb: 0 }, {}).caches).toEqual({ storageCacheBytes: 256 * 1024 * 1024, keyCacheBytes: 0 });
  });

  it('reads the bytes kept below a snapshot (64 MiB by default) and refuses a bad value, naming the flag', () => {
    expect(resolveNodeConfig(base, {}).snapshots).toMatchObject({ retainEntries: 5000, retainBytes: 64 * 1024 * 1024 });
    expect(resolveNodeConfig({ ...base, snapshotRetainBytes: '1048576' }, {}).snapshots.retainBytes).toBe(1024 * 1024);
    expect(resolveNodeConfig({ ...base, snapshotRetainBytes: 0 }, {}).snapshots.retainBytes).toBe(0);
    for (const bad of ['-1', '1.5', 'lots']) {
      expect(() => resolveNodeConfig({ ...base, snapshotRetainBytes: bad }, {})).toThrow(/snapshot-retain-bytes/);
    }
  });

  it('parses peers from a flag and from an object', () => {
    expect(parsePeers('n1=127.0.0.1:7001, n2=localhost:7002')).toEqual(new Map([['n1', '127.0.0.1:7001'], ['n2', 'localhost:7002']]));
    expect(parsePeers({ a: '[::1]:7001' })).toEqual(new Map([['a', '[::1]:7001']]));
  });

  it.each([
    [{ ...base, id: undefined }, 'id: is required'],
    [{ ...base, id: 'has space' }, 'id: "has space" must be'],
    [{ ...base, listenPeer: 'nope' }, 'listen-peer: "nope" is not host:port'],
    [{ ...base, listenPeer: '127.0.0.1:70000' }, 'listen-peer: port 70000 is not in 1..65535'],
    [{ ...base, listenClient: '127.0.0.1:7001' }, 'need different ports'],
    [{ ...base, peers: 'n2=127.0.0.1:7002' }, 'peers: must include this node\'s own id "n1"'],
    [{ ...base, peers: 'n1=127.0.0.1:7001,n1=127.0.0.1:7002' }, 'peers: "n1" appears twice'],
    [{ ...base, peers: 'n1=127.0.0.1:7001,n2=127.0.0.1:7001' }, 'peers: address 127.0.0.1:7001 appears twice'],
    [{ ...base, peers: 'n1' }, 'peers: "n1" is not of the form id=host:port'],
    [{ ...base, tickMs: 'fast' }, 'tick-ms: must be an integer'],
    [{ ...base, electionTicks: '5', heartbeatTicks: '5' }, 'heartbeat-ticks (5) must be below election-ticks (5)'],
    [{ ...base, logLevel: 'loud' }, 'log-level: "loud" is not one of'],
    [{ ...base, valueBytesMax: '2000000' }, 'request-bytes-max (1572864) must be at least'],
    [{ ...base, unsafeStaleReads: true }, 'set RAFTKV_ENABLE_UNSAFE=1'],
    [{ ...base, sessionsMax: '0' }, 'sessions-max: must be an integer in 1..1000000'],
    [{ ...base, sessionResultsMax: '65537' }, 'session-results-max: must be an integer in 1..65536'],
    [{ ...base, sessionResultBytesMax: '100' }, 'session-result-bytes-max: must be an integer in 1024..'],
    [{ ...base, sessionIdleEntriesMax: 'soon' }, 'session-idle-entries-max: must be an integer'],
    [{ ...base, join: 'here' }, 'join: "here" is not host:port'],
    [{ ...base, join: [] }, 'join: must list host:port endpoints'],
    [{ ...base, joinAs: 'learner' }, 'join-as: only meaningful with --join'],
    [{ ...base, join: '127.0.0.1:8002', joinAs: 'observer' }, 'join-as: must be voter or learner, got "observer"'],
    [{ ...base, joinUser: 'root:pw' }, 'join-user: only meaningful with --join'],
    [{ ...base, join: '127.0.0.1:8002', joinUser: 'root' }, 'join-user: no password for root: give root:PASSWORD or set RAFTKV_JOIN_PASSWORD'],
    [{ ...base, join: '127.0.0.1:8002', joinUser: ':pw' }, 'join-user: ":pw" has no user name'],
    [{ ...base, advertisePeer: 'x' }, 'advertise-peer: "x" is not host:port'],
    [{ ...base, storageCacheMb: '0' }, 'storage-cache-mb: must be an integer in 1..4095, got "0"'],
    [{ ...base, storageCacheMb: '4096' }, 'storage-cache-mb: must be an integer in 1..4095'],
    [{ ...base, storageCacheMb: '1.5' }, 'storage-cache-mb: must be an integer'],
    [{ ...base, keyCacheMb: '-1' }, 'key-cache-mb: must be an integer in 0..4095, got "-1"'],
    [{ ...base, keyCacheMb: 'lots' }, 'key-cache-mb: must be an integer'],
    [{ ...base, maxTxnOps: '0' }, 'max-txn-ops: must be an integer in 1..65535, got "0"'],
    [{ ...base, maxTxnOps: '65536' }, 'max-txn-ops: must be an integer in 1..65535'],
    [{ ...base, watchQueueBytes: '1000' }, 'watch-queue-bytes: must be an integer in 65536..1073741824, got "1000"'],
    [{ ...base, watchQueueBytes: 'big' }, 'watch-queue-bytes: must be an integer'],
    [{ ...base, watchProgressInterval: '0' }, 'watch-progress-interval: must be an integer in 1..86400, got "0"'],
    [{ ...base, leaseCheckpointInterval: '-1' }, 'lease-checkpoint-interval: must be an integer in 0..86400, got "-1"'],
    [{ ...base, leaseCheckpointInterval: '5m' }, 'lease-checkpoint-interval: must be an integer'],
  ])('refuses %o naming the setting', (raw, message) => {
    expect(() => resolveNodeConfig(raw, {})).toThrow(ConfigError);
    expect(() => resolveNodeConfig(raw, {})).toThrow(message);
  });

  it('checkpoints leases every 300 s by default (etcd), every other interval given, or never with 0', () => {
    expect(resolveNodeConfig(base, {}).leaseCheckpointIntervalMs).toBe(300_000);
    expect(resolveNodeConfig({ ...base, leaseCheckpointInterval: '60' }, {}).leaseCheckpointIntervalMs).toBe(60_000);
    expect(resolveNodeConfig({ ...base, leaseCheckpointInterval: '0' }, {}).leaseCheckpointIntervalMs).toBe(0);
  });

  it('queues 8 MiB per watch stream and sends progress every 10 s by default, and takes other values', () => {
    expect(resolveNodeConfig(base, {}).watch).toEqual({ queueBytesMax: 8 * 1024 * 1024, progressIntervalMs: 10_000 });
    expect(resolveNodeConfig({ ...base, watchQueueBytes: '65536', watchProgressInterval: '2' }, {}).watch).toEqual({ queueBytesMax: 65536, progressIntervalMs: 2000 });
  });

  it('limits transactions to 128 operations per branch by default (etcd), and takes more', () => {
    expect(resolveNodeConfig(base, {}).limits.txnOpsMax).toBe(128);
    expect(resolveNodeConfig({ ...base, maxTxnOps: '1000' }, {}).limits.txnOpsMax).toBe(1000);
  });

  it('reads peer dial overrides, and none by default', () => {
    expect(resolveNodeConfig(base, {}).peerDialOverrides).toEqual(new Map());
    const config = resolveNodeConfig({ ...base, peers: 'n1=10.0.0.1:7001,n2=10.0.0.2:7001', peerDialOverride: 'n2=127.0.0.1:40001,n9=127.0.0.1:40009' }, {});
    expect(config.peerDialOverrides).toEqual(new Map([['n2', '127.0.0.1:40001'], ['n9', '127.0.0.1:40009']]));
    // The address book is untouched: the override is only where this node dials.
    expect(config.peers.get(nodeId('n2'))).toBe('10.0.0.2:7001');
    expect(resolveNodeConfig({ ...base, peerDialOverride: { n2: 'localhost:40001' } }, {}).peerDialOverrides).toEqual(new Map([['n2', 'localhost:40001']]));
  });

  it.each([
    ['n1=127.0.0.1:40001', 'peer-dial-override: names this node "n1"'],
    ['n2', 'peer-dial-override: "n2" is not of the form id=host:port'],
    ['n2=nowhere', 'peer-dial-override (n2): "nowhere" is not host:port'],
    ['n2=127.0.0.1:1,n2=127.0.0.1:2', 'peer-dial-override: "n2" appears twice'],
    ['bad id=127.0.0.1:1', 'peer-dial-override: "bad id" is not a valid node id'],
  ])('refuses the dial override %s naming what is wrong', (value, message) => {
    expect(() => resolveNodeConfig({ ...base, peerDialOverride: value }, {})).toThrow(ConfigError);
    expect(() => resolveNodeConfig({ ...base, peerDialOverride: value }, {})).toThrow(message);
  });

  it('allows the unsafe test-only settings only when the environment enables them', () => {
    expect(resolveNodeConfig({ ...base, unsafeStaleReads: true }, { RAFTKV_ENABLE_UNSAFE: '1' }).unsafe.staleReads).toBe(true);
  });

  it('checks addresses, IPv6 included', () => {
    expect(parseAddress(' localhost:80 ', 'x')).toBe('localhost:80');
    expect(parseAddress('[::1]:9000', 'x')).toBe('[::1]:9000');
    expect(() => parseAddress('::1:9000', 'x')).toThrow('x: "::1:9000" is not host:port');
  });

  it('reads a JSON config file and names what is wrong in it', () => {
    const dir = tempDir('raftkv-config-');
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ ...base, peers: { n1: '127.0.0.1:7001' } }));
    expect(resolveNodeConfig(readConfigFile(good), {}).id).toBe('n1');
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{ id: n1 ');
    expect(() => readConfigFile(notJson)).toThrow(`config file ${notJson}: not valid JSON`);
    const unknown = join(dir, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ ...base, electionTimeout: 5 }));
    expect(() => readConfigFile(unknown)).toThrow('unknown setting "electionTimeout"');
    const array = join(dir, 'array.json');
    writeFileSync(array, '[]');
    expect(() => readConfigFile(array)).toThrow('must hold a JSON object');
    expect(() => readConfigFile(join(dir, 'missing.json'))).toThrow('cannot read it');
  });
});
