import { afterEach, describe, expect, it, vi } from 'vitest';
import { eta, progressLine, startProgress } from '../../src/publish/progress.js';
import { clearStatusLine } from '../../src/status-line.js';
import type { Logger } from '../../src/log.js';

const stats = (confirmed: number, nacked = 0, returned = 0) => ({ published: confirmed + nacked, confirmed, nacked, returned, lost: 0 });

describe('the terminal progress line', () => {
  it('shows a bar and a percentage when the input size is known', () => {
    expect(progressLine(stats(50_000), { done: 500, total: 1000 }, 12_345.6, 120)).toBe('[##########----------]  50% 50,000 confirmed, 12,346 msg/s');
  });

  it('shows counts and the rate alone for stdin, and counts refused messages', () => {
    expect(progressLine(stats(10, 3, 2), { done: 99, total: undefined }, 0, 120)).toBe('8 confirmed, 5 refused, 0 msg/s');
  });

  it('fits the terminal width', () => {
    expect(progressLine(stats(1), { done: 1, total: 2 }, 1, 20)).toHaveLength(19);
  });

  it('shows confirmed against sent while confirms are outstanding, and the time left', () => {
    const s = { published: 1200, confirmed: 1000, nacked: 0, returned: 0, lost: 0 };
    expect(progressLine(s, { done: 250, total: 1000 }, 400, 120, 6000)).toBe('[#####---------------]  25% 1,000 confirmed of 1,200 sent, 400 msg/s, ETA 6s');
  });

  it('drops the bar, not the figures, on a narrow terminal', () => {
    const s = { published: 1200, confirmed: 1000, nacked: 0, returned: 0, lost: 0 };
    expect(progressLine(s, { done: 250, total: 1000 }, 400, 70, 6000)).toBe('25% 1,000 confirmed of 1,200 sent, 400 msg/s, ETA 6s');
  });
});

describe('the time left', () => {
  it('is the average pace so far applied to what is left of the input', () => {
    expect(eta({ done: 250, total: 1000 }, 2000)).toBe(6000);
  });

  it('is unknown without a size (stdin), before the first item and after the last', () => {
    expect(eta({ done: 250, total: undefined }, 2000)).toBeUndefined();
    expect(eta({ done: 0, total: 1000 }, 2000)).toBeUndefined();
    expect(eta({ done: 1000, total: 1000 }, 2000)).toBeUndefined();
  });
});

describe('the progress line on a terminal', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const terminal = () => {
    const written: string[] = [];
    const stderr = { isTTY: true, columns: 100, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    return { written, stderr };
  };
  const log = { info: () => undefined } as unknown as Logger;

  it('is erased before a log line and drawn again after; stop() leaves nothing behind', () => {
    vi.useFakeTimers();
    const { written, stderr } = terminal();
    const s = { published: 10, confirmed: 5, nacked: 0, returned: 0, lost: 0 };
    const ticker = startProgress({ progress: true, progressSeconds: 5 }, s, { done: 10, total: 100 }, log, () => undefined, stderr, { TERM: 'xterm' });
    vi.advanceTimersByTime(1200);
    expect(written.at(-1)).toMatch(/^\r\[##-+\] +10% 5 confirmed of 10 sent, \d+ msg\/s, ETA \S+\x1b\[K$/);
    written.length = 0;
    clearStatusLine(); // what the logger does before a line of its own
    expect(written).toEqual(['\r\x1b[K']);
    clearStatusLine();
    expect(written).toHaveLength(1);
    vi.advanceTimersByTime(200);
    expect(written.at(-1)).toMatch(/^\r\[/);
    written.length = 0;
    ticker.stop();
    expect(written).toEqual(['\r\x1b[K']);
    clearStatusLine();
    expect(written).toHaveLength(1);
  });

  it('on TERM=dumb erases with spaces: no escape sequence at all', () => {
    vi.useFakeTimers();
    const { written, stderr } = terminal();
    const s = { published: 10, confirmed: 10, nacked: 0, returned: 0, lost: 0 };
    const ticker = startProgress({ progress: true, progressSeconds: 5 }, s, { done: 10, total: 100 }, log, () => undefined, stderr, { TERM: 'dumb' });
    vi.advanceTimersByTime(1200);
    ticker.stop();
    expect(written.join('')).not.toContain('\x1b');
    expect(written.at(-1)).toBe(`\r${' '.repeat(99)}\r`);
  });
});
