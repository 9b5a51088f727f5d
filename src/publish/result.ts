import { mapFailure } from '../amqp/failures.js';
import { BrokerUnavailableError, QueueConfigError, TooLargeError, UnconfirmedError, UsageError, WqError, oneLine } from '../errors.js';
import type { PublishConfig } from '../config/publish.js';
import { signalExitCode } from '../exit-codes.js';

/** The publisher's counters, read by the progress display on a timer (never per message). */
export interface PublishStats {
  published: number;
  /** basic.ack received; includes returned messages, which RabbitMQ acks after returning them. */
  confirmed: number;
  nacked: number;
  returned: number;
  /** Still unconfirmed when publishing stopped for good (no address answered, a signal, a refusal of the channel). */
  lost: number;
  /** Sent again after a lost connection: each may be in the queue twice (with the same message id). */
  republished: number;
  /** Connections made again after one was lost. */
  reconnects: number;
}

export interface PublishResult extends PublishStats {
  /** Ready messages in the queue after publishing (undefined without a queue, or after a lost connection). */
  ready?: number;
  /** The error that ended the run, if any (carries its exit code). */
  error?: WqError;
  /** The signal that stopped the run, if any. */
  signal?: string;
  /** From the first message read to the last confirm. */
  durationMs: number;
  /** The whole input was read (false when a signal or a lost connection stopped the reading). */
  complete: boolean;
  /** The run's id: message ids are RUNID-000042. */
  runId: string;
  /** When not everything was confirmed: the first item's position (from 1) that was not. */
  resumeAt?: number;
  /** The queue was deleted while publishing (the depth read after it found none). */
  queueDeleted?: boolean;
}

