import { parseArgv, type OptionSpec, type ParsedValues, type CliRequest } from './args.js';
import { CONNECTION_OPTIONS, resolveConnection, type ConnectionConfig } from './connection.js';
import { DEFAULTS } from './defaults.js';
import { amqpName, exitCodes, integer, queueType, seconds, str, type QueueType } from './values.js';
import { UsageError } from '../errors.js';
import { SPAWN_MODES, type SpawnMode } from '../process/native-spawn.js';

export const CONSUME_OPTIONS: readonly OptionSpec[] = [
  ...CONNECTION_OPTIONS,
  { group: 'Consuming', name: 'count', short: 'c', type: 'string', arg: 'N', help: `messages to process, then exit (default ${DEFAULTS.count}; 0 = no limit)` },
  { group: 'Consuming', name: 'prefetch', short: 'p', type: 'string', arg: 'N', help: `unacked messages the broker may push, 1 to ${DEFAULTS.maxPrefetch}, never more than --count has left (default: --concurrency + ${DEFAULTS.prefetchAhead}, twice --concurrency + ${DEFAULTS.prefetchAhead} with results)` },
  { group: 'Consuming', name: 'declare', short: 'd', type: 'boolean', negatable: true, help: 'declare the queue (durable) if it does not exist; --no-declare: not --result-queue either' },
  { group: 'Consuming', name: 'queue-type', type: 'string', arg: 'TYPE', help: 'classic|quorum, for --declare (default classic: no x-queue-type, so a broker with default_queue_type set gives its type)' },
  { group: 'Consuming', name: 'wait', short: 'w', type: 'string', arg: 'SECONDS', help: 'give up if no message arrives in time: exit 75 if none came (or none was finished), 0 once some were acked, retried or dead-lettered (default: wait forever)' },
  { group: 'Consuming', name: 'until-empty', type: 'boolean', help: 'drain: process messages until the queue stays empty for --idle seconds, then exit 0' },
  { group: 'Consuming', name: 'idle', type: 'string', arg: 'SECONDS', help: `with --until-empty: how long empty means empty (default ${DEFAULTS.idleSeconds})` },
  { group: 'Consuming', name: 'concurrency', short: 'j', type: 'string', arg: 'K', help: `commands run at once, 1 to ${DEFAULTS.maxConcurrency} (default ${DEFAULTS.concurrency})` },
  { group: 'Failures and retries', name: 'timeout', short: 't', type: 'string', arg: 'SECONDS', help: 'stop a command that runs longer (exit 124; default: no limit)' },
  { group: 'Failures and retries', name: 'grace', type: 'string', arg: 'SECONDS', help: `time between SIGTERM and SIGKILL for the command (default ${DEFAULTS.graceSeconds})` },
  { group: 'Consuming', name: 'acquired-file', type: 'string', arg: 'PATH', help: 'a file that exists only while a command runs on a message (for a readinessProbe; KEDA)' },
  { group: 'Failures and retries', name: 'max-attempts', type: 'string', arg: 'N', help: 'dead-letter a message after N failed attempts (default: retry forever)' },
  { group: 'Failures and retries', name: 'dead-letter-queue', type: 'string', arg: 'NAME', help: 'where --max-attempts moves a message, declared durable and of the work queue\'s type if missing (default QUEUE.dead)' },
  { group: 'Failures and retries', name: 'dead-letter-exchange', type: 'string', arg: 'NAME', help: "or publish it to this exchange (e.g. the queue's own DLX) with its routing key" },
  { group: 'Failures and retries', name: 'dead-letter-on', type: 'string', arg: 'CODES', help: 'exit statuses (comma-separated) that dead-letter a message at once: "this item is bad"' },
  { group: 'Failures and retries', name: 'retry-delay', type: 'string', arg: 'SECONDS', help: 'a failed message waits this long, durably, before its next attempt (default 0: at once)' },
  { group: 'Failures and retries', name: 'retry-delay-max', type: 'string', arg: 'SECONDS', help: 'with --retry-delay: double the delay per attempt up to this (exponential backoff)' },
  { group: 'Input and results', name: 'replace', short: 'I', type: 'boolean', help: 'in the command\'s arguments, {} becomes the body (UTF-8 text, one argument) and {file} the path of a file holding it' },
  { group: 'Input and results', name: 'item-file', type: 'boolean', help: 'write each body to a private temporary file, its path in WQ_BODY_FILE (as {file} with -I); removed when the command ends' },
  { group: 'Input and results', name: 'stdin', type: 'boolean', negatable: true, help: 'the body on the command\'s stdin (default on; --no-stdin: an empty stdin)' },
  { group: 'Input and results', name: 'result-queue', type: 'string', arg: 'NAME', help: 'when the command exits 0, publish its stdout to NAME as one confirmed message, then ack (declared if missing)' },
  { group: 'Input and results', name: 'reply', type: 'boolean', help: 'a message with reply_to gets its result there (RPC: its correlation_id comes back)' },
  { group: 'Input and results', name: 'result-max-bytes', type: 'string', arg: 'N', help: `the largest result; a larger output fails its message, exit status 65 (RabbitMQ 4's max message size; default ${DEFAULTS.resultMaxBytes})` },
];

