/**
 * Assertions for programmer errors (STYLE habit 5): a broken invariant is a bug, and the node
 * must stop rather than carry on with corrupt state. Expected conditions return typed results.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
  readonly code = 'RAFT_INVARIANT';
}

export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

/** Ends every switch over a closed union, so the compiler names a forgotten case. */
export function assertNever(value: never, what: string): never {
  throw new InvariantError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
