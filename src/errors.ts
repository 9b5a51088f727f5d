import { EXIT } from './exit-codes.js';

// Typed errors: each carries the exit status it maps to and, where it helps, the AMQP operation that failed.
// The message is the one line the user sees: what went wrong, then what to do.
export class WqError extends Error {
  readonly exitCode: number;
  readonly code: string;
  constructor(code: string, message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad flags or values. */
export class UsageError extends WqError {
  constructor(message: string) {
    super('USAGE', message, EXIT.USAGE);
  }
}

/** The broker could not be reached, or the connection dropped. */
export class BrokerUnavailableError extends WqError {
  constructor(message: string, cause?: unknown) {
    super('BROKER_UNAVAILABLE', message, EXIT.BROKER_UNAVAILABLE, { cause });
  }
}

/** Login or vhost refused. */
export class AccessRefusedError extends WqError {
  constructor(message: string, cause?: unknown) {
    super('ACCESS_REFUSED', message, EXIT.ACCESS_REFUSED, { cause });
  }
}

/** The queue is missing, deleted, or declared with other arguments. */
export class QueueConfigError extends WqError {
  constructor(message: string, cause?: unknown) {
    super('QUEUE_CONFIG', message, EXIT.CONFIG, { cause });
  }
}

/** The runtime's own set-up cannot work here (e.g. WQ_SPAWN=native without the addon). */
export class ConfigError extends WqError {
  constructor(message: string) {
    super('CONFIG', message, EXIT.CONFIG);
  }
}

/** --wait expired before a message arrived. */
export class NoMessageError extends WqError {
  constructor(message: string) {
    super('NO_MESSAGE', message, EXIT.NO_MESSAGE);
  }
}

/** The command cannot be started: not found (127) or not executable (126). */
export class CommandError extends WqError {
  constructor(code: 'COMMAND_NOT_FOUND' | 'COMMAND_NOT_EXECUTABLE', message: string, cause?: unknown) {
    super(code, message, code === 'COMMAND_NOT_FOUND' ? EXIT.COMMAND_NOT_FOUND : EXIT.COMMAND_NOT_EXECUTABLE, { cause });
  }
}

/**
 * Publisher: messages the broker did not confirm. `refused` (65): every one of them was nacked or returned,
 * so none is in the queue. Otherwise (69) the connection went before their confirms: each may or may not be there.
 */
export class UnconfirmedError extends WqError {
  constructor(message: string, readonly unconfirmed: number, refused: boolean, cause?: unknown) {
    super('UNCONFIRMED', message, refused ? EXIT.REFUSED : EXIT.BROKER_UNAVAILABLE, { cause });
  }
}

/** Collapse a library's multi-line message into one line for a log message. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** wq-publish: a message larger than the broker's max_message_size; it and the rest were not published (65). */
export class TooLargeError extends WqError {
  constructor(message: string, cause?: unknown) {
    super('TOO_LARGE', message, EXIT.REFUSED, { cause });
  }
}

/** Wrap anything thrown into a WqError, so the CLI has one exit path. */
export function toWqError(err: unknown): WqError {
  if (err instanceof WqError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WqError('INTERNAL', `internal error: ${message}. Please report it with the log above.`, EXIT.INTERNAL, { cause: err });
}
