import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { ConnectionConfig } from '../config/connection.js';
import { AccessRefusedError, BrokerUnavailableError, QueueConfigError, WqError, oneLine } from '../errors.js';
import type { Logger } from '../log.js';
import { redactText, redactUrl, urlPassword } from '../redact.js';

export type Connection = ChannelModel;

// Connect with the settings a one-shot worker needs: Nagle off (saves ~50 ms a start), heartbeats on,
// a client name the broker's UI shows, and TLS files when given. Retries an unreachable broker with
// backoff until connectTimeoutSeconds (pods often start before the broker is ready).
export async function connect(config: ConnectionConfig, clientName: string, log: Logger, abort?: AbortSignal): Promise<Connection> {
  const deadline = Date.now() + config.connectTimeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(config, clientName);
    } catch (raw) {
      const err = brokerError(raw, config.url, 'connect');
      const delayMs = Math.min(100 * 2 ** (attempt - 1), 2000);
      if (!(err instanceof BrokerUnavailableError) || Date.now() + delayMs > deadline || abort?.aborted) throw err;
      if (attempt === 1) log.warn(`${err.message} Retrying for up to ${config.connectTimeoutSeconds}s (--connect-timeout).`);
      await sleep(delayMs, abort);
    }
  }
}

function sleep(ms: number, abort?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    abort?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      abort?.removeEventListener('abort', done);
      resolve();
    }
  });
}

function connectOnce(config: ConnectionConfig, clientName: string): Promise<Connection> {
  const url = new URL(config.url);
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(config.heartbeatSeconds));
  return amqp.connect(url.toString(), {
    noDelay: true,
    timeout: 10_000,
    clientProperties: { connection_name: `${clientName} (pid ${process.pid})`, product: 'wq' },
    ...config.tls,
  });
}

/** The version the broker announces in its server properties (e.g. "4.0.5"), if it does. */
export function brokerVersion(conn: Connection): string | undefined {
  const version = (conn as unknown as { connection?: { serverProperties?: { version?: unknown } } }).connection?.serverProperties?.version;
  return typeof version === 'string' ? version : Buffer.isBuffer(version) ? version.toString() : undefined;
}

/** RabbitMQ's default max_message_size for a version: 16 MiB since 4.0, 128 MiB before (a broker may set less). */
export function defaultMaxMessageSize(version: string | undefined): number | undefined {
  const major = Number(/^(\d+)\./.exec(version ?? '')?.[1]);
  if (!Number.isInteger(major)) return undefined;
  return major >= 4 ? 16 * 1024 * 1024 : 128 * 1024 * 1024;
}

/** Close what is open; errors on a connection that is already gone are not interesting. */
export async function closeQuietly(conn: Connection | undefined): Promise<void> {
  if (!conn) return;
  try {
    await conn.close();
  } catch {
    // already closed
  }
}

// Map an amqplib or socket error to a typed error with one line that says what to do.
// `operation` names what we were doing (connect, queue.declare, basic.consume, ...).
export function brokerError(raw: unknown, url: string, operation: string, queue?: string): WqError {
  if (raw instanceof WqError) return raw;
  const e = raw as { code?: unknown; message?: string };
  const safeUrl = redactUrl(url);
  const detail = redactText(String(e?.message ?? raw), urlPassword(url));
  const amqpCode = typeof e?.code === 'number' ? e.code : /\b(40[34]|406|530|320)\b \(/.exec(detail)?.[1];
  const code = Number(amqpCode);
  if (code === 403 || /ACCESS.REFUSED/.test(detail)) {
    return new AccessRefusedError(`${operation}: the broker at ${safeUrl} refused access (${oneLine(detail)}). Check the user, password and vhost in --url or BROKER_URL.`, raw);
  }
  if (code === 530 || /NOT.ALLOWED/.test(detail)) {
    return new AccessRefusedError(`${operation}: the broker at ${safeUrl} refused the vhost (${oneLine(detail)}). Check the vhost in the URL and the user's permissions.`, raw);
  }
  const missingExchange = /no exchange '([^']*)'/.exec(detail)?.[1];
  if (code === 404 && missingExchange !== undefined) {
    return new QueueConfigError(`${operation}: exchange "${missingExchange}" does not exist on ${safeUrl}. Declare it first, or fix the exchange name.`, raw);
  }
  if (code === 404 && queue !== undefined) {
    return new QueueConfigError(`${operation}: queue "${queue}" does not exist on ${safeUrl}. Create it (wq-publish declares it, or pass --declare) or fix -q/QUEUE.`, raw);
  }
  if (code === 406 && queue !== undefined) {
    return new QueueConfigError(`${operation}: queue "${queue}" exists with other arguments (${oneLine(detail)}). Use the queue's existing settings or delete it first.`, raw);
  }
  const sys = typeof e?.code === 'string' ? e.code : '';
  const hint = sys === 'ENOTFOUND' || sys === 'EAI_AGAIN' ? 'the host name does not resolve' : sys === 'ECONNREFUSED' ? 'nothing listens there' : oneLine(detail);
  return new BrokerUnavailableError(`${operation}: cannot reach the broker at ${safeUrl} (${hint}). Check --url or BROKER_URL and that RabbitMQ is running.`, raw);
}

