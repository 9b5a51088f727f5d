import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { ConsumeConfig } from '../config/consume.js';
import { BrokerUnavailableError, NoMessageError, QueueConfigError, type WqError } from '../errors.js';
import { EXIT, signalExitCode } from '../exit-codes.js';
import type { Logger } from '../log.js';
import { exitStatusOf, outcomeFields, outcomeText, succeeded } from '../process/outcome.js';
import type { Armed, Outcome, Running } from '../process/runner.js';
import { lostError } from './lost-error.js';
import { deliveryCounts } from './message-env.js';
import { RunStats } from './run-stats.js';
import { settle, type SettleContext, type Settled } from './settle.js';
import { admission, verdict, type Verdict } from './verdict.js';

/*
 * One consume run as a small state machine (README "Where things are"):
 *   opening -> consuming -> finishing (--count reached, basic.cancel sent) -> closed
 *                        -> stopping  (a signal, a lost channel, a failure, the queue stayed empty) -> closed
 * `end` says why the run ends and only escalates: done < failed < signal < fatal; the first of the
 * highest rank stays. One method per event: deliver, signal, channelLost, quiet (the --wait / --idle
 * timer) and commandExited. `channelOpen` is set by the close handlers: once the broker has closed the
 * channel it has requeued every unacked message, so nothing is acked on a stale delivery tag.
 */

export type SessionState = 'opening' | 'consuming' | 'probing' | 'finishing' | 'stopping' | 'closed';

/** What a drain needs to know before it may end: can any message still come back to the queue? */
export interface QueueProbe {
  ready: number;
  /** Other consumers: each may hold unacked messages that can come back. */
  consumers: number;
  /** Failed messages waiting out --retry-delay in the wait queues. */
  retriesWaiting: number;
}

const RANK = { done: 0, failed: 1, signal: 2, fatal: 3 } as const;
export interface End {
  kind: keyof typeof RANK;
  exitCode: number;
  error?: WqError;
}

/**
 * Starts the command on one message; the session knows nothing of how. `arm`, where the spawn has it,
 * queues a message's command to start the moment a running command exits with status 0, before the
 * session hears of that exit; `onStarted` then hands the session the new command.
 */
export type StartCommand = ((msg: ConsumeMessage, attempt: number) => Running) & {
  arm?: (msg: ConsumeMessage, attempt: number, onStarted: (run: Running) => void) => Armed;
};

/** A delivery beyond --concurrency: taken, waiting for a free slot (and armed to take it). */
interface Waiting {
  msg: ConsumeMessage;
  attempt: number;
  armed?: Armed;
}

interface Slot {
  msg: ConsumeMessage;
  attempt: number;
  /** Undefined while the message is only being replaced by a fresh copy (admission), and once its command has exited with a success that is being acked. */
  run?: Running;
}

