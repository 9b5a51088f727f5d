import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { DeadLetterTarget } from '../config/consume.js';
import { ATTEMPTS_HEADER, RETURNS_HEADER } from './message-env.js';
import { ensureWaitQueue } from './wait-queue.js';
import { publishConfirmed } from '../amqp/confirmed-copy.js';
import { fitHeaders, PROPERTIES_DROPPED, shortString, validTimestamp } from '../amqp/header-budget.js';

// The copies that replace a message: a retry copy at the back of the queue with the attempts recorded
// in a header (classic queues count nothing; a quorum queue's count starts again at 0 on the copy, so
// its delivery limit is never reached), or a copy in the dead-letter queue or exchange. The original is
// acked only after its copy is confirmed; if the copy fails, the caller hands the original back.

// The copy keeps the original's headers but the broker's own and the sender-selected distribution (CC,
// BCC: the broker would route the copy to those queues again); the largest are left out if the copy could
// not be encoded otherwise (header-budget.ts).
function copyOptions(msg: ConsumeMessage, headers: Record<string, unknown>): Options.Publish {
  const p = msg.properties;
  const { 'x-delivery-count': _dc, 'x-acquired-count': _ac, 'x-wq-publish-id': _id, 'x-death': _xd, 'x-first-death-exchange': _fe, 'x-first-death-queue': _fq, 'x-first-death-reason': _fr, 'x-last-death-exchange': _le, 'x-last-death-queue': _lq, 'x-last-death-reason': _lr, CC: _cc, BCC: _bcc, ...kept } = (p.headers ?? {}) as Record<string, unknown>;
  // A property that could not be encoded again (not UTF-8, see shortString) is left out and named.
  const strings = { contentType: p.contentType, contentEncoding: p.contentEncoding, correlationId: p.correlationId, replyTo: p.replyTo, messageId: p.messageId, type: p.type, appId: p.appId };
  const left = Object.entries(strings).filter(([, value]) => value !== undefined && shortString(value) === undefined).map(([name]) => name);
  for (const name of left) delete strings[name as keyof typeof strings];
  // A timestamp at the top of its 64 bits comes back rounded past them (header-budget.ts encodable()).
  const timestamp = p.timestamp === undefined || validTimestamp(p.timestamp) ? p.timestamp : (left.push('timestamp'), undefined);
  const own = left.length > 0 ? { ...headers, [PROPERTIES_DROPPED]: left.join(',') } : headers;
  return { ...strings, persistent: p.deliveryMode === 2 || p.deliveryMode === undefined, priority: p.priority, timestamp, headers: fitHeaders(kept, own) };
}

/** Put a retry copy at the back of the queue (or in its wait queue for --retry-delay) with the attempts (and returns, after one) recorded, then ack the original. */
export async function retryLater(ch: ConfirmChannel, queue: string, msg: ConsumeMessage, attempts: number, delaySeconds = 0, returns?: number): Promise<void> {
  const target = delaySeconds > 0 ? await ensureWaitQueue(ch, queue, Math.round(delaySeconds * 1000)) : queue;
  const own = returns === undefined ? { [ATTEMPTS_HEADER]: attempts } : { [ATTEMPTS_HEADER]: attempts, [RETURNS_HEADER]: returns };
  await publishConfirmed(ch, '', target, msg.content, copyOptions(msg, own));
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
