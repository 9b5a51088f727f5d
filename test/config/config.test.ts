import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseArgv } from '../../src/config/args.js';
import { isWaitQueueOf, parseConsumeArgs } from '../../src/config/consume.js';
import { waitQueueName } from '../../src/consume/wait-queue.js';
import { parsePublishArgs } from '../../src/config/publish.js';
import { UsageError } from '../../src/errors.js';
import { redactText, redactUrl } from '../../src/redact.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const run = (argv: string[], env: Record<string, string> = {}) => {
  const r = parseConsumeArgs(argv, env);
  if (r.kind !== 'run') throw new Error('expected a run request');
  return r.config;
};

describe('configuration precedence: flag > environment > default', () => {
  it('takes --url over BROKER_URL over BROKER_URL_FILE over AMQP_URL over the default', () => {
    const file = `${tempDir()}/url`;
    writeFileSync(file, 'amqp://file:f@h3\n');
    const env = { BROKER_URL: 'amqp://env:e@h1', BROKER_URL_FILE: file, AMQP_URL: 'amqp://amqp:a@h2', QUEUE: 'q' };
    expect(run(['--url', 'amqp://flag:x@h0', '--', 'cat'], env).url).toBe('amqp://flag:x@h0');
    expect(run(['--', 'cat'], env).url).toBe('amqp://env:e@h1');
    expect(run(['--', 'cat'], { ...env, BROKER_URL: '' }).url).toBe('amqp://file:f@h3');
    expect(run(['--', 'cat'], { AMQP_URL: 'amqp://amqp:a@h2', QUEUE: 'q' }).url).toBe('amqp://amqp:a@h2');
    expect(run(['--', 'cat'], { QUEUE: 'q' }).url).toBe('amqp://guest:guest@localhost:5672');
  });

  it('takes -q over QUEUE', () => {
    expect(run(['-q', 'flag', '--', 'cat'], { QUEUE: 'env' }).queue).toBe('flag');
    expect(run(['--', 'cat'], { QUEUE: 'env' }).queue).toBe('env');
  });

  it('has the documented defaults', () => {
    const c = run(['-q', 'q', '--', 'cat']);
    expect(c).toMatchObject({ count: 1, prefetch: 1, concurrency: 1, declare: false, waitSeconds: 0, untilEmpty: false, graceSeconds: 20, timeoutSeconds: 0, maxAttempts: 0, heartbeatSeconds: 30 });
    expect(c.deadLetter).toEqual({ kind: 'queue', queue: 'q.dead' });
    expect(run(['-q', 'q', '--until-empty', '--', 'cat']).count).toBe(0);
    // Prefetch: one beyond the concurrency, never more than --count.
    expect(run(['-q', 'q', '-j', '3', '--', 'cat']).prefetch).toBe(1);
    expect(run(['-q', 'q', '--until-empty', '--', 'cat']).prefetch).toBe(2);
    expect(run(['-q', 'q', '--until-empty', '-j', '3', '--', 'cat']).prefetch).toBe(4);
    expect(run(['-q', 'q', '-c', '10', '-j', '3', '--', 'cat']).prefetch).toBe(4);
    expect(run(['-q', 'q', '-c', '2', '-j', '3', '--', 'cat']).prefetch).toBe(2);
    expect(run(['-q', 'q', '-c', '0', '--', 'cat']).prefetch).toBe(2);
    expect(run(['-q', 'q', '--until-empty', '-p', '1', '--', 'cat']).prefetch).toBe(1);
    // One fixed rule: no second consumer, no held acks (the machinery that was here paid under 10 % on a
    // realistic worker: docs/performance.md).
    expect(Object.keys(run(['-q', 'q', '--until-empty', '--', 'cat']))).not.toContain('prefetchGrowth');
  });
});

