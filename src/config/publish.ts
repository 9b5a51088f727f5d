import { randomBytes } from 'node:crypto';
import { parseArgv, type OptionSpec, type CliRequest } from './args.js';
import { CONNECTION_OPTIONS, resolveConnection, type ConnectionConfig } from './connection.js';
import { DEFAULTS } from './defaults.js';
import { parseHeaders } from './headers.js';
import { amqpName, integer, queueType, str, type QueueType } from './values.js';
import { UsageError } from '../errors.js';

export const PUBLISH_OPTIONS: readonly OptionSpec[] = [
  ...CONNECTION_OPTIONS,
  { group: 'Input', name: 'file', short: 'f', type: 'string', arg: 'PATH', help: 'publish each line of the file as one message ("-" = stdin)' },
  { group: 'Input', name: 'body', short: 'b', type: 'string', arg: 'TEXT', help: 'publish TEXT as one whole message, newlines included' },
  { group: 'Input', name: 'body-file', type: 'string', multiple: true, arg: 'PATH', help: 'publish the whole file, bytes intact, as one message (repeatable: a message each; "-" = stdin)' },
  { group: 'Publishing', name: 'declare', type: 'boolean', negatable: true, help: 'declare the queue, durable, if it does not exist (default on)' },
  { group: 'Publishing', name: 'queue-type', type: 'string', arg: 'TYPE', help: 'classic|quorum, for a queue wq-publish declares (default classic: no x-queue-type, so a broker with default_queue_type set gives its type)' },
  { group: 'Publishing', name: 'exchange', short: 'e', type: 'string', arg: 'NAME', help: 'publish to this exchange (default: the default exchange, straight to -q)' },
  { group: 'Publishing', name: 'routing-key', short: 'r', type: 'string', arg: 'KEY', help: 'routing key (default: the queue name)' },
  { group: 'Message', name: 'content-type', short: 'C', type: 'string', arg: 'TYPE', help: 'content-type property of every message' },
  { group: 'Message', name: 'content-encoding', short: 'E', type: 'string', arg: 'ENC', help: 'content-encoding property of every message' },
  { group: 'Message', name: 'header', short: 'H', type: 'string', multiple: true, arg: 'KEY=VALUE', help: 'a header on every message (repeatable; "KEY: VALUE" works too)' },
  { group: 'Message', name: 'persistent', short: 'p', type: 'boolean', negatable: true, help: 'persistent delivery mode: messages survive a broker restart (default on)' },
  { group: 'Input', name: 'run-id', type: 'string', arg: 'ID', help: 'message ids are ID-000001, ID-000002, ... by item position, the same in every run (default: a random id, logged at the start)' },
  { group: 'Input', name: 'skip', type: 'string', arg: 'N', help: 'skip the first N items: resume a run that gave up (its last line says N), with its --run-id' },
  { group: 'Publishing', name: 'window', type: 'string', arg: 'N', help: `messages in flight before waiting for confirms, at most ${DEFAULTS.publishWindowMax} (default ${DEFAULTS.publishWindow}); and at most ${DEFAULTS.publishWindowBytes / 1024 / 1024} MiB of them` },
  { group: 'Publishing', name: 'progress', type: 'boolean', negatable: true, help: `progress bar on a terminal, else a log line every ${DEFAULTS.progressSeconds}s (default on)` },
  { group: 'Job manifests', name: 'job', type: 'string', arg: 'TEMPLATE', help: 'write the Job manifest to stdout with spec.completions = ready messages in the queue' },
  { group: 'Job manifests', name: 'job-secret', type: 'string', arg: 'NAME', help: `with --job: the Secret holding BROKER_URL, when the template names none (default ${DEFAULTS.jobSecretName})` },
  { group: 'Job manifests', name: 'job-secret-key', type: 'string', arg: 'KEY', help: `with --job: the key in that Secret (default ${DEFAULTS.jobSecretKey})` },
  { group: 'Job manifests', name: 'expand', type: 'string', arg: 'TEMPLATE', help: 'no broker: write one Job per item to stdout, $ITEM replaced (multi-document YAML); publishes nothing' },
  { group: 'Job manifests', name: 'suspend', type: 'boolean', help: 'with --job or --expand: create the Job suspended (spec.suspend: true)' },
  { group: 'Job manifests', name: 'kueue-queue', type: 'string', arg: 'NAME', help: 'with --job or --expand: the Kueue LocalQueue (kueue.x-k8s.io/queue-name label), created suspended' },
  { group: 'Job manifests', name: 'job-container', type: 'string', arg: 'NAME', help: 'with --job: the worker container to wire (default: the first)' },
];

