import { EXIT } from './exit-codes.js';

// Typed errors: each carries the exit status it maps to and, where it helps, the AMQP operation that failed.
// The message is the one line the user sees: what went wrong, then what to do. `detail` keeps the
// library's own text (redacted) for the log line's fields, never as the message. `retryable` says
// whether trying again can help (connect() retries only those); by default only 69 is.
export interface WqErrorOptions {
  cause?: unknown;
  /** The raw library or broker text, passwords removed. */
  detail?: string;
  retryable?: boolean;
}

export class WqError extends Error {
  readonly exitCode: number;
  readonly code: string;
  readonly detail?: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, exitCode: number, options: WqErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.detail = options.detail;
    this.retryable = options.retryable ?? exitCode === EXIT.BROKER_UNAVAILABLE;
  }
}

/** Bad flags or values; also a name or header the protocol cannot carry. */
export class UsageError extends WqError {
  constructor(message: string, options?: WqErrorOptions) {
    super('USAGE', message, EXIT.USAGE, options);
  }
}

/** The broker could not be reached, or the connection dropped. Retryable unless told otherwise. */
export class BrokerUnavailableError extends WqError {
  constructor(message: string, cause?: unknown, options?: WqErrorOptions) {
    super('BROKER_UNAVAILABLE', message, EXIT.BROKER_UNAVAILABLE, { cause, ...options });
  }
}

/** Login, vhost or a permission refused; or the broker refused our client certificate. */
export class AccessRefusedError extends WqError {
  constructor(message: string, cause?: unknown, options?: WqErrorOptions) {
    super('ACCESS_REFUSED', message, EXIT.ACCESS_REFUSED, { cause, ...options });
  }
}

/** The queue is missing, deleted, or declared with other arguments. */
export class QueueConfigError extends WqError {
  constructor(message: string, cause?: unknown, options?: WqErrorOptions) {
    super('QUEUE_CONFIG', message, EXIT.CONFIG, { cause, ...options });
  }
}

/** TLS cannot work as configured: the broker's certificate is untrusted, expired or for another name, or the port speaks no TLS. */
export class TlsConfigError extends WqError {
  constructor(message: string, cause?: unknown, options?: WqErrorOptions) {
    super('TLS_CONFIG', message, EXIT.CONFIG, { cause, ...options });
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
  constructor(message: string, readonly unconfirmed: number, refused: boolean, cause?: unknown, exitCode?: number) {
    super('UNCONFIRMED', message, exitCode ?? (refused ? EXIT.REFUSED : EXIT.BROKER_UNAVAILABLE), { cause });
  }
}

/** Collapse a library's multi-line message into one line for a log message. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** wq-publish: a message larger than the broker's max_message_size; it and the rest were not published (65). */
export class TooLargeError extends WqError {
  /** `position`: the item's, from 1, when wq-publish refused it before sending. */
  constructor(message: string, cause?: unknown, readonly position?: number) {
    super('TOO_LARGE', message, EXIT.REFUSED, { cause });
  }
}

/** Wrap anything thrown into a WqError, so the CLI has one exit path. */
export function toWqError(err: unknown): WqError {
  if (err instanceof WqError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new WqError('INTERNAL', `internal error: ${message}. Please report it with the log above.`, EXIT.INTERNAL, { cause: err });
}