export class ConsumeSession {
  state: SessionState = 'opening';
  end: End = { kind: 'done', exitCode: EXIT.OK };
  channelOpen = true;
  /** False once the broker cancelled our consumer: it has requeued what we hold; acking would fail. */
  private deliveriesValid = true;
  readonly stats = new RunStats();
  /** Resolves when the session is closed: nothing is held any more. */
  readonly closed: Promise<void>;
  private wake!: () => void;
  private taken = 0;
  private readonly inHand = new Set<Slot>();
  /** Deliveries beyond --concurrency (a prefetch above it): taken, waiting for a free slot. */
  private readonly waiting: Waiting[] = [];
  /** Taken back too late: the addon had started them; their start is on its way (onStarted). */
  private readonly launching = new Set<Waiting>();
  /** The signal a stop sent to running commands, for one that starts after it. */
  private stopSignal: NodeJS.Signals | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private cancelled: Promise<unknown> | undefined;
  private subscribed = false;
  private subscriptions = 0;
  /** Our consumers: one, and a second once the commands prove short (prefetchGrowth). */
  private consumerTags: string[] = [];
  /** The channel's basic.qos now: it applies to the consumers subscribed after it. */
  private qos = 0;
  /** Commands in a row that succeeded in under config.shortCommandMs, and whether the second consumer is there. */
  private shortRun = 0;
  private grown = false;
  /** The second consumer's tag, until shrink() cancels it (--count close to reached); and that cancel. Acks are held only while it is there. */
  private secondTag: string | undefined;
  private shrinking: Promise<unknown> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private pollWake: (() => void) | undefined;
  private toldPeers = false;
  private readonly settleContext: SettleContext;
  /** Acks waiting to go out together (ack()). */
  private acks: ConsumeMessage[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  /**
   * When the last retry copy this run sent is back in the queue (Date.now() ms): a drain does not end
   * before it, whatever the wait queue's count says (a quorum queue's count read under load can be 0).
   */
  private ownRetriesDueMs = 0;

  constructor(
    private readonly config: ConsumeConfig,
    private readonly log: Logger,
    readonly channel: ConfirmChannel,
    private readonly startCommand: StartCommand,
    private readonly probe: () => Promise<QueueProbe> = async () => ({ ready: 0, consumers: 0, retriesWaiting: 0 }),
  ) {
    this.closed = new Promise<void>((resolve) => (this.wake = resolve));
    this.settleContext = {
      ch: channel,
      ack: (msg) => this.ack(msg),
      queue: config.queue,
      deadLetter: config.deadLetter,
      channelOpen: () => this.channelOpen && this.deliveriesValid,
      cancelled: () => this.cancelled,
      retryDelay: (attempts) => {
        const seconds = retryDelaySeconds(config, attempts);
        // One poll more than the delay: the copy's way back (dead-lettering) takes a moment too.
        if (seconds > 0) this.ownRetriesDueMs = Math.max(this.ownRetriesDueMs, Date.now() + (seconds + config.drainPollSeconds) * 1000);
        return seconds;
      },
      onCopyFailed: (err, what) => log.error({ queue: config.queue, err: err.message }, `could not publish ${what}: handing the message back instead`),
    };
  }

  /** basic.qos, then basic.consume. */
  async open(): Promise<void> {
    await this.subscribe();
  }

  private async subscribe(): Promise<void> {
    this.state = 'consuming';
    this.subscribed = true;
    this.cancelled = undefined;
    this.shortRun = 0;
    this.grown = false;
    this.secondTag = undefined;
    const tag = await this.consume(this.config.prefetch);
    this.log.debug({ queue: this.config.queue, consumerTag: tag }, 'waiting for messages');
    if (this.holdsNothing()) this.armQuiet();
  }

  // basic.qos when it changes, then basic.consume with our own tag (known before the first delivery, which
  // can beat consume-ok). Both are sent at once, so a basic.cancel asked for meanwhile goes after them.
  private async consume(prefetch: number, tag = this.newTag()): Promise<string> {
    this.consumerTags.push(tag);
    const qos = this.qos === prefetch ? undefined : this.channel.prefetch(prefetch);
    this.qos = prefetch;
    const consumed = this.channel.consume(this.config.queue, (msg) => (msg === null ? void this.consumerCancelled(tag) : this.deliver(msg)), { noAck: false, consumerTag: tag });
    await Promise.all([qos, consumed]);
    return tag;
  }

  private newTag(): string {
    return `wq-consume-${process.pid}-${Date.now().toString(36)}-${++this.subscriptions}`;
  }

  // The commands prove short: a second consumer with a prefetch of its own, so that more messages wait,
  // armed, and the ack -> delivery round trip after each exit never leaves a slot idle. Never with
  // --prefetch (prefetchGrowth 0), never for long commands, once per subscription; with --count only
  // while more are left to take than both consumers can hold (shrink() ends it before --count).
  private grow(outcome: Outcome): void {
    if (this.config.prefetchGrowth === 0 || this.grown || this.state !== 'consuming' || !this.subscribed) return;
    if (!succeeded(outcome) || outcome.durationMs >= this.config.shortCommandMs) {
      this.shortRun = 0;
      return;
    }
    if (++this.shortRun < this.config.shortCommandRun || this.nearCount()) return;
    this.grown = true;
    const { queue, prefetch, prefetchGrowth, shortCommandMs } = this.config;
    this.secondTag = this.newTag();
    this.consume(prefetchGrowth, this.secondTag).then(
      (tag) => this.log.info({ queue, consumerTag: tag, prefetch: prefetch + prefetchGrowth }, `commands take under ${shortCommandMs} ms: a second consumer holds ${prefetchGrowth} more messages ahead`),
      () => undefined, // the channel closed: channelLost() has the reason
    );
  }

  /** --count: no more left to take than both consumers may be pushed (the prefetch and the growth). */
  private nearCount(): boolean {
    const { count, prefetch, prefetchGrowth } = this.config;
    return count > 0 && count - this.taken <= prefetch + prefetchGrowth;
  }

  // --count close to reached: the second consumer is cancelled while what both may still be pushed is
  // at most what is left to take (checked at every delivery, so it is exactly that), so no message
  // beyond --count is pushed to us, to be handed back marked redelivered. What it holds stays ours (a
  // cancelled consumer's messages stay unacked on the channel) and is run and acked as any other. The
  // first consumer goes on to --count as without growth, and acks go out at once again (one held would
  // keep its slot of the smaller prefetch).
  private shrink(tag: string): void {
    this.secondTag = undefined;
    this.flushAcks();
    const i = this.consumerTags.indexOf(tag);
    if (i < 0 || !this.channelOpen) return;
    this.consumerTags.splice(i, 1);
    this.shrinking = this.channel.cancel(tag).catch(() => undefined);
    this.log.debug({ queue: this.config.queue, consumerTag: tag, left: this.config.count - this.taken }, 'close to --count: the second consumer stops, so that no message beyond --count is pushed');
  }

  deliver(msg: ConsumeMessage): void {
    if (this.state !== 'consuming') {
      // Pushed before our basic.cancel took effect: hand it straight back.
      if (this.channelOpen) this.channel.nack(msg, false, true);
      return;
    }
    clearTimeout(this.quietTimer);
    const admit = admission(deliveryCounts(msg), this.config);
    if (admit.action !== 'run') {
      void this.replace(msg, admit);
      return;
    }
    this.taken++;
    if (this.secondTag !== undefined && this.nearCount()) this.shrink(this.secondTag);
    if (this.config.count > 0 && this.taken >= this.config.count) this.finishTaking();
    if (this.commandsRunning() >= this.config.concurrency) this.wait({ msg, attempt: admit.attempt });
    else this.start(msg, admit.attempt);
  }

  // The broker cancelled our consumer (basic.cancel). The queue was deleted, or, on RabbitMQ 4.3+, a
  // quorum queue's delivery acknowledgement timeout expired: it has put our messages back already, and
  // an ack on their tags would close the channel. So nothing in hand is settled any more.
  private async consumerCancelled(tag: string): Promise<void> {
    const i = this.consumerTags.indexOf(tag);
    if (i < 0) return;
    this.consumerTags.splice(i, 1);
    if (!this.deliveriesValid) return; // our other consumer's cancel has ended the run already
    this.subscribed = this.consumerTags.length > 0; // so that stop() cancels the one left
    this.deliveriesValid = false;
    this.dropWaiting();
    let exists = true;
    try {
      await this.probe();
    } catch {
      exists = false;
    }
    if (!exists) {
      this.fatal(new QueueConfigError(`queue "${this.config.queue}" was deleted (the broker cancelled the consumer). Re-create it and publish the work again.`));
    } else {
      this.fatal(
        new BrokerUnavailableError(
          `the broker cancelled the consumer of queue "${this.config.queue}", which still exists: on RabbitMQ 4.3+ that is a quorum queue's delivery acknowledgement timeout (30 min by default); the message went back to the queue. Raise consumer_timeout in rabbitmq.conf (or the queue's x-consumer-timeout), or split the work.`,
        ),
      );
    }
  }

  signal(signal: string): void {
    const running = this.commandsRunning();
    this.log.warn({ queue: this.config.queue, signal, running }, running ? `received ${signal}: stopping the command and handing its message back` : `received ${signal} while waiting: exiting`);
    this.escalate({ kind: 'signal', exitCode: signalExitCode(signal) });
    this.stop(signal as NodeJS.Signals);
  }

  channelLost(err: WqError): void {
    if (!this.channelOpen) return;
    this.channelOpen = false;
    this.dropWaiting(); // the broker has requeued them already
    this.flushAcks();
    if (this.state === 'closed') return;
    this.fatal(err);
  }

  /** The --wait or --idle timer: nothing arrived for that long. */
  quiet(): void {
    if (this.state !== 'consuming' || !this.holdsNothing()) return;
    if (this.config.untilEmpty) {
      void this.checkDrained().catch((err: Error) => this.channelLost(lostError(err, this.config.url)));
    } else if (this.taken === 0) {
      this.fatal(new NoMessageError(`no message arrived on queue "${this.config.queue}" within --wait ${this.config.waitSeconds}s. The queue is empty: publish work first, or use --until-empty for drain Jobs.`));
    }
  }

  async commandExited(slot: Slot, outcome: Outcome): Promise<void> {
    this.stats.commandEnded(outcome.durationMs);
    this.grow(outcome);
    const decision = verdict(outcome, slot.attempt, this.end.kind === 'signal' || !this.channelOpen, this.config);
    if (decision.action === 'retry' && this.failureEndsRun()) {
      // Stop taking before the ack, so the retry copy is not pushed to us and bounced back redelivered.
      this.escalate({ kind: 'failed', exitCode: exitStatusOf(outcome) });
      this.stop();
    }
    // An ack settles at once: the next message's command starts first, so that it waits neither for our
    // ack nor for our log line (bench/README.md). Copies wait for their confirm, so they keep their order.
    if (decision.action === 'ack') {
      slot.run = undefined;
      this.startWaiting();
    }
    const settled = await this.settleSafely(slot.msg, decision);
    this.logSettled(slot, outcome, decision, settled);
    this.release(slot);
  }

  // --until-empty, quiet for --idle: stop consuming (so that peers see one consumer fewer), then end only
  // when nothing can come back: no ready message, no other consumer holding any, no retry waiting.
  // Otherwise poll; consume again as soon as something is ready.
  private async checkDrained(): Promise<void> {
    this.state = 'probing';
    this.cancelConsumer();
    await this.cancelled;
    while (this.state === 'probing') {
      const p = await this.probe();
      if (this.state !== 'probing') return;
      if (p.ready > 0) return this.subscribe();
      const retriesWaiting = Math.max(p.retriesWaiting, Date.now() < this.ownRetriesDueMs ? 1 : 0);
      if (p.consumers === 0 && retriesWaiting === 0) {
        this.log.info({ queue: this.config.queue, processed: this.stats.processed, idleSeconds: this.config.idleSeconds }, 'queue stayed empty and no other consumer holds a message: drain finished');
        return this.stop();
      }
      if (!this.toldPeers) {
        this.toldPeers = true;
        this.log.info({ queue: this.config.queue, consumers: p.consumers, retriesWaiting }, `queue is empty here, but ${p.consumers} other consumers may still hand messages back and ${retriesWaiting} retries are waiting: checking every ${this.config.drainPollSeconds}s`);
      }
      await new Promise<void>((resolve) => {
        this.pollWake = resolve;
        this.pollTimer = setTimeout(resolve, this.config.drainPollSeconds * 1000);
      });
    }
  }

  private start(msg: ConsumeMessage, attempt: number): void {
    this.running({ msg, attempt }, this.startCommand(msg, attempt));
  }

  private running(slot: Slot, run: Running): void {
    slot.run = run;
    this.inHand.add(slot);
    void run.done.then((outcome) => this.commandExited(slot, outcome));
  }

  // A message beyond --concurrency waits, armed: the next command to exit 0 starts it at once. A
  // stopped command, a failure or an exit while the run ends starts nothing; the session does.
  private wait(entry: Waiting): void {
    this.waiting.push(entry);
    entry.armed = this.startCommand.arm?.(entry.msg, entry.attempt, (run) => {
      const i = this.waiting.indexOf(entry);
      if (i >= 0) this.waiting.splice(i, 1);
      this.launching.delete(entry);
      this.running({ msg: entry.msg, attempt: entry.attempt }, run);
      // Started as the run was being stopped: it goes the way of the commands that were running.
      if (this.state === 'stopping' && this.stopSignal) run.stop(this.stopSignal);
    });
  }

  /** Takes a waiting message out of the queue of armed starts: false when it has started already. */
  private disarm(entry: Waiting): boolean {
    if (!entry.armed || entry.armed.disarm()) return true;
    this.launching.add(entry);
    return false;
  }

  /** Empties the waiting list, taking back every armed start; returns the messages that never started. */
  private dropWaiting(): Waiting[] {
    return this.waiting.splice(0).filter((entry) => this.disarm(entry));
  }

  // A copy the broker counted returns of: replace it with a fresh confirmed copy before running it (not
  // taken: the copy comes round again like any message), or, with no attempts left, dead-letter it (taken:
  // a one-message pod has handled its message on purpose).
  private async replace(msg: ConsumeMessage, admit: Exclude<ReturnType<typeof admission>, { action: 'run' }>): Promise<void> {
    const slot: Slot = { msg, attempt: admit.attempts };
    this.inHand.add(slot);
    if (admit.action === 'dead-letter' && ++this.taken === this.config.count) this.finishTaking();
    const settled = await this.settleSafely(msg, admit);
    const fields = { queue: this.config.queue, deliveryTag: msg.fields.deliveryTag, messageId: msg.properties.messageId, attempts: admit.attempts, brokerCount: msg.properties.headers?.['x-delivery-count'] };
    if (settled === 'refreshed') this.log.info(fields, 'the broker had counted this message as returned: replaced it with a fresh copy, so no delivery limit can drop it');
    else if (settled === 'dead-lettered') this.log.warn(fields, `message came back without a result after ${admit.attempts} attempts: moved to the dead-letter ${this.config.deadLetter.kind}`);
    this.stats.count(settled);
    this.release(slot);
  }

  private async settleSafely(msg: ConsumeMessage, decision: Parameters<typeof settle>[2]): Promise<Settled> {
    try {
      return await settle(this.settleContext, msg, decision);
    } catch {
      return 'stale'; // the channel closed under us: channelLost() has the reason, the broker the message
    }
  }

  // Without --max-attempts or --retry-delay a failure ends the run with the command's status, as one
  // message per pod expects; with them the failure is handled on purpose and the run goes on.
  private failureEndsRun(): boolean {
    return this.config.maxAttempts === 0 && this.config.retryDelaySeconds === 0;
  }

  private logSettled(slot: Slot, outcome: Outcome, decision: Verdict, settled: Settled): void {
    const { msg } = slot;
    const fields = { queue: this.config.queue, deliveryTag: msg.fields.deliveryTag, messageId: msg.properties.messageId, redelivered: msg.fields.redelivered, attempt: slot.attempt, ...outcomeFields(outcome) };
    this.stats.count(settled);
    const what = outcomeText(outcome);
    if (settled === 'acked') this.log.info(fields, `${what}: acked`);
    else if (settled === 'stale') this.log.warn(fields, `${what}; the channel is gone: the broker has requeued this message; not acking on a stale delivery tag`);
    else if (settled === 'handed-back') this.log.warn(fields, `${what}: message handed back to the queue`);
    else if (settled === 'dead-lettered') this.log.warn({ ...fields, reason: decision.action === 'dead-letter' ? decision.reason : undefined }, `${what} on attempt ${slot.attempt}: moved to the dead-letter ${this.config.deadLetter.kind}`);
    else this.log.warn(fields, `${what} on attempt ${slot.attempt}${this.config.maxAttempts ? ` of ${this.config.maxAttempts}` : ''}: queued for another attempt${delayText(this.config, slot.attempt)}`);
  }

  private release(slot: Slot): void {
    this.inHand.delete(slot);
    this.startWaiting();
    if (this.holdsNothing() && (this.state === 'finishing' || this.state === 'stopping')) this.close();
    else this.armQuiet();
  }

  // Once the commands prove short, an ack waits up to ackBatchMs, or until ackBatchMax of them (8, or
  // --concurrency if more) wait, and they go out together (one write: batchSocketWrites): the broker is woken
  // once for several messages. Until then, once the second consumer is cancelled near --count, and always for long commands,
  // each ack goes at once.
  private ack(msg: ConsumeMessage): void {
    if (this.secondTag === undefined || this.config.ackBatchMs === 0) return this.channel.ack(msg);
    this.acks.push(msg);
    if (this.acks.length >= this.config.ackBatchMax) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), this.config.ackBatchMs);
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const acks = this.acks.splice(0);
    if (acks.length === 0) return;
    if (this.channelOpen && this.deliveriesValid) {
      try {
        for (const msg of acks) this.channel.ack(msg);
        return;
      } catch {
        // closed under us, its close event not seen yet (this may run from a timer): as below
      }
    }
    // The channel closed (or the broker cancelled us) first: it has requeued them, each will come again.
    this.log.warn({ queue: this.config.queue, deliveryTags: acks.map((m) => m.fields.deliveryTag) }, `${acks.length} commands succeeded but their acks could not be sent: the channel closed first, so the broker has requeued those messages and will deliver them again`);
  }

  private startWaiting(): void {
    if (this.state !== 'consuming' && this.state !== 'finishing') return;
    while (this.waiting.length > 0 && this.commandsRunning() < this.config.concurrency) {
      const next = this.waiting.shift()!;
      if (this.disarm(next)) this.start(next.msg, next.attempt);
    }
  }

  private commandsRunning(): number {
    let n = this.launching.size;
    for (const slot of this.inHand) if (slot.run) n++;
    return n;
  }

  /** --count reached: no more deliveries wanted; what is in hand still runs. */
  private finishTaking(): void {
    this.state = 'finishing';
    this.cancelConsumer();
  }

  private fatal(err: WqError): void {
    this.escalate({ kind: 'fatal', exitCode: err.exitCode, error: err });
    this.stop('SIGTERM');
  }

  private escalate(end: End): void {
    if (RANK[end.kind] > RANK[this.end.kind]) this.end = end;
  }

  /** Take nothing more; hand back what waits; stop running commands when a signal or a fatal error ends the run. */
  private stop(signal?: NodeJS.Signals): void {
    if (this.state === 'closed') return;
    this.state = 'stopping';
    this.flushAcks();
    clearTimeout(this.quietTimer);
    clearTimeout(this.pollTimer);
    this.pollWake?.();
    this.cancelConsumer();
    for (const { msg } of this.dropWaiting()) if (this.channelOpen) this.channel.nack(msg, false, true);
    this.stopSignal ??= signal;
    if (signal) for (const slot of this.inHand) slot.run?.stop(signal);
    if (this.holdsNothing()) this.close();
  }

  private cancelConsumer(): void {
    if (!this.subscribed || !this.channelOpen) return;
    this.subscribed = false;
    this.cancelled = Promise.all(this.consumerTags.splice(0).map((tag) => this.channel.cancel(tag).catch(() => undefined)));
  }

  private armQuiet(): void {
    clearTimeout(this.quietTimer);
    if (this.state !== 'consuming' || !this.holdsNothing()) return;
    const seconds = this.config.untilEmpty ? this.config.idleSeconds : this.taken === 0 ? this.config.waitSeconds : 0;
    if (seconds > 0 || this.config.untilEmpty) this.quietTimer = setTimeout(() => this.quiet(), seconds * 1000);
  }

  /** No message in hand: none running, being replaced or settled, none starting. */
  private holdsNothing(): boolean {
    return this.inHand.size === 0 && this.launching.size === 0;
  }

  private close(): void {
    this.flushAcks();
    this.state = 'closed';
    clearTimeout(this.quietTimer);
    this.wake();
  }

  /** Waits for our basic.cancel (if sent) so that the channel can be closed cleanly. */
  async cancelDone(): Promise<void> {
    await Promise.all([this.cancelled, this.shrinking]);
  }
}

/** --retry-delay, doubled per attempt up to --retry-delay-max when that is set. */
export function retryDelaySeconds(config: Pick<ConsumeConfig, 'retryDelaySeconds' | 'retryDelayMaxSeconds'>, attempts: number): number {
  const base = config.retryDelaySeconds;
  if (base <= 0) return 0;
  if (config.retryDelayMaxSeconds <= base) return base;
  return Math.min(base * 2 ** Math.max(0, attempts - 1), config.retryDelayMaxSeconds);
}

function delayText(config: ConsumeConfig, attempts: number): string {
  const s = retryDelaySeconds(config, attempts);
  return s > 0 ? ` in ${s}s` : '';
}
