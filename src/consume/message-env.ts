import type { ConsumeMessage } from 'amqplib';

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

// Message metadata the command receives as environment variables (README "Message metadata").
// Unset properties are left out, so `${WQ_MESSAGE_ID:-}` works in a shell worker.
export function messageEnv(msg: ConsumeMessage, queue: string): Record<string, string> {
  const { fields, properties } = msg;
  const env: Record<string, string> = {
    WQ_QUEUE: queue,
    WQ_DELIVERY_TAG: String(fields.deliveryTag),
    WQ_EXCHANGE: fields.exchange,
    WQ_ROUTING_KEY: fields.routingKey,
    WQ_REDELIVERED: fields.redelivered ? 'true' : 'false',
    WQ_DELIVERY_COUNT: String(deliveryCount(msg)),
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
  if (properties.headers && Object.keys(properties.headers).length > 0) {
    env.WQ_HEADERS = JSON.stringify(properties.headers, (_k, v: unknown) => toJsonValue(v));
  }
  return env;
}

/**
 * Which delivery of this message this is, counting from 1: attempts wq recorded when it republished the
 * message (--max-attempts), plus deliveries of this copy before this one: the quorum queue's
 * x-delivery-count, or 1 when a classic queue flags it redelivered (a lower bound there).
 */
export function deliveryCount(msg: ConsumeMessage): number {
  const headers = msg.properties.headers ?? {};
  const recorded = Number(headers[ATTEMPTS_HEADER]);
  const ours = Number.isInteger(recorded) && recorded > 0 ? recorded : 0;
  const quorum = Number(headers['x-delivery-count']);
  const earlier = Number.isInteger(quorum) && quorum >= 0 ? quorum : msg.fields.redelivered ? 1 : 0;
  return ours + earlier + 1;
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
