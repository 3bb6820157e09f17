import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { nodeId, type Membership, type NodeId } from '../../src/raft/index.js';
import { withAddressBook, type AddressBook } from '../../src/server/address-book.js';
import { PeerDirectory, removedPeerGraceMs, type PeerAddressTarget } from '../../src/server/peer-directory.js';

const [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId];
const addresses = (id: NodeId, client = ''): { peerAddress: string; clientAddress: string } => ({ peerAddress: `${id}.peer:7000`, clientAddress: client });
const bookOf = (...ids: NodeId[]): AddressBook => new Map(ids.map((id) => [id, addresses(id, `${id}.client:8000`)]));
const config = (voters: NodeId[], learners: NodeId[] = []): Membership => withAddressBook({ voters, learners }, bookOf(...voters, ...learners));
const none: Membership = { voters: [], learners: [] };

/** A transport stand-in that records what it was told. */
function fakeTransport(): PeerAddressTarget & { peers: Map<NodeId, string>; announced: Map<NodeId, string> } {
  const peers = new Map<NodeId, string>();
  const announced = new Map<NodeId, string>();
  return {
    peers,
    announced,
    setPeerAddress: (peer, address) => peers.set(peer, address),
    removePeer: (peer) => peers.delete(peer),
    clientAddressOf: (peer) => announced.get(peer) ?? null,
  };
}

const logger = pino({ level: 'silent' });

describe('PeerDirectory: the transport follows the configuration (conf-change.ts rules 2 and 7)', () => {
  it('reaches every other member of the configuration in force, at the book\'s addresses', () => {
    const transport = fakeTransport();
    const directory = new PeerDirectory(n1, 'n1.client:8000', new Map(), transport, logger);
    directory.follow(config([n1, n2, n3]), config([n1, n2, n3]));
    expect(transport.peers).toEqual(new Map([[n2, 'n2.peer:7000'], [n3, 'n3.peer:7000']]));
    directory.follow(config([n1, n2, n3], [n4]), config([n1, n2, n3]));
    expect(transport.peers.get(n4)).toBe('n4.peer:7000');
    expect(directory.clientAddressOf(n4)).toBe('n4.client:8000');
  });

  it('keeps a member being removed until the configuration without it is committed, then forgets it after a grace period', () => {
    vi.useFakeTimers();
    try {
      const transport = fakeTransport();
      const directory = new PeerDirectory(n1, '', new Map(), transport, logger);
      directory.follow(config([n1, n2, n3]), config([n1, n2, n3]));
      directory.follow(config([n1, n2]), config([n1, n2, n3]));
      expect([...transport.peers.keys()]).toEqual([n2, n3]);
      expect([...directory.book().keys()]).toEqual([n1, n2]);
      directory.follow(config([n1, n2]), config([n1, n2]));
      // The leader's last word to n3 (its removal committed) must still reach it.
      vi.advanceTimersByTime(removedPeerGraceMs - 1);
      expect([...transport.peers.keys()]).toEqual([n2, n3]);
      vi.advanceTimersByTime(1);
      expect([...transport.peers.keys()]).toEqual([n2]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a peer being forgotten that becomes a member again stays; dispose forgets at once', () => {
    vi.useFakeTimers();
    try {
      const transport = fakeTransport();
      const directory = new PeerDirectory(n1, '', new Map(), transport, logger);
      directory.follow(config([n1, n2, n3]), config([n1, n2, n3]));
      directory.follow(config([n1, n2]), config([n1, n2]));
      directory.follow(config([n1, n2, n3]), config([n1, n2, n3]));
      vi.advanceTimersByTime(removedPeerGraceMs * 2);
      expect([...transport.peers.keys()]).toEqual([n2, n3]);
      directory.follow(config([n1, n2]), config([n1, n2]));
      directory.dispose();
      expect([...transport.peers.keys()]).toEqual([n2]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a joining node (no configuration yet) keeps the peers it learned from the cluster', () => {
    const transport = fakeTransport();
    const directory = new PeerDirectory(n4, 'n4.client:8000', new Map(), transport, logger);
    directory.seed(bookOf(n1, n2, n3));
    directory.follow(none, none);
    expect([...transport.peers.keys()]).toEqual([n1, n2, n3]);
    directory.follow(config([n1, n2, n3], [n4]), none);
    expect([...transport.peers.keys()]).toEqual([n1, n2, n3]);
  });

  it('a configuration without a book (from before address books) reads the book of --peers', () => {
    const transport = fakeTransport();
    const fallback: AddressBook = new Map([[n1, addresses(n1)], [n2, addresses(n2)]]);
    const directory = new PeerDirectory(n1, 'n1.client:8000', fallback, transport, logger);
    directory.follow({ voters: [n1, n2], learners: [] }, { voters: [n1, n2], learners: [] });
    expect(transport.peers).toEqual(new Map([[n2, 'n2.peer:7000']]));
    // Client addresses the book lacks come from what peers announced, and this node's own.
    transport.announced.set(n2, 'n2.announced:8000');
    expect(directory.book()).toEqual(
      new Map([
        [n1, { peerAddress: 'n1.peer:7000', clientAddress: 'n1.client:8000' }],
        [n2, { peerAddress: 'n2.peer:7000', clientAddress: 'n2.announced:8000' }],
      ]),
    );
  });
});
