import pino from 'pino';
import type { LogLevel } from './config.js';

export type Logger = pino.Logger;

// wq's own logs: pino JSON, one line per event, synchronously on stderr (fd 2), so nothing is lost on exit
// and the command's stdout stays clean. Pipe through pino-pretty to read them by eye.
export function createLogger(name: string, level: LogLevel = 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination({ fd: 2, sync: true }));
}
