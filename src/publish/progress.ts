import { duration } from '../log-text.js';
import { ownStatusLine } from '../status-line.js';
import type { ReadProgress } from './items.js';
import type { Logger } from '../log.js';
import type { PublishStats } from './result.js';

/** The counters the progress display reads. */
type Counts = Pick<PublishStats, 'published' | 'confirmed' | 'nacked' | 'returned' | 'lost'>;

export interface Ticker {
  stop(): void;
}

const BAR_WIDTH = 20;
const TTY_EVERY_MS = 200;
/** A bar appears only for runs longer than this: a handful of items stays quiet. */
const TTY_AFTER_MS = 1000;

// On a terminal: a progress bar with the rate on stderr, redrawn in place, erased at the end.
// Otherwise: a log line every opts.progressSeconds. Both only on a timer, so the hot loop pays nothing.
export function startProgress(
  opts: { progress: boolean; progressSeconds: number },
  stats: Counts,
  read: ReadProgress,
  log: Logger,
  waiting: () => string | undefined,
  stderr: NodeJS.WriteStream = process.stderr,
  env: Record<string, string | undefined> = process.env,
): Ticker {
  if (!opts.progress) return { stop() {} };
  const started = Date.now();
  let last = { at: started, confirmed: 0, published: 0 };
  let drawn = false;
  let smoothed: number | undefined;
  const tty = stderr.isTTY === true;
  // A dumb terminal (TERM=dumb) knows no "erase to end of line": spaces do it.
  const dumb = env.TERM === 'dumb';
  const columns = () => stderr.columns || 80;
  const erase = (written: number) => (dumb ? ' '.repeat(Math.max(0, columns() - 1 - written)) : '\x1b[K');
  const eraseLine = () => {
    stderr.write(`\r${erase(0)}${dumb ? '\r' : ''}`);
    drawn = false;
  };
  const timer = setInterval(
    () => {
      const now = Date.now();
      const rate = ((stats.confirmed - last.confirmed) * 1000) / Math.max(1, now - last.at);
      const idle = stats.published === last.published && stats.confirmed === last.confirmed;
      last = { at: now, confirmed: stats.confirmed, published: stats.published };
      if (tty) {
        if (now - started < TTY_AFTER_MS) return;
        smoothed = smoothed === undefined ? rate : 0.8 * smoothed + 0.2 * rate; // the bar redraws 5 times a second: smooth the rate
        const line = progressLine(stats, read, smoothed, columns(), eta(read, now - started));
        stderr.write(`\r${line}${erase(line.length)}`);
        drawn = true;
        ownStatusLine(eraseLine);
      } else if (!idle) {
        log.info({ published: stats.published, confirmed: stats.confirmed - stats.returned, inFlight: stats.published - stats.confirmed - stats.nacked, perSecond: Math.round(rate), percent: percent(read), waitingFor: waiting() }, 'publishing');
      }
    },
    tty ? TTY_EVERY_MS : opts.progressSeconds * 1000,
  );
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      ownStatusLine(undefined);
      if (drawn) eraseLine();
    },
  };
}

/** One terminal line: bar (when the total is known), confirmed against sent, rate, time left (when known). */
export function progressLine(stats: Counts, read: ReadProgress, perSecond: number, columns: number, etaMs?: number): string {
  const p = percent(read);
  const bar = p === undefined ? '' : `[${'#'.repeat(Math.round((p / 100) * BAR_WIDTH)).padEnd(BAR_WIDTH, '-')}] ${String(p).padStart(3)}% `;
  const failed = stats.nacked + stats.returned;
  const confirmed = stats.confirmed - stats.returned;
  const inFlight = stats.published - stats.confirmed - stats.nacked - stats.lost;
  const sent = inFlight > 0 ? ` of ${fmt(stats.published)} sent` : '';
  const left = etaMs === undefined ? '' : `, ETA ${duration(etaMs)}`;
  const text = `${fmt(confirmed)} confirmed${sent}${failed ? `, ${fmt(failed)} refused` : ''}, ${fmt(Math.round(perSecond))} msg/s${left}`;
  // A narrow terminal loses the bar before it loses the figures.
  const line = bar.length + text.length < columns ? `${bar}${text}` : `${p === undefined ? '' : `${p}% `}${text}`;
  return line.slice(0, Math.max(10, columns - 1));
}

/** Time left at the average pace so far, when the input's size is known (a file, the arguments). */
export function eta(read: ReadProgress, elapsedMs: number): number | undefined {
  if (!read.total || read.done <= 0 || read.done >= read.total) return undefined;
  return (elapsedMs * (read.total - read.done)) / read.done;
}

function percent(read: ReadProgress): number | undefined {
  if (!read.total) return undefined;
  return Math.min(100, Math.floor((read.done / read.total) * 100));
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
