import pino from 'pino';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// wq's own logs: pino JSON, one line per event, synchronously on stderr (fd 2), so nothing is lost on exit
// and the command's stdout stays clean. Pipe through pino-pretty to read them by eye.
export function createLogger(name: string, level: LogLevel = 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: true }));
}
