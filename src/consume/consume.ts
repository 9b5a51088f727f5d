import type { Channel, ConfirmChannel } from 'amqplib';
import { batchSocketWrites } from '../amqp/batch-writes.js';
import { brokerError, brokerVersion, closeQuietly, connectAny, connectionSocket, type Connection } from '../amqp/broker.js';
import { within } from '../amqp/within.js';
import { declareQueue, existingQueueType, queueExists, queueMissing } from '../amqp/queue.js';
import type { ConsumeConfig } from '../config/consume.js';
import type { QueueType } from '../config/values.js';
import { BrokerUnavailableError, ConfigError, QueueConfigError, WqError, oneLine } from '../errors.js';
import { signalExitCode } from '../exit-codes.js';
import type { Logger } from '../log.js';
import { resolveCommand } from '../process/command.js';
import { loadNativeSpawn, type NativeSpawn, type SpawnMode } from '../process/native-spawn.js';
import { openAcquiredFile } from './acquired-file.js';
import { lostError, lostSentence } from './lost-error.js';
import { ResultPublisher } from './results.js';
import { RunStats } from './run-stats.js';
import { ConsumeSession, type QueueProbe, type StartCommand } from './session.js';
import { commandStarter } from './starter.js';
import { retryDelaysMs, waitQueueName } from './wait-queue.js';

/*
 * The ack contract (README "The ack contract"; the decisions are in verdict.ts):
 * - the command exits 0             -> basic.ack
 * - it fails                        -> a confirmed retry copy (attempts recorded), then the ack; or,
 *                                      after --max-attempts or on a --dead-letter-on status, a confirmed
 *                                      dead-letter copy, then the ack
 * - wq stopped it (a signal)        -> put back: a confirmed fresh copy (no attempt spent), then the ack;
 *                                      a nack with requeue if the copy fails; whatever its exit status
 * - the connection or channel is lost -> the broker has already requeued it; no ack on a stale tag
 * Nothing is acked before the command succeeded or its copy was confirmed, and nothing is dropped.
 */

export interface ConsumeResult {
  exitCode: number;
  /** What happened to each message (RunStats.summary()). */
  summary: Record<string, number>;
  /** The error that ended the run, if any (already carries its exit code). */
  error?: WqError;
}

// The run's phases: resolve the command, pick the spawn, then connect, run a session until it ends, close
// the channel (which flushes the acks) and the connection. A session that ended because the connection
// or channel was lost (a node crashed or shut down: the broker took back what was in hand, and its
// commands were stopped) is followed by another, on the next address, for what is left of --count, until
// no address answers within --connect-timeout (exit 69). The run's account spans them all.
export async function consume(config: ConsumeConfig, log: Logger, stop: AbortSignal): Promise<ConsumeResult> {
  const file = resolveCommand(config.command);
  const native = nativeSpawnFor(config.spawn, log);
  const acquired = openAcquiredFile(config.acquiredFile, log);
  const start = commandStarter(config, file, native, acquired, log);
  const stats = new RunStats();
  try {
    return await runSessions(config, log, stop, start, stats);
  } catch (err) {
    // A run that ends on an error after it did something (a reconnect that no address answered) keeps its account.
    if (!(err instanceof WqError) || stats.messages() + stats.reconnects === 0) throw err;
    return { exitCode: err.exitCode, summary: stats.summary(), error: err };
  }
}

