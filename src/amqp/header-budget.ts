// What a copy's headers may hold. amqplib encodes a message's header table in a buffer of 64 KiB and
// throws past it, while the broker delivers tables up to its frame size (128 KiB) from other clients. A
// retry or dead-letter copy adds headers of wq's own to the original's, so a copy of a message with large
// headers could never be published: the message would be handed back and run again without end. So the
// largest of the original headers are left out of the copy, and named in HEADERS_DROPPED.

/** amqplib's encoding buffer for one field table (lib/defs.js), less room for publishTracked's header. */
export const COPY_HEADERS_MAX_BYTES = 65536 - 512;
export const HEADERS_DROPPED = 'x-wq-headers-dropped';
export const PROPERTIES_DROPPED = 'x-wq-properties-dropped';

/**
 * AMQP carries a property value (reply_to, message_id...) and a table key as a short string: 255 bytes
 * at most. amqplib decodes one as UTF-8, so 255 bytes that are not UTF-8 come back as up to 765: such a
 * value cannot be sent again. The value, or undefined when it could not be.
 */
export function shortString<T>(value: T): T | undefined {
  return typeof value === 'string' && Buffer.byteLength(value) > 255 ? undefined : value;
}

/**
 * `original` with its largest headers left out until, with `own` (which is always kept), the table
 * encodes within `maxBytes`; the names left out, comma-separated, in HEADERS_DROPPED.
 */
export function fitHeaders(original: Record<string, unknown>, own: Record<string, unknown>, maxBytes = COPY_HEADERS_MAX_BYTES): Record<string, unknown> {
  const kept = { ...original };
  // A key or a value that cannot be encoded again goes first, whatever the size.
  const dropped = Object.keys(original).filter((key) => (shortString(key) === undefined || !encodable(original[key])) && !(key in own));
  for (const key of dropped) delete kept[key];
  let total = tableBytes({ ...kept, ...own });
  if (dropped.length === 0 && total <= maxBytes) return { ...kept, ...own };
  const sizes = Object.keys(kept)
    .filter((key) => !(key in own))
    .map((key) => [key, entryBytes(key, original[key])] as const)
    .sort((a, b) => b[1] - a[1]);
  for (let i = 0; i < dropped.length; i++) dropped[i] = dropped[i]!.slice(0, 64).replaceAll(',', '%2C');
  // The list of names costs its own bytes: a long string's tag, length and text.
  const listBytes = () => (dropped.length === 0 ? 0 : entryBytes(HEADERS_DROPPED, dropped.join(',')));
  for (const [key, size] of sizes) {
    if (total + listBytes() <= maxBytes) break;
    delete kept[key];
    dropped.push(key.replaceAll(',', '%2C'));
    total -= size;
  }
  return { ...kept, ...own, [HEADERS_DROPPED]: dropped.join(',') };
}

/**
 * Whether amqplib can encode `value` again as it decoded it (lib/codec.js). It decodes a timestamp as a
 * JavaScript number, rounded: one at the top of its 64 bits rounds past them, and encoding it throws (a
 * RangeError), so a copy holding it could never be published. So does a number it takes for a long that
 * is not one (NaN, -Infinity, below -2^63, or with a fraction from 2^50 up: a double another client
 * sent). Everything else encodes again.
 */
export function encodable(value: unknown): boolean {
  if (typeof value === 'number') return sentAsDouble(value) || (Number.isInteger(value) && value >= -(2 ** 63));
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return true;
  if (Array.isArray(value)) return value.every(encodable);
  // A typed value, as amqplib decodes one (a timestamp, a decimal); any other table with a '!' key (legal
  // from other clients) amqplib would take for a typed value, and fail on.
  if (Object.hasOwn(value, '!')) {
    const { '!': type, value: inner } = value as { '!': unknown; value: unknown };
    if (type === 'timestamp') return validTimestamp(inner);
    const d = inner as { places?: unknown; digits?: unknown } | null;
    return type === 'decimal' && typeof d === 'object' && d !== null && Number.isInteger(d.places) && Number.isInteger(d.digits) && Object.keys(value).length === 2;
  }
  return Object.values(value).every(encodable);
}

/** amqplib's guess (lib/codec.js isFloatingPoint): a number it sends as a double; any other as an integer. */
function sentAsDouble(n: number): boolean {
  return n >= 2 ** 63 || (Math.abs(n) < 2 ** 50 && Math.floor(n) !== n);
}

/** A timestamp (a header's, or the property) that encodes: a whole number of seconds in 64 unsigned bits. */
export function validTimestamp(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 64;
}

/** The bytes amqplib encodes a field table into (lib/codec.js), or a little more. */
export function tableBytes(table: Record<string, unknown>): number {
  let n = 4;
  for (const key in table) n += entryBytes(key, table[key]);
  return n;
}

function entryBytes(key: string, value: unknown): number {
  return value === undefined ? 0 : 1 + Buffer.byteLength(key) + valueBytes(value);
}

// One type byte, then the value. Numbers and typed values ({'!': type, value}) take 8 bytes at most.
function valueBytes(value: unknown): number {
  if (typeof value === 'string') return 5 + Buffer.byteLength(value);
  if (typeof value === 'boolean') return 2;
  if (typeof value !== 'object' || value === null) return 9;
  if (Buffer.isBuffer(value)) return 5 + value.length;
  if (Array.isArray(value)) return 5 + value.reduce((sum: number, v) => sum + valueBytes(v), 0);
  if (Object.hasOwn(value, '!')) {
    const inner = (value as { value?: unknown }).value;
    return typeof inner === 'string' ? 5 + Buffer.byteLength(inner) : 9;
  }
  return 1 + tableBytes(value as Record<string, unknown>);
}
