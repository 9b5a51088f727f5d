import type { ConsumeConfig } from '../config/consume.js';
import type { Logger } from '../log.js';

/** What a drain needs to know before it may end: can any message still come back to the queue? */
export interface QueueProbe {
  ready: number;
  /** Other consumers: each may hold unacked messages that can come back. */
  consumers: number;
  /** Failed messages waiting out --retry-delay in the wait queues. */
  retriesWaiting: number;
}

export interface DrainCheck {
  probe: () => Promise<QueueProbe>;
  /** False once the run is stopping: the check ends at once. */
  stillChecking: () => boolean;
  /** When the last retry copy this run sent is back in the queue (Date.now() ms). */
  ownRetriesDueMs: () => number;
  config: Pick<ConsumeConfig, 'queue' | 'drainPollSeconds' | 'idleSeconds'>;
  log: Logger;
}

/**
 * --until-empty, once the queue stayed quiet for --idle and our consumer is cancelled (so peers count one
 * consumer fewer): 'ready' as soon as a message is ready again (consume again), 'drained' once nothing can
 * come back (no ready message, no other consumer that may hand one back, no retry waiting; a retry copy
 * this run sent counts as waiting until its delay is over, whatever a wait queue's count says), or
 * 'stopped' when the run stops meanwhile. Polls every drainPollSeconds; `abort()` ends a poll's wait.
 */
export function checkDrained(c: DrainCheck): { result: Promise<'ready' | 'drained' | 'stopped'>; abort: () => void } {
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const abort = () => {
    clearTimeout(timer);
    wake?.();
  };
  const result = (async () => {
    let told = false;
    while (c.stillChecking()) {
      const p = await c.probe();
      if (!c.stillChecking()) return 'stopped';
      if (p.ready > 0) return 'ready';
      const retriesWaiting = Math.max(p.retriesWaiting, Date.now() < c.ownRetriesDueMs() ? 1 : 0);
      if (p.consumers === 0 && retriesWaiting === 0) return 'drained';
      if (!told) {
        told = true;
        c.log.info({ queue: c.config.queue, consumers: p.consumers, retriesWaiting }, `queue is empty here, but ${p.consumers} other consumers may still hand messages back and ${retriesWaiting} retries are waiting: checking every ${c.config.drainPollSeconds}s`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, c.config.drainPollSeconds * 1000);
      });
    }
    return 'stopped';
  })();
  return { result, abort };
}
