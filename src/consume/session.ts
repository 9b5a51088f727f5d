import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { ConsumeConfig } from '../config/consume.js';
import { NoMessageError, WqError } from '../errors.js';
import { EXIT, signalExitCode, stopSignalFor } from '../exit-codes.js';
import type { Logger } from '../log.js';
import { exitStatusOf, succeeded, type Outcome } from '../process/outcome.js';
import { checkDrained, type QueueProbe } from './drain-end.js';
import { cancelledError, drainCheckError } from './lost-error.js';
import { deliveryCount, deliveryCounts } from './message-env.js';
import { logReplaced, logSettled } from './report.js';
import type { ResultPublisher } from './results.js';
import { RunStats } from './run-stats.js';
import { copyRefused, settle, settleContext, type SettleContext, type Settled } from './settle.js';
import { sessionPrefetch, Slots, type Slot, type StartCommand } from './slots.js';
import { admission, fate, type Verdict } from './verdict.js';

export type { QueueProbe } from './drain-end.js';
export type { StartCommand } from './slots.js';
/*
 * One consume run as a small state machine:
 *   opening -> consuming -> finishing (--count reached, basic.cancel sent) -> closed
 *                        -> probing   (--until-empty: quiet for --idle; consuming again if work comes)
 *   (any but closed)     -> stopping  (a signal, during the setup too; a lost channel, a failure, the drain is over) -> closed
 * Closed once nothing is in hand and our basic.cancel is through (closeWhenIdle): a delivery that raced the cancel
 * is put back as a fresh copy. `end` only escalates (done < failed < signal < fatal). One method per event: deliver,
 * signal, channelLost, consumerCancelled, quiet (--wait / --idle) and commandExited. verdict() decides a message's
 * fate, settle() applies it; a closed channel's unacked messages are requeued by the broker, never acked (`channelOpen`).
 */

export type SessionState = 'opening' | 'consuming' | 'probing' | 'finishing' | 'stopping' | 'closed';

const RANK = { done: 0, failed: 1, signal: 2, fatal: 3 } as const;
export type End = { kind: keyof typeof RANK; exitCode: number; error?: WqError };

export class ConsumeSession {
  state: SessionState = 'opening';
  end: End = { kind: 'done', exitCode: EXIT.OK };
  channelOpen = true;
  /** False once the broker cancelled our consumer: it has requeued what we hold; acking would fail. */
  private deliveriesValid = true;
  /** Why the connection or channel went away, when that ended the run (channelLost). */
  lost: WqError | undefined;
  /** Resolves when the session is closed: nothing is held any more. */
  readonly closed: Promise<void>;
  private wake!: () => void;
  private taken = 0;
  private readonly slots: Slots;
  private consumerTag: string | undefined;
  private cancelled: Promise<unknown> | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private abortDrainCheck: (() => void) | undefined;
  private readonly settleContext: SettleContext;
  /** When the last retry copy this run sent is back in the queue (Date.now() ms): a drain waits for it. */
  private ownRetriesDueMs = 0;
  private consumeArgs: Record<string, unknown> | undefined;

  constructor(
    private readonly config: ConsumeConfig,
    private readonly log: Logger,
    readonly channel: ConfirmChannel,
    start: StartCommand,
    private readonly probe: () => Promise<QueueProbe> = async () => ({ ready: 0, consumers: 0, retriesWaiting: 0 }),
    readonly stats = new RunStats(),
    private readonly results?: ResultPublisher,
  ) {
    this.closed = new Promise<void>((resolve) => (this.wake = resolve));
    this.slots = new Slots(config.concurrency, start, (slot, outcome) => this.guard(() => this.commandExited(slot, outcome)));
    this.settleContext = settleContext(channel, config, log, {
      channelOpen: () => this.channelOpen && this.deliveriesValid,
      cancelled: () => this.cancelled,
      // One poll more than the delay: the copy's way back (dead-lettering) takes a moment too.
      retryDueMs: (ms) => (this.ownRetriesDueMs = Math.max(this.ownRetriesDueMs, ms)),
      stopTaking: () => (this.stop(), this.cancelled ?? Promise.resolve()),
    });
  }

