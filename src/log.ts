import pino from 'pino';
import { textDestination, wantsColour, type LineSink } from './log-text.js';
import { clearStatusLine } from './status-line.js';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** auto = text when stderr is a terminal, pino JSON otherwise (a pod, a pipe, a file). */
export const LOG_FORMATS = ['auto', 'text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

type Env = Record<string, string | undefined>;

// wq's own logs: one line per event, synchronously on stderr (fd 2), so nothing is lost on exit and the
// command's stdout stays clean. pino JSON, or, for a person at a terminal, the same lines as sentences.
export function createLogger(name: string, level: LogLevel = 'info', format: LogFormat = 'auto', env: Env = process.env, stderrIsTTY = process.stderr.isTTY === true): Logger {
  const sink = pino.destination({ fd: 2, sync: true });
  const text = format === 'text' || (format === 'auto' && stderrIsTTY);
  const dest = text ? textDestination(sink, wantsColour(env, stderrIsTTY)) : sink;
  return pino({ name, level, base: { name } }, stderrIsTTY ? belowStatusLine(dest) : dest);
}

// On a terminal, a line logged while a progress line shows erases it first (src/status-line.ts).
function belowStatusLine(dest: LineSink): LineSink {
  return {
    write(line: string) {
      clearStatusLine();
      return dest.write(line);
    },
  };
}