describe('argv: everything after "--" (or the first word that is not an option) is the command, untouched', () => {
  it('keeps the command and its own flags', () => {
    const c = run(['-q', 'q', '-c', '2', '--', 'python3', '-u', 'worker.py', '--count', '9', '--']);
    expect([c.command, ...c.args]).toEqual(['python3', '-u', 'worker.py', '--count', '9', '--']);
    expect(c.count).toBe(2);
  });

  it('starts the command at the first positional, as amqp-consume users write it', () => {
    const c = run(['-q', 'q', '/worker.py', '-v']);
    expect([c.command, ...c.args]).toEqual(['/worker.py', '-v']);
  });

  it('reads seconds as decimals: whole, with a fraction, or a fraction alone', () => {
    expect(run(['-q', 'q', '--timeout', '30', '--grace', '0.5', '--retry-delay', '.25', '--', 'cat'])).toMatchObject({ timeoutSeconds: 30, graceSeconds: 0.5, retryDelaySeconds: 0.25 });
  });

  it('an unknown option: wq-consume says to put the command after "--", wq-publish an item that starts with "-"', () => {
    expect(() => parseConsumeArgs(['-q', 'q', '--nope', 'cat'], {})).toThrow('unknown option --nope. Run with --help for usage; put the command after "--".');
    // Before, wq-publish said to put "the command" after "--": it takes none.
    expect(() => parsePublishArgs(['-q', 'q', '--nope', 'a'], {}, false)).toThrow('unknown option --nope. Run with --help for usage; an item that starts with "-" goes after "--".');
    expect(() => parsePublishArgs(['-q', 'q', '-Z'], {}, false)).toThrow('unknown option -Z. Run with --help for usage; an item that starts with "-" goes after "--".');
  });

  it('reads --name=value, -qNAME and repeated options', () => {
    const { values } = parseArgv(['--queue=a', '-c3'], [
      { name: 'queue', short: 'q', type: 'string', help: '' },
      { name: 'count', short: 'c', type: 'string', help: '' },
    ], false);
    expect(values).toEqual({ queue: 'a', count: '3' });
  });

  it.each([
    [['-q', 'q', '--nope', '--', 'cat'], /unknown option --nope/],
    [['-q', 'q', '-c', '-1', '--', 'cat'], /--count needs a whole number/],
    [['-q', 'q', '--wait', 'soon', '--', 'cat'], /--wait needs a number of seconds/],
    // Past 2^31 - 1 ms a Node timer fires at once: --timeout 3000000 stopped every command after 1 ms.
    [['-q', 'q', '--timeout', '3000000', '--', 'cat'], /--timeout needs a number of seconds from 0 to 2147483 \(24 days\); got "3000000"/],
    [['-q', 'q', '--grace', '2147484', '--', 'cat'], /--grace needs a number of seconds from 0 to 2147483/],
    // Number() reads hex and exponents: --timeout 0x10 was 16 seconds, --idle 1e3 was 1000.
    [['-q', 'q', '--timeout', '0x10', '--', 'cat'], /--timeout needs a number of seconds from 0 to 2147483 \(24 days\); got "0x10"/],
    [['-q', 'q', '--idle', '1e3', '--until-empty', '--', 'cat'], /--idle needs a number of seconds/],
    [['-q', 'q', '-j', '0', '--', 'cat'], /--concurrency needs a whole number from 1 to 32767/],
    [['-q', 'q', '--queue-type', 'stream', '--', 'cat'], /--queue-type must be classic or quorum/],
    [['-q', 'q', '--until-empty', '--wait', '1', '--', 'cat'], /--wait does not apply/],
    [['-q', 'q', '--url'], /--url needs a value/],
    [['-q', 'q', '--log-level', 'loud', '--', 'cat'], /--log-level must be one of/],
    // RabbitMQ declared "q" and routed nothing to "q\n": every message came back unroutable (wq-publish 65).
    [['-q', 'q\n', '--', 'cat'], /^the queue name \(-q or QUEUE\) "q\\n" holds a line break, which RabbitMQ drops from queue and exchange names/],
    [['-q', 'q', '--max-attempts', '2', '--dead-letter-queue', 'dead\r\n', '--', 'cat'], /^--dead-letter-queue "dead\\r\\n" holds a line break/],
  ])('rejects %j with a usage error', (argv, message) => {
    expect(() => parseConsumeArgs(argv, {})).toThrow(UsageError);
    expect(() => parseConsumeArgs(argv, {})).toThrow(message);
  });
});

