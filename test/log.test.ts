import { describe, expect, it } from 'vitest';
import { duration, formatEntry, textDestination, wantsColour } from '../src/log-text.js';

const line = (fields: Record<string, unknown>) => ({ level: 30, time: 1796151761531, pid: 42, hostname: 'pod-1', name: 'wq-consume', ...fields });

describe('the text form of a log line', () => {
  it('is the message, then the fields a person needs, without pino noise', () => {
    const text = formatEntry(line({ queue: 'jobs', deliveryTag: 3, messageId: 'abc123', redelivered: false, durationMs: 1234, exitCode: 0, msg: 'command succeeded: acked' }), false);
    expect(text).toBe('command succeeded: acked  queue=jobs tag=3 duration=1.2s exitCode=0');
  });

  it('starts warnings and errors with their level word, and leaves out the error code', () => {
    expect(formatEntry(line({ level: 50, code: 'QUEUE_CONFIG', exitCode: 78, msg: 'queue "missing" does not exist' }), false)).toBe('error: queue "missing" does not exist  exitCode=78');
    expect(formatEntry(line({ level: 40, queue: 'jobs', attempts: 2, exitCode: 1, msg: 'command failed on attempt 2 of 3: queued for another attempt' }), false)).toBe(
      'warning: command failed on attempt 2 of 3: queued for another attempt  queue=jobs exitCode=1',
    );
    expect(formatEntry(line({ level: 60, msg: 'boom' }), false)).toBe('fatal: boom');
  });

  it('does not repeat what the message says, nor zero counts', () => {
    const text = formatEntry(line({ queue: 'jobs', published: 3, unconfirmed: 0, ready: 3, seconds: 0.25, perSecond: 12345, msg: 'published 3 messages to jobs, the queue now holds 3 ready messages' }), false);
    expect(text).toBe('published 3 messages to jobs, the queue now holds 3 ready messages  time=250ms rate=12,345/s');
  });

  it('renders a run summary with its durations readable', () => {
    const text = formatEntry(line({ queue: 'jobs', processed: 10, acked: 8, retried: 2, deadLettered: 0, handedBack: 0, durationP50: 40, durationP95: 1500, durationMax: 75_000, wallMs: 2100, msg: 'processed 10 messages: 8 acked, 2 retried' }), false);
    expect(text).toBe('processed 10 messages: 8 acked, 2 retried  queue=jobs durationP50=40ms durationP95=1.5s durationMax=1m15s wall=2.1s');
  });

  it('leaves out a count the sentence gives with a hyphenated word ("1 dead-lettered")', () => {
    const msg = 'run finished in 3.1 s: the command ran 3 times (3 ms at p50, 3 ms at p95, 3 ms at most); of the messages, 1 acked, 1 retried, 1 dead-lettered, 0 handed back';
    const text = formatEntry(line({ processed: 3, acked: 1, retried: 1, deadLettered: 1, handedBack: 0, wallMs: 3100, exitCode: 0, msg }), false);
    expect(text).toBe(`${msg}  processed=3 wall=3.1s exitCode=0`);
  });

  it('reads a number of seconds as a duration', () => {
    expect(formatEntry(line({ queue: 'jobs', processed: 4, idleSeconds: 3, msg: 'queue stayed empty: drain finished' }), false)).toBe('queue stayed empty: drain finished  queue=jobs processed=4 idle=3s');
  });

  it('quotes values with spaces and shows an error object by its message', () => {
    expect(formatEntry(line({ deadLetter: 'queue jobs.dead', err: { type: 'Error', message: 'channel closed' }, msg: 'x' }), false)).toBe('x  deadLetter="queue jobs.dead" err="channel closed"');
  });

  it('colours the level word and dims the fields only when asked', () => {
    const text = formatEntry(line({ level: 40, queue: 'jobs', msg: 'handed back' }), true);
    expect(text).toBe('\x1b[33mwarning: \x1b[0mhanded back  \x1b[2mqueue=jobs\x1b[0m');
    expect(formatEntry(line({ level: 40, queue: 'jobs', msg: 'handed back' }), false)).not.toContain('\x1b');
  });

  it('is a pino destination: one JSON line in, one text line out; anything else passes through', () => {
    const out: string[] = [];
    const dest = textDestination({ write: (s) => out.push(s) }, false);
    dest.write(`${JSON.stringify(line({ level: 50, msg: 'no broker' }))}\n`);
    dest.write('not json\n');
    expect(out).toEqual(['error: no broker\n', 'not json\n']);
  });
});

describe('colour', () => {
  it('needs a terminal that is not dumb, and yields to NO_COLOR; FORCE_COLOR forces it', () => {
    expect(wantsColour({ TERM: 'xterm' }, true)).toBe(true);
    expect(wantsColour({ TERM: 'xterm' }, false)).toBe(false);
    expect(wantsColour({ TERM: 'dumb' }, true)).toBe(false);
    expect(wantsColour({ TERM: 'xterm', NO_COLOR: '1' }, true)).toBe(false);
    expect(wantsColour({ TERM: 'xterm', NO_COLOR: '' }, true)).toBe(true);
    expect(wantsColour({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(wantsColour({ FORCE_COLOR: '0', TERM: 'xterm' }, false)).toBe(false);
    expect(wantsColour({ FORCE_COLOR: '1', NO_COLOR: '1' }, true)).toBe(false);
  });
});

describe('duration', () => {
  it.each([
    [0, '0ms'],
    [999, '999ms'],
    [1234, '1.2s'],
    [3000, '3s'],
    [12_345, '12s'],
    [75_000, '1m15s'],
  ])('%d ms reads %s', (ms, text) => expect(duration(ms)).toBe(text));
});

describe('what the message already says', () => {
  it('hides a count only next to its own word, so a delivery tag that happens to equal the attempt still shows', () => {
    expect(formatEntry(line({ level: 40, queue: 'jobs', deliveryTag: 2, attempts: 2, exitCode: 1, msg: 'command failed on attempt 2 of 3: queued for another attempt' }), false)).toBe(
      'warning: command failed on attempt 2 of 3: queued for another attempt  queue=jobs tag=2 exitCode=1',
    );
  });
});
