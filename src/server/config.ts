import { readFileSync } from 'node:fs';
import type { LevelWithSilent } from 'pino';
import { defaultSessionLimits, sessionLimitBounds, type SessionLimits } from '../kv/index.js';
import { nodeId, type NodeId } from '../raft/index.js';
import { joinPasswordEnvVar } from '../shared/join-user.js';
import { splitUserSpec } from '../shared/user-spec.js';
import { ConfigError } from '../shared/errors.js';
import { parseHistoryRetention, type HistoryRetention } from './history-retention.js';
import { logLevels } from '../shared/logger.js';
import type { NodeTlsConfig } from './tls.js';

/** Limits on client requests (DESIGN.md "The client API"); a request over one gets INVALID_ARGUMENT. */
export interface RequestLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly requestBytesMax: number;
  /** Writes waiting to be committed; beyond it writes get RESOURCE_EXHAUSTED. */
  readonly pendingProposalsMax: number;
  /** Linearizable reads waiting for their read index; beyond it reads get RESOURCE_EXHAUSTED. */
  readonly pendingReadsMax: number;
  /** The most keys one Range returns. */
  readonly rangeLimitMax: number;
  /** Compares, and operations per branch, of one transaction (`--max-txn-ops`, etcd's default 128). */
  readonly txnOpsMax: number;
}

/** How watches are served (`--watch-queue-bytes`, `--watch-progress-interval`). */
export interface WatchSettings {
  /** Bytes of responses queued on one watch stream beyond which the watcher adding to it is cancelled as slow. */
  readonly queueBytesMax: number;
  /** How often an idle, caught-up watch with progress_notify gets a header-only response. */
  readonly progressIntervalMs: number;
}

export const defaultWatchSettings: WatchSettings = { queueBytesMax: 8 * 1024 * 1024, progressIntervalMs: 10_000 };

/** Everything one node needs to run, validated. */
export interface NodeConfig {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly listenPeer: string;
  readonly listenClient: string;
  /** The client address other nodes give clients for this node (defaults to listenClient). */
  readonly advertiseClient: string;
  /** The peer address other nodes reach this node at, as a joining node announces it (defaults to listenPeer). */
  readonly advertisePeer: string;
  /**
   * The voters of a brand-new cluster (this node included) and their peer addresses: only used
   * to bootstrap an empty data directory (a used one resumes the configuration it stored).
   */
  readonly peers: ReadonlyMap<NodeId, string>;
  /**
   * Member id -> the address this node dials for it instead of the one in the cluster's address
   * book (NAT, port forwarding, the chaos harness's link proxies). Never names this node.
   */
  readonly peerDialOverrides: ReadonlyMap<NodeId, string>;
  /**
   * Client endpoints of an existing cluster to join (`--join`); empty when not joining. Only
   * used with an empty data directory: the node starts with no configuration and asks the
   * cluster to add it.
   */
  readonly join: readonly string[];
  /** How the joining node is added: 'voter' (a learner promoted once caught up) or 'learner' (stays one). */
  readonly joinAs: 'voter' | 'learner';
  /** How long joining may take before the node gives up and stops. */
  readonly joinTimeoutMs: number;
  /**
   * The user a joining node adds itself as, when the cluster has auth on (adding a member needs
   * root): `--join-user name[:password]`, the password otherwise from RAFTKV_JOIN_PASSWORD.
   * Null: join anonymously (or by the client certificate's name).
   */
  readonly joinUser: { readonly user: string; readonly password: string } | null;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** How long the server waits for a write or read to complete when the client set no deadline. */
  readonly requestTimeoutMs: number;
  readonly limits: RequestLimits;
  readonly logLevel: LevelWithSilent;
  /** When to snapshot and compact the log, and the chunk size of snapshots sent to followers. */
  readonly snapshots: SnapshotSettings;
  /** How much revision history the leader keeps before it compacts by itself (history-retention.ts). */
  readonly historyRetention: HistoryRetention;
  /** How often the leader checkpoints how long its leases have left (lease-keeper.ts); 0: never. */
  readonly leaseCheckpointIntervalMs: number;
  /**
   * The session limits this node proposes when it leads a cluster whose log has set none
   * (kv-service.ts). Not what it applies: every node applies the limits the log set.
   */
  readonly sessionLimits: SessionLimits;
  /** TLS on the peer and client ports (plaintext where not configured). */
  readonly tls: NodeTlsConfig;
  /** How long a token from Auth.Authenticate is valid, in seconds (etcd's --auth-token-ttl). */
  readonly authTokenTtlSeconds: number;
  /** Where /healthz, /readyz and /metrics are served; null: not at all. */
  readonly listenHttp: string | null;
  /** /readyz answers 503 while the applied index is more than this many entries behind the commit index. */
  readonly readyLagEntries: number;
  /** Memory given to reads of the key space; local to this node. */
  readonly caches: CacheSettings;
  /** Watch (watch-hub.ts): bytes of responses queued per stream before a slow watcher is cancelled; progress interval. */
  readonly watch: WatchSettings;
  /** Test-only unsafe behaviours, refused unless RAFTKV_ENABLE_UNSAFE=1 (the chaos canaries). */
  readonly unsafe: { readonly staleReads: boolean; readonly ackBeforeCommit: boolean };
}

