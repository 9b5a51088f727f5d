import { UsageError } from '../errors.js';
import { MAX_NAME_BYTES } from './values.js';

// wq-publish -H: KEY=VALUE (or "KEY: VALUE") pairs, checked against what amqplib can encode, so a
// header that cannot be sent is a usage error before connecting, not a failure halfway through.

export function parseHeaders(list: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const item of list) {
    const m = /^([^=:]+)(?:=|:\s?)(.*)$/s.exec(item);
    if (!m || !m[1]?.trim()) throw new UsageError(`--header needs KEY=VALUE (or "KEY: VALUE"); got "${item}".`);
    const key = m[1].trim();
    if (Buffer.byteLength(key) > MAX_NAME_BYTES) throw new UsageError(`--header name "${key.slice(0, 20)}..." is ${Buffer.byteLength(key)} bytes: header names are at most ${MAX_NAME_BYTES} bytes.`);
    headers[key] = m[2] as string;
  }
  const bytes = encodedHeaderBytes(headers);
  if (bytes > MAX_HEADER_BYTES) {
    throw new UsageError(`the headers take ${bytes} bytes encoded: amqplib encodes at most 64 KiB (${MAX_HEADER_BYTES} bytes) of headers per message. Make the --header values smaller, or put the data in the body.`);
  }
  return headers;
}

/** amqplib encodes a message's header table into a 64 KiB buffer. */
const MAX_HEADER_BYTES = 65536;

// The table as AMQP encodes it: a 4-byte length, then per string header a 1-byte name length, the
// name, a type byte, a 4-byte value length and the value.
function encodedHeaderBytes(headers: Record<string, string>): number {
  let total = 4;
  for (const [key, value] of Object.entries(headers)) total += 1 + Buffer.byteLength(key) + 1 + 4 + Buffer.byteLength(value);
  return total;
}
