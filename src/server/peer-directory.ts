import { allMembers, type Membership, type NodeId } from '../raft/index.js';
import type { Logger } from '../shared/logger.js';
import { addressBookOf, type AddressBook, type MemberAddresses } from './address-book.js';

/**
 * How long a peer the committed configuration no longer lists stays reachable: the leader's last
 * word to it (that its removal committed, so it stops campaigning) must not be cut off with it.
 */
export const removedPeerGraceMs = 5000;

/** The part of the peer transport the directory drives. */
export interface PeerAddressTarget {
  setPeerAddress(peer: NodeId, address: string): void;
  removePeer(peer: NodeId): void;
  /** The client address a peer announced in its batches, or null. */
  clientAddressOf(peer: NodeId): string | null;
}

/**
 * Where every member is, following the configuration (conf-change.ts rules 2 and 7): the address
 * book in force is the one the newest configuration in this node's log carries. The transport
 * is kept reaching every member of that configuration and of the committed one (the leader
 * still replicates to a node being removed until its removal commits, so it learns it), and a
 * node the committed configuration dropped for `removedPeerGraceMs` more.
 *
 * A configuration with no book (a data directory from before address books) reads the book
 * built from `--peers`. A node with no configuration at all (joining) keeps the peers it was
 * given (`seed`), learned from the cluster it joins.
 */
export class PeerDirectory {
  private current: AddressBook = new Map();
  private readonly logger: Logger;
  // Invariant: exactly the peers (never self) the transport was last given, with their addresses.
  private readonly reachable = new Map<NodeId, string>();
  /** Peers no longer members, forgotten once their grace period ends (removedPeerGraceMs). */
  private readonly leaving = new Map<NodeId, NodeJS.Timeout>();

  constructor(
    private readonly self: NodeId,
    private readonly selfClientAddress: string,
    /** The book of `--peers`, for configurations that carry none. */
    private readonly fallback: AddressBook,
    private readonly transport: PeerAddressTarget,
    logger: Logger,
  ) {
    this.logger = logger;
  }

  /** The book in force, with client addresses learned from peers' batches filled in where it has none. */
  book(): AddressBook {
    const out = new Map<NodeId, MemberAddresses>();
    for (const [id, addresses] of this.current) {
      const clientAddress = addresses.clientAddress !== '' ? addresses.clientAddress : id === this.self ? this.selfClientAddress : (this.transport.clientAddressOf(id) ?? '');
      out.set(id, { peerAddress: addresses.peerAddress, clientAddress });
    }
    return out;
  }

  /** A member's client address ('' when not known), from the book or what it announced. */
  clientAddressOf(id: NodeId): string {
    if (id === this.self) return this.selfClientAddress;
    const known = this.current.get(id)?.clientAddress ?? '';
    return known !== '' ? known : (this.transport.clientAddressOf(id) ?? '');
  }

  /** Adds peers learned before this node has any configuration (a joining node asked the cluster). */
  seed(book: AddressBook): void {
    for (const [id, { peerAddress }] of book) this.reach(id, peerAddress);
    if (this.current.size === 0) this.current = new Map(book);
  }

  /** Follows the configuration in force and the committed one (the driver calls it when either changes). */
  follow(inForce: Membership, committed: Membership): void {
    const members = new Set([...allMembers(inForce), ...allMembers(committed)]);
    if (members.size === 0) return; // no configuration yet: keep the seeded peers
    const inForceBook = this.bookOf(inForce);
    const committedBook = this.bookOf(committed);
    this.current = inForceBook;
    for (const id of members) {
      const address = inForceBook.get(id)?.peerAddress ?? committedBook.get(id)?.peerAddress;
      if (address === undefined) {
        this.logger.warn({ peer: id }, 'the configuration names a member the address book does not list');
        continue;
      }
      this.reach(id, address);
    }
    for (const id of [...this.reachable.keys()]) {
      if (members.has(id) || this.leaving.has(id)) continue;
      const timer = setTimeout(() => this.forget(id), removedPeerGraceMs);
      timer.unref();
      this.leaving.set(id, timer);
    }
  }

  /** Forgets peers being removed at once and cancels their timers (the node is stopping). */
  dispose(): void {
    for (const id of [...this.leaving.keys()]) this.forget(id);
  }

  private forget(id: NodeId): void {
    const timer = this.leaving.get(id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.leaving.delete(id);
    this.reachable.delete(id);
    this.transport.removePeer(id);
    this.logger.info({ peer: id }, 'peer no longer a member: forgotten');
  }

  private bookOf(membership: Membership): AddressBook {
    try {
      return addressBookOf(membership) ?? this.fallback;
    } catch (error) {
      // Written by a node of this cluster, so a bug or corruption; run on the last good book.
      this.logger.error({ err: error }, 'the configuration carries an address book this node cannot read');
      return this.current;
    }
  }

  private reach(id: NodeId, address: string): void {
    if (id === this.self) return;
    const leaving = this.leaving.get(id);
    if (leaving !== undefined) {
      // A member again (the entry removing it was overwritten, or it was added back).
      clearTimeout(leaving);
      this.leaving.delete(id);
    }
    if (this.reachable.get(id) === address) return;
    this.reachable.set(id, address);
    this.transport.setPeerAddress(id, address);
    this.logger.info({ peer: id, address }, 'peer address set');
  }
}