describe('TLS files', () => {
  // Node ignored such a --ca without a word, and the broker's certificate then failed as untrusted.
  it('a --ca that holds no PEM certificate is a usage error that says how to convert it', () => {
    const dir = tempDir();
    writeFileSync(`${dir}/ca.der`, Buffer.from([0x30, 0x82, 0x01, 0x0a, 0x02, 0x82]));
    writeFileSync(`${dir}/ca.pem`, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    for (const parse of [(a: string[]) => parseConsumeArgs([...a, '--', 'cat'], {}), (a: string[]) => parsePublishArgs([...a, 'x'], {}, false)]) {
      expect(() => parse(['-q', 'q', '--ca', `${dir}/ca.der`])).toThrow(UsageError);
      expect(() => parse(['-q', 'q', '--ca', `${dir}/ca.der`])).toThrow(`--ca file ${dir}/ca.der holds no PEM certificate`);
      expect(() => parse(['-q', 'q', '--ca', `${dir}/ca.pem`])).not.toThrow();
    }
  });
});

describe('wq-consume options that would loop or do nothing', () => {
  it.each([
    [['-q', 'jobs', '--max-attempts', '3', '--dead-letter-queue', 'jobs', '--', 'cat'], /^--dead-letter-queue is the work queue "jobs": a dead letter would come back as work/],
    [['-q', 'jobs', '--result-queue', 'jobs', '--', 'cat'], /^--result-queue is the work queue "jobs": each result would come back as work/],
    [['-q', 'jobs', '--retry-delay-max', '60', '--', 'cat'], /^--retry-delay-max needs --retry-delay/],
    // A wait queue expires into the work queue: the dead letters ran again every second, for ever.
    [['-q', 'jobs', '--max-attempts', '1', '--dead-letter-queue', 'jobs.retry-1s', '--', 'cat'], /^--dead-letter-queue "jobs.retry-1s" is a --retry-delay wait queue of "jobs", whose messages expire back into it: a dead letter would come back as work/],
    [['-q', 'jobs', '--result-queue', 'jobs.retry-1500ms', '--', 'cat'], /^--result-queue "jobs.retry-1500ms" is a --retry-delay wait queue of "jobs"/],
    // It was 77, "refused access ... check the user's permissions": the broker refuses to check the default exchange.
    [['-q', 'jobs', '--dead-letter-on', '3', '--dead-letter-exchange', '', '--', 'cat'], /^--dead-letter-exchange "" is the default exchange, which would route a dead letter back to the work queue/],
    [['-q', 'jobs', '--dead-letter-on', '3', '--dead-letter-exchange', 'amq.default', '--', 'cat'], /^--dead-letter-exchange "amq.default" is the default exchange/],
  ])('%j', (argv, message) => {
    expect(() => parseConsumeArgs(argv, {})).toThrow(UsageError);
    expect(() => parseConsumeArgs(argv, {})).toThrow(message);
  });
});

describe('the wait queues a dead letter or a result must not go to', () => {
  it('are every name waitQueueName() gives the work queue, and no other', () => {
    const long = `q${'é'.repeat(125)}`; // 251 bytes: its wait queues' names are cut and hashed
    for (const queue of ['jobs', 'a-0123456789ab', long]) {
      for (const ms of [1000, 1500, 30_000, 86_400_000]) expect(isWaitQueueOf(waitQueueName(queue, ms), queue), `${queue} ${ms}`).toBe(true);
    }
    expect(waitQueueName(long, 1000)).not.toContain(long);
    for (const [name, queue] of [['jobs.retry-1s', 'job'], ['jobs.retry-1s', 'jobs.retry'], ['jobs.retry-s', 'jobs'], ['jobs.retry-1sx', 'jobs'], ['jobs-0123456789ab.retry-1s', 'jobs'], ['other.retry-1s', 'jobs'], ['jobs.dead', 'jobs']] as [string, string][]) {
      expect(isWaitQueueOf(name, queue), `${name} of ${queue}`).toBe(false);
    }
  });
});

describe('a line break in a name', () => {
  it('QUEUE from a ConfigMap block scalar, or --exchange: a usage error; a routing key may hold one', () => {
    expect(() => parsePublishArgs(['x'], { QUEUE: 'job1\n' }, false)).toThrow(/^the queue name \(-q or QUEUE\) "job1\\n" holds a line break/);
    expect(() => parsePublishArgs(['--exchange', 'ex\n', '--routing-key', 'k', 'x'], {}, false)).toThrow(/^--exchange "ex\\n" holds a line break/);
    expect(() => parsePublishArgs(['--exchange', 'ex', '--routing-key', 'a\nb', 'x'], {}, false)).not.toThrow();
  });
});

describe('wq-publish --expand', () => {
  it('refuses --skip and --run-id, which it would ignore (it publishes nothing)', () => {
    expect(() => parsePublishArgs(['--expand', 't.yaml', '--skip', '2', 'a', 'b', 'c'], {}, false)).toThrow(/^--skip does not apply with --expand/);
    expect(() => parsePublishArgs(['--expand', 't.yaml', '--run-id', 'zz', 'a'], {}, false)).toThrow(/^--run-id does not apply with --expand/);
  });
});

describe('wq-publish --routing-key', () => {
  it('without --exchange it must be -q: the default exchange routes by the key alone, to another queue than the one counted', () => {
    expect(() => parsePublishArgs(['-q', 'jobs', '-r', 'other', 'a'], {}, false)).toThrow(/^--routing-key "other" without --exchange would publish to queue "other", not to -q "jobs"/);
    expect(parsePublishArgs(['-q', 'jobs', '-r', 'jobs', 'a'], {}, false)).toMatchObject({ config: { routingKey: 'jobs' } });
    expect(parsePublishArgs(['-q', 'jobs', '-e', 'amq.direct', '-r', 'other', 'a'], {}, false)).toMatchObject({ config: { routingKey: 'other', exchange: 'amq.direct' } });
  });
});

describe('an option that is not repeatable, given twice, is a usage error (the second never silently replaces the first)', () => {
  it.each([
    [['-q', 'a', '-q', 'b', '--', 'cat'], /^-q\/--queue was given twice: give it once/],
    [['-q', 'q', '-c', '1', '--count=2', '--', 'cat'], /^-c\/--count was given twice/],
    [['-q', 'q', '--log-format', 'json', '--log-format', 'text', '--', 'cat'], /--log-format was given twice/],
  ])('wq-consume %j', (argv, message) => {
    expect(() => parseConsumeArgs(argv, {})).toThrow(UsageError);
    expect(() => parseConsumeArgs(argv, {})).toThrow(message);
  });

  it.each([
    [['-q', 'q', '--file', 'a.txt', '--file', 'b.txt'], /^-f\/--file was given twice/],
    [['-q', 'q', '-b', 'first', '-b', 'second'], /^-b\/--body was given twice/],
  ])('wq-publish %j', (argv, message) => {
    expect(() => parsePublishArgs(argv, {}, false)).toThrow(message);
  });

  it('a flag may come again: the last one wins', () => {
    expect(parseConsumeArgs(['-q', 'q', '--until-empty', '--until-empty', '--', 'cat'], {})).toMatchObject({ config: { untilEmpty: true } });
    expect(parseConsumeArgs(['-q', 'q', '--declare', '--no-declare', '--', 'cat'], {})).toMatchObject({ config: { declare: false } });
  });

  it('repeatable options still collect every value', () => {
    const { values } = parseArgv(['-H', 'a=1', '-H', 'b=2'], [{ name: 'header', short: 'H', type: 'string', multiple: true, help: '' }], false);
    expect(values).toEqual({ header: ['a=1', 'b=2'] });
  });

  it('a real process: wq-publish --file a --file b exits 64 at once with one line, nothing published', async () => {
    const dir = tempDir();
    writeFileSync(`${dir}/a.txt`, 'a1\na2\n');
    writeFileSync(`${dir}/b.txt`, 'b1\n');
    const r = await cli('wq-publish', ['-q', 'wq-test-twice-never-made', '--file', `${dir}/a.txt`, '--file', `${dir}/b.txt`]);
    expect(r.exitCode).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.logs[0]?.msg).toMatch(/^-f\/--file was given twice: give it once/);
    expect(r.logs.some((l) => /published/.test(l.msg))).toBe(false);
  });
});

