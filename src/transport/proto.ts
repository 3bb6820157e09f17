/**
 * The RaftPeer service from proto/raftkv/v1/raft.proto, loaded once per process through the
 * project's one proto loader (`../shared/proto.ts`: finds proto/ by walking up from its own
 * file, so it works from src/ under tsx and from dist/src/ once compiled).
 */
import type * as grpc from '@grpc/grpc-js';
import { invariant } from '../raft/index.js';
import { protoLoaderOptions, serviceClient } from '../shared/proto.js';
import { readMessageBatch } from './batch-reader.js';
import type { WireInstallSnapshotResult, WireMessageBatch, WireSendSummary, WireSnapshotChunk } from './wire-types.js';

/** `RaftPeer.Send`: what the sender writes and what the receiver reads (as `unknown`: it validates). */
export interface RaftPeerSendMethod {
  readonly path: string;
  readonly serializeBatch: (batch: WireMessageBatch) => Buffer;
  readonly deserializeBatch: (bytes: Buffer) => unknown;
  readonly serializeSummary: (summary: WireSendSummary) => Buffer;
  readonly deserializeSummary: (bytes: Buffer) => unknown;
}

/** `RaftPeer.InstallSnapshot`: chunks one way, one result back (received as `unknown`: validated). */
export interface RaftPeerInstallSnapshotMethod {
  readonly path: string;
  readonly serializeChunk: (chunk: WireSnapshotChunk) => Buffer;
  readonly deserializeChunk: (bytes: Buffer) => unknown;
  readonly serializeResult: (result: WireInstallSnapshotResult) => Buffer;
  readonly deserializeResult: (bytes: Buffer) => unknown;
}

/** The loaded service: its definition for `grpc.Server.addService` and its methods. */
export interface RaftPeerProto {
  readonly service: grpc.ServiceDefinition;
  readonly send: RaftPeerSendMethod;
  readonly installSnapshot: RaftPeerInstallSnapshotMethod;
}

let loaded: RaftPeerProto | undefined;

/**
 * Loads the RaftPeer service (once; later calls return the same object). Throws an
 * InvariantError if the proto file or the loader options are not what the codec was written
 * for: that is a build problem, not something to run with.
 */
export function raftPeerProto(): RaftPeerProto {
  if (loaded !== undefined) return loaded;
  // The codec reads uint64 as numbers, enums by name and absent fields as defaults; a change
  // to the shared loader options must fail here, loudly, rather than as refused batches.
  invariant(
    protoLoaderOptions.keepCase === false &&
      protoLoaderOptions.longs === Number &&
      protoLoaderOptions.enums === String &&
      protoLoaderOptions.defaults === true &&
      protoLoaderOptions.bytes === Buffer,
    'the transport codec needs proto-loader options { keepCase: false, longs: Number, enums: String, defaults: true, bytes: Buffer }',
  );
  const service = serviceClient('raftkv/v1/raft.proto', 'RaftPeer').service;
  const method = service['Send'];
  invariant(
    method !== undefined && method.requestStream && !method.responseStream,
    'raftkv.v1.RaftPeer.Send must be a client-streaming method',
  );
  const install = service['InstallSnapshot'];
  invariant(
    install !== undefined && install.requestStream && !install.responseStream,
    'raftkv.v1.RaftPeer.InstallSnapshot must be a client-streaming method',
  );
  loaded = {
    // Batches are read by batch-reader.ts into the object proto-loader would give, without protobufjs.
    service: { ...service, Send: { ...method, requestDeserialize: readMessageBatch } },
    send: {
      path: method.path,
      serializeBatch: method.requestSerialize,
      deserializeBatch: readMessageBatch,
      serializeSummary: method.responseSerialize,
      deserializeSummary: method.responseDeserialize,
    },
    installSnapshot: {
      path: install.path,
      serializeChunk: install.requestSerialize,
      deserializeChunk: install.requestDeserialize,
      serializeResult: install.responseSerialize,
      deserializeResult: install.responseDeserialize,
    },
  };
  return loaded;
}
