import { brokerVersion, closeQuietly, connect, defaultMaxMessageSize } from '../amqp/broker.js';
import { batchSocketWrites } from '../amqp/batch-writes.js';
import { openProgress, readItems } from './items.js';
import type { Logger } from '../log.js';
import type { PublishConfig } from '../config/publish.js';
import { openChannel } from './channel.js';
import { outcomeError, type PublishResult, type PublishStats } from './result.js';
import { startProgress } from './progress.js';
import { ConfirmWindow, STOPPED } from './window.js';

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
  let closedBy: Error | undefined;
  let window: ConfirmWindow | undefined;
  // Stops the reading on a signal or a lost connection, even while it waits for more input.
  const stopReading = new AbortController();
  const onClosed = (err?: Error) => {
    closedBy ??= err;
    if (window) window.closed = true;
    stopReading.abort();
    window?.wakeUp();
  };
  conn.on('error', () => {}); // 'close' carries the same error
  conn.on('close', onClosed);
  conn.on('blocked', (reason: string) => log.warn({ reason }, 'the broker blocked publishing (resource alarm): waiting until it unblocks'));
  conn.on('unblocked', () => log.info('the broker unblocked publishing'));
  batchSocketWrites(conn);
  const ch = await openChannel(conn, config, log).catch(async (err: unknown) => {
    await closeQuietly(conn);
    throw err;
  });
  ch.on('error', (err: Error) => (closedBy ??= err));
  ch.on('close', () => onClosed());
  const version = brokerVersion(conn);
  const limit = defaultMaxMessageSize(version);
  window = new ConfirmWindow(ch, config, stats, stop, limit && version ? { bytes: limit, version } : undefined);
  const onAbort = () => {
    stopReading.abort();
    window?.wakeUp();
  };
  stop.addEventListener('abort', onAbort, { once: true });

  const w = window;
  const ticker = startProgress(config, stats, progress, log, () => w.waitingFor);
  const startedAt = performance.now();
  const read = await readAll(config, w, progress, stopReading.signal);
  await w.drain();
  ticker.stop();
  stop.removeEventListener('abort', onAbort);

  const result: PublishResult = { ...stats, durationMs: performance.now() - startedAt, complete: read.complete };
  result.lost += w.inFlight; // still in flight after a signal or a lost connection: never confirmed
  if (stop.aborted) result.signal = String(stop.reason ?? 'SIGTERM');
  if (!w.closed && config.queue) {
    try {
      result.ready = (await ch.checkQueue(config.queue)).messageCount;
    } catch (err) {
      closedBy ??= err as Error;
    }
  }
  if (!w.closed) await ch.close().catch(() => undefined);
  await closeQuietly(conn);
  result.error = outcomeError(config, result, closedBy, read.error);
  return result;
}

async function readAll(config: PublishConfig, w: ConfirmWindow, progress: ReturnType<typeof openProgress>, signal: AbortSignal): Promise<{ complete: boolean; error?: unknown }> {
  try {
    await readItems(config.source, w.send, progress, signal);
    return { complete: true };
  } catch (err) {
    return { complete: false, error: err !== STOPPED && !signal.aborted ? err : undefined };
  }
}
