import type { Channel } from 'amqplib';
import type { QueueType } from '../config/values.js';
import { QUEUE_UNAVAILABLE } from './reply-codes.js';

/** The arguments a queue wq declares gets for its type (classic needs none). */
export function queueArguments(type: QueueType): Record<string, unknown> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

// Declare a durable queue of the given type: wq never creates transient queues.
export async function declareQueue(ch: Channel, queue: string, type: QueueType): Promise<void> {
  await ch.assertQueue(queue, { durable: true, arguments: queueArguments(type) });
}

/** What opens a channel: a connection. */
interface ChannelSource {
  createChannel(): Promise<Channel>;
}

// The type of an existing queue, which AMQP does not report. A declare naming x-queue-type quorum is
// accepted only by a durable quorum queue whose other arguments it does not contradict; a queue of
// another type refuses it naming x-queue-type. undefined: it cannot tell (other arguments differ). The
// queue is checked first, so this never creates it (only a delete in the instant between could).
// Throws what checkQueue throws for a missing queue.
export async function existingQueueType(conn: ChannelSource, queue: string): Promise<QueueType | undefined> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  await ch.checkQueue(queue);
  try {
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.close().catch(() => undefined);
    return 'quorum';
  } catch (err) {
    return /inequivalent arg 'x-queue-type'/.test(String((err as Error)?.message)) ? 'classic' : undefined;
  }
}

/**
 * The broker said the queue does not exist: a 404, but not one for a queue whose node is down
 * (unavailable). The reply code decides when the error has one; only without one, the broker's words
 * (never a bare "404", which a queue's name in the text can hold).
 */
export function queueMissing(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  const text = String((err as Error)?.message);
  if (QUEUE_UNAVAILABLE.test(text)) return false;
  return typeof code === 'number' ? code === 404 : /NOT_FOUND - no queue/.test(text);
}

// Whether a queue exists (a passive declare on a channel of its own: a missing queue closes it). One on a
// node that is down is not missing: that 404 is thrown, as the broker being unavailable.
export async function queueExists(conn: ChannelSource, queue: string): Promise<boolean> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.checkQueue(queue);
    await ch.close().catch(() => undefined);
    return true;
  } catch (err) {
    if (queueMissing(err)) return false;
    throw err;
  }
}
