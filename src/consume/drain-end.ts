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
  config: Pick<ConsumeConfig, 'queue' | 'drainPollSeconds' | 'idleSeconds' | 'timeoutSeconds' | 'graceSeconds' | 'prefetch' | 'concurrency'>;
  log: Logger;
}

/**
 * --until-empty, once the queue stayed quiet for --idle and our consumer is cancelled (so peers count one
 * consumer fewer): 'ready' as soon as a message is ready again (consume again), 'drained' once nothing can
 * come back (no ready message, no other consumer that may hand one back, no retry waiting; a retry copy
 * this run sent counts as waiting until its delay is over, whatever a wait queue's count says), or
 * 'stopped' when the run stops meanwhile. Polls every drainPollSeconds; `abort()` ends a poll's wait.
 *
 * On a cluster, a quorum queue goes on counting the consumers of a node that is gone until that node
 * returns (as consumers that are not active), and nothing over AMQP tells them from live ones. With
 * --timeout, a live peer run with the same options (the pods of one Job) can hold messages no longer
 * than peerBoundMs(): then it hands one back (a ready message: consume again) or, drained, cancels its
 * consumer (the count drops). A count that stays the same past that bound, with nothing ready and no
 * retry waiting, is consumers on a lost node: the drain ends, and says so. Without --timeout no bound is
 * sound: the drain waits for them, as long as they are counted, and says how to bound it.
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
    let since = Date.now();
    let lastConsumers = -1;
    const bound = peerBoundMs(c.config);
    while (c.stillChecking()) {
      const p = await c.probe();
      if (!c.stillChecking()) return 'stopped';
      if (p.ready > 0) return 'ready';
      const retriesWaiting = Math.max(p.retriesWaiting, Date.now() < c.ownRetriesDueMs() ? 1 : 0);
      if (p.consumers === 0 && retriesWaiting === 0) return 'drained';
      if (p.consumers !== lastConsumers || retriesWaiting > 0) {
        lastConsumers = p.consumers;
        since = Date.now();
      } else if (Date.now() - since > bound) {
        c.log.warn({ queue: c.config.queue, consumers: p.consumers, waitedSeconds: Math.round((Date.now() - since) / 1000) }, `the broker still counts ${p.consumers} other consumers, but none has handed a message back or ended within ${Math.round(bound / 1000)}s, longer than a live peer with --timeout ${c.config.timeoutSeconds} can hold one: consumers on a cluster node that is gone. Drain finished`);
        return 'drained';
      }
      if (!told) {
        told = true;
        const how = Number.isFinite(bound) ? `; consumers still counted after ${Math.round(bound / 1000)}s without a change are taken for a lost node's` : '; set --timeout so that consumers on a lost cluster node cannot hold the drain';
        const others = `${p.consumers} other ${p.consumers === 1 ? 'consumer' : 'consumers'} may still hand messages back`;
        const retries = `${retriesWaiting} ${retriesWaiting === 1 ? 'retry is' : 'retries are'} waiting`;
        c.log.info({ queue: c.config.queue, consumers: p.consumers, retriesWaiting }, `queue is empty here, but ${others} and ${retries}: checking every ${c.config.drainPollSeconds}s${how}`);
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

/**
 * The longest a live peer with these options can go without a visible change (a message handed back, or
 * its consumer cancelled): its messages in hand run --concurrency at a time, each within --timeout +
 * --grace, then it stays quiet for --idle; two polls more for the reading. Infinity without --timeout.
 */
export function peerBoundMs(c: Pick<ConsumeConfig, 'timeoutSeconds' | 'graceSeconds' | 'prefetch' | 'concurrency' | 'idleSeconds' | 'drainPollSeconds'>): number {
  if (c.timeoutSeconds <= 0) return Infinity;
  const rounds = Math.ceil(c.prefetch / c.concurrency);
  return (rounds * (c.timeoutSeconds + c.graceSeconds) + c.idleSeconds + 2 * c.drainPollSeconds) * 1000;
}
