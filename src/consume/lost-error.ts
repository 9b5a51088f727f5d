import { brokerError } from '../amqp/broker.js';
import { AccessRefusedError, BrokerUnavailableError, oneLine, type WqError } from '../errors.js';

// Why the channel or connection went away during a run, as one line that says what happened to the work.
export function lostError(err: Error | undefined, url: string): WqError {
  const text = oneLine(err?.message ?? 'connection closed');
  if (/acknowledgement.*timed out/i.test(text)) {
    return new BrokerUnavailableError(
      'the broker closed the channel because the command ran past its delivery acknowledgement timeout (consumer_timeout, 30 min by default); the message went back to the queue. Raise consumer_timeout in rabbitmq.conf (or x-consumer-timeout on RabbitMQ 3.12+), or split the work.',
      err,
    );
  }
  const mapped = brokerError(err ?? new Error(text), url, 'connection');
  if (mapped instanceof AccessRefusedError) return mapped;
  return new BrokerUnavailableError(`lost the connection to the broker (${text}); any message in progress went back to the queue, and the Job will retry this pod.`, err);
}
