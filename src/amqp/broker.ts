import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { ConnectionConfig } from '../config/connection.js';
import type { Logger } from '../log.js';
import { mapFailure } from './failures.js';

export { brokerError, mapFailure, type FailureContext } from './failures.js';

export type Connection = ChannelModel;

// Connect with the settings a one-shot worker needs: Nagle off (saves ~50 ms a start), heartbeats on,
// a client name the broker's UI shows, and TLS files when given. Retries an unreachable broker with
// backoff until connectTimeoutSeconds (pods often start before the broker is ready); a failure the
// mapping calls permanent (login, vhost, TLS set-up, a bad name) ends at once.
export async function connect(config: ConnectionConfig, clientName: string, log: Logger, abort?: AbortSignal): Promise<Connection> {
  const deadline = Date.now() + config.connectTimeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(config, clientName);
    } catch (raw) {
      const err = mapFailure(raw, { url: config.url, operation: 'connect' });
      const delayMs = Math.min(100 * 2 ** (attempt - 1), 2000);
      if (!err.retryable || Date.now() + delayMs > deadline || abort?.aborted) throw err;
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
