import type { ApplyOutcome, KvStateMachine } from '../kv/index.js';
import { allMembers, autoPromoteOf, isJoint, isVoterIn, nodeId, type ConfChangeOp, type Membership, type NodeId, type RaftStatus } from '../raft/index.js';
import { InvalidArgumentError, MembershipChangeRefusedError, NotLeaderError, RemovedNodeError } from '../shared/errors.js';
import { encodeAddressBook, type AddressBook, type MemberAddresses } from './address-book.js';
import type { NodeConfig } from './config.js';
import type { LiveSample } from './live-stats.js';
import type { PeerDirectory } from './peer-directory.js';
import type { RaftNode } from './raft-node.js';

export interface ClusterServiceDeps {
  readonly node: RaftNode<ApplyOutcome>;
  readonly stateMachine: KvStateMachine;
  readonly config: NodeConfig;
  readonly directory: PeerDirectory;
  /** The node's last few closed seconds of client operations (live-activity.ts), for Status. */
  readonly recentSamples?: () => readonly LiveSample[];
}

/** One member as kv.proto's Member message. */
export interface WireMember {
  id: string;
  peerAddress: string;
  clientAddress: string;
  voter: boolean;
  role: 'voter' | 'learner';
  autoPromote: boolean;
  leader: boolean;
  hasProgress: boolean;
  matchIndex: number;
  lag: number;
}

export interface WireMemberList {
  members: WireMember[];
  leaderId: string;
  joint: boolean;
}

export interface MemberAddRequest {
  id: string;
  peerAddress: string;
  clientAddress: string;
  learner: boolean;
  autoPromote: boolean;
  clusterId: string;
}

const memberIdPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const addressPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

type Handler<Req, Res> = (request: Req, timeoutMs: number) => Promise<Res>;

/** The Cluster service of kv.proto: status, leadership transfer, and membership (src/raft/conf-change.ts). */
export interface ClusterOperations {
  readonly status: Handler<unknown, unknown>;
  readonly transferLeadership: Handler<{ targetId: string }, unknown>;
  readonly memberList: Handler<unknown, WireMemberList>;
  readonly memberAdd: Handler<MemberAddRequest, WireMemberList>;
  readonly memberPromote: Handler<{ id: string }, WireMemberList>;
  readonly memberRemove: Handler<{ id: string }, WireMemberList>;
}

