import { AccessRefusedError, BrokerUnavailableError, QueueConfigError, WqError, type WqErrorOptions } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { accessRefused } from './access-refused.js';
import type { Failure } from './failure.js';

// The broker's connection.close and channel.close reply codes (AMQP 0-9-1, section 1.2), and the
// open handshake the broker ends by closing: each to a typed error that says whether to retry.

/** The reply code on an amqplib error: its `code` field, or the "NNN (NAME)" in its text. */
export function replyCode(raw: unknown, detail: string): number | undefined {
  const code = (raw as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number') return code;
  const m = /\b([2-5]\d\d) \([A-Z-]+\)/.exec(detail);
  return m ? Number(m[1]) : undefined;
}

export function replyCodeFailure(f: Failure): WqError | undefined {
  const opts: WqErrorOptions = { cause: f.raw, detail: f.detail };
  // RabbitMQ refuses a missing vhost (or one the user may not use) by closing the connection instead of
  // answering connection.open; amqplib reports the frame without its reply code.
  const closedInOpen = /Expected ConnectionOpenOk; got <ConnectionClose/.test(f.detail);
  const code = closedInOpen ? 530 : replyCode(f.raw, f.detail);
  if (code === undefined) return undefined;
  const at = `${f.operation}: the broker at ${f.safeUrl}`;
  switch (code) {
    case 311:
      return new WqError('MESSAGE_TOO_LARGE', `${at} refused a message as too large (311 CONTENT_TOO_LARGE). Make it smaller.`, EXIT.REFUSED, opts);
    case 320:
      return new BrokerUnavailableError(`${at} closed the connection (320 CONNECTION_FORCED: it is shutting down, or an operator closed the connection). The Job retries this pod.`, f.raw, opts);
    case 402:
    case 530:
      if (f.operation === 'connect' || closedInOpen || /vhost/i.test(f.detail)) return vhostRefused(f, opts);
      return new AccessRefusedError(`${at} does not allow ${f.operation} for user "${f.user}" (${code} NOT_ALLOWED). Check the user's permissions in vhost "${f.vhost}".`, f.raw, opts);
    case 403:
      return accessRefused(f, opts);
    case 404:
      return notFound(f, opts);
    case 405:
      return new QueueConfigError(`${f.operation}: queue "${f.queue ?? ''}" is exclusive to another connection (405 RESOURCE_LOCKED). Use another queue, or declare it without exclusive.`, f.raw, opts);
    case 406:
      return preconditionFailed(f, opts);
    case 506:
      return new BrokerUnavailableError(`${at} ran out of a resource (506 RESOURCE_ERROR, e.g. too many channels or memory). The Job retries this pod.`, f.raw, opts);
    case 541:
      return new BrokerUnavailableError(`${at} hit an internal error (541 INTERNAL_ERROR, e.g. a queue whose leader is unavailable). The Job retries this pod.`, f.raw, opts);
    case 501:
    case 502:
    case 503:
    case 504:
    case 505:
    case 540:
      return new WqError('PROTOCOL', `${at} closed the connection for a protocol error (${code}): this is a bug in wq or amqplib. Please report it with the log line.`, EXIT.INTERNAL, { ...opts, retryable: false });
    default:
      return undefined;
  }
}

function vhostRefused(f: Failure, opts: WqErrorOptions): WqError {
  return new AccessRefusedError(
    `${f.operation}: the broker at ${f.safeUrl} refused vhost "${f.vhost}": the vhost does not exist, or user "${f.user}" may not use it. Check the vhost (the URL's path; "/" is %2F) and the user's permissions (rabbitmqctl list_permissions -p VHOST).`,
    f.raw,
    opts,
  );
}

/**
 * A queue that exists on a node that is down or not answering: RabbitMQ answers 404 for it too (4.x after
 * a timeout, 3.x at once). Its messages are safe there; it is back with its node.
 */
export const QUEUE_UNAVAILABLE = /failed to perform operation on queue '[^']*'.* due to timeout|home node '[^']*' of durable queue '[^']*'.* is down or inaccessible|queue '[^']*'.* (?:has crashed and failed to restart|process is stopped by supervisor)/;

function notFound(f: Failure, opts: WqErrorOptions): WqError {
  if (QUEUE_UNAVAILABLE.test(f.detail)) {
    const queue = /queue '([^']*)'/.exec(f.detail)?.[1] ?? f.queue ?? '';
    return new BrokerUnavailableError(`${f.operation}: queue "${queue}" is on a RabbitMQ node that is down or not answering (404 NOT_FOUND); its messages wait there. The Job retries this pod; the queue is back with its node.`, f.raw, opts);
  }
  const exchange = /no exchange '([^']*)'/.exec(f.detail)?.[1];
  if (exchange !== undefined) {
    return new QueueConfigError(`${f.operation}: exchange "${exchange}" does not exist on ${f.safeUrl}. Declare it first, or fix the exchange name.`, f.raw, opts);
  }
  const queue = /no queue '([^']*)'/.exec(f.detail)?.[1] ?? f.queue;
  if (queue !== undefined) {
    return new QueueConfigError(`${f.operation}: queue "${queue}" does not exist on ${f.safeUrl}. Create it (wq-publish declares it, or pass --declare) or fix -q/QUEUE.`, f.raw, opts);
  }
  return new QueueConfigError(`${f.operation}: the broker at ${f.safeUrl} found no such queue or exchange (404 NOT_FOUND). Check the names.`, f.raw, opts);
}

function preconditionFailed(f: Failure, opts: WqErrorOptions): WqError {
  if (/acknowledgement.*timed out/i.test(f.detail)) {
    return new BrokerUnavailableError(
      'the broker closed the channel because the command ran past its delivery acknowledgement timeout (consumer_timeout, 30 min by default); the message went back to the queue. Raise consumer_timeout in rabbitmq.conf (or x-consumer-timeout on RabbitMQ 3.12+), or split the work.',
      f.raw,
      opts,
    );
  }
  if (/larger than configured max size/.test(f.detail)) {
    return new WqError('MESSAGE_TOO_LARGE', `${f.operation}: the broker at ${f.safeUrl} refused a message larger than its max_message_size (406). Make it smaller, or raise max_message_size in rabbitmq.conf.`, EXIT.REFUSED, opts);
  }
  if (/unknown delivery tag/.test(f.detail)) {
    return new WqError('PROTOCOL', `${f.operation}: the broker did not know the delivery tag (406): this is a bug in wq. Please report it with the log line.`, EXIT.INTERNAL, { ...opts, retryable: false });
  }
  const arg = /inequivalent arg '([^']*)' for (queue|exchange) '([^']*)' in vhost '[^']*': received (.*) but current is (.*?)"?$/.exec(f.detail);
  const which = arg ? `: ${arg[1]} is ${arg[5]} there, asked for ${arg[4]}` : '';
  // The queue named by the operation, or by the broker (a declare of wq's own: a retry wait queue).
  const [kind, name] = f.queue !== undefined ? ['queue', f.queue] : arg ? [arg[2], arg[3]] : [];
  if (name !== undefined) {
    return new QueueConfigError(`${f.operation}: ${kind} "${name}" exists with other arguments (406 PRECONDITION_FAILED${which}). Use its existing settings or delete it first.`, f.raw, opts);
  }
  return new QueueConfigError(`${f.operation}: the broker at ${f.safeUrl} refused it (406 PRECONDITION_FAILED; the detail says why). Check the queue's or exchange's settings.`, f.raw, opts);
}
