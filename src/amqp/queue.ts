import type { Channel } from 'amqplib';
import type { QueueType } from '../config/values.js';

/** The arguments a queue wq declares gets for its type (classic needs none). */
export function queueArguments(type: QueueType): Record<string, unknown> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

// Declare a durable queue of the given type: wq never creates transient queues.
export async function declareQueue(ch: Channel, queue: string, type: QueueType): Promise<void> {
  await ch.assertQueue(queue, { durable: true, arguments: queueArguments(type) });
}
