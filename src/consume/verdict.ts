import { EXIT } from '../exit-codes.js';
import { COMMAND_START_ERRORS, exitStatusOf, outcomeShort, succeeded, type Outcome } from '../process/outcome.js';

/*
 * What happens to a message, decided without a broker (test/consume/verdict.test.ts tables it).
 * Before the command runs, admission(): a copy of a message that the broker has already counted as
 * returned (a crash, a lost channel, a hand-back) is replaced by a fresh confirmed copy, so a quorum
 * queue's delivery limit (20 by default on RabbitMQ 4.x) can never be reached by wq's own returns; if
 * the broker refuses that copy (a full queue), the message runs as it is (settle.ts).
 * After the command, verdict(), in this order:
 * - wq stopped the command (SIGTERM, SIGINT, a lost -> put back: a fresh confirmed copy with the attempts
 *   channel), not for --timeout                       before this one, then the ack, whatever its exit
 *                                                      status (a worker that traps SIGTERM and exits 0
 *                                                      has not done the work); a stop spends no attempt,
 *                                                      as a nack would on a quorum queue or through the
 *                                                      redelivered flag (a lost channel: the broker has it)
 * - exit 0 within --timeout                         -> ack
 * - the start failed for want of a resource         -> refresh: a fresh confirmed copy with the attempts
 *   (EAGAIN, EMFILE, ENFILE, ENOMEM)                   so far, then the ack: no attempt is spent
 * - wq is stopping                                   -> hand back (the next delivery is refreshed by
 *                                                      admission() if the broker counted it)
 * - attempt N of --max-attempts N, or an exit status -> dead-letter: a confirmed copy in the dead-letter
 *   listed in --dead-letter-on (65 for a message        queue or exchange, then ack
 *   rejected: a body no argument can hold, a result
 *   over --result-max-bytes)
 * - any other failure                               -> retry: a confirmed copy carrying the attempt count
 *                                                      (after --retry-delay, if set), then ack
 * A copy that is not confirmed is never followed by an ack: the message is handed back instead, and the
 * run ends (copyRefused() in settle.ts). fate() puts the result's step in front (results.ts): a result
 * that could not be sent for the broker's own reasons is never the message's fault.
 */

export type Verdict =
  | { action: 'ack' }
  | { action: 'hand-back' }
  | { action: 'put-back'; attempts: number }
  | { action: 'retry'; attempts: number }
  | { action: 'refresh'; attempts: number }
  | { action: 'dead-letter'; attempts: number; reason: string };

export interface VerdictOptions {
  /** 0 = retry forever. */
  maxAttempts: number;
  /** Exit statuses that dead-letter at once. */
  deadLetterOn: readonly number[];
}

/** The decision for a message whose command ended with `outcome` on attempt `attempts` (from 1). */
export function verdict(outcome: Outcome, attempts: number, stopping: boolean, opts: VerdictOptions): Verdict {
  if (outcome.stopped && !outcome.timedOut) return { action: 'put-back', attempts: attempts - 1 };
  if (succeeded(outcome)) return { action: 'ack' };
  if (outcome.kind === 'start-failed' && outcome.transient) return { action: 'refresh', attempts: attempts - 1 };
  if (stopping) return { action: 'hand-back' };
  const status = exitStatusOf(outcome);
  if ((outcome.kind === 'exited' || outcome.kind === 'rejected') && !outcome.timedOut && opts.deadLetterOn.includes(status)) {
    return { action: 'dead-letter', attempts, reason: `${outcomeShort(outcome)} (--dead-letter-on)` };
  }
  if (opts.maxAttempts > 0 && attempts >= opts.maxAttempts) return { action: 'dead-letter', attempts, reason: outcomeShort(outcome) };
  return { action: 'retry', attempts };
}

export interface FateOptions extends VerdictOptions {
  /** 0 = a failed message is retried at once. */
  retryDelaySeconds: number;
  /** Messages this session takes (what is left of --count; 0 = a drain). */
  count: number;
  /** The run's own --count, after a reconnect (else count is it). */
  runCount?: number;
}

/** What the result's step said (results.ts), in the terms fate() needs. */
export interface ResultStep {
  /** The broker refused the result as this message's fault (too large): decide on this outcome instead. */
  rejected?: Outcome;
  /** The broker would not take the result now (basic.nack: a full result queue, a quorum queue without its majority). */
  unsent?: boolean;
  /** Publishing the result failed (a lost channel, a permission, a deleted queue): the run ends on that error. */
  error?: unknown;
}

