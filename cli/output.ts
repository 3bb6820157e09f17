import type { KeyValue } from '../src/client/index.js';

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
  };
}
