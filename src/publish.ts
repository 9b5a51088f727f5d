import { randomBytes } from 'node:crypto';
import type { ConfirmChannel, Options } from 'amqplib';
import { brokerError, closeQuietly, connect, type Connection } from './broker.js';
import { BrokerUnavailableError, QueueConfigError, UnconfirmedError, UsageError, WqError } from './errors.js';
import { openProgress, readItems } from './items.js';
import type { Logger } from './log.js';
import type { PublishConfig } from './publish-config.js';
import { startProgress, type PublishStats } from './progress.js';

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

export interface PublishResult extends PublishStats {
  /** Ready messages in the queue after publishing (undefined without a queue, or after a lost connection). */
  ready?: number;
  /** The error that ended the run, if any (carries its exit code). */
  error?: WqError;
  /** The signal that stopped the run, if any. */
  signal?: string;
  /** From the first message read to the last confirm. */
  durationMs: number;
  /** The whole input was read (false when a signal or a lost connection stopped the reading). */
  complete: boolean;
}

// Publish the configured items, then read the queue's depth. Never throws for unconfirmed messages:
// they are counted and reported in result.error, so the caller can still print the summary first.
export async function publish(config: PublishConfig, log: Logger, stop: AbortSignal): Promise<PublishResult> {
  const stats: PublishStats = { published: 0, confirmed: 0, nacked: 0, returned: 0, lost: 0 };
  const progress = openProgress(config.source);
  const conn = await connect(config, 'wq-publish', stop, (_attempt, err) =>
    log.warn(`${err.message} Retrying for up to ${config.connectTimeoutSeconds}s (--connect-timeout).`),
  );
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

  conn.on('error', () => {}); // 'close' carries the same error
  conn.on('close', (err?: Error) => {
    closedBy ??= err;
    closed = true;
    wakeUp();
  });
  conn.on('blocked', (reason: string) => log.warn({ reason }, 'the broker blocked publishing (resource alarm): waiting until it unblocks'));
  conn.on('unblocked', () => log.info('the broker unblocked publishing'));

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
    wakeUp();
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

  const send = (body: Buffer): Promise<void> | undefined => {
    if (closed || stop.aborted) throw stopped;
    options.messageId = idPrefix + stats.published;
    const ok = ch.publish(exchange, routingKey, body, options, onConfirm);
    stats.published++;
    inFlight++;
    if (inFlight >= window) return waitUntil('window');
    if (!ok) return waitUntil('drain');
    return undefined;
  };

  const onAbort = () => wakeUp();
  stop.addEventListener('abort', onAbort, { once: true });
  const ticker = startProgress(config, stats, progress, log, () => waitingFor);
  let readError: unknown;
  let complete = false;
  const startedAt = performance.now();
  try {
    await readItems(config.source, send, progress);
    complete = true;
  } catch (err) {
    if (err !== stopped) readError = err;
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

// A confirm channel with the queue in place: an existing queue is used as it is (whatever its
// arguments); a missing one is declared durable unless --no-declare. An --exchange must exist.
async function openChannel(conn: Connection, config: PublishConfig, log: Logger): Promise<ConfirmChannel> {
  const { queue, exchange } = config;
  let ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  if (exchange) {
    try {
      await ch.checkExchange(exchange);
    } catch (err) {
      const mapped = brokerError(err, config.url, 'exchange.declare (passive)');
      if (!/\b404\b|NOT_FOUND/.test(String((err as Error).message))) throw mapped;
      throw new QueueConfigError(`exchange "${exchange}" does not exist. Declare it first, or drop --exchange to publish straight to the queue.`, err);
    }
  }
  if (!queue) return ch;
  try {
    await ch.checkQueue(queue);
    return ch;
  } catch (err) {
    const notFound = /\b404\b|NOT_FOUND/.test(String((err as Error).message));
    if (!notFound) throw brokerError(err, config.url, 'queue.declare (passive)', queue);
    if (!config.declare) throw new QueueConfigError(`queue "${queue}" does not exist and --no-declare is set. Create it, drop --no-declare, or fix -q/QUEUE.`, err);
  }
  ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  try {
    await ch.assertQueue(queue, { durable: true, arguments: config.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {} });
  } catch (err) {
    throw brokerError(err, config.url, 'queue.declare', queue);
  }
  log.info({ queue, queueType: config.queueType }, `declared durable ${config.queueType} queue "${queue}"`);
  return ch;
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

// The one line that ends a run that did not publish everything. Refused (65) only when every
// unconfirmed message was nacked or returned; a lost connection (69) leaves each one's fate unknown.
function outcomeError(config: PublishConfig, r: PublishResult, closedBy: Error | undefined, readError: unknown): WqError | undefined {
  const target = config.exchange ? `exchange "${config.exchange}" (routing key "${config.routingKey}")` : `queue "${config.queue}"`;
  const ok = r.confirmed - r.returned;
  const notOk = r.published - ok;
  const rest = r.complete || r.signal ? '' : ' The rest of the input was not published.';
  if (readError !== undefined) {
    const text = readError instanceof Error ? readError.message : String(readError);
    return new UsageError(`reading the input failed (${oneLine(text)}) after ${ok} messages were published and confirmed to ${target}${notOk ? `; ${notOk} more were not confirmed` : ''}.`);
  }
  if (notOk === 0) {
    if (!r.complete && !r.signal) return new BrokerUnavailableError(`lost the connection (${oneLine(closedBy?.message ?? 'closed')}) after ${ok} messages were published and confirmed to ${target}.${rest}`, closedBy);
    if (closedBy && r.ready === undefined && config.queue && !r.signal) {
      return new BrokerUnavailableError(`all ${ok} messages were confirmed to ${target}, but the connection was lost before the queue's depth could be read (${oneLine(closedBy.message)}).`, closedBy);
    }
    return undefined;
  }
  const parts: string[] = [];
  if (r.nacked > 0) parts.push(`${r.nacked} refused by the broker (basic.nack: is the queue full, with x-max-length and overflow reject-publish?)`);
  if (r.returned > 0) parts.push(`${r.returned} unroutable (basic.return: no queue for ${target})`);
  if (r.lost > 0) {
    const why = r.signal ? `stopped by ${r.signal}` : `the connection was lost: ${oneLine(closedBy?.message ?? 'closed')}`;
    parts.push(`${r.lost} unconfirmed when ${why}; each may or may not be in the queue (its message id tells duplicates)`);
  }
  const refusedOnly = r.lost === 0;
  const redo = refusedOnly ? 'Those messages are not in the queue: publish them again once the cause is fixed.' : 'Publish again what must not be missing.';
  return new UnconfirmedError(`${notOk} of ${r.published} messages were not confirmed to ${target}: ${parts.join('; ')}. ${redo}${rest}`, notOk, refusedOnly, closedBy);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
