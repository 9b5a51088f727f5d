import type { CliRequest } from '../config/args.js';
import type { LogFormat, LogLevel } from '../log.js';
import { constants } from 'node:os';
import { toWqError, type WqError } from '../errors.js';
import { OTHER_FATAL_SIGNALS, STOP_SIGNALS } from '../exit-codes.js';
import { createLogger, type Logger } from '../log.js';
import { redactText } from '../redact.js';
import { VERSION } from './version.js';

export interface Cli<C extends { logLevel: LogLevel; logFormat: LogFormat }> {
  name: string;
  /** The --help text, built only when asked for. */
  usage(): string;
  parse(argv: readonly string[], env: NodeJS.ProcessEnv): CliRequest<C>;
  /** The command's work; `stop` aborts with the signal's name on SIGTERM or SIGINT. Returns the exit status. */
  run(config: C, log: Logger, stop: AbortSignal): Promise<number>;
}

/** The line that says why a run failed, its fields included. It goes through redaction too: a URL given where a path or a command was expected is quoted in it. */
export function logFailure(log: Logger, e: WqError): void {
  const detail = e.detail === undefined ? undefined : redactText(e.detail);
  log.error({ code: e.code, exitCode: e.exitCode, retryable: e.retryable || undefined, detail }, redactText(e.message));
}

// What both CLIs share: --help and --version, the logger, SIGTERM/SIGINT (Kubernetes deletes a pod with
// SIGTERM, and wq-consume may be PID 1) turned into an AbortSignal, and the single exit path: a failure
// is logged as one line and exits with its code. A bug that escapes as an uncaught exception takes the
// same path (exit 70) instead of a stack trace; the broker requeues whatever was unacked.
// `argv` is the arguments after the script (a startup snapshot has no script: src/cli/consume-snapshot.ts).
export function runCli<C extends { logLevel: LogLevel; logFormat: LogFormat }>(cli: Cli<C>, argv: readonly string[] = process.argv.slice(2)): void {
  let log: Logger | undefined;
  const fail = (err: unknown) => {
    const e = toWqError(err);
    logFailure(log ?? createLogger(cli.name, 'info', earlyLogFormat(argv, process.env)), e);
    process.exit(e.exitCode);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  const main = async (): Promise<number> => {
    const request = cli.parse(argv, process.env);
    if (request.kind !== 'run') {
      process.stdout.write(request.kind === 'help' ? cli.usage() : `${cli.name} ${VERSION}\n`);
      return 0;
    }
    log = createLogger(cli.name, request.config.logLevel, request.config.logFormat);
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => controller.abort(signal);
    // SIGHUP, SIGQUIT and the rest too: left to Node they end the process at once, without stopping the commands.
    for (const signal of [...STOP_SIGNALS, ...OTHER_FATAL_SIGNALS]) if (signal in constants.signals && !profilersOwn(signal)) process.on(signal, onSignal);
    return cli.run(request.config, log, controller.signal);
  };
  // A promise that never settles, with nothing else left to wait for, would let Node exit 0 in the middle
  // of the run (a Job would count it a success): it is an internal error, 70, instead.
  let finished = false;
  process.on('beforeExit', () => {
    if (!finished) fail(new Error('the run stopped making progress: nothing was left to wait for, and it had not finished'));
  });
  main().then((code) => {
    finished = true;
    process.exit(code);
  }, fail);
}

// A failure before the configuration is complete (a usage error) still honours --log-format and
// WQ_LOG_FORMAT when they are readable; anything else falls back to auto.
function earlyLogFormat(argv: readonly string[], env: NodeJS.ProcessEnv): LogFormat {
  let value = env.WQ_LOG_FORMAT;
  for (let i = 0; i < argv.length && argv[i] !== '--'; i++) {
    const arg = argv[i] as string;
    if (arg === '--log-format') value = argv[i + 1];
    else if (arg.startsWith('--log-format=')) value = arg.slice('--log-format='.length);
  }
  return value === 'text' || value === 'json' ? value : 'auto';
}

/** Under `node --cpu-prof` or `--prof`, SIGPROF is V8's sampling tick: a handler would take it over, and stop the run. */
function profilersOwn(signal: string): boolean {
  return signal === 'SIGPROF' && /(^|\s)--(cpu-)?prof(\s|=|$)/.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '));
}
