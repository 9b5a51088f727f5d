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
  /**
   * How wq's own lines look (--log-format, env WQ_LOG_FORMAT): auto = sentences when stderr is a terminal,
   * pino JSON otherwise; text or json force one. @default 'auto'
   */
  logFormat: 'auto',
  /** Messages to process before exiting; 0 = no limit. @default 1 */
  count: 1,
  /** Commands run at once. @default 1 */
  concurrency: 1,
  /**
   * Messages the broker may push beyond --concurrency (the default prefetch is concurrency + this, at most
   * --count), so the next message is already here when a command exits. @default 1
   */
  prefetchAhead: 1,
  /** The largest --prefetch: AMQP carries it as a 16-bit number. @default 65535 */
  maxPrefetch: 65_535,
  /** The largest --concurrency: its default prefetch (twice it + prefetchAhead with results) stays <= maxPrefetch. @default 32767 */
  maxConcurrency: 32_767,
  /** Seconds to wait for the first message; 0 = forever, as amqp-consume. @default 0 */
  waitSeconds: 0,
  /** --until-empty: seconds the queue must stay empty before exiting. @default 3 */
  idleSeconds: 3,
  /** --until-empty: seconds between checks while other consumers may still hand messages back. @default 1 */
  drainPollSeconds: 1,
  /** Seconds a command gets between SIGTERM and SIGKILL. Below Kubernetes' default 30 s grace. @default 20 */
  graceSeconds: 20,
  /** Seconds a command may run; 0 = no limit. @default 0 */
  timeoutSeconds: 0,
  /**
   * With --timeout on RabbitMQ 4.3+: the consumer's own delivery acknowledgement timeout
   * (x-consumer-timeout) is --timeout + --grace + this, so the broker never takes back a message wq may
   * still run (it checks about once a minute). @default 60
   */
  consumerTimeoutMarginSeconds: 60,
  /**
   * After SIGTERM (or SIGINT, SIGHUP, SIGQUIT): if the broker has still not answered --grace + this many
   * seconds later (a resource alarm blocks a connection that publishes: a result, a retry copy), the
   * connection is closed under wq-consume, so that it exits before Kubernetes' 30 s and the broker puts
   * back what was not acked. @default 5
   */
  shutdownMarginSeconds: 5,
  /**
   * An answer the broker owes (wq-consume's setup: the declares, then the consumer; wq-publish's
   * confirms, its queue's check or declare, and its depth) is awaited --connect-timeout, and never
   * less than this: a quorum queue without a majority of its nodes answers only after about a minute.
   * @default 10
   */
  answerMinSeconds: 10,
  /**
   * WQ_HEADERS at most, in bytes: the largest headers are left out beyond it and named in
   * WQ_HEADERS_TRUNCATED (the kernel refuses one environment string over 128 KiB). @default 65536
   */
  headersMaxBytes: 65536,
  /**
   * -I: a body that `{}` puts in an argument is at most this many bytes (the kernel refuses one argument
   * over 128 KiB); a larger one is rejected (exit status 65): use {file}. @default 65536
   */
  itemArgMaxBytes: 65536,
  /**
   * --result-max-bytes: the largest result wq-consume publishes, RabbitMQ 4's default max_message_size
   * (16 MiB); a larger output fails its message (exit status 65). @default 16777216
   */
  resultMaxBytes: 16 * 1024 * 1024,
  /**
   * How wq-consume starts the command (env WQ_SPAWN): auto = posix_spawn through dist/wq-spawn.node where it
   * loads (else node:child_process, said at info level); native = the addon or exit 78; child_process = always Node's. @default 'auto'
   */
  spawn: 'auto',
  /**
   * --acquired-file: the file that exists only while a command runs on a message (a readinessProbe's
   * `test -f`, for KEDA's pendingPodConditions); '' = no file. @default ''
   */
  acquiredFile: '',
  /** Deliveries before a message is dead-lettered; 0 = never. @default 0 */
  maxAttempts: 0,
  /** Seconds a failed message waits (durably, in a wait queue) before its next attempt; 0 = at once. @default 0 */
  retryDelaySeconds: 0,
  /** With --retry-delay: the delay doubles per attempt up to this; 0 = a fixed delay. @default 0 */
  retryDelayMaxSeconds: 0,
  /** Command exit statuses that dead-letter a message at once. @default none */
  deadLetterOn: [] as readonly number[],
  /**
   * wq-publish: messages published but not yet confirmed, at most. RabbitMQ confirms a classic queue's
   * persistent messages at its fsyncs, and the queue syncs less often the more it has in hand: 1000 took
   * ~260 fsyncs per 100,000 messages on 3.10, 4000 ~128, more no fewer (docs/performance.md). @default 4000
   */
  publishWindow: 4000,
  /**
   * wq-publish --window at most: each unconfirmed message's body is kept in memory until its confirm, and
   * past this a larger window gains nothing. @default 1000000
   */
  publishWindowMax: 1_000_000,
  /**
   * wq-publish: the bytes of the bodies published but not yet confirmed, at most (at least one message
   * is always in flight): each is kept in memory until its confirm, so large items must not fill the
   * --window (4000 items of 20 MB). @default 67108864
   */
  publishWindowBytes: 64 * 1024 * 1024,
  /**
   * wq-publish without --run-id: a random run id of this many bytes, in hex (12 digits); message ids are
   * RUNID-000042, the item's position. @default 6
   */
  runIdBytes: 6,
  /** wq-publish: seconds between progress log lines when stderr is not a terminal. @default 5 */
  progressSeconds: 5,
  /** wq-publish --job: the Secret (name, key) that holds BROKER_URL when the template names none. @default wq-broker, url */
  jobSecretName: 'wq-broker',
  jobSecretKey: 'url',
  /** wq-publish --job / --expand: spec.ttlSecondsAfterFinished when the template sets none (a day). @default 86400 */
  jobTtlSeconds: 86400,
  /**
   * wq-publish --job / --expand: the pod's activeDeadlineSeconds is --timeout + --grace (+ --idle) + this, for
   * image pull and connecting, when the worker's args set --timeout. @default 120
   */
  jobDeadlineMarginSeconds: 120,
} as const;
