import { readFileSync } from 'node:fs';
import type { OptionSpec, ParsedValues } from './args.js';
import { UsageError } from './errors.js';

// The one place for defaults. Precedence everywhere: command-line flag > environment variable > default.
export const DEFAULTS = {
  /** @default amqp://guest:guest@localhost:5672 (RabbitMQ's own default account) */
  url: 'amqp://guest:guest@localhost:5672',
  /** AMQP heartbeat in seconds, so a dead connection is noticed while a long command runs. @default 30 */
  heartbeatSeconds: 30,
  /** How long start-up keeps retrying an unreachable broker. @default 30 */
  connectTimeoutSeconds: 30,
  /** @default 'info' */
  logLevel: 'info',
  /** Messages to process before exiting; 0 = no limit. @default 1 */
  count: 1,
  /** Commands run at once. @default 1 */
  concurrency: 1,
  /**
   * Messages the broker may push beyond --concurrency (the default prefetch is concurrency + this, at most
   * --count), so the next message is already here when a command exits. @default 1
   */
  prefetchAhead: 1,
  /** Seconds to wait for the first message; 0 = forever, as amqp-consume. @default 0 */
  waitSeconds: 0,
  /** --until-empty: seconds the queue must stay empty before exiting. @default 3 */
  idleSeconds: 3,
  /** Seconds a command gets between SIGTERM and SIGKILL. Below Kubernetes' default 30 s grace. @default 20 */
  graceSeconds: 20,
  /** Seconds a command may run; 0 = no limit. @default 0 */
  timeoutSeconds: 0,
  /**
   * How wq-consume starts the command (env WQ_SPAWN): auto = posix_spawn through dist/wq-spawn.node where it
   * loads, else node:child_process; native = the addon or exit 78; child_process = always Node's. @default 'auto'
   */
  spawn: 'auto',
  /** Deliveries before a message is dead-lettered; 0 = never. @default 0 */
  maxAttempts: 0,
  /** wq-publish: messages published but not yet confirmed, at most. @default 1000 */
  publishWindow: 1000,
  /** wq-publish: seconds between progress log lines when stderr is not a terminal. @default 5 */
  progressSeconds: 5,
  /** wq-publish --job: the Secret (name, key) that holds BROKER_URL when the template names none. @default wq-broker, url */
  jobSecretName: 'wq-broker',
  jobSecretKey: 'url',
} as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options every CLI shares: where the broker and the queue are, and how to log. */
export const CONNECTION_OPTIONS: readonly OptionSpec[] = [
  { name: 'url', short: 'u', type: 'string', arg: 'URL', help: 'broker URL (env BROKER_URL, then AMQP_URL; default amqp://guest:guest@localhost:5672)' },
  { name: 'url-file', type: 'string', arg: 'PATH', help: 'read the broker URL from a file, e.g. a mounted Secret (env BROKER_URL_FILE)' },
  { name: 'queue', short: 'q', type: 'string', arg: 'NAME', help: 'queue name (env QUEUE)' },
  { name: 'ca', type: 'string', arg: 'PATH', help: 'CA certificate file for amqps://' },
  { name: 'cert', type: 'string', arg: 'PATH', help: 'client certificate file for amqps://' },
  { name: 'key', type: 'string', arg: 'PATH', help: 'client key file for amqps://' },
  { name: 'heartbeat', type: 'string', arg: 'SECONDS', help: `AMQP heartbeat (default ${DEFAULTS.heartbeatSeconds}; 0 = off)` },
  { name: 'connect-timeout', type: 'string', arg: 'SECONDS', help: `keep retrying an unreachable broker this long (default ${DEFAULTS.connectTimeoutSeconds})` },
  { name: 'log-level', type: 'string', arg: 'LEVEL', help: `${LOG_LEVELS.join('|')} (env WQ_LOG_LEVEL; default ${DEFAULTS.logLevel})` },
  { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  { name: 'version', short: 'V', type: 'boolean', help: 'show the version' },
];

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectionConfig {
  /** The URL with its password; never print it, use redactUrl(). */
  url: string;
  queue: string;
  heartbeatSeconds: number;
  connectTimeoutSeconds: number;
  tls: TlsFiles;
  logLevel: LogLevel;
}

type Env = Record<string, string | undefined>;

/** Flag > env > default, for the options in CONNECTION_OPTIONS. */
export function resolveConnection(values: ParsedValues, env: Env, requireQueue = true): ConnectionConfig {
  const queue = str(values.queue) ?? env.QUEUE ?? '';
  if (requireQueue && !queue) throw new UsageError('no queue given: pass -q NAME or set QUEUE.');
  if (values.url !== undefined && values['url-file'] !== undefined) throw new UsageError('pass either --url or --url-file, not both.');
  const url =
    str(values.url) ??
    readUrlFile(str(values['url-file']), '--url-file') ??
    nonEmpty(env.BROKER_URL) ??
    readUrlFile(nonEmpty(env.BROKER_URL_FILE), 'BROKER_URL_FILE') ??
    nonEmpty(env.AMQP_URL) ??
    DEFAULTS.url;
  if (!/^amqps?:\/\//i.test(url)) throw new UsageError('the broker URL must start with amqp:// or amqps:// (check --url, BROKER_URL or AMQP_URL).');
  const logLevel = (str(values['log-level']) ?? nonEmpty(env.WQ_LOG_LEVEL) ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}".`);
  return {
    url,
    queue,
    heartbeatSeconds: seconds(values.heartbeat, 'heartbeat', DEFAULTS.heartbeatSeconds),
    connectTimeoutSeconds: seconds(values['connect-timeout'], 'connect-timeout', DEFAULTS.connectTimeoutSeconds),
    tls: {
      ca: readOptional(str(values.ca), '--ca'),
      cert: readOptional(str(values.cert), '--cert'),
      key: readOptional(str(values.key), '--key'),
    },
    logLevel,
  };
}

/** A non-negative number of seconds (fractions allowed), or the default. */
export function seconds(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${flag} needs a number of seconds >= 0; got "${String(value)}".`);
  }
  return n;
}

/** A non-negative integer, or the default. */
export function integer(value: unknown, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min) {
    throw new UsageError(`--${flag} needs a whole number >= ${min}; got "${String(value)}".`);
  }
  return n;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value ? value : undefined;
}

function readUrlFile(path: string | undefined, what: string): string | undefined {
  if (path === undefined) return undefined;
  const text = readOptional(path, what)?.toString('utf8').trim();
  if (!text) throw new UsageError(`${what} ${path} is empty: it should hold the broker URL.`);
  return text;
}

function readOptional(path: string | undefined, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check the path and its permissions.`);
  }
}
