import { BrokerUnavailableError, UsageError, WqError, oneLine } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { redactText, redactUrl, urlPassword } from '../redact.js';
import { replyCodeFailure } from './reply-codes.js';
import { transportFailure } from './transport-failures.js';
import type { Failure, FailureContext } from './failure.js';

export type { Failure, FailureContext } from './failure.js';

/*
 * The one mapping from a failure (amqplib, the broker's close frames, the socket, TLS) to a typed
 * error: its exit code, one sentence naming the cause and the fix, the raw text as `detail`, and
 * whether retrying can help (docs/errors.md has the table). connect() retries only `retryable`.
 */

export function mapFailure(raw: unknown, ctx: FailureContext): WqError {
  if (raw instanceof WqError) return raw;
  const f = describe(raw, ctx);
  return replyCodeFailure(f) ?? amqplibFailure(f) ?? transportFailure(f) ?? unknownFailure(f);
}

/** The old name: map any error for `operation` (with the queue, when one is involved). */
export function brokerError(raw: unknown, url: string, operation: string, queue?: string): WqError {
  return mapFailure(raw, { url, operation, queue });
}

function describe(raw: unknown, ctx: FailureContext): Failure {
  const e = raw as { message?: unknown } | undefined;
  const text = typeof e?.message === 'string' ? e.message : String(raw);
  let parsed: URL | undefined;
  try {
    parsed = new URL(ctx.url);
  } catch {
    parsed = undefined;
  }
  const scheme = (parsed?.protocol ?? 'amqp:').replace(':', '');
  const vhostPath = parsed ? decodeSafe(parsed.pathname.slice(1)) : '';
  return {
    ...ctx,
    raw,
    detail: oneLine(redactText(text, urlPassword(ctx.url))),
    safeUrl: redactUrl(ctx.url),
    user: parsed ? decodeSafe(parsed.username) || 'guest' : 'guest',
    vhost: vhostPath || '/',
    host: parsed?.hostname ?? '',
    port: parsed?.port || (scheme === 'amqps' ? '5671' : '5672'),
    scheme,
  };
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// amqplib's own checks, thrown before anything is sent: names and tables the protocol cannot carry.
function amqplibFailure(f: Failure): WqError | undefined {
  const opts = { cause: f.raw, detail: f.detail };
  const field = /Field '(\w+)' is the wrong type; must be a string \(up to 255 chars\)/.exec(f.detail)?.[1];
  if (field !== undefined) {
    const what = { queue: 'queue names', exchange: 'exchange names', routingKey: 'routing keys', consumerTag: 'consumer tags' }[field] ?? `${field} values`;
    return new UsageError(`${f.operation}: ${what} are at most 255 bytes (UTF-8) in AMQP. Use a shorter one.`, opts);
  }
  if (/Encoded field table .*exceeds the (\d+) byte encoding buffer/.test(f.detail)) {
    return new UsageError(`${f.operation}: the headers (or arguments) are too large: amqplib encodes at most 64 KiB (65536 bytes) of them per message. Put large data in the body instead.`, opts);
  }
  if (/Frame size \d+ exceeds maxFrameSize|frameMax \d+ leaves no room/.test(f.detail)) {
    return new WqError('PROTOCOL', `${f.operation}: a frame from the broker at ${f.safeUrl} is larger than amqplib accepts (frame_max). Check frame_max in rabbitmq.conf; if it is the default, please report it.`, EXIT.INTERNAL, { ...opts, retryable: false });
  }
  if (/Channel (ended|closed)|Connection closed|Heartbeat timeout/i.test(f.detail)) {
    return new BrokerUnavailableError(`${f.operation}: lost the connection to the broker at ${f.safeUrl}. The broker keeps unacked messages; the Job retries this pod.`, f.raw, { detail: f.detail });
  }
  return undefined;
}

// Anything not recognised: treated as the broker being unavailable, as before, so it is retried.
function unknownFailure(f: Failure): WqError {
  return new BrokerUnavailableError(`${f.operation}: cannot reach the broker at ${f.safeUrl} (an unexpected failure; the log line's detail has the library's text). Check --url or BROKER_URL and that RabbitMQ is running.`, f.raw, { detail: f.detail });
}
