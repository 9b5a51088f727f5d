import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { brokerError, closeQuietly, connect, type Connection } from '../amqp/broker.js';
import { declareQueue } from '../amqp/queue.js';
import { resolveCommand } from '../process/command.js';
import type { ConsumeConfig } from '../config/consume.js';
import { deadLetter, describeTarget, retryLater } from './dead-letter.js';
import { AccessRefusedError, BrokerUnavailableError, ConfigError, NoMessageError, QueueConfigError, WqError } from '../errors.js';
import { EXIT, signalExitCode } from '../exit-codes.js';
import type { Logger } from '../log.js';
import { commandBaseEnv, deliveryCount, messageEnv } from './message-env.js';
import { loadNativeSpawn, type NativeSpawn, type SpawnMode } from '../process/native-spawn.js';
import { runCommand, type Outcome, type Running } from '../process/runner.js';

/*
 * The ack contract (README "The ack contract"):
 * - the command exits 0            -> basic.ack
 * - it exits non-zero, dies of a signal, is stopped by --timeout or a signal to wq, or cannot start
 *                                  -> basic.nack with requeue (the message goes back at once), or with
 *                                     --max-attempts: a confirmed retry copy, then after the last attempt a
 *                                     confirmed copy in the dead-letter queue, and only then the ack
 * - the connection or channel is lost -> the broker has already requeued it; no ack on a stale tag
 * Nothing is acked before the command succeeded, and nothing is dropped.
 */

export interface ConsumeResult {
  exitCode: number;
  /** Messages whose command finished, whatever the outcome. */
  processed: number;
  acked: number;
  requeued: number;
  deadLettered: number;
  /** The error that ended the run, if any (already carries its exit code). */
  error?: WqError;
}

interface Slot {
  msg: ConsumeMessage;
  run: Running;
}

