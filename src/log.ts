import { writeSync } from 'node:fs';
import type { LogLevel } from './config.js';

// wq's own logs: one JSON line per event in pino's format ({"level":30,"time":...,"name":...,...fields,"msg":...}),
// written synchronously on stderr (fd 2), so nothing is lost on exit and the command's stdout stays clean.
// Pipe through pino-pretty to read them by eye. Not pino itself: loading and building a pino logger cost
// wq-consume ~12 ms of CPU on every start (bench/RESULTS.md), for features a one-shot never uses.

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
type Level = Exclude<LogLevel, 'silent'>;
type Fields = Record<string, unknown>;

export interface LogFn {
  (fields: Fields, msg?: string): void;
  (msg: string): void;
}

export interface Logger extends Record<Level, LogFn> {
  readonly level: LogLevel;
  isLevelEnabled(level: LogLevel): boolean;
  /** A logger that adds these fields to every line. */
  child(bindings: Fields): Logger;
}

export function createLogger(name: string, level: LogLevel = 'info', fd = 2): Logger {
  return make(level, `,"name":${JSON.stringify(name)}`, fd);
}

function make(level: LogLevel, bindings: string, fd: number): Logger {
  const threshold = LEVELS[level] ?? LEVELS.info;
  const method = (n: number): LogFn =>
    ((fieldsOrMsg: Fields | string, msg?: string) => {
      if (n < threshold) return;
      const fields = typeof fieldsOrMsg === 'string' ? undefined : fieldsOrMsg;
      const text = typeof fieldsOrMsg === 'string' ? fieldsOrMsg : msg;
      write(fd, `{"level":${n},"time":${Date.now()}${bindings}${serialize(fields)}${text === undefined ? '' : `,"msg":${JSON.stringify(text)}`}}\n`);
    }) as LogFn;
  return {
    level,
    trace: method(LEVELS.trace),
    debug: method(LEVELS.debug),
    info: method(LEVELS.info),
    warn: method(LEVELS.warn),
    error: method(LEVELS.error),
    fatal: method(LEVELS.fatal),
    isLevelEnabled: (l) => LEVELS[l] >= threshold && l !== 'silent',
    child: (more) => make(level, bindings + serialize(more), fd),
  };
}

/** `,"k":v,...` for the fields, Errors as {type, message, stack}; never throws. */
function serialize(fields: Fields | undefined): string {
  if (!fields) return '';
  let json: string;
  try {
    json = JSON.stringify(fields, replacer);
  } catch {
    json = JSON.stringify({ logFields: 'unserializable' });
  }
  return json.length > 2 ? `,${json.slice(1, -1)}` : '';
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { type: value.name, message: value.message, stack: value.stack, ...(value as unknown as Fields) };
  return value;
}

function write(fd: number, line: string): void {
  const buf = Buffer.from(line);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      // A full non-blocking pipe: wait a moment and retry. Anything else (stderr closed): drop the line.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
