/** Keys and values as the SDK takes and returns them. */

/** Keys and values: strings are UTF-8 encoded. */
export type Bytes = string | Uint8Array;

/** A key as stored. `version` counts writes since the key was created; revisions are log indexes. */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly createRevision: number;
  readonly modRevision: number;
  /** The lease the key is attached to (client.lease); absent: none. */
  readonly lease?: number;
}