/** Snapshot and compaction settings (etcd: --snapshot-count, --experimental-snapshot-catchup-entries). */
export interface SnapshotSettings {
  /** Snapshot once this many entries were applied since the last snapshot. */
  readonly entries: number;
  /** Or once this many bytes of entries were written since the last snapshot. */
  readonly logBytes: number;
  /** Entries kept below a snapshot for followers that are a little behind. */
  readonly retainEntries: number;
  /** At most this many bytes of them (entry data). */
  readonly retainBytes: number;
  /** The size of the chunks a snapshot is streamed in. */
  readonly chunkBytes: number;
}

/** Read caches (`--storage-cache-mb`, `--key-cache-mb`). */
export interface CacheSettings {
  /**
   * LevelDB's block cache: uncompressed table blocks, for reads the key cache misses. LevelDB's
   * own 8 MiB by default: with the table files in the OS page cache, 128 MiB saved only ~1 us of
   * the ~10 us a missed read costs at 1M keys (bench/leveldb-gets.ts).
   */
  readonly storageCacheBytes: number;
  /** The state machine's cache of decoded key records (kv/key-cache.ts). */
  readonly keyCacheBytes: number;
}

export const defaultCacheSettings: CacheSettings = { storageCacheBytes: 8 * 1024 * 1024, keyCacheBytes: 64 * 1024 * 1024 };

/** The largest cache a flag may ask for, in MiB: LevelDB takes the block cache size as a uint32. */
export const cacheMiBMax = 4095;

export const defaultSnapshotSettings: SnapshotSettings = { entries: 10_000, logBytes: 64 * 1024 * 1024, retainEntries: 5_000, retainBytes: 64 * 1024 * 1024, chunkBytes: 1024 * 1024 };

/** The longest any request may wait on the server: one hour (Node timers misfire past 2^31 ms). */
export const requestTimeoutMsMax = 3_600_000;

/** etcd's default lease checkpoint interval (5 minutes). */
export const defaultLeaseCheckpointIntervalSeconds = 300;

export const defaultLimits: RequestLimits = {
  keyBytesMax: 4096,
  valueBytesMax: 1024 * 1024,
  requestBytesMax: 1536 * 1024,
  pendingProposalsMax: 10_000,
  pendingReadsMax: 10_000,
  rangeLimitMax: 10_000,
  txnOpsMax: 128,
};

/** The settings as they come from flags or a config file: strings or numbers, unchecked. */
export interface RawNodeConfig {
  id?: unknown;
  clusterId?: unknown;
  data?: unknown;
  listenPeer?: unknown;
  listenClient?: unknown;
  advertiseClient?: unknown;
  advertisePeer?: unknown;
  peers?: unknown;
  peerDialOverride?: unknown;
  join?: unknown;
  joinAs?: unknown;
  joinTimeoutMs?: unknown;
  joinUser?: unknown;
  tickMs?: unknown;
  electionTicks?: unknown;
  heartbeatTicks?: unknown;
  requestTimeoutMs?: unknown;
  authTokenTtl?: unknown;
  keyBytesMax?: unknown;
  valueBytesMax?: unknown;
  requestBytesMax?: unknown;
  pendingProposalsMax?: unknown;
  maxTxnOps?: unknown;
  snapshotEntries?: unknown;
  snapshotLogBytes?: unknown;
  snapshotRetainEntries?: unknown;
  snapshotRetainBytes?: unknown;
  snapshotChunkBytes?: unknown;
  historyRetention?: unknown;
  leaseCheckpointInterval?: unknown;
  sessionsMax?: unknown;
  sessionIdleEntriesMax?: unknown;
  sessionResultsMax?: unknown;
  sessionResultBytesMax?: unknown;
  storageCacheMb?: unknown;
  keyCacheMb?: unknown;
  logLevel?: unknown;
  listenHttp?: unknown;
  readyLagEntries?: unknown;
  watchQueueBytes?: unknown;
  watchProgressInterval?: unknown;
  peerCert?: unknown;
  peerKey?: unknown;
  peerCa?: unknown;
  peerVerifyId?: unknown;
  clientCert?: unknown;
  clientKey?: unknown;
  clientCa?: unknown;
  unsafeStaleReads?: unknown;
  unsafeAckBeforeCommit?: unknown;
}