// Consume from config.queue and run the command once per message until --count, --until-empty, --wait,
// a failure, or `stop` (SIGTERM/SIGINT from the CLI) ends it.
export async function consume(config: ConsumeConfig, log: Logger, stop: AbortSignal): Promise<ConsumeResult> {
  const result: ConsumeResult = { exitCode: EXIT.OK, processed: 0, acked: 0, requeued: 0, deadLettered: 0 };
  const file = resolveCommand(config.command);
  const native = nativeSpawnFor(config.spawn, log);
  if (stop.aborted) return { ...result, exitCode: signalExitCode(String(stop.reason)) };

  let conn: Connection;
  try {
    conn = await connect(config, 'wq-consume', log, stop);
  } catch (err) {
    if (stop.aborted) return { ...result, exitCode: signalExitCode(String(stop.reason)) };
    throw err;
  }
  const { queue } = config;
  const confirmsNeeded = config.maxAttempts > 0;
  let ch: Channel | ConfirmChannel;
  let closing = false;
  let fatal: WqError | undefined;
  let failureExit: number | undefined;
  let signalled: string | undefined;
  let taken = 0;
  let consumerTag: string | undefined;
  let started = false;
  let cancelled: Promise<unknown> | undefined;
  let waitTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  const running = new Set<Slot>();
  // Deliveries beyond --concurrency (a prefetch above it): taken, waiting for a free slot.
  const waiting: ConsumeMessage[] = [];
  const baseEnv = commandBaseEnv(process.env);
  let wake!: () => void;
  const finished = new Promise<void>((r) => (wake = r));

  const finish = () => {
    clearTimeout(waitTimer);
    clearTimeout(idleTimer);
    cancel();
    if (fatal instanceof BrokerUnavailableError) waiting.length = 0; // the broker requeued them already
    for (const msg of waiting.splice(0)) {
      try {
        ch.nack(msg, false, true);
      } catch {
        // the channel is gone: the broker requeues them itself
      }
    }
    if (running.size === 0) wake();
    else for (const slot of running) if (signalled || fatal) slot.run.stop((signalled as NodeJS.Signals) ?? 'SIGTERM');
  };
  const fail = (err: WqError) => {
    fatal ??= err;
    finish();
  };
  const cancel = () => {
    if (cancelled || consumerTag === undefined || fatal instanceof BrokerUnavailableError) return;
    cancelled = ch.cancel(consumerTag).catch(() => undefined);
  };
  const stopping = () => closing || fatal !== undefined || signalled !== undefined || failureExit !== undefined;
  const done = () => stopping() || (config.count > 0 && taken >= config.count);

  conn.on('error', () => {}); // 'close' carries the same error
  conn.on('close', (err?: Error) => {
    if (started && !closing) fail(lostError(err, config.url));
  });

  try {
    ch = confirmsNeeded ? await conn.createConfirmChannel() : await conn.createChannel();
    let channelError: Error | undefined;
    ch.on('error', (err: Error) => (channelError = err));
    ch.on('close', () => {
      if (started && !closing && !fatal) fail(lostError(channelError, config.url));
    });
    if (config.declare) {
      await declareQueue(ch, queue, config.queueType);
    }
    if (confirmsNeeded && config.deadLetter.kind === 'queue') await ch.assertQueue(config.deadLetter.queue, { durable: true });
    if (confirmsNeeded && config.deadLetter.kind === 'exchange') await ch.checkExchange(config.deadLetter.exchange);
    await ch.prefetch(config.prefetch);
    // Our own tag, known before the first delivery (which can arrive before consume-ok is processed).
    const tag = `wq-consume-${process.pid}-${Date.now().toString(36)}`;
    consumerTag = tag;
    await ch.consume(queue, onMessage, { noAck: false, consumerTag: tag });
    started = true;
  } catch (raw) {
    await closeQuietly(conn);
    throw fatal ?? brokerError(raw, config.url, 'consume setup', queue);
  }
  log.debug({ queue, consumerTag }, 'waiting for messages');

  const onStop = () => {
    signalled = String(stop.reason ?? 'SIGTERM');
    log.warn({ queue, signal: signalled, running: running.size }, running.size ? `received ${signalled}: stopping the command and handing its message back` : `received ${signalled} while waiting: exiting`);
    finish();
  };
  stop.addEventListener('abort', onStop, { once: true });
  if (stop.aborted) onStop();
  if (config.untilEmpty) armIdle();
  else if (config.waitSeconds > 0) {
    waitTimer = setTimeout(() => {
      if (taken === 0) fail(new NoMessageError(`no message arrived on queue "${queue}" within --wait ${config.waitSeconds}s. The queue is empty: publish work first, or use --until-empty for drain Jobs.`));
    }, config.waitSeconds * 1000);
  }

  await finished;
  stop.removeEventListener('abort', onStop);
  closing = true;
  if (!(fatal instanceof BrokerUnavailableError)) {
    await cancelled;
    try {
      await ch.close(); // flushes the acks before the connection goes (amqplib buffers frames per channel)
    } catch {
      // already closed
    }
  }
  await closeQuietly(conn);

  if (fatal) return { ...result, exitCode: fatal.exitCode, error: fatal };
  if (signalled) return { ...result, exitCode: signalExitCode(signalled) };
  return { ...result, exitCode: failureExit ?? EXIT.OK };

  function armIdle() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (running.size === 0 && !done()) {
        log.info({ queue, processed: result.processed, idleSeconds: config.idleSeconds }, 'queue stayed empty: drain finished');
        finish();
      }
    }, config.idleSeconds * 1000);
  }

  function onMessage(msg: ConsumeMessage | null) {
    if (msg === null) {
      fail(new QueueConfigError(`queue "${queue}" was deleted (the broker cancelled the consumer). Re-create it and publish the work again.`));
      return;
    }
    if (done()) {
      // Pushed before our basic.cancel took effect: hand it straight back.
      ch.nack(msg, false, true);
      return;
    }
    taken++;
    clearTimeout(waitTimer);
    clearTimeout(idleTimer);
    if (config.count > 0 && taken >= config.count) cancel();
    if (running.size >= config.concurrency) waiting.push(msg);
    else start(msg);
  }

  function start(msg: ConsumeMessage) {
    const run = runCommand({
      command: config.command,
      file,
      native,
      args: config.args,
      body: msg.content,
      env: { ...baseEnv, ...messageEnv(msg, queue) },
      timeoutMs: config.timeoutSeconds * 1000,
      graceMs: config.graceSeconds * 1000,
    });
    const slot = { msg, run };
    running.add(slot);
    run.done.then((outcome) => settle(slot, outcome)).catch((err) => fail(brokerError(err, config.url, 'basic.ack', queue)));
  }

  async function settle(slot: Slot, outcome: Outcome) {
    const { msg } = slot;
    result.processed++;
    const fields = {
      queue,
      deliveryTag: msg.fields.deliveryTag,
      messageId: msg.properties.messageId,
      redelivered: msg.fields.redelivered,
      durationMs: Math.round(outcome.durationMs),
      ...describe(outcome),
    };
    try {
      // Our basic.cancel must be through before the ack, or the broker pushes us the next message
      // (prefetch frees up) and it comes back marked redelivered.
      if (cancelled) await cancelled;
      if (fatal instanceof BrokerUnavailableError) {
        log.warn(fields, 'the channel is gone: the broker has requeued this message; not acking on a stale delivery tag');
      } else if (outcome.kind === 'exited' && outcome.exitCode === 0 && !outcome.timedOut) {
        ch.ack(msg);
        result.acked++;
        log.info(fields, 'command succeeded: acked');
      } else {
        await handleFailure(msg, outcome, fields);
      }
    } catch (err) {
      fatal ??= brokerError(err, config.url, 'basic.ack', queue);
    } finally {
      running.delete(slot);
      const next = stopping() ? undefined : waiting.shift();
      if (next) start(next);
      else if (done()) finish();
      else if (config.untilEmpty && running.size === 0) armIdle();
    }
  }

  async function handleFailure(msg: ConsumeMessage, outcome: Outcome, fields: Record<string, unknown>) {
    const status = exitStatusOf(outcome);
    const attempts = deliveryCount(msg);
    if (config.maxAttempts > 0 && !signalled) {
      const confirmCh = ch as ConfirmChannel;
      try {
        if (attempts >= config.maxAttempts) {
          await deadLetter(confirmCh, config.deadLetter, queue, msg, attempts, describeShort(outcome));
          result.deadLettered++;
          log.warn({ ...fields, attempts, deadLetter: describeTarget(config.deadLetter) }, `command failed on attempt ${attempts} of ${config.maxAttempts}: moved to the dead-letter ${config.deadLetter.kind}`);
        } else {
          await retryLater(confirmCh, queue, msg, attempts);
          result.requeued++;
          log.warn({ ...fields, attempts }, `command failed on attempt ${attempts} of ${config.maxAttempts}: queued for another attempt`);
        }
        return;
      } catch (err) {
        log.error({ ...fields, err: (err as Error).message }, 'could not publish the retry or dead-letter copy: handing the message back instead');
      }
    }
    ch.nack(msg, false, true);
    result.requeued++;
    if (!signalled) failureExit ??= status;
    log.warn({ ...fields, attempts }, `${failureText(outcome)}: message handed back to the queue`);
  }
}

