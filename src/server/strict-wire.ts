import type * as grpc from '@grpc/grpc-js';

/**
 * Throws unless `bytes` is well-formed protobuf at the top level: every tag a varint with wire
 * type 0, 1, 2 or 5, every varint ending within 10 bytes and within the buffer, every length
 * and fixed-width field within the buffer. protobufjs reads a 64-bit varint past the end of a
 * truncated buffer without noticing (`0a ff ff ff` decodes as a LeaseGrantRequest with ttl
 * 2097151), so a garbled request to an int64 field would be served as a valid one.
 */
export function checkWireFormat(bytes: Uint8Array): void {
  let at = 0;
  const varint = (what: string): number => {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (at >= bytes.length) throw new Error(`malformed protobuf: ${what} runs past the end at byte ${at}`);
      const byte = bytes[at++] as number;
      if (i < 7) value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    throw new Error(`malformed protobuf: ${what} longer than 10 bytes at byte ${at}`);
  };
  const skip = (length: number, what: string): void => {
    if (length > bytes.length - at) throw new Error(`malformed protobuf: ${what} of ${length} bytes runs past the end at byte ${at}`);
    at += length;
  };
  while (at < bytes.length) {
    const tag = varint('a tag');
    const wireType = tag % 8;
    if (tag < 8) throw new Error(`malformed protobuf: field number 0 at byte ${at}`);
    if (wireType === 0) varint('a varint');
    else if (wireType === 1) skip(8, 'a fixed64');
    else if (wireType === 2) skip(varint('a length'), 'a length-delimited field');
    else if (wireType === 5) skip(4, 'a fixed32');
    else throw new Error(`malformed protobuf: wire type ${wireType} at byte ${at}`);
  }
}

/** `service` with every request checked by checkWireFormat before it is decoded. */
export function strictService(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const strict: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const definition = method as grpc.MethodDefinition<unknown, unknown>;
    strict[name] = {
      ...definition,
      requestDeserialize: (bytes: Buffer) => {
        checkWireFormat(bytes);
        return definition.requestDeserialize(bytes);
      },
    };
  }
  return strict as grpc.ServiceDefinition;
}
