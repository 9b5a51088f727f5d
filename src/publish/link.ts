import type { Channel, ConfirmChannel } from 'amqplib';
import { batchSocketWrites } from '../amqp/batch-writes.js';
import { backoffMs, brokerVersion, closeQuietly, connectAny, connectionSocket, defaultMaxMessageSize, mapFailure, sleep, type Connection } from '../amqp/broker.js';
import { queueMissing } from '../amqp/queue.js';
import type { PublishConfig } from '../config/publish.js';
import { BrokerUnavailableError, oneLine } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact.js';
import { openChannel } from './channel.js';
import type { PublishStats } from './result.js';
import type { ConfirmWindow } from './window.js';

/** How often the broker's answers are checked (checkAnswers). */
const WATCHDOG_MS = 1000;
/** After a signal: how long the queue's depth, then the close, may take each (the summary waits for them). */
const AFTER_SIGNAL_MS = 2000;

// The publisher's connection and channel, across the loss of a node: when the connection (or the channel)
// goes for a reason retrying can fix, connect again (connectAny: the next address first, within
// --connect-timeout), open the channel again (the queue is checked, or declared, again) and attach it to the
// window, which publishes again what was not confirmed. A failure retrying cannot fix (a message the broker
// refuses, a permission), a signal, or no address answering in time: the window gives up.
export class PublishLink {
  private conn: Connection | undefined;
  private ch: ConfirmChannel | undefined;
  private url = '';
  /** The address of the last connection (of several, not always the first), for the summary. */
  get address(): string {
    return this.url || this.config.url;
  }

