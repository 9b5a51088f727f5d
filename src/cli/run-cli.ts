import { toWqError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';

// The single exit path both CLIs share: run main, log a failure as one line, exit with its code.
// A bug that escapes as an uncaught exception takes the same path (exit 70) instead of a stack trace;
// the broker requeues whatever was unacked when the connection goes.
export function runCli(name: string, main: (setLogger: (log: Logger) => void) => Promise<number>): void {
  let log: Logger | undefined;
  const fail = (err: unknown) => {
    const e = toWqError(err);
    (log ?? createLogger(name)).error({ code: e.code, exitCode: e.exitCode }, e.message);
    process.exit(e.exitCode);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  main((l) => (log = l)).then((code) => process.exit(code), fail);
}
