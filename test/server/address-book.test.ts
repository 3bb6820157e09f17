import { describe, expect, it } from 'vitest';
import { nodeId, type NodeId } from '../../src/raft/index.js';
import {
  AddressBookDecodeError,
  addressBookOf,
  bootstrapAddressBook,
  decodeAddressBook,
  encodeAddressBook,
  sameAddressBook,
  withAddressBook,
  type AddressBook,
} from '../../src/server/address-book.js';
import { ByteWriter } from '../../src/shared/binary-codec.js';

const [n1, n2, n3] = ['n1', 'n2', 'n3'].map(nodeId) as [NodeId, NodeId, NodeId];
const book: AddressBook = new Map([
  [n2, { peerAddress: '127.0.0.1:7102', clientAddress: '' }],
  [n1, { peerAddress: '[::1]:7101', clientAddress: 'host-1.example:8101' }],
]);

/** Bytes of a version-1 book with the given members, bypassing the encoder's checks. */
function rawBook(members: [string, string, string][], version = 1): Uint8Array {
  const writer = new ByteWriter().u8(version).u16(members.length);
  for (const [id, peer, client] of members) writer.string(id, 'u8').string(peer, 'u8').string(client, 'u8');
  return writer.finish();
}

describe('the address book codec', () => {
  it('round-trips, with an unknown client address as empty', () => {
    expect(decodeAddressBook(encodeAddressBook(book))).toEqual(book);
    expect(decodeAddressBook(encodeAddressBook(new Map()))).toEqual(new Map());
  });

  it('encodes one book to the same bytes whatever the insertion order', () => {
    const reversed = new Map([...book].reverse());
    expect(encodeAddressBook(reversed)).toEqual(encodeAddressBook(book));
    expect(sameAddressBook(reversed, book)).toBe(true);
    expect(sameAddressBook(book, new Map([[n1, { peerAddress: '[::1]:7101', clientAddress: '' }]]))).toBe(false);
  });

  const bad: { name: string; bytes: Uint8Array; says: string }[] = [
    { name: 'empty', bytes: new Uint8Array(0), says: 'address book version' },
    { name: 'an unknown version', bytes: rawBook([], 2), says: 'unknown format version 2' },
    { name: 'truncated', bytes: encodeAddressBook(book).subarray(0, 9), says: 'address book' },
    { name: 'trailing bytes', bytes: Uint8Array.of(...encodeAddressBook(book), 0), says: 'trailing bytes' },
    { name: 'a bad node id', bytes: rawBook([['n 1', '127.0.0.1:1', '']]), says: 'address book [0].id: "n 1" is not a valid node id' },
    { name: 'an id listed twice', bytes: rawBook([['n1', '127.0.0.1:1', ''], ['n1', '127.0.0.1:2', '']]), says: 'n1 is listed twice' },
    { name: 'a peer address that is not host:port', bytes: rawBook([['n1', 'nowhere', '']]), says: 'address book n1.peerAddress: "nowhere" is not host:port' },
    { name: 'a client address that is not host:port', bytes: rawBook([['n1', '127.0.0.1:1', 'x']]), says: 'address book n1.clientAddress: "x" is not host:port' },
  ];
  for (const row of bad) {
    it(`refuses ${row.name}, naming what is wrong`, () => {
      expect(() => decodeAddressBook(row.bytes)).toThrow(AddressBookDecodeError);
      expect(() => decodeAddressBook(row.bytes)).toThrow(row.says);
    });
  }

  it('refuses more members than the bound', () => {
    expect(() => encodeAddressBook(new Map(Array.from({ length: 1025 }, (_, i) => [nodeId(`n${i}`), { peerAddress: `h:${i + 1}`, clientAddress: '' }])))).toThrow(
      'at most 1024',
    );
  });
});

describe('address books in configurations', () => {
  it('a configuration carries its book as its context; one without a context has none', () => {
    const membership = withAddressBook({ voters: [n1, n2], learners: [] }, book);
    expect(addressBookOf(membership)).toEqual(book);
    expect(addressBookOf({ voters: [n1], learners: [] })).toBeNull();
  });

  it('a bootstrap book has every peer, and only this node\'s client address', () => {
    const peers = new Map([[n1, '127.0.0.1:7101'], [n2, '127.0.0.1:7102'], [n3, '127.0.0.1:7103']]);
    expect(bootstrapAddressBook(peers, n2, '127.0.0.1:8102')).toEqual(
      new Map([
        [n1, { peerAddress: '127.0.0.1:7101', clientAddress: '' }],
        [n2, { peerAddress: '127.0.0.1:7102', clientAddress: '127.0.0.1:8102' }],
        [n3, { peerAddress: '127.0.0.1:7103', clientAddress: '' }],
      ]),
    );
  });
});
