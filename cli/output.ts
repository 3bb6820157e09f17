import type { KeyValue } from '../src/client/index.js';
import { oneLine } from '../src/client/describe-failure.js';

/** How command results are printed: plain text for people, JSON (one document) for scripts. */
export interface Printer {
  readonly json: boolean;
  result(value: unknown, text: string): void;
}

export function printer(json: boolean): Printer {
  return {
    json,
    result(value, text) {
      process.stdout.write(json ? `${JSON.stringify(value, jsonBytes)}\n` : `${text}\n`);
    },
  };
}

/** Buffers as UTF-8 strings in JSON output. */
function jsonBytes(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('utf8');
  }
  return value;
}

export function keyValueJson(kv: KeyValue): Record<string, unknown> {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    version: kv.version,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    ...(kv.lease === undefined ? {} : { lease: kv.lease }),
  };
}

/**
 * An error as one line for stderr: its message, then its cause's when that adds something. A
 * gRPC status as cause adds nothing: the SDK's typed errors already name the endpoints tried
 * and the last cause, without grpc-js's boilerplate.
 */
export function errorLine(error: Error): string {
  const cause = error.cause;
  const causeText =
    cause instanceof Error && typeof (cause as { code?: unknown }).code !== 'number' && !error.message.includes(cause.message) ? ` (${cause.message})` : '';
  return oneLine(`${error.message}${causeText}`);
}
