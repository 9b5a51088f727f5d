import { mapFailure } from '../amqp/broker.js';
import { BrokerUnavailableError, oneLine, type WqError } from '../errors.js';

// Why the channel or connection went away during a run, as one line that says what happened to the work.
// A cause retrying cannot fix (a permission, a deleted vhost, consumer_timeout) keeps its own code and
// sentence; anything else is a lost connection: the broker requeued what was in progress, exit 69.
export function lostError(err: Error | undefined, url: string): WqError {
  const text = oneLine(err?.message ?? 'connection closed');
  const mapped = mapFailure(err ?? new Error(text), { url, operation: 'connection' });
  if (!mapped.retryable || mapped.code !== 'BROKER_UNAVAILABLE' || /consumer_timeout/.test(mapped.message)) return mapped;
  return new BrokerUnavailableError(`lost the connection to the broker (${text}); any message in progress went back to the queue, and the Job will retry this pod.`, err);
}
