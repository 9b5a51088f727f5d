import { mapFailure } from '../amqp/broker.js';
import { queueMissing } from '../amqp/queue.js';
import { within } from '../amqp/within.js';
import { BrokerUnavailableError, QueueConfigError, oneLine, type WqError } from '../errors.js';

// Why the channel or connection went away during a run, as one line that says what happened to the work.
// A cause retrying cannot fix (a permission, a deleted vhost, consumer_timeout) keeps its own code and
// sentence; anything else is a lost connection: the broker requeued what was in progress, exit 69.
export function lostError(err: Error | undefined, url: string): WqError {
  const text = oneLine(err?.message ?? 'connection closed');
  const mapped = mapFailure(err ?? new Error(text), { url, operation: 'connection' });
  if (!mapped.retryable || mapped.code !== 'BROKER_UNAVAILABLE' || /consumer_timeout/.test(mapped.message)) return mapped;
  return new BrokerUnavailableError(`lost the connection to the broker (${text}); any message in progress went back to the queue, and the Job will retry this pod.`, err, { detail: mapped.detail ?? text });
}

/** The start of the line that says the connection went: a planned shutdown and a crash read differently. */
export function lostSentence(err: WqError): string {
  const detail = oneLine(err.detail ?? err.message);
  if (/CONNECTION_FORCED|shutdown|broker forced connection closure/i.test(detail)) {
    return `the broker closed the connection: it is shutting down (320 CONNECTION_FORCED: a planned stop, a rolling restart or an operator); what was in progress went back to the queue`;
  }
  if (/\b541 \(INTERNAL-ERROR\)|INTERNAL_ERROR/.test(detail)) {
    return `the broker closed the connection with an internal error (${detail}): a queue without a quorum of its nodes, or a node in trouble; what was in progress goes back to the queue`;
  }
  return `lost the connection to the broker (${detail}), a crash or a network failure; what was in progress went back to the queue`;
}

/** How long the queue's check after a basic.cancel may take: a queue whose node is down answers after about a minute. */
const CANCEL_CHECK_MS = 5000;

// The broker cancelled our consumer (basic.cancel): the queue was deleted, its node went down, or (4.3+)
// a quorum queue's delivery acknowledgement timeout expired. Either way it has put every message we held
// back. Which one, a passive declare says: only a plain 404 is a deleted queue.
export async function cancelledError(queue: string, probe: () => Promise<unknown>): Promise<WqError> {
  const answer = await within(
    probe().then(
      () => 'exists' as const,
      (err: Error) => err,
    ),
    CANCEL_CHECK_MS,
  );
  if (answer === 'exists') return consumerTimeoutError(queue);
  if (queueMissing(answer)) {
    return new QueueConfigError(`queue "${queue}" was deleted (the broker cancelled the consumer); any message in progress was stopped and went back with it. Re-create the queue and publish the work again.`);
  }
  const why = answer === undefined ? `no answer about it within ${CANCEL_CHECK_MS / 1000}s` : oneLine(answer.message);
  return new BrokerUnavailableError(`the broker cancelled the consumer of queue "${queue}", and the queue cannot be reached (${why}): its node is down or not answering; its messages wait there. The Job retries this pod.`);
}

function consumerTimeoutError(queue: string): WqError {
  return new BrokerUnavailableError(
    `the broker cancelled the consumer of queue "${queue}", which still exists: on RabbitMQ 4.3+ that is a quorum queue's delivery acknowledgement timeout (30 min by default); the message in progress went back to the queue. Raise consumer_timeout in rabbitmq.conf (or the queue's x-consumer-timeout), or split the work.`,
  );
}

/** The end-of-drain check failed: the queue was deleted meanwhile (78), or the broker could not answer (69). */
export function drainCheckError(queue: string, err: Error & { code?: unknown }): WqError {
  if (queueMissing(err)) return new QueueConfigError(`queue "${queue}" was deleted while wq-consume checked whether it is drained. Re-create the queue and publish the work again.`, err);
  return new BrokerUnavailableError(`could not check whether queue "${queue}" is drained: ${oneLine(err.message)}`, err);
}