/** Where the messages come from. Lines: one message per line; whole: one message. */
/** The groups of PUBLISH_OPTIONS in the order --help and docs/publish.md list them. */
export const PUBLISH_GROUPS = ['Connection', 'Input', 'Publishing', 'Message', 'Job manifests', 'Logging', 'Other'] as const;

export type ItemSource =
  | { kind: 'args'; items: string[] }
  | { kind: 'body'; body: string }
  | { kind: 'files'; paths: string[] }
  | { kind: 'file'; path: string }
  | { kind: 'stdin' }
  | { kind: 'none' };

export interface JobOptions {
  template: string;
  secretName: string;
  secretKey: string;
  container?: string;
  /** spec.suspend: true (also with kueueQueue). */
  suspend?: boolean;
  /** The kueue.x-k8s.io/queue-name label. */
  kueueQueue?: string;
}

/** wq-publish --expand: one Job per item from a $ITEM template; no broker. */
export interface ExpandOptions {
  template: string;
  suspend?: boolean;
  kueueQueue?: string;
}

export interface PublishConfig extends ConnectionConfig {
  source: ItemSource;
  exchange: string;
  routingKey: string;
  declare: boolean;
  queueType: QueueType;
  persistent: boolean;
  contentType?: string;
  contentEncoding?: string;
  headers: Record<string, string>;
  window: number;
  /** The bodies' bytes in flight, at most (one message always goes). */
  windowBytes: number;
  /** Message ids are `${runId}-000042`: the item's position in the input, from 1. */
  runId: string;
  /** Items at the start of the input not to publish (a resumed run). */
  skip: number;
  progress: boolean;
  /** Seconds between progress log lines when stderr is not a terminal. */
  progressSeconds: number;
  job?: JobOptions;
  /** Set: expand the items into Jobs instead of publishing them. */
  expand?: ExpandOptions;
}

export type PublishRequest = CliRequest<PublishConfig>;

/** argv (without node and script) + env -> a complete, validated configuration. */
export function parsePublishArgs(argv: readonly string[], env: Record<string, string | undefined>, stdinIsTTY: boolean): PublishRequest {
  const { values, positionals } = parseArgv(argv, PUBLISH_OPTIONS, false);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const exchange = amqpName(str(values.exchange) ?? '', '--exchange');
  const expandPath = str(values.expand);
  const connection = resolveConnection(values, env, exchange === '' && expandPath === undefined);
  const { queue } = connection;
  const routingKey = amqpName(str(values['routing-key']) ?? queue, '--routing-key', undefined, true);
  if (!routingKey && expandPath === undefined) throw new UsageError('no routing key: with --exchange and no -q, pass --routing-key KEY.');
  // The default exchange routes by the key alone: another key than -q would fill another queue than the one counted.
  if (exchange === '' && queue && routingKey !== queue && expandPath === undefined) {
    throw new UsageError(`--routing-key "${routingKey}" without --exchange would publish to queue "${routingKey}", not to -q "${queue}": drop --routing-key, or give the --exchange it is for.`);
  }
  const jobPath = str(values.job);
  if (jobPath !== undefined && !queue) throw new UsageError('--job needs the queue (-q or QUEUE): completions come from its depth.');
  if (expandPath !== undefined && jobPath !== undefined) throw new UsageError('pass either --job (after publishing) or --expand (instead of publishing), not both.');
  if (expandPath === '') throw new UsageError('--expand needs a Job template with $ITEM in it.');
  if (values['kueue-queue'] === '') throw new UsageError('--kueue-queue needs the name of a Kueue LocalQueue.');
  const kueueQueue = str(values['kueue-queue']);
  if (kueueQueue !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(kueueQueue)) {
    throw new UsageError(`--kueue-queue "${kueueQueue}" is not a LocalQueue name: at most 63 lower-case letters, digits, '-' or '.', a letter or digit at both ends.`);
  }
  for (const flag of ['job-secret', 'job-secret-key', 'job-container']) {
    if (values[flag] !== undefined && jobPath === undefined) throw new UsageError(`--${flag} only applies with --job TEMPLATE.`);
  }
  // --expand publishes nothing: no message ids, nothing to resume.
  for (const flag of ['run-id', 'skip']) {
    if (values[flag] !== undefined && expandPath !== undefined) throw new UsageError(`--${flag} does not apply with --expand, which publishes nothing: it writes a Job per item.`);
  }
  for (const flag of ['suspend', 'kueue-queue']) {
    if (values[flag] !== undefined && jobPath === undefined && expandPath === undefined) throw new UsageError(`--${flag} only applies with --job or --expand.`);
  }
  return {
    kind: 'run',
    config: {
      ...connection,
      source: itemSource(positionals, str(values.file), str(values.body), values['body-file'] as string[] | undefined, stdinIsTTY, jobPath !== undefined),
      exchange,
      routingKey,
      declare: values.declare !== false && queue !== '',
      queueType: queueType(values['queue-type']),
      persistent: values.persistent !== false,
      contentType: shortStr(values['content-type'], '--content-type'),
      contentEncoding: shortStr(values['content-encoding'], '--content-encoding'),
      headers: parseHeaders((values.header as string[] | undefined) ?? []),
      window: integer(values.window, 'window', DEFAULTS.publishWindow, 1, DEFAULTS.publishWindowMax),
      windowBytes: DEFAULTS.publishWindowBytes,
      runId: runId(values['run-id']),
      skip: integer(values.skip, 'skip', 0),
      progress: values.progress !== false,
      progressSeconds: DEFAULTS.progressSeconds,
      expand: expandPath === undefined ? undefined : { template: expandPath, suspend: values.suspend === true, kueueQueue: str(values['kueue-queue']) },
      job:
        jobPath === undefined
          ? undefined
          : {
              template: jobPath,
              secretName: secretRef(str(values['job-secret']) ?? DEFAULTS.jobSecretName, '--job-secret', /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a Secret name: lower-case letters, digits, \'-\' and \'.\', a letter or digit at both ends'),
              secretKey: secretRef(str(values['job-secret-key']) ?? DEFAULTS.jobSecretKey, '--job-secret-key', /^[-._a-zA-Z0-9]+$/, 'a key in a Secret: letters, digits, \'-\', \'_\' and \'.\''),
              container: str(values['job-container']),
              suspend: values.suspend === true,
              kueueQueue: str(values['kueue-queue']),
            },
    },
  };
}

