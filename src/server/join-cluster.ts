import { AuthenticationError, MembershipChangeError, PermissionDeniedError, RaftKvClient, type ClientTls, type MemberList } from '../client/index.js';
import { nodeId } from '../raft/index.js';
import { RaftKvError, TimeoutError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { NodeConfig } from './config.js';
import type { PeerDirectory } from './peer-directory.js';

/** Why joining failed for good: the cluster refused (the reason names why) or did not answer in time. */
export class JoinError extends RaftKvError {
  override readonly name = 'JoinError';
  readonly code = 'JOIN';
}

const retryInitialMs = 100;
const retryMaxMs = 2000;

export interface JoinOptions {
  /** TLS towards the cluster's client ports (this node's own client-side TLS); null: plaintext. */
  readonly tls: ClientTls | null;
  readonly config: NodeConfig;
  readonly directory: PeerDirectory;
  readonly logger: Logger;
  /** Aborted when the node stops: joining gives up. */
  readonly signal: AbortSignal;
}

/**
 * `raftkv start --join`: asks the cluster at `config.join` to add this node, which is already
 * listening with no configuration. It first learns the members (so the leader's messages are
 * accepted and answered), then proposes itself as a learner (auto-promoted unless
 * `--join-as learner`), retrying while another change is pending or the leader is not ready,
 * until `joinTimeoutMs`. `member-exists` with this node's peer address means an earlier
 * attempt succeeded. Resolves once the cluster has added this node; it then catches up by log or
 * snapshot, and the leader promotes it.
 */
export async function joinCluster(options: JoinOptions): Promise<MemberList> {
  const { config, directory, logger, signal } = options;
  const deadline = Date.now() + config.joinTimeoutMs;
  const remainingMs = (): number => Math.max(1, deadline - Date.now());
  const client = new RaftKvClient({
    endpoints: config.join,
    timeoutMs: config.joinTimeoutMs,
    ...(options.tls === null ? {} : { tls: options.tls }),
    ...(config.joinUser === null ? {} : { auth: config.joinUser }),
  });
  const learn = (list: MemberList): void => {
    directory.seed(new Map(list.members.map((m) => [nodeId(m.id), { peerAddress: m.peerAddress, clientAddress: m.clientAddress }])));
  };
  try {
    let delayMs = retryInitialMs;
    for (;;) {
      let before: MemberList;
      try {
        before = await client.members({ timeoutMs: remainingMs(), signal });
      } catch (error) {
        throw new JoinError(`join: could not get the member list from ${config.join.join(', ')}: ${(error as Error).message}`, { cause: error });
      }
      learn(before);
      const self = before.members.find((m) => m.id === config.id);
      if (self !== undefined) {
        if (self.peerAddress !== config.advertisePeer) {
          throw new JoinError(`join: member-exists: the cluster already has a member ${config.id} at ${self.peerAddress}, not ${config.advertisePeer}`);
        }
        logger.info({ role: self.role }, 'already a member (an earlier attempt to join succeeded)');
        return before;
      }
      try {
        const after = await client.addMember(
          {
            id: config.id,
            peerAddress: config.advertisePeer,
            clientAddress: config.advertiseClient,
            learner: config.joinAs === 'learner',
            autoPromote: config.joinAs !== 'learner',
          },
          { clusterId: config.clusterId, timeoutMs: remainingMs(), signal },
        );
        learn(after);
        logger.info({ members: after.members.map((m) => `${m.id}:${m.role}`) }, 'joined the cluster as a learner; catching up');
        return after;
      } catch (error) {
        const retryable = error instanceof MembershipChangeError && (error.reason === 'change-pending' || error.reason === 'leader-not-ready');
        // An earlier attempt whose answer was lost may have added us: the next round checks.
        const lookAgain = error instanceof MembershipChangeError && error.reason === 'member-exists';
        if (error instanceof MembershipChangeError && !retryable && !lookAgain) throw new JoinError(`join: the cluster refused to add ${config.id}: ${error.message}`, { cause: error });
        if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) {
          const hint = config.joinUser === null ? ' (the cluster has auth on: give --join-user root, or add this member first with `raftkv member add` as root)' : '';
          throw new JoinError(`join: the cluster refused to add ${config.id}: ${error.message}${hint}`, { cause: error });
        }
        if (!(error instanceof MembershipChangeError) && !(error instanceof TimeoutError)) throw error;
        if (Date.now() >= deadline) throw new JoinError(`join: not added within ${config.joinTimeoutMs} ms: ${(error as Error).message}`, { cause: error });
        logger.info({ reason: (error as Error).message, retryInMs: delayMs }, 'join: not added yet; trying again');
        await sleep(Math.min(delayMs, remainingMs()), signal);
        delayMs = Math.min(retryMaxMs, delayMs * 2);
      }
    }
  } finally {
    client.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
