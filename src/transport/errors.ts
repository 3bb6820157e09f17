/**
 * The transport's typed errors (STYLE habit 10). A peer that sends something we refuse is an
 * operating condition, not a bug: it gets a `PeerProtocolError` and a gRPC status, and this
 * node carries on.
 */

/** Why a batch from a peer was refused; the gRPC status code follows from it. */
export type PeerRefusal =
  /** The batch names another cluster (PERMISSION_DENIED: it is not ours to read). */
  | 'wrong-cluster'
  /** The connection's certificate does not name the member the batch claims to come from (PERMISSION_DENIED). */
  | 'wrong-identity'
  /** The batch comes from a node that is not one of our peers. */
  | 'unknown-peer'
  /** A message's `from` differs from the batch's, or its `to` is not this node. */
  | 'misaddressed'
  /** A field is missing, of the wrong kind, out of range, or inconsistent with another. */
  | 'malformed';

/**
 * Something a peer sent breaks the wire contract. `field` names where (e.g.
 * `messages[2].entries[0].index`), and the message names the field and the bad value, so the
 * operator of the sending node can find the bug from our log or from the status it receives.
 */
export class PeerProtocolError extends Error {
  override readonly name = 'PeerProtocolError';
  readonly code = 'PEER_PROTOCOL';

  constructor(
    readonly refusal: PeerRefusal,
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** The transport was used out of order (send before start, start twice, ...): a programmer error. */
export class TransportStateError extends Error {
  override readonly name = 'TransportStateError';
  readonly code = 'TRANSPORT_STATE';
}

/** A transport option is invalid; the message names it and the value. */
export class TransportConfigError extends Error {
  override readonly name = 'TransportConfigError';
  readonly code = 'TRANSPORT_CONFIG';
}

/** The server could not bind its listening address (in use, not local, ...). */
export class TransportBindError extends Error {
  override readonly name = 'TransportBindError';
  readonly code = 'TRANSPORT_BIND';

  constructor(
    readonly address: string,
    options: { cause: unknown },
  ) {
    super(`cannot listen on ${address}: ${options.cause instanceof Error ? options.cause.message : String(options.cause)}`, options);
  }
}