// The one line that ends a run that did not publish everything. Refused (65) only when every
// unconfirmed message was nacked or returned; a lost connection (69) leaves each one's fate unknown.
export function outcomeError(config: PublishConfig, r: PublishResult, closedBy: Error | undefined, readError: unknown, url = config.url): WqError | undefined {
  const target = config.exchange ? `exchange "${config.exchange}" (routing key "${config.routingKey}")` : `queue "${config.queue}"`;
  const ok = r.confirmed - r.returned;
  const notOk = r.published - ok;
  const rest = r.complete || r.signal ? '' : ' The rest of the input was not published.';
  if (readError instanceof TooLargeError) {
    // Resuming at the item itself would meet it again: past it, when nothing before it is missing.
    const p = readError.position;
    const hint = p !== undefined && r.resumeAt === p ? ` To go on without it, run again with the same input and --run-id ${r.runId} --skip ${p}: the items after it are published, with the same message ids; publish item ${p}, split into smaller items, in a run of its own.` : `${resumeHint(r)}${p !== undefined ? ` Item ${p} is refused again there: split it first.` : ''}`;
    return new TooLargeError(`${readError.message} ${messages(ok)} before it ${were(ok)} published and confirmed to ${target}${notOk ? `; ${notOk} more were not confirmed` : ''}; the rest of the input was not published.${hint}`, undefined, p);
  }
  const tooBig = /message size (\d+) is larger than configured max size (\d+)/.exec(closedBy?.message ?? '');
  if (tooBig) {
    return new TooLargeError(
      `the broker refused a message of ${tooBig[1]} bytes: its max_message_size is ${tooBig[2]} (set lower than the default, so wq-publish could not check it before sending). ${messages(ok)} ${were(ok)} published and confirmed to ${target}${notOk ? `; ${notOk} were not confirmed (each may or may not be in the queue)` : ''}; the rest of the input was not published.`,
      closedBy,
    );
  }
  const confirmedPart = `${ok} of ${messages(r.published)} ${were(r.published)} published and confirmed to ${target}`;
  if (readError instanceof WqError) return withCounts(readError, `${confirmedPart}.${rest}${resumeHint(r)}`);
  if (readError !== undefined) {
    const text = readError instanceof Error ? readError.message : String(readError);
    return new UsageError(`reading the input failed (${oneLine(text)}) after ${messages(ok)} ${were(ok)} published and confirmed to ${target}${notOk ? `; ${notOk} more were not confirmed` : ''}.${rest}${resumeHint(r)}`);
  }
  // A channel the broker closed for a reason retrying cannot fix (a missing permission, a message too
  // large): its own code and sentence, not "the connection was lost".
  // The queue was there when publishing began (declared, or checked): it was deleted meanwhile, and what
  // was confirmed to it went with it. No --skip can resume that: the whole input must go again.
  // Through an exchange too, when -q names the queue whose depth was read.
  const deleted = (!config.exchange || config.queue !== '') && r.published > 0 && (r.queueDeleted || /NOT.FOUND - no queue/.test(closedBy?.message ?? ''));
  if (deleted) {
    const lost = notOk > 0 ? `, and ${notOk} more were not published` : '';
    return new QueueConfigError(
      `queue "${config.queue}" was deleted while wq-publish published to it (404 NOT_FOUND): ${ok === 1 ? 'the message' : `the ${ok} messages`} confirmed to it went with it${lost}. Publish the whole input again (a rerun declares the queue), with --run-id ${r.runId} to keep the same message ids.`,
      closedBy,
    );
  }
  const cause = closedBy && mapFailure(closedBy, { url, operation: 'basic.publish', queue: config.queue || undefined, exchange: config.exchange || undefined });
  if (cause && !cause.retryable && !r.signal) {
    const unsure = notOk > 0 ? `; ${notOk} were not confirmed` : '';
    return withCounts(cause, `${confirmedPart}${unsure}.${rest}${resumeHint(r)}`);
  }
  if (notOk === 0) {
    if (!r.complete && !r.signal) return new BrokerUnavailableError(`lost the connection (${oneLine(closedBy?.message ?? 'closed')}) after ${messages(ok)} ${were(ok)} published and confirmed to ${target}.${rest}${resumeHint(r)}`, closedBy);
    if (closedBy && r.ready === undefined && config.queue && !r.signal) {
      return new BrokerUnavailableError(`${ok === 1 ? 'the message' : `all ${ok} messages`} ${were(ok)} confirmed to ${target}, but the connection was lost before the queue's depth could be read (${oneLine(closedBy.message)}).`, closedBy);
    }
    return undefined;
  }
  const parts: string[] = [];
  if (r.nacked > 0) parts.push(`${r.nacked} refused by the broker (basic.nack: is the queue full, with x-max-length and overflow reject-publish, or its node down, or a quorum queue without its majority?)`);
  if (r.returned > 0) parts.push(`${r.returned} unroutable (basic.return: no queue for ${target})`);
  if (r.lost > 0) {
    const why = r.signal ? `stopped by ${r.signal}` : `the connection was lost: ${oneLine(closedBy?.message ?? 'closed')}`;
    parts.push(`${r.lost} unconfirmed when ${why}; each may or may not be in the queue (its message id tells duplicates)`);
  }
  const refusedOnly = r.lost === 0;
  const redo = refusedOnly ? ' Those messages are not in the queue: publish them again once the cause is fixed.' : r.resumeAt === undefined ? ' Publish again what must not be missing.' : '';
  // Stopped by a signal with messages unconfirmed: the signal's code (130, 143), as any stop; refused ones keep 65.
  const exitCode = r.signal && !refusedOnly ? signalExitCode(r.signal) : undefined;
  return new UnconfirmedError(`${notOk} of ${messages(r.published)} ${were(r.published)} not confirmed to ${target}: ${parts.join('; ')}.${redo}${rest}${resumeHint(r)}`, notOk, refusedOnly, closedBy, exitCode);
}

/**
 * Where a rerun picks up: the same input, the same run id (the same message ids), and skipped only the items
 * before the first one not confirmed (refused ones are not confirmed); confirmed ones after it come again.
 */
export function resumeHint(r: PublishResult): string {
  if (r.resumeAt === undefined) return '';
  return ` To resume, run again with the same input and --run-id ${r.runId} --skip ${r.resumeAt - 1}: items from ${r.resumeAt} on are published again, with the same message ids.`;
}


/** "1 message", "2 messages". */
export const messages = (n: number): string => `${n} ${n === 1 ? 'message' : 'messages'}`;
const were = (n: number): string => (n === 1 ? 'was' : 'were');

function withCounts(err: WqError, counts: string): WqError {
  return new WqError(err.code, `${err.message} ${counts}`, err.exitCode, { cause: err.cause, detail: err.detail, retryable: false });
}
