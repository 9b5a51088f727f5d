import type { Channel } from 'amqplib';
import type { QueueType } from '../config/values.js';
import { QUEUE_UNAVAILABLE } from './reply-codes.js';

/** The arguments a queue wq declares gets for its type (classic needs none). */
export function queueArguments(type: QueueType): Record<string, unknown> {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

// Declare a durable queue of the given type: wq never creates transient queues.
export async function declareQueue(ch: Channel, queue: string, type: QueueType): Promise<void> {
  await ch.assertQueue(queue, { durable: true, arguments: queueArguments(type) });
}

/** What opens a channel: a connection. */
interface ChannelSource {
  createChannel(): Promise<Channel>;
}

// The type of an existing queue, which AMQP does not report. A declare naming x-queue-type quorum is
// accepted only by a durable quorum queue whose other arguments it does not contradict; a queue of
// another type refuses it naming x-queue-type. The broker checks the other arguments first, and names
// the first that differs with its value (x-max-length, x-delivery-limit...): the probe takes that value
// and asks again, up to PROBES times. undefined: it cannot tell (an argument whose value cannot be read
// back). The queue is checked first, so this never creates it (only a delete in the instant between
// could). Throws what checkQueue throws for a missing queue.
export async function existingQueueType(conn: ChannelSource, queue: string): Promise<QueueType | undefined> {
  let ch = await conn.createChannel();
  ch.on('error', () => {});
  await ch.checkQueue(queue);
  const args: Record<string, unknown> = { 'x-queue-type': 'quorum' };
  for (let probe = 0; probe < PROBES; probe++) {
    if (probe > 0) {
      ch = await conn.createChannel(); // a refused declare closed the last one
      ch.on('error', () => {});
    }
    try {
      await ch.assertQueue(queue, { durable: true, arguments: args });
      await ch.close().catch(() => undefined);
      return 'quorum';
    } catch (err) {
      const differs = /inequivalent arg '([^']+)' .*current is the value '(.*)' of type '(\w+)'/.exec(String((err as Error)?.message));
      if (differs?.[1] === 'x-queue-type') return 'classic';
      const [, name, text, type] = differs ?? [];
      const value = name === undefined || name in args ? undefined : argumentValue(text!, type!);
      if (value === undefined) return undefined;
      args[name!] = value;
    }
  }
  return undefined;
}

const PROBES = 8;

// An argument's value as the broker prints it, as amqplib would send it back: strings, integers, booleans.
function argumentValue(text: string, type: string): unknown {
  if (type === 'longstr') return text;
  if (type === 'bool') return text === 'true';
  if (/^(signedint|long|short|byte|unsignedint|unsignedshort|unsignedbyte)$/.test(type) && /^-?\d+$/.test(text)) return Number(text);
  return undefined;
}

/**
 * The broker said the queue does not exist: a 404, but not one for a queue whose node is down
 * (unavailable). The reply code decides when the error has one; only without one, the broker's words
 * (never a bare "404", which a queue's name in the text can hold).
 */
export function queueMissing(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  const text = String((err as Error)?.message);
  if (QUEUE_UNAVAILABLE.test(text)) return false;
  return typeof code === 'number' ? code === 404 : /NOT_FOUND - no queue/.test(text);
}

// Whether a queue exists (a passive declare on a channel of its own: a missing queue closes it). One on a
// node that is down is not missing: that 404 is thrown, as the broker being unavailable.
export async function queueExists(conn: ChannelSource, queue: string): Promise<boolean> {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.checkQueue(queue);
    await ch.close().catch(() => undefined);
    return true;
  } catch (err) {
    if (queueMissing(err)) return false;
    throw err;
  }
}
