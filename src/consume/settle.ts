import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { DeadLetterTarget } from '../config/consume.js';
import { deadLetter, describeTarget, retryLater } from './dead-letter.js';
import type { Admission, Verdict } from './verdict.js';
import type { ConsumeConfig } from '../config/consume.js';
import type { Logger } from '../log.js';
import { retryDelaySeconds } from './retry-delay.js';

/** What was done with a message, for the run's counts and its log line ('kept': still in hand, see settle()). */
export type Settled = 'acked' | 'retried' | 'dead-lettered' | 'handed-back' | 'refreshed' | 'stale' | 'kept';

export interface SettleContext {
  ch: ConfirmChannel;
  queue: string;
  deadLetter: DeadLetterTarget;
  /** The channel is still open: when it is not, the broker has requeued the message already. */
  channelOpen: () => boolean;
  /** Resolves once our basic.cancel is through (an ack before it lets the broker push one more). */
  cancelled: () => Promise<unknown> | undefined;
  /** Seconds the retry copy waits before it is back in the queue; 0 = at once. */
  retryDelay: (attempts: number) => number;
  /** Says why, and ends the run: resolves once our basic.cancel is through, so that the nack that follows is not pushed straight back to this run. */
  onCopyFailed: (err: Error, what: string) => Promise<unknown>;
}

// Apply a verdict (or an admission's copy) to the message. A copy is confirmed before the original is
// acked; if the copy fails the original is handed back (nack with requeue), so nothing is ever dropped.
// Admission's refresh is the exception (`keepIfRefused`): a copy the broker refused leaves the message
// in hand ('kept'), and the session runs it as it is. A nack would count one more return on a quorum
// queue, and the next pod would meet the same full queue: each pod would spend a count until the
// delivery limit dropped the message. Running it ends that: an ack, or a copy to another queue.
// It never throws: a channel closed under it makes 'stale' (the session's channelLost() has the reason,
// the broker the message).
export async function settle(ctx: SettleContext, msg: ConsumeMessage, decision: Verdict | Exclude<Admission, { action: 'run' }>, keepIfRefused = false): Promise<Settled> {
  try {
    return await apply(ctx, msg, decision, keepIfRefused);
  } catch {
    return 'stale';
  }
}

async function apply(ctx: SettleContext, msg: ConsumeMessage, decision: Verdict | Exclude<Admission, { action: 'run' }>, keepIfRefused: boolean): Promise<Settled> {
  if (!ctx.channelOpen()) return 'stale';
  const { ch } = ctx;
  await ctx.cancelled();
  if (decision.action === 'ack') {
    ch.ack(msg);
    return 'acked';
  }
  if (decision.action === 'hand-back') return handBack(ctx, msg);
  try {
    if (decision.action === 'dead-letter') {
      await deadLetter(ch, ctx.deadLetter, ctx.queue, msg, decision.attempts, decision.reason);
      return 'dead-lettered';
    }
    const delay = decision.action === 'retry' ? ctx.retryDelay(decision.attempts) : 0;
    await retryLater(ch, ctx.queue, msg, decision.attempts, delay, 'returns' in decision ? decision.returns : undefined);
    return decision.action === 'refresh' ? 'refreshed' : decision.action === 'put-back' ? 'handed-back' : 'retried';
  } catch (err) {
    if (!ctx.channelOpen()) return 'stale';
    if (keepIfRefused) return 'kept';
    const what = decision.action === 'dead-letter' ? `the dead-letter copy (${describeTarget(ctx.deadLetter)})` : decision.action === 'retry' ? 'the retry copy' : 'the fresh copy that puts it back';
    await ctx.onCopyFailed(err as Error, what);
    return handBack(ctx, msg);
  }
}

/**
 * The broker refused a copy (a nack: a full queue with reject-publish, say), so the message was handed
 * back. The run must end: a nack counts towards a quorum queue's delivery limit, and a run that went on
 * would take the message again at once, until the broker drops it. Each pod spends one count, with the
 * restart's back-off between them.
 */
export function copyRefused(decision: { action: string }, settled: Settled): boolean {
  return settled === 'handed-back' && decision.action !== 'hand-back' && decision.action !== 'put-back';
}

function handBack(ctx: SettleContext, msg: ConsumeMessage): Settled {
  if (!ctx.channelOpen()) return 'stale';
  ctx.ch.nack(msg, false, true);
  return 'handed-back';
}

/** The context a session settles with: its channel and options, and what only the session knows. */
export function settleContext(
  ch: ConfirmChannel,
  config: ConsumeConfig,
  log: Logger,
  session: { channelOpen: () => boolean; cancelled: () => Promise<unknown> | undefined; retryDueMs: (ms: number) => void; stopTaking: () => Promise<unknown> },
): SettleContext {
  return {
    ch,
    queue: config.queue,
    deadLetter: config.deadLetter,
    channelOpen: session.channelOpen,
    cancelled: session.cancelled,
    retryDelay: (attempts) => {
      const seconds = retryDelaySeconds(config, attempts);
      if (seconds > 0) session.retryDueMs(Date.now() + (seconds + config.drainPollSeconds) * 1000);
      return seconds;
    },
    onCopyFailed: (err, what) => {
      log.error({ queue: config.queue, err: err.message }, `could not publish ${what}: handing the message back and ending the run, so that it does not come straight back`);
      return session.stopTaking();
    },
  };
}
