import type { ConfirmChannel, Options } from 'amqplib';
import { mapFailure } from '../amqp/broker.js';
import type { PublishConfig } from '../config/publish.js';
import { TooLargeError } from '../errors.js';
import type { PublishStats } from './result.js';
import { Unsettled, type Pending } from './unsettled.js';

/** Thrown into the reader when publishing must stop (a signal, a connection that cannot come back). */
export const STOPPED = new Error('stopped');

/** The message id of the item at a position: RUNID-000042, the same in every run with that --run-id. */
export function messageId(runId: string, position: number): string {
  return `${runId}-${String(position).padStart(6, '0')}`;
}

// The confirm window: at most `window` messages unconfirmed; the reader waits for confirms and for the
// socket to drain, so any input publishes in bounded memory. Each message's body is kept until its
// confirm: when the channel goes (a node lost), what it never confirmed is published again on the next
// one (PublishLink attaches it), with the same message id, before the reader goes on.
export class ConfirmWindow {
  /** Sent on the current channel and not yet confirmed or refused. */
  inFlight = 0;
  /** No more publishing: the connection could not come back, or a failure retrying cannot fix. */
  closed = false;
  waitingFor: 'window' | 'drain' | 'connection' | undefined;
  /** Called once publishing stops for good (the reading must stop too, even while it waits for input). */
  onGiveUp: (() => void) | undefined;
  /** The position of the last item read (from 1; --skip's items count too). */
  position = 0;
  /** When the broker last answered (a confirm or a refusal), or publishing began after a pause (performance.now() ms: a clock step must not count). */
  answeredAt = performance.now();
  private wake: (() => void) | undefined;
  private ch: ConfirmChannel | undefined;
  /** Bumped per channel: a late confirm from a channel that is gone settles nothing. */
  private generation = 0;
  private unsettled = new Unsettled();
  /** What a lost channel did not confirm, and what came while there was none: published first on the next. */
  private again: Pending[] = [];
  private maxSize: { bytes: number; version: string } | undefined;
  /** The lowest position the broker refused (nacked or returned): not in the queue, so a resume must include it. */
  private lowestRefused: number | undefined;
  /** Resume reading at half the window: the reader then publishes a batch at once (fuller writes). */
  private readonly resumeAt: number;
  /** Reused for every message: amqplib encodes the properties synchronously inside publish(). */
  private readonly options: Options.Publish;

  constructor(
    private readonly config: PublishConfig,
    readonly stats: PublishStats,
    private readonly stop: AbortSignal,
  ) {
    this.resumeAt = Math.floor(config.window / 2);
    this.options = {
      persistent: config.persistent,
      mandatory: true,
      contentType: config.contentType,
      contentEncoding: config.contentEncoding,
      headers: Object.keys(config.headers).length > 0 ? config.headers : undefined,
      messageId: '',
    };
  }

  /** A new channel (the first, or after a reconnect): publish again what the last one did not confirm. */
  attach(ch: ConfirmChannel, maxSize: { bytes: number; version: string } | undefined): number {
    this.ch = ch;
    this.maxSize = maxSize;
    this.generation++;
    ch.on('return', (msg: { properties: { messageId?: unknown } }) => {
      this.stats.returned++;
      this.refused(positionOf(this.config.runId, msg.properties.messageId));
    });
    ch.on('drain', () => this.wakeUp());
    const again = this.again;
    this.again = [];
    let republished = 0;
    for (const p of again) {
      if (this.publishOne(p.position, p.body) === undefined) {
        this.again.push(p); // lost again at once: the next channel takes it
      } else if (p.sent) republished++;
    }
    this.stats.republished += republished;
    this.wakeUp();
    return republished;
  }

  /** The channel is gone: everything it did not confirm is to be published again (not counted as published meanwhile). */
  detach(): void {
    if (!this.ch) return;
    this.ch = undefined;
    this.generation++;
    const lost = this.unsettled.take();
    this.stats.published -= lost.length;
    this.inFlight = 0;
    this.again = [...lost, ...this.again].sort((a, b) => a.position - b.position);
  }

  /** Stop for good: what was sent and never confirmed counts as lost (it may or may not be in the queue). */
  giveUp(): void {
    this.detach();
    this.closed = true;
    for (const p of this.again) {
      if (!p.sent) continue;
      this.stats.published++;
      this.stats.lost++;
    }
    this.onGiveUp?.();
    this.wakeUp();
  }

  /** Messages waiting for a channel to be published (again). */
  get waiting(): number {
    return this.again.length;
  }

  /**
   * The first item not known to be confirmed: where a rerun with --skip resumes. Refused items (nacked or
   * returned) count as not confirmed: they are not in the queue, and the rerun must publish them too.
   */
  firstUnconfirmed(): number {
    const lows = [this.unsettled.lowest(), this.again[0]?.position, this.lowestRefused].filter((p): p is number => p !== undefined);
    return lows.length > 0 ? Math.min(...lows) : this.position + 1;
  }