/** The groups of CONSUME_OPTIONS in the order --help and docs/consume.md list them. */
export const CONSUME_GROUPS = ['Connection', 'Consuming', 'Failures and retries', 'Input and results', 'Logging', 'Other'] as const;

export interface ConsumeConfig extends ConnectionConfig {
  command: string;
  args: string[];
  /** Messages to take; a session after a reconnect gets what is left (runCount keeps --count). */
  count: number;
  /** The run's own --count, set for a session after a reconnect. */
  runCount?: number;
  prefetch: number;
  concurrency: number;
  declare: boolean;
  queueType: QueueType;
  waitSeconds: number;
  untilEmpty: boolean;
  idleSeconds: number;
  timeoutSeconds: number;
  graceSeconds: number;
  maxAttempts: number;
  /** Where a message goes after --max-attempts: a queue (through the default exchange) or an exchange. */
  deadLetter: DeadLetterTarget;
  drainPollSeconds: number;
  retryDelaySeconds: number;
  retryDelayMaxSeconds: number;
  deadLetterOn: readonly number[];
  /** --acquired-file: exists only while a command runs on a message; '' = none. */
  acquiredFile: string;
  /** How the command is started (env WQ_SPAWN). */
  spawn: SpawnMode;
  /** WQ_HEADERS at most, in bytes. */
  headersMaxBytes: number;
  /** With --timeout on RabbitMQ 4.3+: x-consumer-timeout is --timeout + --grace + this. */
  consumerTimeoutMarginSeconds: number;
  /** After a signal, --grace + this: the connection is closed if the broker has not answered (defaults.ts). */
  shutdownMarginSeconds: number;
  /** -I: {} and {file} in the arguments are replaced. */
  replace: boolean;
  /** A body file for every command (WQ_BODY_FILE). */
  itemFile: boolean;
  /** The body on stdin (--no-stdin: false). */
  stdin: boolean;
  itemArgMaxBytes: number;
  /** '' = no result queue. */
  resultQueue: string;
  /** A message's reply_to gets its result. */
  reply: boolean;
  resultMaxBytes: number;
  /** Declare --result-queue when it is missing (--no-declare: false). */
  declareResults: boolean;
}

export type DeadLetterTarget = { kind: 'queue'; queue: string } | { kind: 'exchange'; exchange: string };

export type ConsumeRequest = CliRequest<ConsumeConfig>;

