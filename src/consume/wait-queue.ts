import { createRequire } from 'node:module';
import type { ConfirmChannel } from 'amqplib';

/*
 * --retry-delay: a failed message waits in a wait queue, one per delay, whose messages all have the
 * same TTL (so expiry at the head is expiry in order) and expire back into the work queue through the
 * default exchange. The wait queue is a quorum queue with at-least-once dead-lettering (RabbitMQ 3.10+),
 * so a message is never dropped on its way back, even if the broker restarts; it expires (x-expires) a
 * day after its last use, long after its last message went back.
 */

const MAX_NAME = 255;

/** The wait queue for `queue` and a delay: "<queue>.retry-30s" (shortened with a hash past 255 bytes). */
export function waitQueueName(queue: string, delayMs: number): string {
  const suffix = `.retry-${delayMs % 1000 === 0 ? `${delayMs / 1000}s` : `${delayMs}ms`}`;
  const name = `${queue}${suffix}`;
  if (Buffer.byteLength(name) <= MAX_NAME) return name;
  // node:crypto only here, where it is needed: loading it costs every start a few ms (bench/README.md).
  const hash = (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).createHash('sha1').update(queue).digest('hex').slice(0, 12);
  return `${Buffer.from(queue).subarray(0, MAX_NAME - suffix.length - 14).toString('utf8').replace(/\uFFFD+$/, '')}-${hash}${suffix}`;
}

export function waitQueueArguments(queue: string, delayMs: number): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-message-ttl': delayMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': queue,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
    'x-expires': delayMs + 24 * 3600 * 1000,
  };
}

/**
 * Declare the wait queue before every copy it takes; returns its name. Every time, not once per channel:
 * only a declare (or a consumer, or basic.get) restarts the x-expires clock, never a publish, so a queue
 * declared once by a run that lasts a day would expire with retry copies in it whose originals were acked.
 * Declared just before the copy, it cannot expire before the copy has gone back (its TTL is the delay).
 */
export async function ensureWaitQueue(ch: ConfirmChannel, queue: string, delayMs: number): Promise<string> {
  const name = waitQueueName(queue, delayMs);
  await ch.assertQueue(name, { durable: true, arguments: waitQueueArguments(queue, delayMs) });
  return name;
}

/** Every delay a run can use: --retry-delay doubled up to --retry-delay-max, in milliseconds. */
export function retryDelaysMs(baseSeconds: number, maxSeconds: number): number[] {
  if (baseSeconds <= 0) return [];
  const out: number[] = [];
  for (let d = baseSeconds; ; d *= 2) {
    const capped = maxSeconds > baseSeconds ? Math.min(d, maxSeconds) : baseSeconds;
    out.push(Math.round(capped * 1000));
    if (capped >= maxSeconds || maxSeconds <= baseSeconds) break;
  }
  return [...new Set(out)];
}
