import type { ConsumeMessage } from 'amqplib';
import type { ConsumeConfig } from '../config/consume.js';
import type { Logger } from '../log.js';
import { outcomeFields, outcomeText, TRANSIENT_START_ERRORS, type Outcome } from '../process/outcome.js';
import type { ResultSent } from './results.js';
import type { Settled } from './settle.js';
import type { Slot } from './slots.js';
import type { Admission, Verdict } from './verdict.js';
import { retryDelaySeconds } from './retry-delay.js';

// The log line that says what became of one message: the command's outcome, then its message's fate.

// `consumerCancelled`: the broker cancelled the consumer (basic.cancel), the channel still open.
export function logSettled(log: Logger, config: ConsumeConfig, slot: Slot, outcome: Outcome, decision: Verdict, settled: Settled, result?: ResultSent, consumerCancelled = false): void {
  const { msg } = slot;
  const sent = result?.bytes !== undefined ? { resultQueue: result.target.queue, resultBytes: result.bytes } : {};
  const fields = { queue: config.queue, deliveryTag: msg.fields.deliveryTag, messageId: msg.properties.messageId, redelivered: msg.fields.redelivered, attempt: slot.attempt, ...outcomeFields(outcome), ...sent };
  const what = `${outcomeText(outcome)}${result?.bytes !== undefined ? `, its result (${result.bytes} bytes) published to "${result.target.queue}"` : ''}${result?.note ? `, but ${result.note}` : ''}`;
  if (settled === 'acked') (result?.note ? log.warn(fields, `${what}: acked`) : log.info(fields, `${what}: acked`));
  else if (settled === 'stale' && consumerCancelled) log.warn(fields, `${what}; the broker cancelled the consumer (its queue was deleted, or, on RabbitMQ 4.3+, a quorum queue's delivery timeout expired) and took this message back with it: back in the queue, or deleted with it; not acking on a cancelled delivery`);
  else if (settled === 'stale') log.warn(fields, `${what}; the channel is gone, so this message goes back to the queue when the broker notices (at the latest once that channel's node is back, if it went down); not acking on a stale delivery tag`);
  else if (settled === 'handed-back') log.warn(fields, `${what}: message handed back to the queue`);
  else if (settled === 'refreshed') log.warn(fields, `${what}: message handed back (a fresh copy, no attempt spent); ${result?.unsent ? 'the run ends, so that it does not come straight back' : shortOf(outcome)}`);
  else if (settled === 'dead-lettered') log.warn({ ...fields, reason: decision.action === 'dead-letter' ? decision.reason : undefined }, `${what} on attempt ${slot.attempt}: moved to the dead-letter ${config.deadLetter.kind}`);
  else log.warn(fields, `${what} on attempt ${slot.attempt}${config.maxAttempts ? ` of ${config.maxAttempts}` : ''}: queued for another attempt${delayText(config, slot.attempt)}`);
}

export function logReplaced(log: Logger, config: ConsumeConfig, msg: ConsumeMessage, admit: Exclude<Admission, { action: 'run' }>, settled: Settled): void {
  const fields = { queue: config.queue, deliveryTag: msg.fields.deliveryTag, messageId: msg.properties.messageId, attempts: admit.attempts, brokerCount: msg.properties.headers?.['x-delivery-count'] };
  if (settled === 'refreshed') log.info(fields, 'the broker had counted this message as returned: replaced it with a fresh copy, so no delivery limit can drop it');
  else if (settled === 'dead-lettered') log.warn(fields, `message came back without a result after ${admit.attempts} attempts: moved to the dead-letter ${config.deadLetter.kind}`);
  else if (settled === 'kept') log.warn(fields, `the broker had counted this message as returned, and refused the fresh copy that would reset that count (is queue "${config.queue}" at its length limit?): running it as it is`);
}

function delayText(config: ConsumeConfig, attempts: number): string {
  const s = retryDelaySeconds(config, attempts);
  return s > 0 ? ` in ${s}s` : '';
}

// What a refresh asks the reader to check: the pod's disk or its limits.
function shortOf(outcome: Outcome): string {
  const code = outcome.kind === 'start-failed' ? outcome.error.code : '';
  if (code === 'ENOSPC') return 'is TMPDIR (the pod\'s disk, an emptyDir) full?';
  if (code === 'ETXTBSY') return 'is the command\'s file being written (a deploy in progress)?';
  if (TRANSIENT_START_ERRORS.includes(code) || code === '') return 'is the pod at its process or file limit?';
  return 'the next run tries again';
}
