import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { DeadLetterTarget } from '../config/consume.js';
import { ATTEMPTS_HEADER } from './message-env.js';
import { publishConfirmed } from '../amqp/confirmed-copy.js';

// Poison-message handling for --max-attempts. A failed message is never acked before its copy is
// confirmed: either a retry copy back on the queue with the attempts recorded in a header (this works
// on classic queues, which count nothing, and on quorum queues alike), or, after the last attempt,
// a copy in the dead-letter queue. If the copy cannot be published the original is handed back.

function copyOptions(msg: ConsumeMessage, headers: Record<string, unknown>): Options.Publish {
  const p = msg.properties;
  const { 'x-delivery-count': _dc, 'x-wq-publish-id': _id, ...kept } = (p.headers ?? {}) as Record<string, unknown>;
  return {
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    persistent: p.deliveryMode === 2 || p.deliveryMode === undefined,
    priority: p.priority,
    correlationId: p.correlationId,
    replyTo: p.replyTo,
    messageId: p.messageId,
    timestamp: p.timestamp,
    type: p.type,
    appId: p.appId,
    headers: { ...kept, ...headers },
  };
}

/** Put a retry copy at the back of the queue with the attempts recorded, then ack the original. */
export async function retryLater(ch: ConfirmChannel, queue: string, msg: ConsumeMessage, attempts: number): Promise<void> {
  await publishConfirmed(ch, '', queue, msg.content, copyOptions(msg, { [ATTEMPTS_HEADER]: attempts }));
  ch.ack(msg);
}

/** Move the message to the dead-letter queue or exchange with why it got there, then ack the original. */
export async function deadLetter(ch: ConfirmChannel, target: DeadLetterTarget, queue: string, msg: ConsumeMessage, attempts: number, reason: string): Promise<void> {
  const headers = { [ATTEMPTS_HEADER]: attempts, 'x-wq-dead-letter-reason': reason, 'x-wq-original-queue': queue };
  const [exchange, routingKey] = target.kind === 'queue' ? ['', target.queue] : [target.exchange, msg.fields.routingKey];
  await publishConfirmed(ch, exchange, routingKey, msg.content, copyOptions(msg, headers));
  ch.ack(msg);
}

/** For log lines: where dead letters go. */
export function describeTarget(target: DeadLetterTarget): string {
  return target.kind === 'queue' ? `queue ${target.queue}` : `exchange ${target.exchange}`;
}
