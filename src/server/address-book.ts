/**
 * The address book: every member's peer and client address, kept in the configuration's opaque
 * context (conf-change.ts rule 7). The addresses in force at an index are therefore those of the
 * configuration in force there: a restart, a snapshot and a joining node get them with the
 * configuration, and a new member's address reaches every node through the log.
 *
 *   v1 u8 | count u16 | each member: id (u8 length + UTF-8) | peer address (u8 length + UTF-8)
 *         | client address (u8 length + UTF-8; empty = not known)
 *
 * Members are written sorted by id, so one book always encodes to the same bytes.
 */
import { nodeId, type Membership, type NodeId } from '../raft/index.js';
import { BinaryDecodeError, ByteReader, ByteWriter } from '../shared/binary-codec.js';

const formatVersion = 1;
/** More members than any one Raft group should have; a bound on what a decoder accepts. */
export const addressBookMembersMax = 1024;
const addressBytesMax = 0xff;
const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const addressPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** Where one member is reached. */
export interface MemberAddresses {
  readonly peerAddress: string;
  /** '' when not known (a bootstrap member other than this node, until a change writes it in). */
  readonly clientAddress: string;
}

export type AddressBook = ReadonlyMap<NodeId, MemberAddresses>;

/** A configuration's context that is not an address book this version reads. */
export class AddressBookDecodeError extends Error {
  override readonly name = 'AddressBookDecodeError';
  readonly code = 'ADDRESS_BOOK_DECODE';
}

export function encodeAddressBook(book: AddressBook): Uint8Array {
  if (book.size > addressBookMembersMax) throw new RangeError(`address book: ${book.size} members, at most ${addressBookMembersMax}`);
  const writer = new ByteWriter().u8(formatVersion).u16(book.size);
  for (const [id, addresses] of [...book].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    writer.string(id, 'u8').string(addresses.peerAddress, 'u8').string(addresses.clientAddress, 'u8');
  }
  return writer.finish();
}

/** Decodes and checks a book; throws AddressBookDecodeError naming the field that is wrong. */
export function decodeAddressBook(bytes: Uint8Array): AddressBook {
  try {
    const reader = new ByteReader(bytes);
    const version = reader.u8('address book version');
    if (version !== formatVersion) throw new AddressBookDecodeError(`address book: unknown format version ${version}`);
    const count = reader.u16('address book count');
    if (count > addressBookMembersMax) throw new AddressBookDecodeError(`address book: ${count} members, at most ${addressBookMembersMax}`);
    const book = new Map<NodeId, MemberAddresses>();
    for (let i = 0; i < count; i++) {
      const id = reader.string('u8', addressBytesMax, `address book [${i}].id`);
      if (!idPattern.test(id)) throw new AddressBookDecodeError(`address book [${i}].id: ${JSON.stringify(id)} is not a valid node id`);
      if (book.has(nodeId(id))) throw new AddressBookDecodeError(`address book [${i}].id: ${id} is listed twice`);
      const peerAddress = reader.string('u8', addressBytesMax, `address book ${id}.peerAddress`);
      if (!addressPattern.test(peerAddress)) throw new AddressBookDecodeError(`address book ${id}.peerAddress: ${JSON.stringify(peerAddress)} is not host:port`);
      const clientAddress = reader.string('u8', addressBytesMax, `address book ${id}.clientAddress`);
      if (clientAddress !== '' && !addressPattern.test(clientAddress)) {
        throw new AddressBookDecodeError(`address book ${id}.clientAddress: ${JSON.stringify(clientAddress)} is not host:port`);
      }
      book.set(nodeId(id), { peerAddress, clientAddress });
    }
    reader.end('address book');
    return book;
  } catch (error) {
    if (error instanceof AddressBookDecodeError || !(error instanceof BinaryDecodeError)) throw error;
    throw new AddressBookDecodeError(error.message, { cause: error });
  }
}

/** The book a configuration carries, or null when it carries none (a data directory from before address books). */
export function addressBookOf(membership: Membership): AddressBook | null {
  const context = membership.context;
  return context === undefined || context.byteLength === 0 ? null : decodeAddressBook(context);
}

/** The same configuration with `book` as its context. */
export function withAddressBook(membership: Membership, book: AddressBook): Membership {
  return { ...membership, context: encodeAddressBook(book) };
}

/** A book of the given peers, with this node's own client address (the others' are not known yet). */
export function bootstrapAddressBook(peers: ReadonlyMap<NodeId, string>, self: NodeId, selfClientAddress: string): AddressBook {
  return new Map([...peers].map(([id, peerAddress]) => [id, { peerAddress, clientAddress: id === self ? selfClientAddress : '' }]));
}

/** Whether two books hold the same members at the same addresses. */
export function sameAddressBook(a: AddressBook, b: AddressBook): boolean {
  if (a.size !== b.size) return false;
  for (const [id, addresses] of a) {
    const other = b.get(id);
    if (other === undefined || other.peerAddress !== addresses.peerAddress || other.clientAddress !== addresses.clientAddress) return false;
  }
  return true;
}
