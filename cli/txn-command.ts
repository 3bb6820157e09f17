import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { TxnOpResult, TxnResult } from '../src/client/index.js';
import { CommandFailure, withClient, withClientOptions, type ClientFlags } from './client-commands.js';
import { keyValueJson } from './output.js';
import { parseTxnJson, TxnJsonError } from './txn-json.js';

/** The most bytes of JSON `raftkv txn` reads (a transaction is one request: far below this). */
const txnJsonBytesMax = 64 * 1024 * 1024;

/** `raftkv txn [--file F]`: a multi-key transaction from JSON (txn-json.ts), on stdin without --file. */
export function registerTxnCommand(program: Command): void {
  withClientOptions(
    program
      .command('txn')
      .description('run a transaction: compares, then the success operations if all hold, else the failure ones (JSON on stdin or --file)')
      .option('--file <path>', 'read the transaction from this file instead of stdin'),
  ).action(async (flags: ClientFlags & { file?: string }) => {
    const text = flags.file === undefined ? await readStdin() : await readTxnFile(flags.file);
    let request;
    try {
      request = parseTxnJson(text);
    } catch (error) {
      if (error instanceof TxnJsonError) throw new CommandFailure(`txn: ${error.message}`, 2);
      throw error;
    }
    await withClient(flags, async (client, out) => {
      const result = await client.txn(request);
      out.result(txnJson(result), txnText(result));
    });
  });
}

async function readTxnFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new CommandFailure(`txn: --file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 2);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength;
    if (bytes > txnJsonBytesMax) throw new CommandFailure(`txn: more than ${txnJsonBytesMax} bytes on stdin`, 2);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function txnJson(result: TxnResult): Record<string, unknown> {
  return {
    succeeded: result.succeeded,
    revision: result.revision,
    responses: result.responses.map((response) =>
      'get' in response ? { get: { kvs: response.get.kvs.map(keyValueJson), more: response.get.more, count: response.get.count } } : response,
    ),
  };
}

function txnText(result: TxnResult): string {
  const lines = [`${result.succeeded ? 'SUCCESS: the compares held, the success operations ran' : 'FAILURE: a compare did not hold, the failure operations ran'} (revision ${result.revision})`];
  for (const response of result.responses) lines.push(...responseText(response));
  return lines.join('\n');
}

function responseText(response: TxnOpResult): string[] {
  if ('put' in response) return [`put: OK revision=${response.put.revision} version=${response.put.version}`];
  if ('delete' in response) return [`delete: ${response.delete.deleted} deleted`];
  const lines = response.get.kvs.map((kv) => `  ${kv.key.toString('utf8')}=${kv.value.toString('utf8')} version=${kv.version} mod=${kv.modRevision}`);
  const { kvs, count, more } = response.get;
  const matched = count === kvs.length ? '' : ` of ${count} matching`;
  return [`get: ${kvs.length} key${kvs.length === 1 ? '' : 's'}${matched}${more ? ' (more not shown: raise limit)' : ''}`, ...lines];
}