  /** basic.qos, then basic.consume with our own tag (known before the first delivery, which can beat consume-ok), and `args` (x-consumer-timeout) the first time. */
  async open(args?: Record<string, unknown>): Promise<void> {
    if (this.state !== 'opening' && this.state !== 'probing') return; // stopped meanwhile (a signal during the setup)
    this.consumeArgs = args ?? this.consumeArgs;
    this.state = 'consuming';
    this.cancelled = undefined;
    const tag = (this.consumerTag = `wq-consume-${process.pid}-${Date.now().toString(36)}`);
    await Promise.all([
      this.channel.prefetch(sessionPrefetch(this.config, this.taken)),
      this.channel.consume(this.config.queue, (msg) => this.guard(() => (msg === null ? this.consumerCancelled() : this.deliver(msg))), { noAck: false, consumerTag: tag, arguments: this.consumeArgs }),
    ]);
    this.log.debug({ queue: this.config.queue, consumerTag: tag }, 'waiting for messages');
    this.armQuiet();
  }

  deliver(msg: ConsumeMessage): void {
    if (this.state !== 'consuming') {
      // Pushed before our basic.cancel took effect: put back as a fresh copy, since a nack would count an
      // attempt; once closed, the channel's close requeues it anyway (a copy could race that close).
      if (!this.channelOpen || !this.deliveriesValid) return;
      return this.state === 'closed' ? this.channel.nack(msg, false, true) : this.guard(() => this.putBack(msg, deliveryCount(msg)));
    }
    clearTimeout(this.quietTimer);
    const admit = admission(deliveryCounts(msg), this.config);
    if (admit.action !== 'run') return this.guard(() => this.replace(msg, admit));
    this.run(msg, admit.attempt);
  }

  /** Start waiting messages while slots are free; a start that throws ends the run (guard) and settles nothing else. */
  private startWaiting(): void {
    if (this.state === 'consuming' || this.state === 'finishing' || this.state === 'probing') this.guard(() => this.slots.startWaiting());
  }

  // The broker cancelled our consumer (basic.cancel): the queue was deleted, or, on RabbitMQ 4.3+, a quorum
  // queue's delivery acknowledgement timeout expired. It has put our messages back already, and an ack on
  // their tags would close the channel: nothing in hand is settled any more.
  async consumerCancelled(): Promise<void> {
    if (!this.deliveriesValid) return;
    this.consumerTag = undefined; // nothing left to cancel
    this.deliveriesValid = false;
    this.slots.dropWaiting();
    this.fatal(await cancelledError(this.config.queue, this.probe));
  }

  signal(signal: string): void {
    const running = this.slots.commandsRunning;
    const what = running ? 'stopping the command and handing its message back' : this.slots.empty ? 'nothing in hand: exiting' : 'settling the message in hand (its result or copy awaits the broker), then exiting';
    this.log.warn({ queue: this.config.queue, signal, running }, `received ${signal}: ${what}`);
    this.escalate({ kind: 'signal', exitCode: signalExitCode(signal) });
    this.stop(stopSignalFor(signal));
  }

  channelLost(err: WqError): void {
    if (!this.channelOpen) return;
    this.channelOpen = false;
    this.lost = err;
    this.slots.dropWaiting(); // the broker has requeued them already
    if (this.state === 'closed') return;
    if (this.end.kind === 'failed' && err.retryable) this.stop('SIGTERM'); // a failure ended the run: its status stands, no session follows; a refusal (78) says why
    else this.fatal(err);
  }

  /** The --wait or --idle timer: nothing arrived for that long (--wait: none at all 75, else the run ends 0). */
  quiet(): void {
    if (this.state !== 'consuming' || !this.slots.empty) return;
    if (this.config.untilEmpty) return this.guard(() => this.drainCheck());
    // 0 says a message was acked, retried or dead-lettered: one a lost connection took back does not count.
    if (this.stats.settledOnPurpose() === 0) return this.fatal(new NoMessageError(this.taken === 0 && this.stats.processed === 0 ? `no message arrived on queue "${this.config.queue}" within --wait ${this.config.waitSeconds}s. The queue is empty: publish work first, or use --until-empty for drain Jobs.` : `no message was finished on queue "${this.config.queue}": what this run took went back to the queue unfinished, and none arrived since within --wait ${this.config.waitSeconds}s. Another consumer holds it, or it waits there for the next run.`));
    this.log.info({ queue: this.config.queue, taken: this.taken, waitSeconds: this.config.waitSeconds }, `no further message arrived within --wait ${this.config.waitSeconds}s: exiting`);
    this.stop();
  }