/** argv (without node and script) + env -> a complete, validated configuration. */
export function parseConsumeArgs(argv: readonly string[], env: Record<string, string | undefined>): ConsumeRequest {
  const { values, positionals } = parseArgv(argv, CONSUME_OPTIONS, true);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const connection = resolveConnection(values, env);
  const [command, ...args] = positionals;
  if (!command) throw new UsageError('no command given: put the worker after "--", e.g. wq-consume -q jobs -- python3 worker.py');
  const concurrency = integer(values.concurrency, 'concurrency', DEFAULTS.concurrency, 1, DEFAULTS.maxConcurrency);
  const untilEmpty = values['until-empty'] === true;
  const count = integer(values.count, 'count', untilEmpty ? 0 : DEFAULTS.count);
  if (untilEmpty && values.wait !== undefined) throw new UsageError('--wait does not apply to --until-empty; use --idle SECONDS.');
  if (values['retry-delay-max'] !== undefined && values['retry-delay'] === undefined) throw new UsageError('--retry-delay-max needs --retry-delay, the first delay it doubles.');
  const spawn = (env.WQ_SPAWN || DEFAULTS.spawn) as SpawnMode;
  if (!SPAWN_MODES.includes(spawn)) throw new UsageError(`WQ_SPAWN must be one of ${SPAWN_MODES.join(', ')}; got "${spawn}".`);
  return withoutLoops({
    kind: 'run',
    config: {
      ...connection,
      command,
      args,
      count,
      concurrency,
      prefetch: integer(values.prefetch, 'prefetch', defaultPrefetch(concurrency, count, values['result-queue'] !== undefined || values.reply === true), 1, DEFAULTS.maxPrefetch),
      declare: values.declare === true,
      declareResults: values.declare !== false,
      queueType: queueType(values['queue-type']),
      waitSeconds: seconds(values.wait, 'wait', DEFAULTS.waitSeconds),
      untilEmpty,
      idleSeconds: seconds(values.idle, 'idle', DEFAULTS.idleSeconds),
      timeoutSeconds: seconds(values.timeout, 'timeout', DEFAULTS.timeoutSeconds),
      graceSeconds: seconds(values.grace, 'grace', DEFAULTS.graceSeconds),
      maxAttempts: integer(values['max-attempts'], 'max-attempts', DEFAULTS.maxAttempts),
      deadLetter: deadLetterTarget(values, connection.queue, usesDeadLetter(values)),
      drainPollSeconds: DEFAULTS.drainPollSeconds,
      retryDelaySeconds: seconds(values['retry-delay'], 'retry-delay', DEFAULTS.retryDelaySeconds),
      retryDelayMaxSeconds: seconds(values['retry-delay-max'], 'retry-delay-max', DEFAULTS.retryDelayMaxSeconds),
      deadLetterOn: exitCodes(values['dead-letter-on'], 'dead-letter-on', DEFAULTS.deadLetterOn),
      acquiredFile: acquiredFile(values['acquired-file']),
      spawn,
      headersMaxBytes: DEFAULTS.headersMaxBytes,
      consumerTimeoutMarginSeconds: DEFAULTS.consumerTimeoutMarginSeconds,
      shutdownMarginSeconds: DEFAULTS.shutdownMarginSeconds,
      ...itemOptions(values, args),
    },
  });
}

// A dead letter or a result sent to the work queue itself, or to one of its --retry-delay wait queues
// (which expire into it), would come back as work, for ever.
function withoutLoops(request: { kind: 'run'; config: ConsumeConfig }): ConsumeRequest {
  const { queue, deadLetter, resultQueue } = request.config;
  if (deadLetter.kind === 'queue') refuseLoop(deadLetter.queue, queue, '--dead-letter-queue', 'a dead letter', 'Give another queue.');
  if (resultQueue) refuseLoop(resultQueue, queue, '--result-queue', 'each result', "Give another queue (the next stage's).");
  return request;
}

function refuseLoop(target: string, queue: string, option: string, what: string, hint: string): void {
  if (target === queue) throw new UsageError(`${option} is the work queue "${queue}": ${what} would come back as work. ${hint}`);
  if (isWaitQueueOf(target, queue)) throw new UsageError(`${option} "${target}" is a --retry-delay wait queue of "${queue}", whose messages expire back into it: ${what} would come back as work. ${hint}`);
}

