import * as grpc from '@grpc/grpc-js';

/**
 * One line for a failed attempt, for error messages: the gRPC status name and what went wrong,
 * without grpc-js's boilerplate ("No connection established. Last error: Error: ...", an empty
 * "Resolution note: "). Anything that is not a gRPC status is described by its message.
 */
export function describeFailure(error: unknown): string {
  const status = error as { code?: unknown; details?: unknown } | null;
  if (status !== null && typeof status === 'object' && typeof status.code === 'number' && typeof status.details === 'string') {
    const name = grpc.status[status.code] ?? `status ${status.code}`;
    const details = cleanDetails(status.details);
    return details === '' ? name : `${name}: ${details}`;
  }
  return oneLine(error instanceof Error ? error.message : String(error));
}

/** Collapses a message to one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cleanDetails(details: string): string {
  return oneLine(
    details
      // grpc-js appends this label even when the resolver had nothing to say.
      .replace(/\s*Resolution note:\s*$/, '')
      .replace(/No connection established\. Last error: null/, 'no connection')
      .replace(/No connection established\. Last error: (Error: )?/, '')
      .replace(/\.\s*$/, ''),
  );
}
