import { toWqError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';

// The single exit path both CLIs share: run main, log a failure as one line, exit with its code.
export function runCli(name: string, main: (setLogger: (log: Logger) => void) => Promise<number>): void {
  let log: Logger | undefined;
  main((l) => (log = l)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const e = toWqError(err);
      (log ?? createLogger(name)).error({ code: e.code, exitCode: e.exitCode }, e.message);
      process.exit(e.exitCode);
    },
  );
}