const knownKeys = new Set<string>([
  'id', 'clusterId', 'data', 'listenPeer', 'listenClient', 'advertiseClient', 'advertisePeer', 'peers', 'peerDialOverride', 'join', 'joinAs', 'joinTimeoutMs', 'joinUser',
  'tickMs', 'electionTicks', 'heartbeatTicks',
  'requestTimeoutMs', 'authTokenTtl', 'keyBytesMax', 'valueBytesMax', 'requestBytesMax', 'pendingProposalsMax', 'logLevel',
  'snapshotEntries', 'snapshotLogBytes', 'snapshotRetainEntries', 'snapshotRetainBytes', 'snapshotChunkBytes', 'historyRetention', 'leaseCheckpointInterval',
  'sessionsMax', 'sessionIdleEntriesMax', 'sessionResultsMax', 'sessionResultBytesMax',
  'listenHttp', 'readyLagEntries', 'peerCert', 'peerKey', 'peerCa', 'peerVerifyId', 'clientCert', 'clientKey', 'clientCa',
  'storageCacheMb', 'keyCacheMb',
  'unsafeStaleReads', 'unsafeAckBeforeCommit',
  'maxTxnOps',
  'watchQueueBytes', 'watchProgressInterval',
]);

/** Reads a JSON config file whose keys are the long flag names in camelCase. */
export function readConfigFile(path: string): RawNodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${path}: cannot read it (${(error as Error).message})`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object`);
  }
  for (const key of Object.keys(parsed)) {
    if (!knownKeys.has(key)) throw new ConfigError(`config file ${path}: unknown setting "${key}" (known: ${[...knownKeys].join(', ')})`);
  }
  return parsed as RawNodeConfig;
}

