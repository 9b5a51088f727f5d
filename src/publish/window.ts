import { randomBytes } from 'node:crypto';
import type { ConfirmChannel, Options } from 'amqplib';
import { mapFailure } from '../amqp/broker.js';
import type { PublishConfig } from '../config/publish.js';
import { TooLargeError } from '../errors.js';
import type { PublishStats } from './result.js';

/** Thrown into the reader when publishing must stop (a signal, a lost channel). */
export const STOPPED = new Error('stopped');

// The confirm window: at most `window` messages unconfirmed; the reader waits for confirms and for the
// socket to drain, so any input publishes in bounded memory. Confirms arrive in publishing order, so one
// callback counts them all.
export class ConfirmWindow {
  inFlight = 0;
  closed = false;
  waitingFor: 'window' | 'drain' | undefined;
  private wake: (() => void) | undefined;
  /** Resume reading at half the window: the reader then publishes a batch at once (fuller writes). */
  private readonly resumeAt: number;
  /** Reused for every message: amqplib encodes the properties synchronously inside publish(). */
  private readonly options: Options.Publish;
  private readonly idPrefix = `${randomBytes(6).toString('hex')}-`;

  constructor(
    private readonly ch: ConfirmChannel,
    private readonly config: PublishConfig,
    readonly stats: PublishStats,
    private readonly stop: AbortSignal,
    private readonly maxSize: { bytes: number; version: string } | undefined,
  ) {
    this.resumeAt = config.window >> 1;
    this.options = {
      persistent: config.persistent,
      mandatory: true,
      contentType: config.contentType,
      contentEncoding: config.contentEncoding,
      headers: Object.keys(config.headers).length > 0 ? config.headers : undefined,
      messageId: '',
    };
    ch.on('return', () => stats.returned++);
    ch.on('drain', () => this.wakeUp());
  }

  readonly onConfirm = (err: Error | null): void => {
    this.inFlight--;
    if (err === null) this.stats.confirmed++;
    else if (err.message === 'message nacked') this.stats.nacked++;
    else this.stats.lost++;
    if (this.wake !== undefined && this.inFlight <= this.resumeAt) this.wakeUp();
  };

  /** Publish one body; a promise when the reader must wait (window full, socket busy). */
  readonly send = (body: Buffer): Promise<void> | undefined => {
    if (this.closed || this.stop.aborted) throw STOPPED;
    const { stats, config } = this;
    if (this.maxSize && body.length > this.maxSize.bytes) throw tooLarge(body.length, this.maxSize, stats.published);
    this.options.messageId = this.idPrefix + stats.published;
    let ok: boolean;
    try {
      ok = this.ch.publish(config.exchange, config.routingKey, body, this.options, this.onConfirm);
    } catch (err) {
      // amqplib's own checks (a name or header table it cannot encode): nothing was sent for this one.
      throw mapFailure(err, { url: config.url, operation: 'basic.publish', queue: config.queue || undefined, exchange: config.exchange || undefined });
    }
    stats.published++;
    this.inFlight++;
    if (this.inFlight >= config.window) return this.waitUntil('window');
    if (!ok) return this.waitUntil('drain');
    return undefined;
  };

  wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Everything sent gets its answer, or the connection goes, or (after a signal) 5 s pass. */
  async drain(): Promise<void> {
    while (this.inFlight > 0 && !this.closed && !this.stop.aborted) await this.waitUntil('window').catch(() => undefined);
    if (this.inFlight === 0 || this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      const check = () => {
        if (this.inFlight === 0 || this.closed) {
          clearTimeout(timer);
          resolve();
        } else this.wake = check;
      };
      check();
    });
  }

  private waitUntil(reason: 'window' | 'drain'): Promise<void> {
    this.waitingFor = reason;
    return new Promise<void>((resolve) => (this.wake = resolve)).then(() => {
      this.waitingFor = undefined;
      if (this.closed || this.stop.aborted) throw STOPPED;
    });
  }
}

function tooLarge(size: number, limit: { bytes: number; version: string }, before: number): TooLargeError {
  return new TooLargeError(
    `message ${before + 1} is ${size} bytes, larger than RabbitMQ ${limit.version}'s default max_message_size of ${limit.bytes} bytes: it was not sent. Split the item, or raise max_message_size in rabbitmq.conf and publish it again.`,
  );
}
