import { parseArgv, type OptionSpec, type ParsedValues, type CliRequest } from './args.js';
import { CONNECTION_OPTIONS, resolveConnection, type ConnectionConfig } from './connection.js';
import { DEFAULTS } from './defaults.js';
import { amqpName, integer, queueType, seconds, str, type QueueType } from './values.js';
import { UsageError } from '../errors.js';
import { SPAWN_MODES, type SpawnMode } from '../process/native-spawn.js';

export const CONSUME_OPTIONS: readonly OptionSpec[] = [
  ...CONNECTION_OPTIONS,
  { name: 'count', short: 'c', type: 'string', arg: 'N', help: `messages to process, then exit (default ${DEFAULTS.count}; 0 = no limit)` },
  { name: 'prefetch', short: 'p', type: 'string', arg: 'N', help: `unacked messages the broker may push (default: --concurrency + ${DEFAULTS.prefetchAhead}, at most --count)` },
  { name: 'declare', short: 'd', type: 'boolean', help: 'declare the queue (durable) if it does not exist' },
  { name: 'queue-type', type: 'string', arg: 'TYPE', help: 'classic|quorum, for --declare (default classic)' },
  { name: 'wait', short: 'w', type: 'string', arg: 'SECONDS', help: 'give up (exit 75) if no message arrives in time (default: wait forever)' },
  { name: 'until-empty', type: 'boolean', help: 'drain: process messages until the queue stays empty for --idle seconds, then exit 0' },
  { name: 'idle', type: 'string', arg: 'SECONDS', help: `with --until-empty: how long empty means empty (default ${DEFAULTS.idleSeconds})` },
  { name: 'concurrency', short: 'j', type: 'string', arg: 'K', help: `commands run at once (default ${DEFAULTS.concurrency})` },
  { name: 'timeout', short: 't', type: 'string', arg: 'SECONDS', help: 'stop a command that runs longer (exit 124; default: no limit)' },
  { name: 'grace', type: 'string', arg: 'SECONDS', help: `time between SIGTERM and SIGKILL for the command (default ${DEFAULTS.graceSeconds})` },
  { name: 'max-attempts', type: 'string', arg: 'N', help: 'dead-letter a message after N failed attempts (default: retry forever)' },
  { name: 'dead-letter-queue', type: 'string', arg: 'NAME', help: 'where --max-attempts moves a message (default QUEUE.dead, declared durable)' },
  { name: 'dead-letter-exchange', type: 'string', arg: 'NAME', help: "or publish it to this exchange (e.g. the queue's own DLX) with its routing key" },
];

export interface ConsumeConfig extends ConnectionConfig {
  command: string;
  args: string[];
  count: number;
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
  /** How the command is started (env WQ_SPAWN). */
  spawn: SpawnMode;
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
  const concurrency = integer(values.concurrency, 'concurrency', DEFAULTS.concurrency, 1);
  const untilEmpty = values['until-empty'] === true;
  const count = integer(values.count, 'count', untilEmpty ? 0 : DEFAULTS.count);
  if (untilEmpty && values.wait !== undefined) throw new UsageError('--wait does not apply to --until-empty; use --idle SECONDS.');
  const spawn = (env.WQ_SPAWN || DEFAULTS.spawn) as SpawnMode;
  if (!SPAWN_MODES.includes(spawn)) throw new UsageError(`WQ_SPAWN must be one of ${SPAWN_MODES.join(', ')}; got "${spawn}".`);
  return {
    kind: 'run',
    config: {
      ...connection,
      command,
      args,
      count,
      concurrency,
      prefetch: integer(values.prefetch, 'prefetch', defaultPrefetch(concurrency, count), 1),
      declare: values.declare === true,
      queueType: queueType(values['queue-type']),
      waitSeconds: seconds(values.wait, 'wait', DEFAULTS.waitSeconds),
      untilEmpty,
      idleSeconds: seconds(values.idle, 'idle', DEFAULTS.idleSeconds),
      timeoutSeconds: seconds(values.timeout, 'timeout', DEFAULTS.timeoutSeconds),
      graceSeconds: seconds(values.grace, 'grace', DEFAULTS.graceSeconds),
      maxAttempts: integer(values['max-attempts'], 'max-attempts', DEFAULTS.maxAttempts),
      deadLetter: deadLetterTarget(values, connection.queue, integer(values['max-attempts'], 'max-attempts', DEFAULTS.maxAttempts) > 0),
      spawn,
    },
  };
}

// One message beyond the commands running, so a drain never waits for the ack -> next delivery round
// trip; never more than --count, so `-c 1` takes exactly one message (a second one pushed before the
// cancel would come back marked redelivered).
function defaultPrefetch(concurrency: number, count: number): number {
  const ahead = concurrency + DEFAULTS.prefetchAhead;
  return count > 0 ? Math.max(1, Math.min(ahead, count)) : ahead;
}

// The default dead-letter queue (QUEUE.dead) is checked only when --max-attempts would use it.
function deadLetterTarget(values: ParsedValues, queue: string, used: boolean): DeadLetterTarget {
  const dlq = str(values['dead-letter-queue']);
  const dlx = str(values['dead-letter-exchange']);
  if (dlq !== undefined && dlx !== undefined) throw new UsageError('pass either --dead-letter-queue or --dead-letter-exchange, not both.');
  if (dlx !== undefined) return { kind: 'exchange', exchange: amqpName(dlx, '--dead-letter-exchange') };
  if (dlq === '') throw new UsageError('--dead-letter-queue needs a queue name.');
  if (dlq !== undefined) return { kind: 'queue', queue: amqpName(dlq, '--dead-letter-queue') };
  const name = `${queue}.dead`;
  if (used) amqpName(name, 'the default dead-letter queue (QUEUE.dead, for --max-attempts)', 'Pass --dead-letter-queue NAME, or use a shorter queue name.');
  return { kind: 'queue', queue: name };
}