export function clusterOperations(deps: ClusterServiceDeps): ClusterOperations {
  const { node, stateMachine, config, directory } = deps;

  /** Throws NotLeaderError (FAILED_PRECONDITION with the hint) unless this node leads; RemovedNodeError on a removed node. */
  const requireLeader = (): RaftStatus => {
    const status = node.status();
    if (node.isRemoved()) throw removedNodeError(status, directory);
    if (status.role !== 'leader') throw new NotLeaderError(status.leader, status.leader === null ? null : directory.clientAddressOf(status.leader) || null);
    return status;
  };

  /** Proposes `ops` with the book they lead to, and answers the member list once the change has settled. */
  const change = async (ops: ConfChangeOp[], book: AddressBook, timeoutMs: number): Promise<WireMemberList> => {
    await node.changeMembership({ ops, context: encodeAddressBook(book) }, timeoutMs);
    return memberList(node.status(), directory);
  };

  return {
    status: async () => {
      const status = node.status();
      const loopDelay = node.loopDelay();
      const reads = node.readIndexCounts();
      const memory = process.memoryUsage();
      return {
        id: status.id,
        role: status.role,
        term: status.term,
        leaderId: status.leader ?? '',
        leaderAddress: status.leader === null ? '' : directory.clientAddressOf(status.leader),
        commitIndex: status.commit,
        appliedIndex: stateMachine.appliedIndex,
        compactRevision: stateMachine.compactRevision,
        lastIndex: status.lastIndex,
        snapshotIndex: status.snapshotIndex,
        logEntries: status.lastIndex - status.compactedTo.index,
        logBytes: status.logBytes,
        compactedIndex: status.compactedTo.index,
        loopDelayMaxMs: Math.ceil(loopDelay.maxMs),
        loopDelayRecentMaxMs: Math.ceil(loopDelay.recentMaxMs),
        loopDelayWindowMs: loopDelay.windowMs,
        loopStalls: loopDelay.stalls,
        loopStallThresholdMs: loopDelay.stallMs,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        members: memberList(status, directory).members,
        removed: node.isRemoved(),
        linearizableReads: reads.reads,
        readIndexRequests: reads.requests,
        recentSamples: deps.recentSamples?.() ?? [],
      };
    },
    transferLeadership: async (request, timeoutMs) => {
      if (request.targetId === '') throw new InvalidArgumentError('target_id', 'is required');
      const status = requireLeader();
      if (!status.membership.voters.includes(nodeId(request.targetId))) {
        throw new InvalidArgumentError('target_id', `"${request.targetId}" is not a voter (members: ${allMembers(status.membership).join(', ')})`);
      }
      if (request.targetId === status.id) return { leaderId: status.id };
      return { leaderId: await node.transferLeadershipAndWait(nodeId(request.targetId), timeoutMs) };
    },
    memberList: async () => memberList(requireLeader(), directory),
    memberAdd: async (request, timeoutMs) => {
      const id = checkMemberId(request.id);
      const peerAddress = checkAddress(request.peerAddress, 'peer_address', true);
      const clientAddress = checkAddress(request.clientAddress, 'client_address', false);
      const status = requireLeader();
      if (request.clusterId !== '' && request.clusterId !== config.clusterId) {
        throw new MembershipChangeRefusedError('cluster-id-mismatch', `this cluster is "${config.clusterId}", the request is for "${request.clusterId}"`);
      }
      if (allMembers(status.membership).includes(id)) {
        const known = directory.book().get(id);
        throw new MembershipChangeRefusedError('member-exists', `${id} is already a member${known === undefined ? '' : ` (peer ${known.peerAddress})`}`);
      }
      const book = new Map(directory.book());
      for (const [other, addresses] of book) {
        if (addresses.peerAddress === peerAddress) throw new MembershipChangeRefusedError('address-in-use', `peer address ${peerAddress} is ${other}'s`);
        if (clientAddress !== '' && addresses.clientAddress === clientAddress) {
          throw new MembershipChangeRefusedError('address-in-use', `client address ${clientAddress} is ${other}'s`);
        }
      }
      book.set(id, { peerAddress, clientAddress });
      const autoPromote = !request.learner || request.autoPromote;
      return change([{ type: 'add-learner', node: id, autoPromote }], book, timeoutMs);
    },
    memberPromote: async (request, timeoutMs) => {
      const id = checkMemberId(request.id);
      requireLeader();
      return change([{ type: 'promote', node: id }], directory.book(), timeoutMs);
    },
    memberRemove: async (request, timeoutMs) => {
      const id = checkMemberId(request.id);
      requireLeader();
      const book = new Map(directory.book());
      book.delete(id);
      return change([{ type: 'remove', node: id }], book, timeoutMs);
    },
  };
}

/** The refusal of a node the configuration in force leaves out, naming a member to go to instead. */
export function removedNodeError(status: RaftStatus, directory: PeerDirectory): RemovedNodeError {
  const others = allMembers(status.membership).filter((id) => id !== status.id);
  const hint = status.leader !== null && status.leader !== status.id ? status.leader : (others.find((id) => directory.clientAddressOf(id) !== '') ?? null);
  return new RemovedNodeError(status.id, hint, hint === null ? null : directory.clientAddressOf(hint) || null);
}

/** Every member of the configuration in force, with addresses and, on the leader, replication progress. */
export function memberList(status: RaftStatus, directory: PeerDirectory): WireMemberList {
  const membership: Membership = status.membership;
  const book = directory.book();
  const leading = status.role === 'leader';
  const members = allMembers(membership).map((id): WireMember => {
    const addresses: MemberAddresses = book.get(id) ?? { peerAddress: '', clientAddress: directory.clientAddressOf(id) };
    const voter = isVoterIn(membership, id);
    const progress = status.progress.get(id);
    const self = id === status.id && leading;
    return {
      id,
      peerAddress: addresses.peerAddress,
      clientAddress: addresses.clientAddress,
      voter,
      role: voter ? 'voter' : 'learner',
      autoPromote: autoPromoteOf(membership).includes(id),
      leader: id === status.leader,
      hasProgress: self || (leading && progress !== undefined),
      matchIndex: self ? status.lastIndex : (progress?.match ?? 0),
      lag: self ? 0 : (progress?.lag ?? 0),
    };
  });
  return { members, leaderId: status.leader ?? '', joint: isJoint(membership) };
}

function checkMemberId(id: string): NodeId {
  if (!memberIdPattern.test(id)) {
    throw new MembershipChangeRefusedError('invalid', `id ${JSON.stringify(id)} must be 1-64 letters, digits, '.', '_' or '-'`);
  }
  return nodeId(id);
}

function checkAddress(value: string, field: string, required: boolean): string {
  if (value === '' && !required) return '';
  const match = addressPattern.exec(value);
  const port = match === null ? 0 : Number(match[2]);
  if (match === null || port < 1 || port > 65535) {
    throw new MembershipChangeRefusedError('invalid', `${field} ${JSON.stringify(value)} is not host:port`);
  }
  return value;
}