// What the API server accepts as a Secret's name or key (at most 253 characters), checked before publishing.
function secretRef(value: string, flag: string, ok: RegExp, what: string): string {
  if (value.length <= 253 && ok.test(value)) return value;
  const shown = /:\/\/|@/.test(value) ? 'that value' : JSON.stringify(value); // a URL given by mistake: never echoed
  throw new UsageError(`${flag} ${shown} is not ${what}, at most 253 characters. It names the Secret that holds the broker URL, not the URL itself.`);
}

function itemSource(items: string[], file: string | undefined, body: string | undefined, bodyFiles: string[] | undefined, stdinIsTTY: boolean, job: boolean): ItemSource {
  const given = [items.length > 0 && 'items', file !== undefined && '--file', body !== undefined && '--body', bodyFiles && '--body-file'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`give the messages one way: ${given.join(' or ')}, not both.`);
  if (items.length > 0) return { kind: 'args', items };
  if (bodyFiles) {
    if (bodyFiles.includes('')) throw new UsageError('--body-file needs a path ("-" = stdin).');
    if (bodyFiles.filter((p) => p === '-').length > 1) throw new UsageError('--body-file - (stdin) can be given once.');
    return { kind: 'files', paths: bodyFiles };
  }
  if (body !== undefined) return { kind: 'body', body };
  if (file === '-') return { kind: 'stdin' };
  if (file !== undefined) return { kind: 'file', path: file };
  if (!stdinIsTTY) return { kind: 'stdin' };
  if (job) return { kind: 'none' };
  throw new UsageError('nothing to publish (or expand): pass items as arguments, --file PATH, -b TEXT, or pipe lines on stdin.');
}

/** --run-id, or a random one: letters, digits and . _ : - (it starts every message id, a shortstr). */
function runId(value: unknown): string {
  const id = str(value) ?? randomBytes(DEFAULTS.runIdBytes).toString('hex');
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/.test(id)) throw new UsageError(`--run-id takes 1-100 letters, digits, ".", "_", ":" or "-", starting with a letter or digit; got "${id}".`);
  return id;
}

function shortStr(value: unknown, flag: string): string | undefined {
  const s = str(value);
  return s === undefined ? undefined : amqpName(s, flag);
}