/**
 * The message's fate once its command has ended and its result (if any) was sent or not, and the exit
 * status that ends the run, if one does (set before the copy, so that the copy is not pushed back to this
 * run at once; the pod's restart backs off):
 * - the result could not be published                  -> hand back (the run ends on that error)
 * - the broker would not take the result now (a nack) -> refresh, no attempt spent; the run ends 69
 * - short of a resource (refresh)                      -> the run ends 71
 * - the command could not start (ENOENT, EACCES...)    -> its retry or dead-letter, and the run ends 127/126:
 *   it would fail the same on every message, spending the queue's attempts at once
 * - a retry without --max-attempts or --retry-delay    -> the run ends with the command's status (one message per pod)
 * - a retry in a one-message run (-c 1)                -> its status too, whatever the options: a Job with
 *   completions = the queue's depth counts a message once, when it is acked or dead-lettered (exit 0)
 */
export function fate(ran: Outcome, step: ResultStep | undefined, attempt: number, stopping: boolean, opts: FateOptions): { decision: Verdict; endsRun?: number } {
  if (step?.error) return { decision: { action: 'hand-back' } };
  if (step?.unsent) return { decision: { action: 'refresh', attempts: attempt - 1 }, endsRun: EXIT.BROKER_UNAVAILABLE };
  const outcome = step?.rejected ?? ran;
  const decision = verdict(outcome, attempt, stopping, opts);
  if (decision.action === 'refresh') return { decision, endsRun: EXIT.START_FAILED };
  if (outcome.kind === 'start-failed' && COMMAND_START_ERRORS.includes(outcome.error.code) && (decision.action === 'retry' || decision.action === 'dead-letter')) return { decision, endsRun: exitStatusOf(outcome) };
  if (decision.action === 'retry' && ((opts.runCount ?? opts.count) === 1 || (opts.maxAttempts === 0 && opts.retryDelaySeconds === 0))) return { decision, endsRun: exitStatusOf(outcome) };
  return { decision };
}

export type Admission =
  | { action: 'run'; attempt: number }
  | { action: 'refresh'; attempts: number; returns?: number }
  | { action: 'dead-letter'; attempts: number; reason: string };

/** The broker's own count of this copy's returns, and wq's record of attempts on earlier copies. */
export interface DeliveryCounts {
  /** Attempts recorded in wq's header by earlier copies (returns included). */
  recorded: number;
  /** The returns among them (RETURNS_HEADER). */
  recordedReturns: number;
  /** Returns of this copy the broker counts towards a delivery limit (quorum x-delivery-count), else undefined. */
  brokerReturns: number | undefined;
  /** Deliveries of this copy before this one, as well as they can be known. */
  earlierDeliveries: number;
}

/** Returns a message may have before admission() dead-letters it, at least (RETURNS_HEADER). */
export const RETURNS_FLOOR = 5;

/**
 * Before the command runs: run it, or first replace a copy the broker has counted returns of. A return
 * (a crash, a lost connection) counts as an attempt, for --max-attempts on a later failure, but it
 * cannot tell a message that ran from one only prefetched: so returns alone dead-letter a message only
 * past their own bound, max(--max-attempts + 1, RETURNS_FLOOR), counted in RETURNS_HEADER. A message
 * that kills its pod runs that many times at most; lost connections alone never reach it in practice.
 */
export function admission(counts: DeliveryCounts, opts: VerdictOptions): Admission {
  const attemptsSoFar = counts.recorded + counts.earlierDeliveries;
  if (counts.brokerReturns === undefined || counts.brokerReturns === 0) return { action: 'run', attempt: attemptsSoFar + 1 };
  const returns = counts.recordedReturns + counts.earlierDeliveries;
  if (opts.maxAttempts > 0 && returns >= Math.max(opts.maxAttempts + 1, RETURNS_FLOOR)) {
    return { action: 'dead-letter', attempts: attemptsSoFar, reason: `returned without a result ${returns} times (wq-consume was killed or lost its channel, or the broker refused its copy)` };
  }
  return { action: 'refresh', attempts: attemptsSoFar, returns };
}
