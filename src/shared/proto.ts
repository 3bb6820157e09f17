import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * How every .proto of raftkv is loaded, server and SDK alike: camelCase fields, 64-bit integers
 * as JavaScript numbers (indexes and revisions stay far below 2^53), enums as their names,
 * bytes as Buffers, defaults filled in, and the name of the set member of each oneof.
 */
export const protoLoaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/** The folder holding proto/, found by walking up from this file (works from src/ and from dist/src/). */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'proto', 'raftkv', 'v1'))) return join(dir, 'proto');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find proto/raftkv/v1 above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

const loaded = new Map<string, { readonly object: grpc.GrpcObject; readonly definition: protoLoader.PackageDefinition }>();

function load(file: string): { readonly object: grpc.GrpcObject; readonly definition: protoLoader.PackageDefinition } {
  const cached = loaded.get(file);
  if (cached !== undefined) return cached;
  const definition = protoLoader.loadSync(file, { ...protoLoaderOptions, includeDirs: [protoRoot()] });
  const entry = { object: grpc.loadPackageDefinition(definition), definition };
  loaded.set(file, entry);
  return entry;
}

/** Loads one file under proto/ (e.g. "raftkv/v1/kv.proto") once per process. */
export function loadProto(file: string): grpc.GrpcObject {
  return load(file).object;
}

/** A message type as @grpc/proto-loader describes it (the parts of a DescriptorProto raftkv reads). */
export interface ProtoMessageType {
  readonly name: string;
  /** `type` is e.g. TYPE_MESSAGE or TYPE_INT64; `typeName` names a message type relative to the package; `label` e.g. LABEL_REPEATED. */
  readonly field: readonly { readonly number: number; readonly type: string; readonly typeName: string; readonly label: string }[];
}

/** The message types of a loaded file by full name (`raftkv.v1.PutRequest`). */
export function protoMessageTypes(file: string): (fullName: string) => ProtoMessageType | undefined {
  const { definition } = load(file);
  return (fullName) => {
    const entry = definition[fullName] as { type?: ProtoMessageType; format?: string } | undefined;
    return entry?.format?.endsWith('DescriptorProto') === true ? entry.type : undefined;
  };
}

/** The service constructor `raftkv.v1.<name>` from a loaded file. */
export function serviceClient(file: string, name: string): grpc.ServiceClientConstructor {
  const v1 = (loadProto(file)['raftkv'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
  const service = v1[name];
  if (typeof service !== 'function') throw new Error(`proto ${file} has no service raftkv.v1.${name}`);
  return service as grpc.ServiceClientConstructor;
}