  /** Why the last connection or channel ended, for the summary. */
  closedBy: Error | undefined;
  /** The queue's depth read found no queue: it was deleted while publishing (it was there at the start). */
  queueGone = false;
  /** While a reconnect runs. */
  reconnecting: Promise<void> | undefined;
  private closing = false;
  private lostAt = 0;
  /** The connection is blocked (a resource alarm): no confirm is owed meanwhile. */
  private blocked = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: PublishConfig,
    private readonly log: Logger,
    private readonly stop: AbortSignal,
    private readonly window: ConfirmWindow,
    private readonly stats: PublishStats,
  ) {}

  /**
   * Connect and open the channel; a failure that may pass (the queue's node is down) is tried again with
   * the back-off of connecting, until `deadline` (--connect-timeout from now). The last failure is thrown
   * as it was.
   */
  async open(deadline = Date.now() + this.config.connectTimeoutSeconds * 1000): Promise<void> {
    for (let round = 1; ; round++) {
      try {
        return await this.openOnce();
      } catch (raw) {
        const err = mapFailure(raw, { url: this.url, operation: 'connect' });
        const goOn = () => err.retryable && !this.stop.aborted && !this.closing && Date.now() < deadline;
        if (round === 1 && goOn()) this.log.warn(`${err.message} Trying again for up to ${Math.ceil((deadline - Date.now()) / 1000)}s (--connect-timeout).`);
        if (goOn()) await sleep(Math.min(backoffMs(round), deadline - Date.now()), this.stop);
        if (!goOn()) throw raw;
      }
    }
  }

  private async openOnce(): Promise<void> {
    const { conn, url } = await connectAny(this.config, 'wq-publish', this.log, this.stop);
    this.url = url; // a failure from here on names the address it came from
    // Why it ended: the channel's error (a refusal), else the connection's close reason or error.
    let chError: Error | undefined;
    let connError: Error | undefined;
    const why = () => chError ?? connError;
    conn.on('error', (err: Error) => (connError ??= err));
    conn.on('close', (err?: Error) => {
      if (err) connError = err;
      this.lost(conn, why);
    });
    conn.on('blocked', (reason: string) => {
      this.blocked = true;
      this.log.warn({ reason }, 'the broker blocked publishing (resource alarm): waiting until it unblocks');
    });
    conn.on('unblocked', () => {
      this.blocked = false;
      this.window.answeredAt = performance.now();
      this.log.info('the broker unblocked publishing');
    });
    batchSocketWrites(conn);
    const ch = await this.answered(conn, openChannel(conn, url, this.config, this.log), 'the queue\'s check or declare', 0, ' Nothing was published: run it again once the queue\'s nodes answer.').catch((err: unknown) => {
      void closeQuietly(conn); // not awaited: a cut connection's close never settles
      throw err;
    });
    ch.on('error', (err: Error) => (chError ??= err));
    ch.on('close', () => this.lost(conn, why));
    this.conn = conn;
    this.ch = ch;
    const version = brokerVersion(conn);
    const limit = defaultMaxMessageSize(version);
    this.blocked = false;
    this.window.answeredAt = performance.now();
    this.window.attach(ch, limit && version ? { bytes: limit, version } : undefined);
    this.watchdog ??= setInterval(() => this.checkAnswers(), WATCHDOG_MS).unref();
  }

  // A live connection whose broker answers none of the messages in flight: a quorum queue without a
  // majority of its nodes refuses each only after about a minute, one after another. Past
  // --connect-timeout (10 s at the least) without an answer, publishing stops: exit 69, with where to resume.
  private checkAnswers(): void {
    const { conn, window: w } = this;
    const seconds = this.config.answerTimeoutSeconds;
    if (!conn || this.blocked || this.closing || w.inFlight === 0) return;
    const socket = connectionSocket(conn);
    if ((socket?.writableLength ?? 0) > 0) w.answeredAt = performance.now(); // still sending (a large item, a slow link): nothing is owed yet
    if (performance.now() - w.answeredAt < seconds * 1000) return;
    this.conn = undefined; // its close is no loss to reconnect from
    this.ch = undefined;
    this.closedBy = new BrokerUnavailableError(`the broker at ${redactUrl(this.url)} has not answered for ${seconds}s (--connect-timeout), with ${w.inFlight} messages in flight: a quorum queue without a majority of its nodes running, or a node that does not answer. Each may or may not be in the queue.`, undefined, { retryable: false });
    w.giveUp();
    socket?.destroy();
  }

  /**
   * The queue's ready count (after waiting for a reconnect that runs), on a channel of its own: a queue
   * deleted during the run closes that one only, and its messages came back unroutable, which says so.
   */
  async readyCount(queue: string): Promise<number | undefined> {
    await this.reconnecting;
    if (!this.conn || !this.ch || this.window.closed) return undefined;
    const conn = this.conn;
    const read = async () => {
      const ch: Channel = await conn.createChannel();
      ch.on('error', () => undefined);
      const { messageCount } = await ch.checkQueue(queue);
      await ch.close().catch(() => undefined);
      return messageCount;
    };
    try {
      return await this.answered(conn, read(), 'the read of the queue\'s depth', AFTER_SIGNAL_MS);
    } catch (err) {
      if (!queueMissing(err)) this.closedBy ??= err as Error;
      else this.queueGone = true;
      return undefined;
    }
  }

  // The broker's answer to a request outside the window (the queue's check or declare, its depth): within
  // --connect-timeout (10 s at the least), and within `afterSignalMs` of a signal. Else the connection is
  // cut (its close is no loss to reconnect from), which fails the request: a node that does not answer
  // must not hold the run, nor a pod's grace period. `then`: what to do, at the end of the timeout's line.
  private answered<T>(conn: Connection, request: Promise<T>, what: string, afterSignalMs: number, then = ''): Promise<T> {
    const seconds = this.config.answerTimeoutSeconds;
    return new Promise<T>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.stop.removeEventListener('abort', onStop);
      };
      // A cut request may never settle (amqplib leaves it pending): nothing of it may stay armed.
      const cut = (err: Error) => {
        settle();
        reject(err);
        if (this.conn === conn) [this.conn, this.ch] = [undefined, undefined];
        connectionSocket(conn)?.destroy();
      };
      let timer = setTimeout(() => cut(new BrokerUnavailableError(`the broker at ${redactUrl(this.url)} did not answer ${what} within ${seconds}s (--connect-timeout): a quorum queue without a majority of its nodes running, or a node that does not answer.${then}`, undefined, { retryable: false })), seconds * 1000);
      const onStop = () => {
        clearTimeout(timer);
        timer = setTimeout(() => cut(new Error(`no answer from the broker within ${afterSignalMs} ms of ${String(this.stop.reason)}`)), afterSignalMs);
      };
      this.stop.addEventListener('abort', onStop, { once: true });
      if (this.stop.aborted) onStop();
      request.then(resolve, reject).finally(settle);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    await this.reconnecting;
    const { ch, conn } = this;
    this.ch = undefined;
    this.conn = undefined;
    if (!conn) return;
    const closed = (async () => {
      if (ch) await ch.close().catch(() => undefined);
      await closeQuietly(conn);
    })();
    await this.answered(conn, closed, 'the close', AFTER_SIGNAL_MS).catch(() => undefined);
  }

  // The channel's 'close' and the connection's come in one go when the connection drops: take the messages
  // back at once, decide once both are in (the connection's error says why).
  private lost(conn: Connection, why: () => Error | undefined): void {
    if (conn !== this.conn || this.closing) return;
    this.window.detach();
    if (this.lostAt !== 0) return;
    this.lostAt = Date.now();
    setImmediate(() => this.decide(conn, why() ?? new Error('closed')));
  }

  private decide(conn: Connection, why: Error): void {
    this.conn = undefined;
    this.ch = undefined;
    void closeQuietly(conn); // a channel lost on a live connection: that connection too
    const err = mapFailure(why, { url: this.url, operation: 'basic.publish', queue: this.config.queue || undefined, exchange: this.config.exchange || undefined });
    if (this.closing || this.stop.aborted || !err.retryable) {
      this.closedBy = why;
      this.window.giveUp();
      return;
    }
    this.log.warn(
      { unconfirmed: this.window.waiting, detail: err.detail },
      `lost the connection to ${redactUrl(this.url)} (${oneLine(why.message)}): reconnecting for up to ${this.config.connectTimeoutSeconds}s (--connect-timeout); ${this.window.waiting} unconfirmed messages will be published again`,
    );
    this.reconnecting = this.reconnect(why).finally(() => (this.reconnecting = undefined));
  }

  private async reconnect(why: Error): Promise<void> {
    const started = this.lostAt;
    const deadline = started + this.config.connectTimeoutSeconds * 1000;
    this.lostAt = 0;
    try {
      // No address answered in time, or each new connection failed while its channel opened (the queue's
      // node is down), with the back-off of connecting in between.
      await this.open(deadline);
    } catch (raw) {
      this.closedBy = mapFailure(raw, { url: this.url, operation: 'connect' }) ?? why;
      this.window.giveUp();
      return;
    }
    this.stats.reconnects++;
    const ms = Date.now() - started;
    this.log.info({ reconnectMs: ms, republished: this.stats.republished }, `reconnected to ${redactUrl(this.url)} after ${ms} ms and published the unconfirmed messages again (${this.stats.republished} so far: possible duplicates, with the same message ids)`);
  }
}
