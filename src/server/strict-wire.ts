import type * as grpc from '@grpc/grpc-js';
import type { ProtoMessageType as MessageDescriptor } from '../shared/proto.js';

/**
 * The fields of a message that hold something to check inside: sub-messages (checked with their
 * own shape) and packed varints (each must end inside the field). Built from the .proto by
 * `wireShapeOf`; absent, only the top level is checked.
 */
export interface WireShape {
  readonly messages: Map<number, WireShape>;
  readonly packedVarints: Set<number>;
}

/** How deep messages may nest before the request is refused (no raftkv message nests near it). */
const nestingMax = 32;

/**
 * Throws unless `bytes` is well-formed protobuf: every tag a varint with wire type 0, 1, 2 or 5,
 * every varint ending within 10 bytes and within its message, every length and fixed-width field
 * within its message; and, with a shape, the same inside every sub-message and packed varint
 * field. protobufjs reads a 64-bit varint past the end of a truncated buffer without noticing
 * (`0a ff ff ff` decodes as a LeaseGrantRequest with ttl 2097151; a PutRequest cut one byte
 * short decodes with another lease), so a garbled request to an int64 field would be served as
 * a valid one.
 */
export function checkWireFormat(bytes: Uint8Array, shape?: WireShape): void {
  checkMessage(bytes, 0, bytes.length, shape, 0);
}

/** The value of the varint `skipVarint` last read (kept here, not returned, to allocate nothing on every request's path). */
let varintValue = 0;

/** The position after the varint at `at`, which must end before `end` within 10 bytes; its value in `varintValue` (exact below 2^53). */
function skipVarint(bytes: Uint8Array, at: number, end: number, what: string): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (at >= end) throw new Error(`malformed protobuf: ${what} runs past the end at byte ${at}`);
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (byte < 0x80) {
      varintValue = value;
      return at;
    }
  }
  throw new Error(`malformed protobuf: ${what} longer than 10 bytes at byte ${at}`);
}

function checkMessage(bytes: Uint8Array, start: number, end: number, shape: WireShape | undefined, depth: number): void {
  if (depth > nestingMax) throw new Error(`malformed protobuf: messages nested deeper than ${nestingMax} at byte ${start}`);
  let at = start;
  while (at < end) {
    at = skipVarint(bytes, at, end, 'a tag');
    const tag = varintValue;
    const wireType = tag % 8;
    const field = (tag - wireType) / 8;
    if (field === 0) throw new Error(`malformed protobuf: field number 0 at byte ${at}`);
    if (wireType === 0) {
      at = skipVarint(bytes, at, end, 'a varint');
    } else if (wireType === 2) {
      at = skipVarint(bytes, at, end, 'a length');
      const length = varintValue;
      if (length > end - at) throw new Error(`malformed protobuf: a length-delimited field of ${length} bytes runs past the end at byte ${at}`);
      const fieldStart = at;
      at += length;
      if (shape !== undefined) {
        const nested = shape.messages.get(field);
        if (nested !== undefined) checkMessage(bytes, fieldStart, at, nested, depth + 1);
        else if (shape.packedVarints.has(field)) checkPackedVarints(bytes, fieldStart, at);
      }
    } else if (wireType === 1 || wireType === 5) {
      const width = wireType === 1 ? 8 : 4;
      if (width > end - at) throw new Error(`malformed protobuf: a fixed${width * 8} of ${width} bytes runs past the end at byte ${at}`);
      at += width;
    } else {
      throw new Error(`malformed protobuf: wire type ${wireType} at byte ${at}`);
    }
  }
}

function checkPackedVarints(bytes: Uint8Array, start: number, end: number): void {
  let at = start;
  while (at < end) at = skipVarint(bytes, at, end, 'a packed varint');
}

const varintTypes = new Set(['TYPE_INT64', 'TYPE_UINT64', 'TYPE_INT32', 'TYPE_UINT32', 'TYPE_SINT64', 'TYPE_SINT32', 'TYPE_BOOL', 'TYPE_ENUM']);

/**
 * The shape of `type` (a method's requestType), its sub-messages resolved by name in `types`
 * (the package's message types by full name, e.g. `raftkv.v1.PutRequest`). Shapes are kept in
 * `built` by full name, so recursive types share one.
 */
export function wireShapeOf(type: MessageDescriptor, packageName: string, types: (fullName: string) => MessageDescriptor | undefined, built = new Map<string, WireShape>()): WireShape {
  return shapeNamed(`${packageName}.${type.name}`, type, packageName, types, built);
}

function shapeNamed(fullName: string, type: MessageDescriptor, packageName: string, types: (fullName: string) => MessageDescriptor | undefined, built: Map<string, WireShape>): WireShape {
  const known = built.get(fullName);
  if (known !== undefined) return known;
  const shape: WireShape = { messages: new Map(), packedVarints: new Set() };
  built.set(fullName, shape);
  for (const field of type.field) {
    if (field.type === 'TYPE_MESSAGE') {
      const qualified = `${packageName}.${field.typeName}`;
      const nested = types(qualified);
      if (nested === undefined) throw new Error(`proto: message ${fullName} field ${field.number} names unknown type ${field.typeName}`);
      shape.messages.set(field.number, shapeNamed(qualified, nested, packageName, types, built));
    } else if (field.label === 'LABEL_REPEATED' && varintTypes.has(field.type)) {
      shape.packedVarints.add(field.number);
    }
  }
  return shape;
}

/** What `strictService` needs of a method definition loaded by @grpc/proto-loader. */
interface DescribedMethod extends grpc.MethodDefinition<unknown, unknown> {
  readonly requestType?: { readonly type?: MessageDescriptor };
}

/**
 * `service` with every request checked by checkWireFormat, sub-messages included, before it is
 * decoded. `types` resolves a message's full name (`raftkv.v1.Session`) to its descriptor.
 */
export function strictService(service: grpc.ServiceDefinition, packageName: string, types: (fullName: string) => MessageDescriptor | undefined): grpc.ServiceDefinition {
  const strict: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const built = new Map<string, WireShape>();
  for (const [name, method] of Object.entries(service)) {
    const definition = method as DescribedMethod;
    const requestType = definition.requestType?.type;
    if (requestType === undefined) throw new Error(`proto: method ${name} carries no request type descriptor`);
    const shape = wireShapeOf(requestType, packageName, types, built);
    strict[name] = {
      ...definition,
      requestDeserialize: (bytes: Buffer) => {
        checkWireFormat(bytes, shape);
        return definition.requestDeserialize(bytes);
      },
    };
  }
  return strict as grpc.ServiceDefinition;
}
