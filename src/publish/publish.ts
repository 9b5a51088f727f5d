import { UsageError } from '../errors.js';
import { openProgress, readItems } from './items.js';
import type { Logger } from '../log.js';
import type { PublishConfig } from '../config/publish.js';
import { PublishLink } from './link.js';
import { outcomeError, type PublishResult, type PublishStats } from './result.js';
import { startProgress } from './progress.js';
import { ConfirmWindow, STOPPED, messageId } from './window.js';

/*
 * The publishing contract (docs/publish.md):
 * - every message goes out persistent (unless --no-persistent) and mandatory, on a confirm channel;
 * - it counts as published only when the broker confirmed it (basic.ack) and did not return it
 *   (basic.return, which RabbitMQ sends before the ack of an unroutable message);
 * - a nacked or returned message is counted as refused; one still unconfirmed when the connection goes
 *   is published again after a reconnect (the next broker address first), with the same message id
 *   (RUNID-000042: --run-id and the item's position), so a duplicate can be told; only when no address
 *   answers within --connect-timeout is it counted as lost, and the error names the item to resume at;
 * - at most `window` messages are in flight; the reader waits for confirms and for socket drain, so a
 *   1,000,000-line file publishes in bounded memory.
 */

// Publish the configured items, then read the queue's depth. Never throws for unconfirmed messages:
// they are counted and reported in result.error, so the caller can still print the summary first.
// A lost connection is not the end: PublishLink reconnects (the next address first) and the window
// publishes again what was not confirmed, then the reading goes on.
export async function publish(config: PublishConfig, log: Logger, stop: AbortSignal): Promise<PublishResult> {
  const stats: PublishStats = { published: 0, confirmed: 0, nacked: 0, returned: 0, lost: 0, republished: 0, reconnects: 0 };
  const progress = openProgress(config.source);
  const w = new ConfirmWindow(config, stats, stop);
  const link = new PublishLink(config, log, stop, w, stats);
  // Stops the reading on a signal, or when publishing cannot go on, even while it waits for more input. A
  // signal during the handshake or the declare counts too: the reading then never starts.
  const stopReading = new AbortController();
  w.onGiveUp = () => stopReading.abort();
  const onAbort = () => {
    stopReading.abort();
    w.wakeUp();
  };
  stop.addEventListener('abort', onAbort, { once: true });
  try {
    await link.open();
  } catch (err) {
    stop.removeEventListener('abort', onAbort);
    throw err;
  }
  log.info({ runId: config.runId }, `message ids ${messageId(config.runId, config.skip + 1)} on: a rerun with --run-id ${config.runId} gives each item the same id`);

  const ticker = startProgress(config, stats, progress, log, () => w.waitingFor);
  const startedAt = performance.now();
  const read = await readAll(config, w, progress, stopReading.signal);
  await w.drain();
  await link.reconnecting; // a signal ends a reconnect by giving up: its unconfirmed messages are counted then
  ticker.stop();
  stop.removeEventListener('abort', onAbort);

  const result: PublishResult = { ...stats, durationMs: performance.now() - startedAt, complete: read.complete, runId: config.runId };
  result.lost += w.inFlight; // still in flight after a signal: never confirmed
  // A broker that no longer answers holds neither back for longer than --connect-timeout (after a signal,
  // 2 s: the pod's grace period); a signal meanwhile is the run's end as any other.
  if (config.queue && !w.closed) result.ready = await link.readyCount(config.queue);
  result.queueDeleted = link.queueGone;
  await link.close();
  if (stop.aborted) result.signal = String(stop.reason ?? 'SIGTERM');
  if (w.closed || result.lost > 0 || !read.complete || result.nacked + result.returned > 0) result.resumeAt = w.firstUnconfirmed();
  result.error = outcomeError(config, result, link.closedBy, read.error, link.address) ?? skippedAll(config, read.complete && !stop.aborted ? w.position : undefined, log);
  return result;
}

// --skip that leaves nothing to publish: past the end is another input than the run it resumes (64);
// exactly the end, a run that had published everything.
function skippedAll(config: PublishConfig, items: number | undefined, log: Logger): UsageError | undefined {
  if (config.skip === 0 || items === undefined || items > config.skip) return undefined;
  if (items === config.skip) {
    log.warn({ skip: config.skip, items }, `--skip ${config.skip} skipped every item of the input: nothing was published`);
    return undefined;
  }
  return new UsageError(`--skip ${config.skip} is past the end of the input, which has ${items === 1 ? 'one item' : `${items} items`}: nothing was published. --skip resumes the same input as the run whose last line gave it.`);
}

async function readAll(config: PublishConfig, w: ConfirmWindow, progress: ReturnType<typeof openProgress>, signal: AbortSignal): Promise<{ complete: boolean; error?: unknown }> {
  try {
    await readItems(config.source, w.send, progress, signal, w);
    return { complete: true };
  } catch (err) {
    return { complete: false, error: err !== STOPPED && !signal.aborted ? err : undefined };
  }
}
