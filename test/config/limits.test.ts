import { describe, expect, it } from 'vitest';
import { parseConsumeArgs } from '../../src/config/consume.js';
import { parsePublishArgs } from '../../src/config/publish.js';
import { UsageError } from '../../src/errors.js';

// Names and headers AMQP (or amqplib) cannot carry are usage errors before anything connects.
const consume = (argv: string[]) => parseConsumeArgs([...argv, '--', 'cat'], {});
const publish = (argv: string[]) => parsePublishArgs([...argv, 'item'], {}, true);

function expectUsage(fn: () => unknown, message: RegExp): void {
  expect(fn).toThrow(UsageError);
  expect(fn).toThrow(message);
}

describe('names are at most 255 bytes of UTF-8', () => {
  it('takes 255 bytes and refuses 256, counting bytes, not characters', () => {
    expect(consume(['-q', 'a'.repeat(255)]).kind).toBe('run');
    expectUsage(() => consume(['-q', 'a'.repeat(256)]), /the queue name \(-q or QUEUE\) is 256 bytes long: AMQP names are at most 255 bytes/);
    // 128 characters, 256 bytes
    expectUsage(() => publish(['-q', 'é'.repeat(128)]), /is 256 bytes long/);
    expectUsage(() => parseConsumeArgs(['--', 'cat'], { QUEUE: 'x'.repeat(300) }), /is 300 bytes long/);
  });

  it('checks the exchange, the routing key and the content properties of wq-publish', () => {
    expectUsage(() => publish(['-e', 'x'.repeat(256), '-r', 'k']), /--exchange is 256 bytes long/);
    expectUsage(() => publish(['-q', 'q', '-r', 'k'.repeat(256)]), /--routing-key is 256 bytes long/);
    expectUsage(() => publish(['-q', 'q', '-C', 't'.repeat(256)]), /--content-type is 256 bytes long/);
  });

  it('checks the dead-letter names, and the default QUEUE.dead only when --max-attempts uses it', () => {
    const q = 'q'.repeat(251); // QUEUE.dead is 256 bytes
    expect(consume(['-q', q]).kind).toBe('run');
    expectUsage(() => consume(['-q', q, '--max-attempts', '3']), /the default dead-letter queue \(QUEUE.dead, for --max-attempts\) is 256 bytes long.*Pass --dead-letter-queue NAME/);
    expect(consume(['-q', q, '--max-attempts', '3', '--dead-letter-queue', 'short']).kind).toBe('run');
    expectUsage(() => consume(['-q', 'q', '--dead-letter-exchange', 'x'.repeat(256)]), /--dead-letter-exchange is 256 bytes long/);
  });
});

describe('wq-publish headers fit in amqplib\'s 64 KiB table', () => {
  it('takes a table of exactly 65536 bytes encoded and refuses one byte more', () => {
    // 4 (table length) + 1 (name length) + 1 ("a") + 1 (type) + 4 (value length) + value
    const fits = publish(['-q', 'q', '-H', `a=${'x'.repeat(65536 - 11)}`]);
    expect(fits.kind === 'run' && fits.config.headers.a?.length).toBe(65525);
    expectUsage(() => publish(['-q', 'q', '-H', `a=${'x'.repeat(65536 - 10)}`]), /the headers take 65537 bytes encoded: amqplib encodes at most 64 KiB/);
    expectUsage(() => publish(['-q', 'q', '-H', `a=${'x'.repeat(40_000)}`, '-H', `b=${'x'.repeat(40_000)}`]), /the headers take \d+ bytes/);
  });

  it('refuses a header name over 255 bytes', () => {
    expectUsage(() => publish(['-q', 'q', '-H', `${'n'.repeat(256)}=v`]), /header names are at most 255 bytes/);
  });
});

describe('wq-publish --window is at most 1000000', () => {
  it('takes 1 and 1000000 and refuses 0, 1000001 and larger (a window past 2^31 once overflowed and hung the run)', () => {
    const window = (n: string) => {
      const r = publish(['-q', 'q', '--window', n]);
      return r.kind === 'run' ? r.config.window : undefined;
    };
    expect(window('1')).toBe(1);
    expect(window('1000000')).toBe(1_000_000);
    for (const n of ['0', '1000001', '3000000000', '100000000000000000000']) {
      expectUsage(() => publish(['-q', 'q', '--window', n]), new RegExp(`^--window needs a whole number from 1 to 1000000; got "${n}"\\.$`));
    }
  });
});