  async commandExited(slot: Slot, ran: Outcome): Promise<void> {
    // The slot ends whatever happens here: a throw is an internal error (guard()), and the run must still close.
    try {
      if (slot.run?.pid !== undefined) this.stats.commandEnded(ran.durationMs); // a body refused before its start has no run
      const result = await this.results?.sendFor(slot.msg, ran, slot.attempt, () => this.startWaiting());
      if (result?.error) (result.lost ? this.channelLost(result.error) : this.fatal(result.error, true));
      const outcome = result?.rejected ?? ran;
      const { decision, endsRun } = fate(ran, result, slot.attempt, this.end.kind === 'signal' || !this.channelOpen, this.config);
      if (endsRun !== undefined) this.failed(endsRun); // before the copy: not pushed back to this run at once
      this.startWaiting(); // the next command starts before this message is settled
      const settled = await this.settleSafely(slot.msg, decision);
      if (copyRefused(decision, settled)) this.failed(succeeded(outcome) ? EXIT.BROKER_UNAVAILABLE : exitStatusOf(outcome));
      this.stats.count(settled);
      logSettled(this.log, this.config, slot, outcome, decision, settled, result, !this.deliveriesValid);
    } finally {
      this.release(slot);
    }
  }

  // Quiet for --idle: stop consuming (so that peers see one consumer fewer), then end only when nothing
  // can come back (drain-end.ts); consume again as soon as something is ready.
  private async drainCheck(): Promise<void> {
    this.state = 'probing';
    this.cancelConsumer();
    await this.cancelled;
    // A delivery that raced our basic.cancel is being put back (deliver()): that is work, so consume again.
    if (this.state === 'probing' && !this.slots.empty) return this.open();
    const check = checkDrained({ probe: this.probe, stillChecking: () => this.state === 'probing', ownRetriesDueMs: () => this.ownRetriesDueMs, config: this.config, log: this.log });
    this.abortDrainCheck = check.abort;
    const result = await check.result.catch((err: Error) => {
      if (this.state === 'probing') this.fatal(drainCheckError(this.config.queue, err));
      return 'stopped' as const;
    });
    if (result === 'ready') await this.open();
    else if (result === 'drained') {
      this.log.info({ queue: this.config.queue, processed: this.stats.processed, idleSeconds: this.config.idleSeconds }, 'queue stayed empty and no other consumer holds a message: drain finished');
      this.stop();
    }
  }

  // A copy the broker counted returns of: replace it with a fresh confirmed copy before running it (not
  // taken: the copy comes round again like any message), or, with no attempts left, dead-letter it (taken:
  // a one-message pod has handled its message on purpose). A fresh copy the broker refused (a full queue):
  // the message runs as it is, if the run still takes messages (settle()).
  private async replace(msg: ConsumeMessage, admit: Exclude<ReturnType<typeof admission>, { action: 'run' }>): Promise<void> {
    const slot = this.slots.hold(msg, admit.attempts);
    if (admit.action === 'dead-letter' && this.config.count > 0 && ++this.taken >= this.config.count) this.finishTaking();
    let settled = await this.settleSafely(msg, admit, true);
    if (settled === 'kept' && this.state === 'consuming') {
      this.slots.release(slot);
      logReplaced(this.log, this.config, msg, admit, settled);
      return this.run(msg, admit.attempts + 1);
    }
    if (settled === 'kept') settled = await this.settleSafely(msg, { action: 'hand-back' });
    if (copyRefused(admit, settled)) this.failed(EXIT.BROKER_UNAVAILABLE);
    logReplaced(this.log, this.config, msg, admit, settled);
    this.stats.count(settled);
    this.release(slot);
  }

