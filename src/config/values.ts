import { UsageError } from '../errors.js';

// Parsers for option values, shared by both CLIs' configs. Each names the flag in its error.

/** The longest time a Node timer can wait (2^31 - 1 ms): past it, setTimeout fires at once. */
export const MAX_SECONDS = 2_147_483;

/** Seconds as people write them: 30, 0.5, .5; not 0x10 or 1e3, which Number() would also take. */
const DECIMAL = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/;

/** A number of seconds from 0 to MAX_SECONDS (fractions allowed), or the default. */
export function seconds(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !DECIMAL.test(value) || n > MAX_SECONDS) {
    throw new UsageError(`--${flag} needs a number of seconds from 0 to ${MAX_SECONDS} (24 days); got "${String(value)}".`);
  }
  return n;
}

/** A non-negative integer from min (to max, when given), or the default. */
export function integer(value: unknown, flag: string, fallback: number, min = 0, max?: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || (max !== undefined && n > max)) {
    const range = max === undefined ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${flag} needs a whole number ${range}; got "${String(value)}".`);
  }
  return n;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A comma-separated list of exit statuses (1-255), or the default. */
export function exitCodes(value: unknown, flag: string, fallback: readonly number[]): readonly number[] {
  if (value === undefined) return fallback;
  const parts = String(value).split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 255)) {
    throw new UsageError(`--${flag} needs exit statuses from 1 to 255, comma-separated (e.g. 3,4); got "${String(value)}".`);
  }
  return parts.map(Number);
}

export const QUEUE_TYPES = ['classic', 'quorum'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];

/** --queue-type: classic (the default) or quorum. */
export function queueType(value: unknown): QueueType {
  const type = str(value) ?? 'classic';
  if (!(QUEUE_TYPES as readonly string[]).includes(type)) throw new UsageError(`--queue-type must be classic or quorum; got "${type}".`);
  return type as QueueType;
}

/** AMQP carries names (queue, exchange, routing key) as shortstr: at most 255 bytes of UTF-8. */
export const MAX_NAME_BYTES = 255;

/** Reject a name AMQP cannot carry before anything connects. */
export function amqpName(value: string, what: string, fix = 'Use a shorter one.', routingKey = false): string {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_NAME_BYTES) throw new UsageError(`${what} is ${bytes} bytes long: AMQP names are at most ${MAX_NAME_BYTES} bytes (UTF-8). ${fix}`);
  // RabbitMQ strips CR and LF from the name of a queue or exchange it declares or checks, never from a
  // routing key: "job1\n" (a YAML block scalar in a ConfigMap) would declare "job1", and route nothing to it.
  if (!routingKey && /[\r\n]/.test(value)) throw new UsageError(`${what} ${JSON.stringify(value)} holds a line break, which RabbitMQ drops from queue and exchange names but not from routing keys: nothing would reach it. Remove it (a ConfigMap value written with "|" ends with one; use "queue: job1").`);
  return value;
}
