import { readFileSync } from 'node:fs';
import type { OptionSpec, ParsedValues } from './args.js';
import { UsageError } from '../errors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log.js';
import { DEFAULTS } from './defaults.js';
import { rememberSecrets } from '../redact.js';
import { parseUrlList, parseUrlLists } from './urls.js';
import { amqpName, seconds, str } from './values.js';

/** Options every CLI shares: where the broker and the queue are, and how to log. */
export const CONNECTION_OPTIONS: readonly OptionSpec[] = [
  {
    group: 'Connection',
    name: 'url',
    short: 'u',
    type: 'string',
    multiple: true,
    arg: 'URL',
    help: "broker URL; repeat it, or give a comma-separated list, for the nodes of a cluster: tried in turn (env BROKER_URL, then BROKER_URL_FILE, then AMQP_URL; default amqp://guest:***@localhost:5672, RabbitMQ's default account)",
  },
  { group: 'Connection', name: 'url-file', type: 'string', arg: 'PATH', help: 'read the broker URL(s) from a file, e.g. a mounted Secret (env BROKER_URL_FILE)' },
  { group: 'Connection', name: 'queue', short: 'q', type: 'string', arg: 'NAME', help: 'queue name (env QUEUE)' },
  { group: 'Connection', name: 'ca', type: 'string', arg: 'PATH', help: 'CA certificate file for amqps://' },
  { group: 'Connection', name: 'cert', type: 'string', arg: 'PATH', help: 'client certificate file for amqps://' },
  { group: 'Connection', name: 'key', type: 'string', arg: 'PATH', help: 'client key file for amqps://' },
  { group: 'Connection', name: 'heartbeat', type: 'string', arg: 'SECONDS', help: `AMQP heartbeat (default ${DEFAULTS.heartbeatSeconds}; 0 = off)` },
  { group: 'Connection', name: 'connect-timeout', type: 'string', arg: 'SECONDS', help: `keep retrying an unreachable broker this long, and wait as long (${DEFAULTS.answerMinSeconds} s at the least) for an answer it owes (default ${DEFAULTS.connectTimeoutSeconds})` },
  { group: 'Logging', name: 'log-level', type: 'string', arg: 'LEVEL', help: `${LOG_LEVELS.join('|')} (env WQ_LOG_LEVEL; default ${DEFAULTS.logLevel})` },
  { group: 'Logging', name: 'log-format', type: 'string', arg: 'FORMAT', help: `auto|text|json (env WQ_LOG_FORMAT; default ${DEFAULTS.logFormat}: sentences on a terminal, else JSON)` },
  { group: 'Other', name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  { group: 'Other', name: 'version', short: 'V', type: 'boolean', help: 'show the version' },
];

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectionConfig {
  /** The first broker URL, with its password; never print it, use redactUrl(). */
  url: string;
  /** Every broker URL, in the order given (url is the first): connect() tries them in turn. */
  urls: string[];
  queue: string;
  heartbeatSeconds: number;
  connectTimeoutSeconds: number;
  /** How long an answer the broker owes is awaited: --connect-timeout, DEFAULTS.answerMinSeconds at the least. */
  answerTimeoutSeconds: number;
  tls: TlsFiles;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

type Env = Record<string, string | undefined>;

/** Flag > env > default, for the options in CONNECTION_OPTIONS. */
export function resolveConnection(values: ParsedValues, env: Env, requireQueue = true): ConnectionConfig {
  const queue = str(values.queue) ?? env.QUEUE ?? '';
  if (requireQueue && !queue) throw new UsageError('no queue given: pass -q NAME or set QUEUE.');
  amqpName(queue, 'the queue name (-q or QUEUE)');
  const flagUrls = values.url === undefined ? undefined : ([] as string[]).concat(values.url as string | string[]);
  if (flagUrls !== undefined && values['url-file'] !== undefined) throw new UsageError('pass either --url or --url-file, not both.');
  const urls = brokerUrls(flagUrls, str(values['url-file']), env);
  rememberSecrets(urls);
  const logLevel = (str(values['log-level']) ?? nonEmpty(env.WQ_LOG_LEVEL) ?? DEFAULTS.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}".`);
  const logFormat = resolveLogFormat(values, env);
  const connectTimeoutSeconds = seconds(values['connect-timeout'], 'connect-timeout', DEFAULTS.connectTimeoutSeconds);
  return {
    url: urls[0] as string,
    urls,
    queue,
    heartbeatSeconds: seconds(values.heartbeat, 'heartbeat', DEFAULTS.heartbeatSeconds),
    connectTimeoutSeconds,
    answerTimeoutSeconds: Math.max(connectTimeoutSeconds, DEFAULTS.answerMinSeconds),
    tls: {
      ca: caFile(str(values.ca)),
      cert: readOptional(str(values.cert), '--cert'),
      key: readOptional(str(values.key), '--key'),
    },
    logLevel,
    logFormat,
  };
}

/** --log-format > WQ_LOG_FORMAT > default. */
export function resolveLogFormat(values: ParsedValues, env: Env): LogFormat {
  const format = (str(values['log-format']) ?? nonEmpty(env.WQ_LOG_FORMAT) ?? DEFAULTS.logFormat) as LogFormat;
  if (!LOG_FORMATS.includes(format)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}; got "${format}".`);
  return format;
}

/** --url (each) > --url-file > BROKER_URL > BROKER_URL_FILE > AMQP_URL > the default; a list wherever one is read. */
function brokerUrls(flagUrls: string[] | undefined, urlFile: string | undefined, env: Env): string[] {
  if (flagUrls !== undefined) return parseUrlLists(flagUrls, '--url');
  const file = readUrlFile(urlFile, '--url-file');
  if (file !== undefined) return parseUrlList(file, `--url-file ${urlFile}`);
  if (nonEmpty(env.BROKER_URL)) return parseUrlList(env.BROKER_URL as string, 'BROKER_URL');
  const envFile = readUrlFile(nonEmpty(env.BROKER_URL_FILE), 'BROKER_URL_FILE');
  if (envFile !== undefined) return parseUrlList(envFile, `BROKER_URL_FILE ${env.BROKER_URL_FILE}`);
  if (nonEmpty(env.AMQP_URL)) return parseUrlList(env.AMQP_URL as string, 'AMQP_URL');
  return [DEFAULTS.url];
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

// Node ignores a --ca that holds no PEM certificate (a DER file, a key) without a word: every broker
// would then look untrusted. --cert and --key that are not PEM fail at the connect, as a usage error.
function caFile(path: string | undefined): Buffer | undefined {
  const pem = readOptional(path, '--ca');
  if (pem !== undefined && !/-----BEGIN [A-Z0-9 ]*CERTIFICATE-----/.test(pem.toString('latin1'))) {
    throw new UsageError(`--ca file ${path} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line): give the CA's certificate in PEM (a DER file converts with: openssl x509 -inform der -in FILE -out ca.pem).`);
  }
  return pem;
}