  private run(msg: ConsumeMessage, attempt: number): void {
    this.taken++;
    if (this.config.count > 0 && this.taken >= this.config.count) this.finishTaking();
    this.slots.take(msg, attempt);
  }

  private settleSafely(msg: ConsumeMessage, decision: Verdict | Exclude<ReturnType<typeof admission>, { action: 'run' }>, keepIfRefused = false): Promise<Settled> {
    return settle(this.settleContext, msg, decision, keepIfRefused);
  }

  private release(slot: Slot): void {
    this.slots.release(slot);
    this.startWaiting();
    this.closeWhenIdle();
    this.armQuiet();
  }

  /** --count reached: no more deliveries wanted; what is in hand still runs. */
  private finishTaking(): void {
    this.state = 'finishing';
    this.cancelConsumer();
  }

  private failed(exitCode: number): void {
    this.escalate({ kind: 'failed', exitCode });
    this.stop();
  }

  private fatal(err: WqError, cause = false): void {
    // `cause`: err explains a lost connection (a result that made the broker close it): it replaces it, and no session follows.
    if (cause && this.lost !== undefined && this.end.error === this.lost) this.end = { kind: 'fatal', exitCode: err.exitCode, error: err };
    this.escalate({ kind: 'fatal', exitCode: err.exitCode, error: err });
    this.stop('SIGTERM');
  }

  // Nothing may throw past the session: a bug in a handler ends the run (70), its commands stopped. fn runs now, in the executor: a throw and a rejection both reach the catch.
  private guard(fn: () => void | Promise<void>): void {
    new Promise<void>((resolve) => resolve(fn())).catch((err: unknown) => this.fatal(new WqError('INTERNAL', `internal error in wq-consume: ${(err as Error)?.stack ?? String(err)}`, EXIT.INTERNAL, { cause: err })));
  }

  private escalate(end: End): void {
    if (RANK[end.kind] > RANK[this.end.kind]) this.end = end;
  }

  /** Take nothing more; put back what waits (a fresh copy: no attempt spent); stop the commands on a signal or a fatal error. */
  private stop(signal?: NodeJS.Signals): void {
    if (this.state === 'closed') return;
    this.state = 'stopping';
    clearTimeout(this.quietTimer);
    this.abortDrainCheck?.();
    this.cancelConsumer();
    for (const { msg, attempt } of this.slots.dropWaiting()) if (this.channelOpen && this.deliveriesValid) this.guard(() => this.putBack(msg, attempt));
    if (signal) this.slots.stopRunning(signal);
    this.closeWhenIdle();
  }

  private async putBack(msg: ConsumeMessage, attempt: number): Promise<void> {
    const slot = this.slots.hold(msg, attempt);
    this.stats.count(await this.settleSafely(msg, { action: 'put-back', attempts: attempt - 1 }));
    this.release(slot);
  }

  private cancelConsumer(): void {
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (tag === undefined || !this.channelOpen) return;
    this.cancelled = this.channel.cancel(tag).catch(() => undefined);
  }

  private armQuiet(): void {
    clearTimeout(this.quietTimer);
    if (this.state !== 'consuming' || !this.slots.empty) return;
    const seconds = this.config.untilEmpty ? this.config.idleSeconds : this.config.waitSeconds;
    if (seconds > 0 || this.config.untilEmpty) this.quietTimer = setTimeout(() => this.guard(() => this.quiet()), seconds * 1000);
  }

  private closeWhenIdle(): void {
    const idle = () => this.slots.empty && (this.state === 'finishing' || this.state === 'stopping');
    if (!idle()) return;
    if (!this.cancelled || !this.channelOpen) return this.close();
    void this.cancelled.then(() => idle() && this.close());
  }

  private close(): void {
    this.state = 'closed';
    clearTimeout(this.quietTimer);
    this.wake();
  }

  /** Our basic.cancel (if sent) is through: the channel can be closed cleanly. */
  cancelDone = (): Promise<unknown> => this.cancelled ?? Promise.resolve();
}
