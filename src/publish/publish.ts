import { randomBytes } from 'node:crypto';
import type { ConfirmChannel, Options } from 'amqplib';
import { brokerVersion, closeQuietly, connect, defaultMaxMessageSize, mapFailure } from '../amqp/broker.js';
import { batchSocketWrites } from '../amqp/batch-writes.js';
import { TooLargeError, type WqError } from '../errors.js';
import { openProgress, readItems } from './items.js';
import type { Logger } from '../log.js';
import type { PublishConfig } from '../config/publish.js';
import { openChannel } from './channel.js';
import { outcomeError, type PublishResult, type PublishStats } from './result.js';
import { startProgress } from './progress.js';

/*
 * The publishing contract (README "wq-publish"):
 * - every message goes out persistent (unless --no-persistent) and mandatory, on a confirm channel;
 * - it counts as published only when the broker confirmed it (basic.ack) and did not return it
 *   (basic.return, which RabbitMQ sends before the ack of an unroutable message);
 * - a nacked or returned message is counted as refused; one still unconfirmed when the connection goes
 *   is counted as lost (it may or may not be in the queue: the message id lets consumers tell duplicates);
 * - at most `window` messages are in flight; the reader waits for confirms and for socket drain, so a
 *   1,000,000-line file publishes in bounded memory.
 */

// Publish the configured items, then read the queue's depth. Never throws for unconfirmed messages:
// they are counted and reported in result.error, so the caller can still print the summary first.
export async function publish(config: PublishConfig, log: Logger, stop: AbortSignal): Promise<PublishResult> {
  const stats: PublishStats = { published: 0, confirmed: 0, nacked: 0, returned: 0, lost: 0 };
  const progress = openProgress(config.source);
  const conn = await connect(config, 'wq-publish', log, stop);
  const { queue, exchange, routingKey, window } = config;
  let closedBy: Error | undefined;
  let closed = false;
  let wake: (() => void) | undefined;
  let inFlight = 0;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let onClosed = wakeUp;

  conn.on('error', () => {}); // 'close' carries the same error
  conn.on('close', (err?: Error) => {
    closedBy ??= err;
    closed = true;
    onClosed();
  });
  conn.on('blocked', (reason: string) => log.warn({ reason }, 'the broker blocked publishing (resource alarm): waiting until it unblocks'));
  conn.on('unblocked', () => log.info('the broker unblocked publishing'));

  batchSocketWrites(conn);
  let ch: ConfirmChannel;
  try {
    ch = await openChannel(conn, config, log);
  } catch (err) {
    await closeQuietly(conn);
    throw err;
  }
  ch.on('error', (err: Error) => (closedBy ??= err));
  ch.on('close', () => {
    closed = true;
    onClosed();
  });
  ch.on('return', () => stats.returned++);
  ch.on('drain', wakeUp);

  // Resume reading at half the window: the reader then publishes a batch at once (fewer wake-ups, fuller writes).
  const resumeAt = window >> 1;
  // One callback for every message: confirms arrive in publishing order, and only the counts matter.
  const onConfirm = (err: Error | null) => {
    inFlight--;
    if (err === null) stats.confirmed++;
    else if (err.message === 'message nacked') stats.nacked++;
    else stats.lost++;
    if (wake !== undefined && inFlight <= resumeAt) wakeUp();
  };
  // Reused for every message: amqplib encodes the properties synchronously inside publish().
  const options: Options.Publish = {
    persistent: config.persistent,
    mandatory: true,
    contentType: config.contentType,
    contentEncoding: config.contentEncoding,
    headers: Object.keys(config.headers).length > 0 ? config.headers : undefined,
    messageId: '',
  };
  const idPrefix = `${randomBytes(6).toString('hex')}-`;
  const stopped = new Error('stopped');
  let waitingFor: 'window' | 'drain' | undefined;

  const waitUntil = (reason: 'window' | 'drain') => {
    waitingFor = reason;
    return new Promise<void>((resolve) => (wake = resolve)).then(() => {
      waitingFor = undefined;
      if (closed || stop.aborted) throw stopped;
    });
  };

  const maxSize = defaultMaxMessageSize(brokerVersion(conn));
  const send = (body: Buffer): Promise<void> | undefined => {
    if (closed || stop.aborted) throw stopped;
    if (maxSize !== undefined && body.length > maxSize) throw tooLarge(body.length, maxSize, brokerVersion(conn), stats.published);
    options.messageId = idPrefix + stats.published;
    let ok: boolean;
    try {
      ok = ch.publish(exchange, routingKey, body, options, onConfirm);
    } catch (err) {
      // amqplib's own checks (a name or header table it cannot encode): nothing was sent for this one.
      throw mapFailure(err, { url: config.url, operation: 'basic.publish', queue: queue || undefined, exchange: exchange || undefined });
    }
    stats.published++;
    inFlight++;
    if (inFlight >= window) return waitUntil('window');
    if (!ok) return waitUntil('drain');
    return undefined;
  };

  // Stops the reading on a signal or a lost connection, even while it waits for more input.
  const stopReading = new AbortController();
  const onAbort = () => {
    stopReading.abort();
    wakeUp();
  };
  onClosed = onAbort;
  stop.addEventListener('abort', onAbort, { once: true });
  const ticker = startProgress(config, stats, progress, log, () => waitingFor);
  let readError: unknown;
  let complete = false;
  const startedAt = performance.now();
  try {
    await readItems(config.source, send, progress, stopReading.signal);
    complete = true;
  } catch (err) {
    if (err !== stopped && !stopReading.signal.aborted) readError = err;
  }
  // Everything sent gets its answer (or the connection goes, or a signal ends the wait).
  while (inFlight > 0 && !closed && !stop.aborted) await waitUntil('window').catch(() => undefined);
  if (inFlight > 0 && stop.aborted && !closed) await waitAWhile(() => inFlight === 0 || closed, 5000, (w) => (wake = w));
  ticker.stop();
  stop.removeEventListener('abort', onAbort);

  const result: PublishResult = { ...stats, durationMs: performance.now() - startedAt, complete };
  // Still in flight after a signal or a lost connection: never confirmed.
  result.lost += inFlight;
  if (stop.aborted) result.signal = String(stop.reason ?? 'SIGTERM');
  if (!closed && queue) {
    try {
      result.ready = (await ch.checkQueue(queue)).messageCount;
    } catch (err) {
      closedBy ??= err as Error;
    }
  }
  if (!closed) await ch.close().catch(() => undefined);
  await closeQuietly(conn);

  result.error = outcomeError(config, result, closedBy, readError);
  return result;
}

function tooLarge(size: number, limit: number, version: string | undefined, before: number): TooLargeError {
  return new TooLargeError(
    `message ${before + 1} is ${size} bytes, larger than RabbitMQ ${version}'s default max_message_size of ${limit} bytes: it was not sent. Split the item, or raise max_message_size in rabbitmq.conf and publish it again.`,
  );
}

function waitAWhile(done: () => boolean, ms: number, setWake: (w: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const check = () => {
      if (done()) {
        clearTimeout(timer);
        resolve();
      } else setWake(check);
    };
    check();
  });
}
