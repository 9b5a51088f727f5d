import type { ConsumeMessage } from 'amqplib';
import type { Outcome } from '../process/outcome.js';
import type { Running } from '../process/runner.js';

/** Starts the command on one message (consume.ts knows how; the session does not). */
export type StartCommand = (msg: ConsumeMessage, attempt: number) => Running;

/** A message in hand: waiting for a free slot, running (`run`), or being settled. */
export interface Slot {
  msg: ConsumeMessage;
  attempt: number;
  run?: Running;
  /** The command has ended; its message is being settled. */
  ended?: boolean;
}

/**
 * The messages in hand and the commands running on them, at most `concurrency` at once. A delivery
 * beyond that (the prefetch holds one more, so the next message is here when a command exits) waits for
 * a free slot. `onEnded` gets every command's outcome, once; what it does is the session's.
 */
export class Slots {
  private readonly inHand = new Set<Slot>();
  private readonly waiting: Slot[] = [];
  private running = 0;

  constructor(
    private readonly concurrency: number,
    private readonly start: StartCommand,
    private readonly onEnded: (slot: Slot, outcome: Outcome) => void,
  ) {}

  /** Take a message: its command starts now if a slot is free, else when one is. */
  take(msg: ConsumeMessage, attempt: number): void {
    const slot: Slot = { msg, attempt };
    this.inHand.add(slot);
    if (this.running < this.concurrency) this.run(slot);
    else this.waiting.push(slot);
  }

  /** Hold a message that is settled without running (admission's copies). */
  hold(msg: ConsumeMessage, attempt: number): Slot {
    const slot: Slot = { msg, attempt, ended: true };
    this.inHand.add(slot);
    return slot;
  }

  /** Start waiting messages while slots are free. */
  startWaiting(): void {
    while (this.waiting.length > 0 && this.running < this.concurrency) this.run(this.waiting.shift()!);
  }

  /** The messages whose commands never started, no longer in hand: the caller hands them back (or the broker has). */
  dropWaiting(): Slot[] {
    const dropped = this.waiting.splice(0);
    for (const slot of dropped) this.inHand.delete(slot);
    return dropped;
  }

  /** Send `signal` to every running command (SIGKILL follows after the grace period). */
  stopRunning(signal: NodeJS.Signals): void {
    for (const slot of this.inHand) if (slot.run && !slot.ended) slot.run.stop(signal);
  }

  release(slot: Slot): void {
    this.inHand.delete(slot);
  }

  get empty(): boolean {
    return this.inHand.size === 0;
  }

  get commandsRunning(): number {
    return this.running;
  }

  // A start that throws (a bug: runCommand itself never throws) leaves the message waiting, never
  // started, so that the stop that follows hands it back; the exception goes to the caller.
  private run(slot: Slot): void {
    try {
      slot.run = this.start(slot.msg, slot.attempt);
    } catch (err) {
      this.waiting.unshift(slot);
      throw err;
    }
    this.running++;
    void slot.run.done.then((outcome) => {
      this.running--;
      slot.ended = true;
      this.onEnded(slot, outcome);
    });
  }
}

/**
 * The prefetch a session asks for, having taken `taken` of --count: never more than are left to take,
 * whatever --prefetch says, and after a reconnect too (the session's count is what is left). A delivery
 * past --count is handed straight back with a nack, and a classic queue marks it redelivered: it would
 * count as an attempt it never had.
 */
export function sessionPrefetch(config: { prefetch: number; count: number }, taken: number): number {
  return config.count > 0 ? Math.max(1, Math.min(config.prefetch, config.count - taken)) : config.prefetch;
}