/** Validates raw settings into a NodeConfig; every error names the setting and what is wrong. */
export function resolveNodeConfig(raw: RawNodeConfig, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const id = requireString(raw.id, 'id');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new ConfigError(`id: "${id}" must be 1-64 letters, digits, '.', '_' or '-'`);
  const listenPeer = parseAddress(requireString(raw.listenPeer, 'listen-peer'), 'listen-peer');
  const listenClient = parseAddress(requireString(raw.listenClient, 'listen-client'), 'listen-client');
  if (listenPeer === listenClient) throw new ConfigError(`listen-peer and listen-client are both ${listenPeer}; they need different ports`);
  const peers = parsePeers(raw.peers ?? `${id}=${listenPeer}`);
  const self = peers.get(nodeId(id));
  if (self === undefined) throw new ConfigError(`peers: must include this node's own id "${id}"`);
  const peerDialOverrides = raw.peerDialOverride === undefined ? new Map<NodeId, string>() : parseIdAddressList(raw.peerDialOverride, 'peer-dial-override', { allowEmpty: true });
  if (peerDialOverrides.has(nodeId(id))) throw new ConfigError(`peer-dial-override: names this node "${id}"; it only says how to dial other members`);
  const join = raw.join === undefined || raw.join === '' ? [] : parseEndpoints(raw.join, 'join');
  const joinAs = raw.joinAs === undefined ? 'voter' : requireString(raw.joinAs, 'join-as');
  if (joinAs !== 'voter' && joinAs !== 'learner') throw new ConfigError(`join-as: must be voter or learner, got "${joinAs}"`);
  if (raw.joinAs !== undefined && join.length === 0) throw new ConfigError('join-as: only meaningful with --join');
  const joinUser = raw.joinUser === undefined ? null : parseJoinUser(requireString(raw.joinUser, 'join-user'), env);
  if (joinUser !== null && join.length === 0) throw new ConfigError('join-user: only meaningful with --join');
  const electionTicks = optionalInt(raw.electionTicks, 'election-ticks', 10, 2, 1000);
  const heartbeatTicks = optionalInt(raw.heartbeatTicks, 'heartbeat-ticks', 1, 1, 1000);
  if (heartbeatTicks >= electionTicks) {
    throw new ConfigError(`heartbeat-ticks (${heartbeatTicks}) must be below election-ticks (${electionTicks})`);
  }
  const logLevel = raw.logLevel === undefined ? 'info' : requireString(raw.logLevel, 'log-level');
  if (!(logLevels as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`log-level: "${logLevel}" is not one of ${logLevels.join(', ')}`);
  }
  const staleReads = optionalBool(raw.unsafeStaleReads, 'unsafe-stale-reads');
  const ackBeforeCommit = optionalBool(raw.unsafeAckBeforeCommit, 'unsafe-ack-before-commit');
  if ((staleReads || ackBeforeCommit) && env.RAFTKV_ENABLE_UNSAFE !== '1') {
    throw new ConfigError('unsafe-* settings break linearizability and exist only for testing the chaos harness; set RAFTKV_ENABLE_UNSAFE=1 to allow them');
  }
  const valueBytesMax = optionalInt(raw.valueBytesMax, 'value-bytes-max', defaultLimits.valueBytesMax, 1, 64 * 1024 * 1024);
  const keyBytesMax = optionalInt(raw.keyBytesMax, 'key-bytes-max', defaultLimits.keyBytesMax, 1, 0xffff);
  const requestBytesMax = optionalInt(raw.requestBytesMax, 'request-bytes-max', defaultLimits.requestBytesMax, 1024, 128 * 1024 * 1024);
  if (requestBytesMax < keyBytesMax + valueBytesMax) {
    throw new ConfigError(`request-bytes-max (${requestBytesMax}) must be at least key-bytes-max + value-bytes-max (${keyBytesMax + valueBytesMax})`);
  }
  return {
    id: nodeId(id),
    clusterId: raw.clusterId === undefined ? 'raftkv' : requireString(raw.clusterId, 'cluster-id'),
    dataDir: requireString(raw.data, 'data'),
    listenPeer,
    listenClient,
    advertiseClient: raw.advertiseClient === undefined ? listenClient : parseAddress(requireString(raw.advertiseClient, 'advertise-client'), 'advertise-client'),
    advertisePeer: raw.advertisePeer === undefined ? listenPeer : parseAddress(requireString(raw.advertisePeer, 'advertise-peer'), 'advertise-peer'),
    peers,
    peerDialOverrides,
    join,
    joinAs,
    joinUser,
    joinTimeoutMs: optionalInt(raw.joinTimeoutMs, 'join-timeout-ms', 60_000, 1, requestTimeoutMsMax),
    tickMs: optionalInt(raw.tickMs, 'tick-ms', 100, 1, 60_000),
    electionTicks,
    heartbeatTicks,
    requestTimeoutMs: optionalInt(raw.requestTimeoutMs, 'request-timeout-ms', 5000, 1, requestTimeoutMsMax),
    authTokenTtlSeconds: optionalInt(raw.authTokenTtl, 'auth-token-ttl', 300, 1, 86_400),
    limits: {
      ...defaultLimits,
      keyBytesMax,
      valueBytesMax,
      requestBytesMax,
      pendingProposalsMax: optionalInt(raw.pendingProposalsMax, 'pending-proposals-max', defaultLimits.pendingProposalsMax, 1, 10_000_000),
      // The command encoding counts a branch's operations in a u16 (txn-command.ts).
      txnOpsMax: optionalInt(raw.maxTxnOps, 'max-txn-ops', defaultLimits.txnOpsMax, 1, 0xffff),
    },
    logLevel: logLevel as LevelWithSilent,
    snapshots: {
      entries: optionalInt(raw.snapshotEntries, 'snapshot-entries', defaultSnapshotSettings.entries, 1, 1_000_000_000),
      logBytes: optionalInt(raw.snapshotLogBytes, 'snapshot-log-bytes', defaultSnapshotSettings.logBytes, 1024 * 1024, 2 ** 40),
      retainEntries: optionalInt(raw.snapshotRetainEntries, 'snapshot-retain-entries', defaultSnapshotSettings.retainEntries, 0, 1_000_000_000),
      retainBytes: optionalInt(raw.snapshotRetainBytes, 'snapshot-retain-bytes', defaultSnapshotSettings.retainBytes, 0, 2 ** 40),
      // Below the peer transport's 16 MiB message limit, with room for a record that overshoots.
      chunkBytes: optionalInt(raw.snapshotChunkBytes, 'snapshot-chunk-bytes', defaultSnapshotSettings.chunkBytes, 4096, 8 * 1024 * 1024),
    },
    historyRetention: parseHistoryRetention(raw.historyRetention),
    leaseCheckpointIntervalMs: optionalInt(raw.leaseCheckpointInterval, 'lease-checkpoint-interval', defaultLeaseCheckpointIntervalSeconds, 0, 86_400) * 1000,
    sessionLimits: {
      sessionsMax: sessionLimit(raw.sessionsMax, 'sessions-max', 'sessionsMax'),
      sessionIdleEntriesMax: sessionLimit(raw.sessionIdleEntriesMax, 'session-idle-entries-max', 'sessionIdleEntriesMax'),
      resultsPerSessionMax: sessionLimit(raw.sessionResultsMax, 'session-results-max', 'resultsPerSessionMax'),
      resultBytesPerSessionMax: sessionLimit(raw.sessionResultBytesMax, 'session-result-bytes-max', 'resultBytesPerSessionMax'),
    },
    tls: tlsSettings(raw),
    listenHttp: raw.listenHttp === undefined ? null : parseAddress(requireString(raw.listenHttp, 'listen-http'), 'listen-http'),
    readyLagEntries: optionalInt(raw.readyLagEntries, 'ready-lag-entries', 1000, 0, 1_000_000_000),
    watch: {
      queueBytesMax: optionalInt(raw.watchQueueBytes, 'watch-queue-bytes', defaultWatchSettings.queueBytesMax, 64 * 1024, 1024 * 1024 * 1024),
      progressIntervalMs: optionalInt(raw.watchProgressInterval, 'watch-progress-interval', defaultWatchSettings.progressIntervalMs / 1000, 1, 86_400) * 1000,
    },
    caches: {
      storageCacheBytes: optionalInt(raw.storageCacheMb, 'storage-cache-mb', defaultCacheSettings.storageCacheBytes / 1024 / 1024, 1, cacheMiBMax) * 1024 * 1024,
      keyCacheBytes: optionalInt(raw.keyCacheMb, 'key-cache-mb', defaultCacheSettings.keyCacheBytes / 1024 / 1024, 0, cacheMiBMax) * 1024 * 1024,
    },
    unsafe: { staleReads, ackBeforeCommit },
  };
}

