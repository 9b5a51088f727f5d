import { describe, expect, it } from 'vitest';
import { parseConsumeArgs } from '../../src/config/consume.js';
import { parsePublishArgs } from '../../src/config/publish.js';
import { UsageError } from '../../src/errors.js';
import { cli } from '../helpers/cli.js';

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

describe('--prefetch is at most 65535 (AMQP carries it in 16 bits), and --concurrency keeps its default prefetch under that', () => {
  it('takes the largest values and refuses one more, before connecting', () => {
    expect(consume(['-q', 'q', '-p', '65535'])).toMatchObject({ config: { prefetch: 65535 } });
    expectUsage(() => consume(['-q', 'q', '-p', '65536']), /--prefetch needs a whole number from 1 to 65535; got "65536"/);
    expectUsage(() => consume(['-q', 'q', '-p', '70000']), /--prefetch needs a whole number from 1 to 65535/);
    expect(consume(['-q', 'q', '-c', '0', '-j', '32767', '--result-queue', 'r'])).toMatchObject({ config: { prefetch: 65535 } });
    expectUsage(() => consume(['-q', 'q', '-c', '0', '-j', '70000']), /--concurrency needs a whole number from 1 to 32767; got "70000"/);
  });

  it('a real process: wq-consume -p 70000 exits 64 at once', async () => {
    // Before, amqplib's range error was retried as a failure to connect: a warning per try for 30 s, then 69.
    const run = await cli('wq-consume', ['-q', 'wq-test-prefetch-never-made', '-p', '70000', '--connect-timeout', '30', '--', 'true']);
    expect(run.exitCode).toBe(64);
    expect(run.logs).toHaveLength(1);
    expect(run.logs[0]?.msg).toMatch(/--prefetch needs a whole number from 1 to 65535/);
  });
});
