import type { Command } from 'commander';
import { readConfigFile, resolveNodeConfig, type RawNodeConfig } from '../src/server/config.js';
import { runNode } from '../src/server/main.js';

/** Flags of `raftkv start`, named as the config file's keys (camelCase of the long flag). */
interface StartFlags extends Record<string, unknown> {
  config?: string;
}

/** `raftkv start`: run one node from flags and/or a JSON config file (flags win). */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run one node (settings from flags, or from --config FILE whose keys are the flags in camelCase)')
    .option('--config <file>', 'JSON config file')
    .option('--id <id>', 'this node\'s id, e.g. n1')
    .option('--data <dir>', 'data directory')
    .option('--listen-peer <host:port>', 'address for Raft traffic from the other nodes')
    .option('--listen-client <host:port>', 'address for clients')
    .option('--advertise-client <host:port>', 'client address other nodes name for this one (default: --listen-client)')
    .option('--advertise-peer <host:port>', 'peer address a joining node announces for itself (default: --listen-peer)')
    .option('--peers <list>', 'a brand-new cluster\'s nodes: id=host:port (peer address),... including this one; ignored once the data directory holds a configuration')
    .option('--peer-dial-override <list>', 'id=host:port,...: dial these members at these addresses instead of the ones in the cluster\'s address book (NAT, port forwarding, a proxy)')
    .option('--join <endpoints>', 'join an existing cluster through its client addresses host:port,... (with an empty data directory; ignored otherwise)')
    .option('--join-as <role>', 'voter (default: added as a learner, promoted once caught up) or learner (stays one)')
    .option('--join-timeout-ms <ms>', 'how long joining may take before the node gives up (default 60000)')
    .option('--join-user <name[:password]>', 'with auth on: the user (root) the joining node adds itself as; the password, if not given, from $RAFTKV_JOIN_PASSWORD')
    .option('--cluster-id <name>', 'a name shared by the nodes of one cluster; others are refused')
    .option('--tick-ms <ms>', 'length of one Raft tick')
    .option('--election-ticks <n>', 'election timeout in ticks')
    .option('--heartbeat-ticks <n>', 'heartbeat interval in ticks')
    .option('--request-timeout-ms <ms>', 'server-side deadline of a request without its own')
    .option('--auth-token-ttl <seconds>', 'how long an auth token from Authenticate is valid (default 300)')
    .option('--key-bytes-max <n>', 'largest key')
    .option('--value-bytes-max <n>', 'largest value')
    .option('--request-bytes-max <n>', 'largest request')
    .option('--pending-proposals-max <n>', 'writes waiting to commit before RESOURCE_EXHAUSTED')
    .option('--watch-queue-bytes <n>', 'bytes of watch responses queued per stream before a slow watcher is cancelled (default 8388608)')
    .option('--watch-progress-interval <seconds>', 'how often an idle watch with progress notify gets a progress response (default 10)')
    .option('--max-txn-ops <n>', 'compares, and operations per branch, of one transaction (default 128, as etcd; up to 65535)')
    .option('--snapshot-entries <n>', 'snapshot and compact the log every n applied entries (default 10000)')
    .option('--snapshot-log-bytes <n>', 'or every n bytes of log written (default 67108864)')
    .option('--snapshot-retain-entries <n>', 'entries kept below a snapshot for followers a little behind (default 5000)')
    .option('--snapshot-retain-bytes <n>', 'and at most this many bytes of them (default 67108864)')
    .option('--snapshot-chunk-bytes <n>', 'chunk size of snapshots streamed to followers (default 1048576)')
    .option('--history-retention <d>', 'revision history kept before the leader compacts it: a duration (90s, 30m, 1h), a number of revisions, or 0 to keep everything (default 1h)')
    .option('--lease-checkpoint-interval <seconds>', 'how often the leader records how long leases longer than this have left, so a new leader does not give them their full TTL again; 0: never (default 300)')
    .option('--sessions-max <n>', 'session limit proposed for a new cluster: sessions held (default 10000)')
    .option('--session-idle-entries-max <n>', 'session limit proposed for a new cluster: log entries a session may stay unused (default 100000)')
    .option('--session-results-max <n>', 'session limit proposed for a new cluster: results remembered per session (default 1024)')
    .option('--session-result-bytes-max <n>', 'session limit proposed for a new cluster: bytes of results per session (default 4194304)')
    .option('--peer-cert <file>', 'mutual TLS between members: this node\'s certificate (PEM; with --peer-key and --peer-ca)')
    .option('--peer-key <file>', 'mutual TLS between members: this node\'s private key')
    .option('--peer-ca <file>', 'mutual TLS between members: the CA that signs every member\'s certificate')
    .option('--peer-verify-id <bool>', 'with peer TLS: a member\'s certificate must name its id (default true)')
    .option('--client-cert <file>', 'TLS on the client port: the certificate (PEM; with --client-key)')
    .option('--client-key <file>', 'TLS on the client port: the private key')
    .option('--client-ca <file>', 'require client certificates signed by this CA')
    .option('--listen-http <host:port>', 'serve /healthz, /readyz and /metrics (Prometheus) here')
    .option('--ready-lag-entries <n>', '/readyz fails while the applied index is more than n entries behind the commit index (default 1000)')
    .option('--storage-cache-mb <n>', 'MiB of LevelDB block cache, for reads the key cache misses (default 8, LevelDB\'s own)')
    .option('--key-cache-mb <n>', 'MiB of recently used key records kept decoded in memory; 0 turns the cache off (default 64)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--unsafe-stale-reads', 'TEST ONLY: serve linearizable reads without ReadIndex (needs RAFTKV_ENABLE_UNSAFE=1)')
    .option('--unsafe-ack-before-commit', 'TEST ONLY: acknowledge writes before they commit (needs RAFTKV_ENABLE_UNSAFE=1)')
    .action(async (flags: StartFlags) => {
      const { config: file, ...fromFlags } = flags;
      const raw: RawNodeConfig = { ...(file === undefined ? {} : readConfigFile(file)), ...fromFlags };
      await runNode(resolveNodeConfig(raw));
    });
}
