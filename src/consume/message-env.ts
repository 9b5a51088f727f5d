import type { ConsumeMessage } from 'amqplib';
import { Environment } from '../process/environment.js';
import { BODY_FILE_ENV } from './item-io.js';
import type { DeliveryCounts } from './verdict.js';

/** Where messageEnv() had to change a value so that the command can start (one warning line per message). */
export type EnvNote = string;

/** The header wq keeps on classic queues to count deliveries across republishes (see dead-letter.ts). */
export const ATTEMPTS_HEADER = 'x-wq-attempts';
/** The returns among those attempts (a lost connection, a killed pod): admission() bounds them apart. */
export const RETURNS_HEADER = 'x-wq-returns';

/** Variables that hold the broker's credentials: the command does not get them. */
const BROKER_SECRETS = ['BROKER_URL', 'BROKER_URL_FILE', 'AMQP_URL'];

/** Every variable messageEnv() may set. */
export const MESSAGE_ENV_KEYS = [
  'WQ_QUEUE', 'WQ_DELIVERY_TAG', 'WQ_EXCHANGE', 'WQ_ROUTING_KEY', 'WQ_REDELIVERED', 'WQ_DELIVERY_COUNT', 'WQ_BODY_BYTES',
  'WQ_MESSAGE_ID', 'WQ_CORRELATION_ID', 'WQ_CONTENT_TYPE', 'WQ_CONTENT_ENCODING', 'WQ_TYPE', 'WQ_APP_ID', 'WQ_REPLY_TO',
  'WQ_PRIORITY', 'WQ_TIMESTAMP', 'WQ_HEADERS', 'WQ_HEADERS_TRUNCATED',
] as const;

/**
 * The environment every command starts from, once per run: wq-consume's own, minus the broker's
 * credentials and minus every per-message variable, so that one this process inherited (a wq-consume
 * started by another one's command) never passes for the message's own when the message has none.
 */
export function commandBaseEnv(env: NodeJS.ProcessEnv): Environment {
  return Environment.of(env, [...BROKER_SECRETS, ...MESSAGE_ENV_KEYS, BODY_FILE_ENV]);
}

// Message metadata the command receives as environment variables (docs/consume.md "Message metadata").
// Unset properties are left out, so `${WQ_MESSAGE_ID:-}` works in a shell worker. No property can stop
// the command from starting: a NUL byte (which no environment string can hold) becomes U+FFFD, and
// WQ_HEADERS (JSON, in which NUL is escaped) stays under `headersMaxBytes` (the kernel refuses one
// string over 128 KiB): the largest headers are left out and named in WQ_HEADERS_TRUNCATED. `notes`
// gets a sentence for each such change.
export function messageEnv(msg: ConsumeMessage, queue: string, attempt = deliveryCount(msg), headersMaxBytes = 65536, notes?: EnvNote[]): Record<string, string> {
  const { fields, properties } = msg;
  const env: Record<string, string> = {
    WQ_QUEUE: queue,
    WQ_DELIVERY_TAG: String(fields.deliveryTag),
    WQ_EXCHANGE: fields.exchange,
    WQ_ROUTING_KEY: fields.routingKey,
    WQ_REDELIVERED: fields.redelivered ? 'true' : 'false',
    WQ_DELIVERY_COUNT: String(attempt),
    WQ_BODY_BYTES: String(msg.content.length),
  };
  put(env, 'WQ_MESSAGE_ID', properties.messageId);
  put(env, 'WQ_CORRELATION_ID', properties.correlationId);
  put(env, 'WQ_CONTENT_TYPE', properties.contentType);
  put(env, 'WQ_CONTENT_ENCODING', properties.contentEncoding);
  put(env, 'WQ_TYPE', properties.type);
  put(env, 'WQ_APP_ID', properties.appId);
  put(env, 'WQ_REPLY_TO', properties.replyTo);
  put(env, 'WQ_PRIORITY', properties.priority);
  put(env, 'WQ_TIMESTAMP', properties.timestamp);
  for (const key in env) {
    const value = env[key] as string;
    if (value.includes('\0')) {
      env[key] = value.replaceAll('\0', '\uFFFD');
      notes?.push(`${key} held a NUL byte, passed as U+FFFD`);
    }
  }
  if (properties.headers && hasKeys(properties.headers)) Object.assign(env, headersEnv(properties.headers, headersMaxBytes, notes));
  return env;
}

function headersEnv(headers: Record<string, unknown>, maxBytes: number, notes?: EnvNote[]): Record<string, string> {
  const json = (h: Record<string, unknown>) => JSON.stringify(h, (_k, v: unknown) => toJsonValue(v));
  const whole = json(headers);
  if (Buffer.byteLength(whole) <= maxBytes) return { WQ_HEADERS: whole };
  // Too large: leave out the largest headers until the rest fits, and name them.
  const sizes = Object.keys(headers).map((key) => [key, Buffer.byteLength(json({ [key]: headers[key] }))] as const);
  sizes.sort((a, b) => b[1] - a[1]);
  const kept = { ...headers };
  const dropped: string[] = [];
  let text = whole;
  for (const [key] of sizes) {
    if (Buffer.byteLength(text) <= maxBytes) break;
    delete kept[key];
    dropped.push(key.replaceAll('\0', '\uFFFD').replaceAll(',', '%2C'));
    text = json(kept);
  }
  notes?.push(`WQ_HEADERS was ${Buffer.byteLength(whole)} bytes, over ${maxBytes}: left out ${dropped.length} header(s), named in WQ_HEADERS_TRUNCATED`);
  return { WQ_HEADERS: text, WQ_HEADERS_TRUNCATED: dropped.join(',') };
}

/**
 * What the headers say about earlier attempts: wq's own record (x-wq-attempts, set on every copy it
 * republishes), and the broker's counts for this copy: x-delivery-count on quorum queues (returns that
 * count towards a delivery limit: on 4.3 a nack no longer counts), x-acquired-count on 4.3 (every earlier
 * delivery). A classic queue counts nothing: its redelivered flag gives 1, a lower bound.
 */
export function deliveryCounts(msg: ConsumeMessage): DeliveryCounts {
  const headers = msg.properties.headers ?? {};
  const recorded = count(headers[ATTEMPTS_HEADER]) ?? 0;
  const recordedReturns = count(headers[RETURNS_HEADER]) ?? 0;
  // The broker sets its counts only on a redelivery: on a first delivery they are the publisher's own
  // headers (a message copied out of a quorum queue with them), not counts of this queue.
  const brokerReturns = msg.fields.redelivered ? count(headers['x-delivery-count']) : undefined;
  const acquired = msg.fields.redelivered ? count(headers['x-acquired-count']) : undefined;
  const earlierDeliveries = Math.max(brokerReturns ?? 0, acquired ?? 0, msg.fields.redelivered ? 1 : 0);
  return { recorded, recordedReturns, brokerReturns, earlierDeliveries };
}

/** Which attempt this delivery is, counting from 1 across wq's copies (WQ_DELIVERY_COUNT). */
export function deliveryCount(msg: ConsumeMessage): number {
  const c = deliveryCounts(msg);
  return c.recorded + c.earlierDeliveries + 1;
}

function count(value: unknown): number | undefined {
  const n = typeof value === 'bigint' ? Number(value) : Number(value);
  return value !== undefined && value !== null && Number.isInteger(n) && n >= 0 ? n : undefined;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

function put(env: Record<string, string>, key: string, value: unknown): void {
  if (value !== undefined && value !== null && value !== '') env[key] = String(value);
}

function toJsonValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return Buffer.from((v as { data: number[] }).data).toString('utf8');
  }
  return v;
}