/** The TLS flags: each side's files all given or none; what only makes sense with TLS refused without it. */
function tlsSettings(raw: RawNodeConfig): NodeTlsConfig {
  const file = (value: unknown, setting: string): string | null => (value === undefined ? null : requireString(value, setting));
  const peerFiles = { cert: file(raw.peerCert, 'peer-cert'), key: file(raw.peerKey, 'peer-key'), ca: file(raw.peerCa, 'peer-ca') };
  const peerGiven = Object.entries(peerFiles).filter(([, path]) => path !== null);
  if (peerGiven.length > 0 && peerGiven.length < 3) {
    const missing = Object.entries(peerFiles).filter(([, path]) => path === null).map(([name]) => `--peer-${name}`);
    throw new ConfigError(`peer TLS: --peer-cert, --peer-key and --peer-ca go together (mutual TLS between members); missing ${missing.join(', ')}`);
  }
  if (raw.peerVerifyId !== undefined && peerGiven.length === 0) throw new ConfigError('peer-verify-id: only meaningful with peer TLS (--peer-cert, --peer-key, --peer-ca)');
  const clientCert = file(raw.clientCert, 'client-cert');
  const clientKey = file(raw.clientKey, 'client-key');
  const clientCa = file(raw.clientCa, 'client-ca');
  if ((clientCert === null) !== (clientKey === null)) throw new ConfigError(`client TLS: --client-cert and --client-key go together; missing ${clientCert === null ? '--client-cert' : '--client-key'}`);
  if (clientCa !== null && clientCert === null) throw new ConfigError('client-ca: requires --client-cert and --client-key (client certificates are checked only over TLS)');
  return {
    peer:
      peerFiles.cert === null || peerFiles.key === null || peerFiles.ca === null
        ? null
        : {
            files: { certFile: peerFiles.cert, keyFile: peerFiles.key, caFile: peerFiles.ca, flags: { cert: 'peer-cert', key: 'peer-key', ca: 'peer-ca' } },
            verifyId: raw.peerVerifyId === undefined ? true : optionalBool(raw.peerVerifyId, 'peer-verify-id'),
          },
    client:
      clientCert === null || clientKey === null
        ? null
        : { certFile: clientCert, keyFile: clientKey, caFile: clientCa, flags: { cert: 'client-cert', key: 'client-key', ca: 'client-ca' } },
  };
}