function lostError(err: Error | undefined, url: string): WqError {
  const text = (err?.message ?? 'connection closed').replace(/\s+/g, ' ');
  if (/acknowledgement.*timed out/i.test(text)) {
    return new BrokerUnavailableError(
      'the broker closed the channel because the command ran past its delivery acknowledgement timeout (consumer_timeout, 30 min by default); the message went back to the queue. Raise consumer_timeout in rabbitmq.conf (or x-consumer-timeout on RabbitMQ 3.12+), or split the work.',
      err,
    );
  }
  const mapped = brokerError(err ?? new Error(text), url, 'connection');
  if (!mapped.retryable) return mapped;
  return new BrokerUnavailableError(`lost the connection to the broker (${text}); any message in progress went back to the queue, and the Job will retry this pod.`, err);
}

/** The exit status wq-consume reports for a failed command. */
export function exitStatusOf(outcome: Outcome): number {
  if (outcome.timedOut) return EXIT.TIMEOUT;
  if (outcome.kind === 'spawn-failed') return outcome.error.code === 'ENOENT' ? EXIT.COMMAND_NOT_FOUND : EXIT.COMMAND_NOT_EXECUTABLE;
  if (outcome.kind === 'signaled') return signalExitCode(outcome.signal);
  return outcome.exitCode;
}

// Before any message is taken: WQ_SPAWN=native without a working addon must not cost a delivery.
function nativeSpawnFor(mode: SpawnMode, log: Logger): NativeSpawn | undefined {
  if (mode === 'child_process') return undefined;
  const native = loadNativeSpawn();
  if (typeof native !== 'string') return native;
  if (mode === 'native') throw new ConfigError(`WQ_SPAWN=native, but the native spawn cannot be used: ${native}. Unset WQ_SPAWN to fall back to node:child_process.`);
  log.debug({ reason: native }, 'native spawn unavailable: using node:child_process');
  return undefined;
}

function describe(outcome: Outcome): Record<string, unknown> {
  if (outcome.kind === 'exited') return { exitCode: outcome.exitCode, timedOut: outcome.timedOut || undefined };
  if (outcome.kind === 'signaled') return { signal: outcome.signal, timedOut: outcome.timedOut || undefined };
  return { spawnError: outcome.error.code };
}

function describeShort(outcome: Outcome): string {
  if (outcome.timedOut) return 'timeout';
  if (outcome.kind === 'exited') return `exit ${outcome.exitCode}`;
  if (outcome.kind === 'signaled') return `signal ${outcome.signal}`;
  return `spawn ${outcome.error.code}`;
}

function failureText(outcome: Outcome): string {
  if (outcome.timedOut) return 'command ran past --timeout and was stopped';
  if (outcome.kind === 'exited') return `command exited with status ${outcome.exitCode}`;
  if (outcome.kind === 'signaled') return `command was killed by ${outcome.signal}`;
  return `command could not start (${outcome.error.code}: ${outcome.error.message})`;
}
