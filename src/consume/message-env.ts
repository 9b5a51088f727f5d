import type { ConsumeMessage } from 'amqplib';
import type { DeliveryCounts } from './verdict.js';

/** The header wq keeps on classic queues to count deliveries across republishes (see dead-letter.ts). */
export const ATTEMPTS_HEADER = 'x-wq-attempts';

/** Variables that hold the broker's credentials: the command does not get them. */
const BROKER_SECRETS = ['BROKER_URL', 'BROKER_URL_FILE', 'AMQP_URL'];

/** wq-consume's environment minus the broker's credentials, computed once per run. */
export function commandBaseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of BROKER_SECRETS) delete out[name];
  return out;
}

/** Every variable messageEnv() may set. */
export const MESSAGE_ENV_KEYS = [
  'WQ_QUEUE', 'WQ_DELIVERY_TAG', 'WQ_EXCHANGE', 'WQ_ROUTING_KEY', 'WQ_REDELIVERED', 'WQ_DELIVERY_COUNT', 'WQ_BODY_BYTES',
  'WQ_MESSAGE_ID', 'WQ_CORRELATION_ID', 'WQ_CONTENT_TYPE', 'WQ_CONTENT_ENCODING', 'WQ_TYPE', 'WQ_APP_ID', 'WQ_REPLY_TO',
  'WQ_PRIORITY', 'WQ_TIMESTAMP', 'WQ_HEADERS',
] as const;

// Message metadata the command receives as environment variables (README "Message metadata").
// Unset properties are left out, so `${WQ_MESSAGE_ID:-}` works in a shell worker.
export function messageEnv(msg: ConsumeMessage, queue: string, attempt = deliveryCount(msg)): Record<string, string> {
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
  if (properties.headers && hasKeys(properties.headers)) {
    env.WQ_HEADERS = JSON.stringify(properties.headers, (_k, v: unknown) => toJsonValue(v));
  }
  return env;
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
  const brokerReturns = count(headers['x-delivery-count']);
  const acquired = count(headers['x-acquired-count']);
  const earlierDeliveries = Math.max(brokerReturns ?? 0, acquired ?? 0, msg.fields.redelivered ? 1 : 0);
  return { recorded, brokerReturns, earlierDeliveries };
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
