import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { Connection } from '../amqp/broker.js';
import { publishTracked } from '../amqp/confirmed-copy.js';
import { shortString } from '../amqp/header-budget.js';
import { mapFailure } from '../amqp/failures.js';
import { BrokerUnavailableError, QueueConfigError, WqError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { succeeded, type Outcome } from '../process/outcome.js';

/*
 * Results as messages (docs/consume.md "Results as messages"). When a command exits 0 and its message has somewhere
 * for a result to go, its stdout (captured in a file, starter.ts) is published as one persistent message,
 * mandatory, on a confirm channel of its own, and only once the broker has confirmed it is the input
 * acked: a crash in between sends the result twice (the same correlation id), never not at all.
 * - Where: with --reply, a message's reply_to (the RPC convention; correlation_id is the request's own,
 *   else its message id); else --result-queue, with correlation_id = the input's message id, and the
 *   same message id, so an item keeps its id through a pipeline of stages (a reply gets a new one).
 * - A result the broker refuses as over its max_message_size fails the message like a failed command
 *   (exit status 65: retry or dead-letter). The broker closes the channel and a new one is opened; a
 *   result under the limit that was on the closed channel is sent again.
 * - A result the broker nacks (a result queue at its length limit with reject-publish, a quorum queue
 *   without its majority) is not the message's fault: it goes back as a fresh copy, no attempt spent, and
 *   the run ends 69, so that it does not come straight back (verdict.ts fate()).
 * - A result queue that no longer exists (basic.return): the message is handed back and the run ends 78.
 *   A reply_to queue that is gone: the requester is gone too; the input is acked, with a warning.
 * - Any other failure: the message is handed back. A lost connection or channel ends the session as if its
 *   channel were lost (the broker has everything in hand back, and the run reconnects); a refusal that
 *   would come again (no write permission) ends the run with its exit code (docs/errors.md).
 */

export interface ResultTarget {
  queue: string;
  correlationId: string | undefined;
  /** The message's own reply_to, not --result-queue. */
  reply: boolean;
  /** The result's message id: the input's, through a pipeline; else a new one. */
  messageId: string | undefined;
}

/** Where a message's result goes, or undefined: its command's stdout then passes through. */
export function resultTarget(msg: ConsumeMessage, config: { resultQueue: string; reply: boolean }): ResultTarget | undefined {
  const { replyTo, correlationId, messageId } = msg.properties as { replyTo?: string; correlationId?: string; messageId?: string };
  // An id that could not be sent again (shortString) is left out of the result.
  const id = shortString(messageId) || undefined;
  if (config.reply && replyTo) return { queue: String(replyTo), correlationId: shortString(correlationId) || id, reply: true, messageId: undefined };
  if (config.resultQueue) return { queue: config.resultQueue, correlationId: id, reply: false, messageId: id };
  return undefined;
}

/** What became of a result. */
export interface ResultSent {
  target: ResultTarget;
  /** Published and confirmed: this many bytes. */
  bytes?: number;
  /** Decide the message's fate on this instead: the broker refused the result as too large (exit status 65). */
  rejected?: Outcome;
  /** The broker would not take the result now (basic.nack): `note` says so. */
  unsent?: boolean;
  /** Published, but it went nowhere (a reply_to queue that is gone): said in the log line. */
  note?: string;
  /** Hand the message back and end the session with this error (`lost`: as a lost channel, which reconnects). */
  error?: WqError;
  lost?: boolean;
}

interface ResultChannel {
  ch: ConfirmChannel;
  error?: Error;
}

export class ResultPublisher {
  private current: Promise<ResultChannel> | undefined;
  /** The broker's max message size, once it has refused a result over it: a larger one is not sent again. */
  private brokerMaxBytes: number | undefined;

  /** Why the broker closed the connection, if it did: a publish it fails says only "channel closed". */
  private connectionError: Error | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly config: { url: string; queue: string; resultQueue: string; reply: boolean },
  ) {
    conn.once('error', (err: Error) => (this.connectionError = err));
  }

  /** If the command succeeded and its message has a result to send: `beforeSend()`, then send it. */
  async sendFor(msg: ConsumeMessage, ran: Outcome, attempt: number, beforeSend: () => void): Promise<ResultSent | undefined> {
    const target = ran.kind === 'exited' && succeeded(ran) ? resultTarget(msg, this.config) : undefined;
    if (!target || ran.kind !== 'exited') return undefined;
    beforeSend();
    // No queue can have that name (a queue name is a short string): as a requester that is gone.
    if (shortString(target.queue) === undefined) return { target, note: 'its reply_to is over 255 bytes as UTF-8, so no queue has that name: the result was dropped' };
    const output = ran.output ?? Buffer.alloc(0);
    const id = target.messageId ?? randomUUID();
    const headers = { 'x-wq-exit-code': 0, 'x-wq-duration-ms': Math.round(ran.durationMs), 'x-wq-source-queue': this.config.queue, 'x-wq-attempt': attempt };
    const options = { persistent: true, mandatory: true, messageId: id, correlationId: target.correlationId, timestamp: Math.floor(Date.now() / 1000), headers };
    const known = this.brokerMaxBytes;
    if (known !== undefined && output.length > known) {
      return { target, rejected: refused(`its result of ${output.length} bytes is over the broker's max message size ${known}, seen when it refused an earlier one (set --result-max-bytes ${known} at most)`, ran) };
    }
    let returned = false;
    for (let tries = 1; ; tries++) {
      const sent = await this.publish(target.queue, output, options);
      if (sent.failure === undefined) {
        returned = sent.returned;
        break;
      }
      const text = String(sent.failure.message ?? sent.failure);
      const limit = this.learnLimit(text);
      if (limit !== undefined && output.length > Number(limit)) {
        return { target, rejected: refused(`the broker refused its result of ${output.length} bytes, over its max message size ${limit} (set --result-max-bytes ${limit} at most)`, ran) };
      }
      // Another result's refusal closed the channel under this one: send it again on a new channel.
      if (limit !== undefined && tries < 3) continue;
      if (sent.nacked) return { target, unsent: true, note: `the broker refused its result of ${output.length} bytes (basic.nack: is queue "${target.queue}" at its length limit, x-max-length or x-max-length-bytes, or a quorum queue without its majority?)` };
      const closed = this.connectionError?.message ?? '';
      if (target.queue.startsWith(DIRECT_REPLY_TO) && /\b541\b/.test(closed)) return { target, lost: false, error: badReplyTo(target.queue, closed, this.connectionError) };
      // A lost connection or channel reconnects; a refusal that would come again (403: no write permission) ends the run.
      const mapped = mapFailure(sent.failure, { url: this.config.url, operation: `publishing the result to queue "${target.queue}"`, queue: target.queue });
      if (mapped.code !== 'BROKER_UNAVAILABLE' || !mapped.retryable) return { target, lost: false, error: mapped };
      return { target, lost: true, error: new BrokerUnavailableError(`could not publish the result to queue "${target.queue}" (${text}); the message was handed back.`, sent.failure, { detail: text }) };
    }
    // A direct reply-to says nothing by a return: RabbitMQ 3.x returns a mandatory message to one even
    // when it delivered it, and 4.x takes one whose requester is gone without a word.
    if (!returned || target.queue.startsWith(DIRECT_REPLY_TO)) return { target, bytes: output.length };
    if (target.reply) return { target, bytes: output.length, note: `its reply_to queue "${target.queue}" no longer exists (the requester is gone): the result was dropped` };
    return {
      target,
      lost: false,
      error: new QueueConfigError(`result queue "${target.queue}" no longer exists (deleted while wq-consume ran): the message was handed back. Start wq-consume again to declare it, or declare it yourself.`),
    };
  }

  /** Publish and wait for the confirm: whether the broker returned it, or why it failed (the channel's error when it closed). */
  private async publish(queue: string, body: Buffer, options: Options.Publish): Promise<{ failure?: Error; nacked?: boolean; returned: boolean }> {
    let rc: ResultChannel | undefined;
    try {
      rc = await this.channel();
      return { returned: await publishTracked(rc.ch, '', queue, body, options) };
    } catch (err) {
      // A nack arrives on an open channel; a close fails every pending publish after the channel's error.
      return { failure: rc?.error ?? (err as Error), nacked: rc !== undefined && rc.error === undefined && /nack/i.test(String((err as Error)?.message)), returned: false };
    }
  }

  /** The broker's max message size, if `text` (a channel's close) is its refusal of a larger message. */
  private learnLimit(text: string): string | undefined {
    const limit = /message size \d+ is larger than configured max size (\d+)/.exec(text)?.[1];
    if (limit !== undefined) this.brokerMaxBytes = Number(limit);
    return limit;
  }

  // Opened on the first result, and again when the broker has closed it (a refused result).
  private channel(): Promise<ResultChannel> {
    this.current ??= this.open();
    return this.current;
  }

  private open(): Promise<ResultChannel> {
    const opening = this.conn.createConfirmChannel().then((ch) => {
      const rc: ResultChannel = { ch: ch as ConfirmChannel };
      // 'error' comes before 'close', which fails the pending publishes; no new one goes to this channel.
      // The broker closed it, maybe while a refused result's body was still being written: amqplib frees
      // its number after this event, and those frames still go out under that number. A channel opened
      // on it later would have its own frames mixed with them, and the broker would close the connection
      // (505). The next channel is opened now, so it takes another number.
      ch.on('error', (err: Error) => {
        rc.error = err;
        this.learnLimit(String(err?.message));
        if (this.current === opening) this.current = this.open();
      });
      ch.on('close', () => {
        if (this.current === opening) this.current = undefined;
      });
      return rc;
    });
    opening.catch(() => {
      if (this.current === opening) this.current = undefined;
    });
    return opening;
  }
}

const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to.';

// A direct reply-to name the broker cannot decode ("amq.rabbitmq.reply-to.abc.def") makes it close the
// whole connection (541), and it would again on every delivery of the message: the run ends on it (65)
// instead of reconnecting to run the command again at once. The broker has the message back; a Job
// stops retrying it at its backoffLimit, a quorum queue with --max-attempts dead-letters it (admission).
function badReplyTo(name: string, text: string, cause: unknown): WqError {
  return new WqError('BAD_REPLY_TO', `the broker closed the connection (${text}) when the result was published to the message's reply_to "${name}", which is no direct reply-to name it can decode: the message went back to the queue, and the run ends so that it does not run again at once. Remove that message, or publish it with the reply_to its requester was given.`, EXIT.REFUSED, { cause, retryable: false });
}

/** The command succeeded, but its result could not be sent: the message is refused (exit status 65). */
function refused(why: string, ran: Outcome): Outcome {
  return { kind: 'rejected', reason: `the command succeeded, but ${why}`, durationMs: ran.durationMs, timedOut: false, stopped: false };
}
