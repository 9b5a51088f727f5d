// The terminal form of wq's log lines: pino writes its JSON line as always, and this destination turns it
// into a sentence ("warning: command exited 3: message handed back to the queue  queue=jobs duration=12ms").
// Only constructed when the text form is chosen (a terminal, or --log-format text): a pod pays nothing.

/** Where the formatted line goes: pino's synchronous stderr destination. */
export interface LineSink {
  write(line: string): unknown;
}

/** Fields that are noise to a person: pino's own, and ids a machine wants. */
// 'detail' (the library's raw text) and 'retryable' stay in the JSON lines, for debugging and collectors.
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v', 'code', 'messageId', 'consumerTag', 'detail', 'retryable']);

const LABELS: Record<number, [word: string, colour: string]> = {
  10: ['trace: ', '2'],
  20: ['debug: ', '2'],
  30: ['', ''],
  40: ['warning: ', '33'],
  50: ['error: ', '31'],
  60: ['fatal: ', '1;31'],
};

/** A pino destination that writes each JSON line as text to `sink`. */
export function textDestination(sink: LineSink, colour: boolean): LineSink {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return sink.write(line);
      }
      return sink.write(`${formatEntry(entry, colour)}\n`);
    },
  };
}

/** One pino entry as one line of text: level word (warnings and worse), the message, then the helpful fields. */
export function formatEntry(entry: Record<string, unknown>, colour: boolean): string {
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const [word, code] = LABELS[level] ?? LABELS[30]!;
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  const fields = formatFields(entry, msg);
  const label = word && colour ? `\x1b[${code}m${word}\x1b[0m` : word;
  const tail = fields && (colour ? `  \x1b[2m${fields}\x1b[0m` : `  ${fields}`);
  return `${label}${msg}${tail}`;
}

function formatFields(entry: Record<string, unknown>, msg: string): string {
  const out: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (HIDDEN.has(key) || value === undefined || value === null || value === false) continue;
    if (saidAlready(key, value, msg) || (key === 'attempt' && value === 1)) continue;
    out.push(formatField(key, value));
  }
  return out.join(' ');
}

// The message already says it (a queue name; "published 3 messages" for published=3, "attempt 2 of 3"
// for attempts=2), or it is a zero count: do not repeat it. An exit status always shows.
function saidAlready(key: string, value: unknown, msg: string): boolean {
  if (typeof value === 'string') return value.length > 1 && msg.includes(value);
  if (typeof value !== 'number' || key === 'exitCode') return false;
  if (value === 0) return true;
  const n = String(value).replace('.', '\\.');
  const stem = key.toLowerCase().slice(0, 5);
  // "1 dead-lettered" says deadLettered=1: words are compared without their hyphens.
  return new RegExp(`${stem}\\w*\\s+${n}(?!\\w|[.,]\\d)|(?<![\\w.])${n}\\s+${stem}`, 'i').test(msg.replaceAll('-', ''));
}

function formatField(key: string, value: unknown): string {
  if (typeof value === 'number') {
    if (/Ms$/.test(key)) return `${key.slice(0, -2)}=${duration(value)}`;
    if (/^duration/.test(key)) return `${key}=${duration(value)}`;
    if (key === 'seconds') return `time=${duration(value * 1000)}`;
    if (/Seconds$/.test(key)) return `${key.slice(0, -7)}=${duration(value * 1000)}`;
    if (key === 'perSecond') return `rate=${value.toLocaleString('en-US')}/s`;
    if (key === 'deliveryTag') return `tag=${value}`;
    return `${key}=${value}`;
  }
  if (typeof value === 'string') return `${key}=${/^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)}`;
  if (value === true) return key;
  const message = (value as { message?: unknown }).message;
  return `${key}=${typeof message === 'string' ? JSON.stringify(message) : JSON.stringify(value)}`;
}

/** 12 -> "12ms", 1234 -> "1.2s", 3000 -> "3s", 75000 -> "1m15s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0).replace(/\.0$/, '')}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Colour only on a terminal that supports it: NO_COLOR (any non-empty value) and TERM=dumb turn it off,
 * FORCE_COLOR (non-empty, not 0) turns it on even through a pipe (https://no-color.org).
 */
export function wantsColour(env: Record<string, string | undefined>, isTTY: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return isTTY && env.TERM !== 'dumb';
}