/** The name of a --retry-delay wait queue of `queue` (src/consume/wait-queue.ts): "<queue>.retry-30s", or, past 255 bytes, "<queue cut>-<hash>.retry-30s". */
export function isWaitQueueOf(name: string, queue: string): boolean {
  const suffix = /\.retry-\d+m?s$/.exec(name);
  if (!suffix) return false;
  const head = name.slice(0, suffix.index);
  if (head === queue) return true;
  const cut = /^(.*)-[0-9a-f]{12}$/s.exec(head)?.[1];
  return cut !== undefined && Buffer.byteLength(`${queue}${suffix[0]}`) > 255 && queue.startsWith(cut);
}

// One message beyond the commands running, so that the next one is here when a command exits; never
// more than --count, so `-c 1` takes exactly one message (a second one pushed before the cancel would
// come back marked redelivered). With results, each command's message may also wait for its result's
// confirm (milliseconds on a busy broker), still unacked: room for one such message per command.
function defaultPrefetch(concurrency: number, count: number, results: boolean): number {
  const ahead = concurrency * (results ? 2 : 1) + DEFAULTS.prefetchAhead;
  return count > 0 ? Math.max(1, Math.min(ahead, count)) : ahead;
}

// -I must have something to replace; the result queue is a queue name.
function itemOptions(values: ParsedValues, args: readonly string[]) {
  const replace = values.replace === true;
  if (replace && !args.some((a) => a.includes('{}') || a.includes('{file}'))) {
    throw new UsageError('-I (--replace) is given, but no argument of the command holds {} or {file}: put {} where the body goes, e.g. -I -- convert {file} out.png');
  }
  const resultQueue = str(values['result-queue']);
  if (resultQueue === '') throw new UsageError('--result-queue needs a queue name.');
  return {
    replace,
    itemFile: values['item-file'] === true,
    stdin: values.stdin !== false,
    itemArgMaxBytes: DEFAULTS.itemArgMaxBytes,
    resultQueue: resultQueue === undefined ? '' : amqpName(resultQueue, '--result-queue'),
    reply: values.reply === true,
    resultMaxBytes: integer(values['result-max-bytes'], 'result-max-bytes', DEFAULTS.resultMaxBytes),
  };
}

function acquiredFile(value: unknown): string {
  const path = str(value);
  if (path === '') throw new UsageError('--acquired-file needs a path, e.g. /run/wq/acquired on an emptyDir.');
  return path ?? DEFAULTS.acquiredFile;
}

// Whether a failure can be dead-lettered: --max-attempts or --dead-letter-on.
function usesDeadLetter(values: ParsedValues): boolean {
  return integer(values['max-attempts'], 'max-attempts', DEFAULTS.maxAttempts) > 0 || values['dead-letter-on'] !== undefined;
}

// The default dead-letter queue (QUEUE.dead) is checked only when a failure could use it.
function deadLetterTarget(values: ParsedValues, queue: string, used: boolean): DeadLetterTarget {
  const dlq = str(values['dead-letter-queue']);
  const dlx = str(values['dead-letter-exchange']);
  if (dlq !== undefined && dlx !== undefined) throw new UsageError('pass either --dead-letter-queue or --dead-letter-exchange, not both.');
  // The default exchange routes by the queue's own name: the dead letter would come back as work.
  if (dlx === '' || dlx === 'amq.default') throw new UsageError(`--dead-letter-exchange "${dlx}" is the default exchange, which would route a dead letter back to the work queue: give an exchange of your own, or --dead-letter-queue.`);
  if (dlx !== undefined) return { kind: 'exchange', exchange: amqpName(dlx, '--dead-letter-exchange') };
  if (dlq === '') throw new UsageError('--dead-letter-queue needs a queue name.');
  if (dlq !== undefined) return { kind: 'queue', queue: amqpName(dlq, '--dead-letter-queue') };
  const name = `${queue}.dead`;
  if (used) amqpName(name, 'the default dead-letter queue (QUEUE.dead, for --max-attempts)', 'Pass --dead-letter-queue NAME, or use a shorter queue name.');
  return { kind: 'queue', queue: name };
}