function sessionLimit(value: unknown, setting: string, name: keyof SessionLimits): number {
  const { min, max } = sessionLimitBounds[name];
  return optionalInt(value, setting, defaultSessionLimits[name], min, max);
}

/** Parses "n1=host:port,n2=host:port" (or an object of id to address) into a map. */
export function parsePeers(value: unknown): Map<NodeId, string> {
  return parseIdAddressList(value, 'peers', { allowEmpty: false });
}

/**
 * "id=host:port,..." or an object of id to address, for `setting`: valid ids, each id once,
 * each address once.
 */
function parseIdAddressList(value: unknown, setting: string, { allowEmpty }: { allowEmpty: boolean }): Map<NodeId, string> {
  const pairs: [string, string][] = [];
  if (typeof value === 'string') {
    for (const item of value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
      const eq = item.indexOf('=');
      if (eq <= 0) throw new ConfigError(`${setting}: "${item}" is not of the form id=host:port`);
      pairs.push([item.slice(0, eq), item.slice(eq + 1)]);
    }
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, address] of Object.entries(value)) {
      if (typeof address !== 'string') throw new ConfigError(`${setting}: the address of "${key}" must be a string`);
      pairs.push([key, address]);
    }
  } else {
    throw new ConfigError(`${setting}: must be "id=host:port,..." or an object of id to address`);
  }
  if (pairs.length === 0 && !allowEmpty) throw new ConfigError(`${setting}: lists no node`);
  const peers = new Map<NodeId, string>();
  const addresses = new Set<string>();
  for (const [id, address] of pairs) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new ConfigError(`${setting}: "${id}" is not a valid node id`);
    const parsed = parseAddress(address, `${setting} (${id})`);
    if (peers.has(nodeId(id))) throw new ConfigError(`${setting}: "${id}" appears twice`);
    if (addresses.has(parsed)) throw new ConfigError(`${setting}: address ${parsed} appears twice`);
    peers.set(nodeId(id), parsed);
    addresses.add(parsed);
  }
  return peers;
}

/** Parses "host:port,host:port" (or a list of them) into client endpoints. */
export function parseEndpoints(value: unknown, setting: string): string[] {
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : Array.isArray(value) ? value : null;
  if (items === null || items.length === 0) throw new ConfigError(`${setting}: must list host:port endpoints, separated by commas`);
  return [...new Set(items.map((item, i) => {
    if (typeof item !== 'string') throw new ConfigError(`${setting}: item ${i} must be a string, got ${JSON.stringify(item)}`);
    return parseAddress(item, setting);
  }))];
}

/** Checks "host:port" (IPv6 as "[::1]:port") and returns it normalised. */
export function parseAddress(value: string, setting: string): string {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
  if (match === null) throw new ConfigError(`${setting}: "${value}" is not host:port`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new ConfigError(`${setting}: port ${port} is not in 1..65535`);
  return `${match[1]}:${port}`;
}

function requireString(value: unknown, setting: string): string {
  if (value === undefined || value === null || value === '') throw new ConfigError(`${setting}: is required`);
  if (typeof value !== 'string') throw new ConfigError(`${setting}: must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function optionalInt(value: unknown, setting: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    throw new ConfigError(`${setting}: must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

function optionalBool(value: unknown, setting: string): boolean {
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new ConfigError(`${setting}: must be true or false, got ${JSON.stringify(value)}`);
}


/** `--join-user name[:password]` (etcdctl's --user form); without `:password`, from RAFTKV_JOIN_PASSWORD. */
export function parseJoinUser(text: string, env: NodeJS.ProcessEnv): { user: string; password: string } {
  const { name: user, password: given } = splitUserSpec(text);
  if (user === '') throw new ConfigError(`join-user: "${text}" has no user name (expected name or name:password)`);
  if (given !== null) return { user, password: given };
  const password = env[joinPasswordEnvVar];
  if (password === undefined || password === '') {
    throw new ConfigError(`join-user: no password for ${user}: give ${user}:PASSWORD or set ${joinPasswordEnvVar}`);
  }
  return { user, password };
}
