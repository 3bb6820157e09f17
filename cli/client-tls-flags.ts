import { readFileSync } from 'node:fs';
import type { ClientTls } from '../src/client/index.js';
import { ConfigError } from '../src/shared/errors.js';
import { defaultClientTlsFiles } from './local-cluster.js';

/** etcdctl's TLS flags. */
export interface ClientTlsFlags {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

/**
 * The SDK's TLS settings from --cacert/--cert/--key; without any of them (and without
 * --endpoints), those of a local cluster started with `cluster up --tls`; otherwise none.
 */
export function clientTlsFromFlags(flags: ClientTlsFlags): ClientTls | null {
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new ConfigError(`--cert and --key go together; missing ${flags.cert === undefined ? '--cert' : '--key'}`);
  if (flags.cacert === undefined && flags.cert === undefined) {
    const local = flags.endpoints === undefined ? defaultClientTlsFiles() : null;
    return local === null ? null : { ca: read(local.ca, 'cluster up --tls CA'), cert: read(local.cert, 'cluster up --tls client certificate'), key: read(local.key, 'cluster up --tls client key') };
  }
  return {
    ...(flags.cacert === undefined ? {} : { ca: read(flags.cacert, '--cacert') }),
    ...(flags.cert === undefined ? {} : { cert: read(flags.cert, '--cert') }),
    ...(flags.key === undefined ? {} : { key: read(flags.key, '--key') }),
  };
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${path} (${(error as Error).message})`, { cause: error });
  }
}