async function runSessions(config: ConsumeConfig, log: Logger, stop: AbortSignal, start: StartCommand, stats: RunStats): Promise<ConsumeResult> {
  const signalled = (): ConsumeResult => ({ exitCode: signalExitCode(String(stop.reason)), summary: stats.summary() });
  let setupDeadline: number | undefined;
  for (;;) {
    if (stop.aborted) return signalled();
    let conn: Connection;
    let url: string; // the address reached: what a failure from here on names
    const connecting = performance.now();
    try {
      ({ conn, url } = await connectAny(config, 'wq-consume', log, stop)); // the same config object: the next address first
      batchSocketWrites(conn); // frames sent in one turn of the event loop go out in one write
    } catch (err) {
      if (!stop.aborted) throw err;
      log.warn({ queue: config.queue, signal: String(stop.reason) }, `received ${String(stop.reason)} while connecting to the broker: exiting`);
      return signalled();
    }
    // A setup tried again after a lost connection: the time spent connecting is --connect-timeout's, not the setup's.
    if (setupDeadline !== undefined) setupDeadline += performance.now() - connecting;
    if (stats.reconnects === 0 && config.timeoutSeconds === 0 && (config.untilEmpty || config.count !== 1)) {
      log.info({ queue: config.queue, broker: brokerVersion(conn) }, 'no --timeout: a command that runs past the broker\'s delivery acknowledgement timeout (consumer_timeout, 30 min by default; a queue may set x-consumer-timeout) has its message taken back and run again. Set --timeout for long commands');
    }
    // One watcher for the connection's whole life, its setup and its close included: a signal stops the
    // session's commands, and if the broker has not let the run end within --grace and the margin (a
    // resource alarm blocks a connection that publishes: no confirm, no close-ok), the connection is cut.
    let session: ConsumeSession | undefined;
    // amqplib leaves a close() pending for ever once the socket is gone (a cut connection): the setup and
    // the close wait for this too, or the event loop would empty and the process exit in the middle.
    const gone = new Promise<Error | undefined>((resolve) => conn.once('close', resolve));
    const lostInSetup = gone.then((err) => Promise.reject(lostError(err, url)));
    lostInSetup.catch(() => undefined); // read only by the setup's race
    let deadline: NodeJS.Timeout | undefined;
    let cut = false;
    const onStop = () => {
      session?.signal(String(stop.reason ?? 'SIGTERM'));
      // At most a Node timer's longest wait (2^31 - 1 ms): past it, setTimeout fires at once.
      deadline ??= setTimeout(() => (cut = cutConnection(conn, config, log)), Math.min((config.graceSeconds + config.shutdownMarginSeconds) * 1000, 2 ** 31 - 1));
    };
    stop.addEventListener('abort', onStop, { once: true });
    if (stop.aborted) onStop();
    try {
      const left = config.count > 0 ? config.count - stats.settledOnPurpose() : 0;
      const bound = boundSetup(conn, (setupDeadline ??= performance.now() + config.answerTimeoutSeconds * 1000));
      try {
        // onStop knows the session as soon as it exists: a signal during its setup stops it before it consumes.
        const made = (s: ConsumeSession) => ((session = s), stop.aborted && s.signal(String(stop.reason ?? 'SIGTERM')));
        session = await bound.race(Promise.race([openSession(conn, { ...config, url, count: left, runCount: config.count }, log, start, stats, made), lostInSetup]));
        setupDeadline = undefined;
      } catch (err) {
        if (stop.aborted) return signalled();
        // A node that has just come back, or a queue whose leader is being elected, may refuse a consumer
        // for a moment: a retryable failure is tried again within --connect-timeout.
        const e = bound.expired() ? setupTimeoutError(config) : (err as WqError);
        if (!e.retryable || performance.now() > bound.deadline) throw e;
        log.warn({ queue: config.queue, detail: e.detail }, `${e.message} Trying again.`);
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      await session.closed;
      if (session.channelOpen) {
        await within(Promise.race([session.cancelDone(), gone]), CLOSE_STEP_MS);
        await within(Promise.race([session.channel.close().catch(() => undefined), gone]), CLOSE_STEP_MS); // flushes the acks (amqplib buffers frames per channel)
      }
      await within(Promise.race([closeQuietly(conn), gone]), CLOSE_STEP_MS);
    } finally {
      stop.removeEventListener('abort', onStop);
      clearTimeout(deadline);
    }
    // A signal ended the run: a connection cut or lost meanwhile is not a failure of its own (the broker
    // has put back what was not acked), so the exit status is the signal's.
    if (cut || (stop.aborted && session.lost)) return signalled();
    const lost = reconnectable(session);
    if (lost && !(config.count > 0 && stats.settledOnPurpose() >= config.count)) {
      stats.reconnects++;
      log.warn({ queue: config.queue, reconnects: stats.reconnects, detail: lost.detail }, `${lostSentence(lost)}; reconnecting (to the next address, if there are several) within --connect-timeout ${config.connectTimeoutSeconds}s`);
      continue;
    }
    const end = lost && config.count > 0 && stats.settledOnPurpose() >= config.count ? { exitCode: 0, error: undefined } : session.end;
    return { exitCode: end.exitCode, summary: stats.summary(), error: end.error };
  }
}

// Each step of the close waits this long at most: a broker whose queue's node has died answers a close
// only after its own timeout (a minute). What was not acked then goes back: a duplicate at worst.
const CLOSE_STEP_MS = 5000;

// The setup by `deadline`: a quorum queue without a majority of its nodes holds basic.consume for about a
// minute, then closes the connection (541), and a node that stopped answering holds it longer. Past the
// deadline the connection is cut: the broker keeps the queue's messages (and takes back any delivered).
function boundSetup(conn: Connection, deadline: number) {
  let expired = false;
  return {
    deadline,
    expired: () => expired,
    async race<T>(setup: Promise<T>): Promise<T> {
      const timer = setTimeout(() => {
        expired = true;
        connectionSocket(conn)?.destroy(new Error('the consume setup did not finish in time'));
      }, Math.max(0, deadline - performance.now()));
      try {
        return await setup;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function setupTimeoutError(config: ConsumeConfig): WqError {
  return new BrokerUnavailableError(`consume setup: queue "${config.queue}" did not take a consumer within ${config.answerTimeoutSeconds}s (--connect-timeout): a quorum queue without a majority of its nodes running, or a node that does not answer. Its messages wait in it; the Job retries this pod.`, undefined, { retryable: false });
}

// A signal's deadline passed and the broker has not answered: a confirm or a close-ok that does not come
// (a resource alarm blocks a connection that publishes). Closing the socket fails what waits on it, so
// the run ends; the broker puts back every message that was not acked.
function cutConnection(conn: Connection, config: ConsumeConfig, log: Logger): true {
  const seconds = config.graceSeconds + config.shutdownMarginSeconds;
  log.warn({ queue: config.queue, seconds }, `the broker has not answered within ${seconds}s of the signal (a resource alarm?): closing the connection; the broker puts back every message not acked`);
  connectionSocket(conn)?.destroy(new Error(`no answer from the broker within ${seconds}s of the signal`));
  return true;
}

// The loss that ended a session, when another can take over: a lost connection or channel, not a
// refusal, a deleted queue or a consumer timeout.
function reconnectable(session: ConsumeSession): WqError | undefined {
  const err = session.lost;
  if (!err || session.end.error !== err || err.code !== 'BROKER_UNAVAILABLE' || !err.retryable || /consumer_timeout/.test(err.message)) return undefined;
  return err;
}

// With --timeout on RabbitMQ 4.3+, the consumer's own delivery acknowledgement timeout is set above
// --timeout + --grace (x-consumer-timeout), so the broker never takes back (basic.cancel) a message wq
// may still run. 4.3 accepts it for quorum queues only and refuses it for a classic queue with a channel
// error before any delivery; AMQP cannot say which the queue is, so a refusal opens the session again
// without it (a classic queue's timeout is the broker's consumer_timeout).
function consumerTimeoutArgs(conn: Connection, config: ConsumeConfig): Record<string, unknown> | null {
  const [major, minor] = (brokerVersion(conn) ?? '').split('.').map(Number);
  if (config.timeoutSeconds <= 0 || !(major! > 4 || (major === 4 && minor! >= 3))) return null;
  return { 'x-consumer-timeout': Math.round((config.timeoutSeconds + config.graceSeconds + config.consumerTimeoutMarginSeconds) * 1000) };
}

async function openSession(conn: Connection, config: ConsumeConfig, log: Logger, start: StartCommand, stats: RunStats, made: (s: ConsumeSession) => void, timeoutArgs = consumerTimeoutArgs(conn, config)): Promise<ConsumeSession> {
  let session: ConsumeSession | undefined;
  let lost: WqError | undefined;
  const onLost = (err?: Error) => {
    lost ??= lostError(err, config.url);
    session?.channelLost(lost);
  };
  conn.on('error', () => {}); // 'close' carries the same error
  conn.on('close', onLost);
  try {
    const ch = await conn.createConfirmChannel();
    let channelError: Error | undefined;
    ch.on('error', (err: Error) => (channelError = err));
    // A channel closed without an error of its own closed with its connection, whose 'close' (emitted
    // right after) carries the reason, such as the broker's shutdown: wait one turn for it.
    ch.on('close', () => (channelError ? onLost(channelError) : setImmediate(() => onLost())));
    if (config.declare) await declareQueue(ch, config.queue, config.queueType);
    // Declared only when missing: a dead-letter queue of the user's own (a length cap, say) is used as it is.
    if (config.deadLetter.kind === 'queue' && needsDeadLetter(config) && !(await queueExists(conn, config.deadLetter.queue))) await declareBeside(conn, config, config.deadLetter.queue);
    if (config.deadLetter.kind === 'exchange' && needsDeadLetter(config)) await ch.checkExchange(config.deadLetter.exchange);
    if (config.resultQueue) await resultQueueReady(conn, config, log);
    const results = config.resultQueue || config.reply ? new ResultPublisher(conn, config) : undefined;
    session = new ConsumeSession(config, log, ch as ConfirmChannel, start, () => probeQueue(conn, config), stats, results);
    made(session);
    await session.open(timeoutArgs ?? undefined);
    if (timeoutArgs) log.debug({ queue: config.queue, ...timeoutArgs }, 'the consumer\'s delivery acknowledgement timeout is above --timeout + --grace');
    return session;
  } catch (raw) {
    if (timeoutArgs && /invalid arg 'x-consumer-timeout'/.test(String((raw as Error)?.message))) {
      conn.removeListener('close', onLost);
      return openSession(conn, config, log, start, stats, made, null); // a classic queue
    }
    void closeQuietly(conn); // not awaited: a close-ok that never comes must not hold the error (the caller's race)
    throw brokerError(raw, config.url, 'consume setup', config.queue);
  }
}

// For a drain's end: the queue's ready count and consumers (passive declare: exact on quorum queues
// too), and what waits in its retry wait queues. A channel of its own: a missing wait queue closes it,
// and means nothing waits there; any other failure is thrown, never read as "nothing waits".
async function probeQueue(conn: Connection, config: ConsumeConfig): Promise<QueueProbe> {
  const names = [config.queue, ...retryDelaysMs(config.retryDelaySeconds, config.retryDelayMaxSeconds).map((ms) => waitQueueName(config.queue, ms))];
  const counts: Array<{ messageCount: number; consumerCount: number }> = [];
  let ch: Channel | undefined;
  for (const name of names) {
    if (!ch) {
      ch = await conn.createChannel();
      ch.on('error', () => {});
    }
    try {
      counts.push(await ch.checkQueue(name));
    } catch (err) {
      if (name === config.queue) throw err;
      // A wait queue that fails otherwise (another connection's exclusive queue, a permission) may hold
      // retries: the drain cannot end (69). One without its majority is not seen here: RabbitMQ answers 0 for it.
      if (!queueMissing(err)) throw new BrokerUnavailableError(`its retry wait queue "${name}" did not answer (${oneLine(String((err as Error)?.message))})`, err);
      ch = undefined; // no such wait queue: nothing waits there
    }
  }
  await ch?.close().catch(() => undefined);
  const [main, ...waits] = counts;
  return { ready: main?.messageCount ?? 0, consumers: main?.consumerCount ?? 0, retriesWaiting: waits.reduce((n, q) => n + q.messageCount, 0) };
}

// --result-queue, before any message is taken: declared durable when missing, of the work queue's type
// (else --queue-type); with --no-declare a missing one ends the run, 78.
async function resultQueueReady(conn: Connection, config: ConsumeConfig, log: Logger): Promise<void> {
  const name = config.resultQueue;
  if (await queueExists(conn, name)) return;
  if (!config.declareResults) throw new QueueConfigError(`result queue "${name}" does not exist, and --no-declare says not to declare it: declare it first, or drop --no-declare.`);
  const type = await declareBeside(conn, config, name);
  log.info({ queue: config.queue, resultQueue: name, queueType: type }, `declared the result queue "${name}" (durable, ${type})`);
}

// A queue wq declares beside the work queue (results, dead letters): durable, of the work queue's type
// (else --queue-type), so that a quorum queue's messages never move to a queue on one node.
async function declareBeside(conn: Connection, config: ConsumeConfig, name: string): Promise<QueueType> {
  const type = (await existingQueueType(conn, config.queue)) ?? config.queueType;
  const ch = await conn.createChannel();
  ch.on('error', () => undefined); // a refused declare rejects the call below, and is mapped there
  await declareQueue(ch, name, type);
  await ch.close();
  return type;
}

function needsDeadLetter(config: ConsumeConfig): boolean {
  return config.maxAttempts > 0 || config.deadLetterOn.length > 0;
}

// Before any message is taken: WQ_SPAWN=native without a working addon must not cost a delivery.
function nativeSpawnFor(mode: SpawnMode, log: Logger): NativeSpawn | undefined {
  if (mode === 'child_process') return undefined;
  const native = loadNativeSpawn();
  if (typeof native !== 'string') return native;
  if (mode === 'native') throw new ConfigError(`WQ_SPAWN=native, but the native spawn cannot be used: ${native}. Unset WQ_SPAWN to fall back to node:child_process.`);
  log.info({ reason: native }, `starting commands with node:child_process: the native spawn cannot be used (${native}); same behaviour, more CPU per message`);
  return undefined;
}