  private refused(position: number | undefined): void {
    if (position !== undefined && (this.lowestRefused === undefined || position < this.lowestRefused)) this.lowestRefused = position;
  }

  /** The largest item the broker takes by default, once connected (items.ts's ItemLimit). */
  readonly maxBytes = (): number | undefined => this.maxSize?.bytes;

  /** An item the reader found over maxBytes before its end: counted and refused as send() would, or skipped (undefined). */
  readonly oversized = (atLeast: number): Error | undefined => {
    if (this.closed || this.stop.aborted) throw STOPPED;
    const position = ++this.position;
    if (position <= this.config.skip) return undefined;
    this.refused(position);
    return tooLarge(atLeast, this.maxSize!, messageId(this.config.runId, position), position, 'over '); // known: maxBytes() gave it
  };

  /** Publish one item; a promise when the reader must wait (window full, socket busy, no channel). */
  readonly send = (body: Buffer): Promise<void> | undefined => {
    if (this.closed || this.stop.aborted) throw STOPPED;
    const position = ++this.position;
    if (position <= this.config.skip) return undefined;
    if (this.maxSize && body.length > this.maxSize.bytes) {
      this.refused(position); // not sent: a rerun resumes at it
      throw tooLarge(body.length, this.maxSize, messageId(this.config.runId, position), position);
    }
    const ok = this.ch ? this.publishOne(position, body) : undefined;
    if (ok === undefined) {
      if (!this.ch) this.again.push({ position, body, sent: false });
      return this.waitUntil('connection');
    }
    if (this.full()) return this.waitUntil('window');
    if (!ok) return this.waitUntil('drain');
    return undefined;
  };

  /** Hand one message to the channel: whether the socket takes more, or undefined when the channel is gone. */
  private publishOne(position: number, body: Buffer): boolean | undefined {
    const ch = this.ch as ConfirmChannel;
    const { config } = this;
    const generation = this.generation;
    const seq = this.unsettled.next;
    this.options.messageId = messageId(config.runId, position);
    let ok: boolean;
    try {
      ok = ch.publish(config.exchange, config.routingKey, body, this.options, (err: Error | null) => this.settled(generation, seq, err));
    } catch (err) {
      // A channel that is closing (its 'close' comes next): published again on the next one.
      if (/^(Channel|Connection) clos(ed|ing)/.test(String((err as Error).message))) {
        this.again.push({ position, body, sent: false });
        return undefined;
      }
      // amqplib's own checks (a name or header table it cannot encode): nothing was sent for this one.
      throw mapFailure(err, { url: config.url, operation: 'basic.publish', queue: config.queue || undefined, exchange: config.exchange || undefined });
    }
    if (this.inFlight === 0) this.answeredAt = performance.now(); // nothing was owed until now
    this.unsettled.add(position, body);
    this.stats.published++;
    this.inFlight++;
    return ok;
  }

  private settled(generation: number, seq: number, err: Error | null): void {
    // "channel closed": detach() takes the message back, to publish it again.
    if (generation !== this.generation || (err !== null && err.message !== 'message nacked')) return;
    const position = this.unsettled.settle(seq);
    if (position === undefined) return;
    this.answeredAt = performance.now();
    this.inFlight--;
    if (err === null) this.stats.confirmed++;
    else {
      this.stats.nacked++;
      this.refused(position);
    }
    if (this.wake !== undefined && this.inFlight <= this.resumeAt && !this.full()) this.wakeUp();
  }

  /** The window is full: --window messages, or their bodies' bytes (large items; one is always let through). */
  private full(): boolean {
    return this.inFlight >= this.config.window || this.unsettled.bytes >= this.config.windowBytes;
  }

  wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Everything read gets its answer (through reconnects), or publishing stops, or (after a signal) 5 s pass. */
  async drain(): Promise<void> {
    while ((this.inFlight > 0 || this.again.length > 0) && !this.closed && !this.stop.aborted) await this.waitUntil('window').catch(() => undefined);
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

  private waitUntil(reason: 'window' | 'drain' | 'connection'): Promise<void> {
    this.waitingFor = reason;
    return new Promise<void>((resolve) => (this.wake = resolve)).then(() => {
      this.waitingFor = undefined;
      if (this.closed || this.stop.aborted) throw STOPPED;
    });
  }
}

/** The position in a message id this run gave (RUNID-000042), or undefined for any other id. */
function positionOf(runId: string, id: unknown): number | undefined {
  if (typeof id !== 'string' || !id.startsWith(`${runId}-`)) return undefined;
  const n = Number(id.slice(runId.length + 1));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function tooLarge(size: number, limit: { bytes: number; version: string }, id: string, position: number, over = ''): TooLargeError {
  return new TooLargeError(
    `item ${position} (message id ${id}) is ${over}${size} bytes, larger than RabbitMQ ${limit.version}'s default max_message_size of ${limit.bytes} bytes: it was not sent. Split the item: wq-publish sends nothing over that default, since AMQP does not tell it a limit the broker was configured with.`,
    undefined,
    position,
  );
}
