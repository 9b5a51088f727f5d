import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { ConnectionConfig } from '../config/connection.js';
import type { Logger } from '../log.js';
import { BrokerUnavailableError, type WqError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { mapFailure } from './failures.js';

export { brokerError, mapFailure, type FailureContext } from './failures.js';

export type Connection = ChannelModel;

/** A connection and the broker address it went to. */
export interface Connected {
  conn: Connection;
  /** The URL it connected to (with its password: print it with redactUrl()). */
  url: string;
  /** Its position in config.urls, from 0. */
  index: number;
}

// Connect with the settings a one-shot worker needs: Nagle off (saves ~50 ms a start), heartbeats on,
// a client name the broker's UI shows, and TLS files when given. Retries an unreachable broker with
// backoff until connectTimeoutSeconds (pods often start before the broker is ready); a failure the
// mapping calls permanent (login, vhost, TLS set-up, a bad name) ends at once.
export async function connect(config: ConnectionConfig, clientName: string, log: Logger, abort?: AbortSignal): Promise<Connection> {
  return (await connectAny(config, clientName, log, abort)).conn;
}

/**
 * connect(), saying which address answered. With several addresses (config.urls: the nodes of a cluster)
 * the order is the given one, round-robin, starting after the last address this config connected to or
 * failed on: a reconnect after a lost connection tries the next node first. An address that does not
 * answer passes to the next at once; the backoff (100 ms doubling to 2 s) comes after each round in which
 * none answered, until --connect-timeout.
 */
export async function connectAny(config: ConnectionConfig, clientName: string, log: Logger, abort?: AbortSignal): Promise<Connected> {
  const urls = config.urls?.length ? config.urls : [config.url];
  const cursor = cursors.get(config) ?? { next: 0 };
  cursors.set(config, cursor);
  const deadline = Date.now() + config.connectTimeoutSeconds * 1000;
  let failedInRound = 0;
  for (let round = 1; ; ) {
    const index = cursor.next % urls.length;
    const url = urls[index] as string;
    cursor.next = (index + 1) % urls.length;
    try {
      const conn = await unlessAborted(connectOnce(config, url, clientName, deadline - Date.now()), abort);
      if (urls.length > 1) log.info({ address: index + 1, of: urls.length }, `connected to the broker at ${redactUrl(url)}`);
      return { conn, url, index };
    } catch (raw) {
      const err = mapFailure(raw, { url, operation: 'connect' });
      if (!err.retryable || abort?.aborted) throw err;
      if (++failedInRound < urls.length) {
        if (round === 1) log.warn({ address: index + 1, of: urls.length }, `${err.message} Trying the next address.`);
        continue;
      }
      failedInRound = 0;
      // The last pause ends at the deadline, and one more round follows: --connect-timeout is tried in full.
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw urls.length === 1 ? err : noneAnswered(err, urls.length, config.connectTimeoutSeconds);
      if (round === 1) log.warn(urls.length === 1 ? `${err.message} Retrying for up to ${config.connectTimeoutSeconds}s (--connect-timeout).` : `${err.message} No address answered: retrying all ${urls.length} for up to ${config.connectTimeoutSeconds}s (--connect-timeout).`);
      await sleep(Math.min(backoffMs(round++), leftMs), abort);
    }
  }
}

/** The pause after failed round `round` (from 1): 100 ms doubling to 2 s. */
export const backoffMs = (round: number): number => Math.min(100 * 2 ** (round - 1), 2000);

/** Where each config's next connect starts (its own rotation; nothing else holds the config). */
const cursors = new WeakMap<ConnectionConfig, { next: number }>();

function noneAnswered(last: WqError, count: number, seconds: number): WqError {
  return new BrokerUnavailableError(`connect: none of the ${count} broker addresses answered within ${seconds}s (--connect-timeout); the last: ${last.message}`, last.cause, { detail: last.detail });
}

/** Resolves after `ms`, or at once when `abort` fires. */
export function sleep(ms: number, abort?: AbortSignal): Promise<void> {
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

// An address that does not answer at all (a dropped SYN, a server that never speaks AMQP) fails after
// SOCKET_TIMEOUT_MS, or sooner when --connect-timeout has less left, but after 1 s at the least.
const SOCKET_TIMEOUT_MS = 10_000;

function connectOnce(config: ConnectionConfig, address: string, clientName: string, leftMs: number): Promise<Connection> {
  const url = new URL(address);
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(config.heartbeatSeconds));
  return amqp.connect(url.toString(), {
    noDelay: true,
    timeout: Math.max(1_000, Math.min(SOCKET_TIMEOUT_MS, leftMs)),
    clientProperties: { connection_name: `${clientName} (pid ${process.pid})`, product: 'wq' },
    ...config.tls,
  });
}

// A signal ends a connect that waits on a broker that does not answer at once, not after the socket's
// timeout (up to 10 s): the attempt is left behind, and a connection it still makes is closed.
function unlessAborted(attempt: Promise<Connection>, abort: AbortSignal | undefined): Promise<Connection> {
  if (!abort) return attempt;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      attempt.then((conn) => conn.close().catch(() => undefined), () => undefined);
      reject(new Error(`connect: stopped by ${String(abort.reason ?? 'a signal')}`));
    };
    if (abort.aborted) return onAbort();
    abort.addEventListener('abort', onAbort, { once: true });
    attempt.then(
      (conn) => (abort.removeEventListener('abort', onAbort), resolve(conn)),
      (err: unknown) => (abort.removeEventListener('abort', onAbort), reject(err)),
    );
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

/** The connection's socket (amqplib keeps it as `connection.stream`): destroy() it to cut the connection at once. */
export function connectionSocket(conn: Connection): { writableLength: number; destroy(err?: Error): void } | undefined {
  return (conn.connection as { stream?: { writableLength: number; destroy(err?: Error): void } }).stream;
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