describe('redaction', () => {
  it.each([
    ['amqp://user:secret@host:5672/vhost', 'amqp://user:***@host:5672/vhost'],
    ['amqps://u:p%40ss@h/', 'amqps://u:***@h/'],
    ['amqp://host:5672', 'amqp://host:5672'],
    ['amqp://user@host', 'amqp://user@host'],
  ])('redactUrl(%s)', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('removes URL passwords and a known secret from free text', () => {
    expect(redactText('failed for amqp://a:b@c and amqp://d:e@f; token hunter2', 'hunter2')).toBe('failed for amqp://a:***@c and amqp://d:***@f; token ***');
  });
});

describe('input and results options', () => {
  it('defaults: the body on stdin only, no result; -I, --item-file, --no-stdin, --result-queue, --reply, --result-max-bytes', () => {
    expect(run(['-q', 'q', '--', 'cat'])).toMatchObject({ replace: false, itemFile: false, stdin: true, resultQueue: '', reply: false, resultMaxBytes: 16 * 1024 * 1024, itemArgMaxBytes: 65536, declareResults: true });
    const c = run(['-q', 'q', '-I', '--item-file', '--no-stdin', '--result-queue', 'out', '--reply', '--result-max-bytes', '1000', '--', 'convert', '{file}', 'x.png']);
    expect(c).toMatchObject({ replace: true, itemFile: true, stdin: false, resultQueue: 'out', reply: true, resultMaxBytes: 1000, args: ['{file}', 'x.png'] });
    // With results, room for one message per command waiting for its result's confirm; -c 1 still takes one.
    expect(run(['-q', 'q', '--until-empty', '--result-queue', 'out', '--', 'cat']).prefetch).toBe(3);
    expect(run(['-q', 'q', '--until-empty', '-j', '3', '--reply', '--', 'cat']).prefetch).toBe(7);
    expect(run(['-q', 'q', '--result-queue', 'out', '--', 'cat']).prefetch).toBe(1);
    expect(run(['-q', 'q', '--no-declare', '--result-queue', 'out', '--', 'cat'])).toMatchObject({ declare: false, declareResults: false });
  });

  it.each([
    [['-I', '--', 'cat'], /no argument of the command holds \{\} or \{file\}/],
    [['--result-queue', '', '--', 'cat'], /--result-queue needs a queue name/],
    [['--result-max-bytes', 'lots', '--', 'cat'], /result-max-bytes/],
  ])('%j is a usage error', (argv, why) => {
    expect(() => parseConsumeArgs(['-q', 'q', ...argv], {})).toThrow(why);
    expect(() => parseConsumeArgs(['-q', 'q', ...argv], {})).toThrow(UsageError);
  });
});
