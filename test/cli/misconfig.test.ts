import { beforeAll, describe, expect, it } from 'vitest';
import { brokerUrl, brokerUser, ctl, freshQueue, publish, queueExists, queueState, uniqueQueue } from '../helpers/broker.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { cli, errors, type CliRun } from '../helpers/cli.js';
import { freePort, startProxy, urlVia } from '../helpers/proxy.js';

// Misconfigurations end at once with their documented code and one sentence, on both CLIs: with
// --connect-timeout 20, a run that retried would take 20 s; these must end well before that.
const CONNECT_TIMEOUT = ['--connect-timeout', '20'];
const PROMPT_MS = 10_000;
type Name = 'wq-consume' | 'wq-publish';
const BOTH: Name[] = ['wq-consume', 'wq-publish'];

async function timed(name: Name, args: string[]): Promise<{ run: CliRun; ms: number }> {
  const started = performance.now();
  const run = await cli(name, [...CONNECT_TIMEOUT, ...args]);
  return { run, ms: performance.now() - started };
}

/** The same failure on both CLIs: consume one message of the queue, or publish one to it. */
function argsFor(name: Name, queue: string, connection: string[]): string[] {
  return name === 'wq-consume' ? [...connection, '-q', queue, '--', 'cat'] : [...connection, '-q', queue, 'item'];
}

function expectFailure(run: CliRun, code: number, line: RegExp, password?: string): void {
  expect(run.exitCode, run.stderr).toBe(code);
  const lines = errors(run);
  expect(lines).toHaveLength(1);
  expect(lines[0]?.msg).toMatch(line);
  expect(lines[0]?.detail, 'the library text is kept as a field').toBeTypeOf('string');
  if (password) expect(run.stderr).not.toContain(password);
}

/** A queue for the case: one message in it for wq-consume (it must stay), none for wq-publish (none may arrive). */
async function queueFor(name: Name): Promise<{ queue: string; expected: { ready: number; unacked: number; consumers: number } }> {
  const queue = await freshQueue('misconfig');
  if (name === 'wq-consume') await publish(queue, ['keep me']);
  return { queue, expected: { ready: name === 'wq-consume' ? 1 : 0, unacked: 0, consumers: 0 } };
}

const brokerPort = () => Number(new URL(brokerUrl()).port || 5672);

describe.each(BOTH)('%s: connection misconfigurations are not retried', (name) => {
  it('a vhost that does not exist: 77, the vhost named', async () => {
    const { queue, expected } = await queueFor(name);
    const url = new URL(brokerUrl());
    url.pathname = '/wq-no-such-vhost';
    const { run, ms } = await timed(name, argsFor(name, queue, ['--url', url.toString()]));
    expectFailure(run, 77, /refused vhost "wq-no-such-vhost": the vhost does not exist, or user "[^"]+" may not use it/);
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await queueState(queue)).toEqual(expected);
  });

  it('amqps:// to the plain AMQP port: 78, "the port answered without TLS"', async () => {
    const { queue, expected } = await queueFor(name);
    const { run, ms } = await timed(name, argsFor(name, queue, ['--url', urlVia(brokerPort(), 'amqps')]));
    expectFailure(run, 78, /the port answered without TLS\. amqps usually listens on 5671/);
    expect(errors(run)[0]?.msg).not.toMatch(/SSL routines|wrong version number/);
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await queueState(queue)).toEqual(expected);
  });

  it('a queue name over 255 bytes: 64 before connecting', async () => {
    const prefix = `wq-test-long-${name}-`;
    // 128 two-byte characters: 256 bytes, though only 128 + prefix characters
    const long = prefix + 'é'.repeat(128);
    const port = await freePort(); // nothing listens: a run that connected would retry for 20 s
    const { run, ms } = await timed(name, argsFor(name, long, ['--url', urlVia(port)]));
    expectNoDetail(run, 64, /the queue name \(-q or QUEUE\) is \d+ bytes long: AMQP names are at most 255 bytes/);
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await ctl(['list_queues', '-q', 'name'])).not.toContain(prefix);
  });
});

/** A usage error found by the config: no library text behind it. */
function expectNoDetail(run: CliRun, code: number, line: RegExp): void {
  expect(run.exitCode, run.stderr).toBe(code);
  expect(errors(run)).toHaveLength(1);
  expect(errors(run)[0]?.msg).toMatch(line);
}

describe('TLS set-ups that cannot work: not retried, a sentence instead of OpenSSL text', () => {
  let good: TestCerts;
  let goodPort: number;
  let strictPort: number;
  let expiredPort: number;
  let expiredCa: string;
  let otherHostPort: number;
  let otherHostCa: string;
  beforeAll(async () => {
    good = makeCerts();
    goodPort = (await startProxy({ tls: good.server })).port;
    strictPort = (await startProxy({ tls: { ...good.server, requestCert: true, rejectUnauthorized: true } })).port;
    const expired = makeCerts({ expired: true });
    expiredPort = (await startProxy({ tls: expired.server })).port;
    expiredCa = expired.ca;
    const other = makeCerts({ host: 'wq-elsewhere.test' });
    otherHostPort = (await startProxy({ tls: other.server })).port;
    otherHostCa = other.ca;
  }, 60_000);

  const cases: Array<{ case: string; port: () => number; flags: () => string[]; code: number; line: RegExp }> = [
    { case: 'a CA the client does not trust', port: () => goodPort, flags: () => [], code: 78, line: /the broker's certificate is not signed by a CA this client trusts .*--ca FILE/ },
    { case: 'an expired certificate', port: () => expiredPort, flags: () => ['--ca', expiredCa], code: 78, line: /the broker's certificate has expired/ },
    { case: 'a certificate for another host name', port: () => otherHostPort, flags: () => ['--ca', otherHostCa], code: 78, line: /the broker's certificate is not issued for "localhost"/ },
    { case: 'no client certificate where the broker requires one', port: () => strictPort, flags: () => ['--ca', good.ca], code: 77, line: /the broker refused the TLS handshake .*--cert and --key/ },
  ];
  // Not here: a client certificate from a CA the broker does not trust. RabbitMQ answers it with a TLS
  // alert (unknown_ca, mapped to 77 in test/amqp/failures.test.ts), but node's TLS server, which the
  // proxy is, drops such a client after the handshake without an alert, which looks like a broker
  // that went away (69, retried).
  for (const name of BOTH) {
    it.each(cases)(`${name}: $case`, async ({ port, flags, code, line }) => {
      const { queue, expected } = await queueFor(name);
      // the proxy's certificates name localhost, the address the client dials
      const { run, ms } = await timed(name, argsFor(name, queue, ['--url', urlVia(port(), 'amqps', 'localhost'), ...flags()]));
      expectFailure(run, code, line);
      expect(errors(run)[0]?.msg).not.toMatch(/SSL routines|altnames/);
      expect(ms).toBeLessThan(PROMPT_MS);
      expect(await queueState(queue)).toEqual(expected);
    });
  }

  it('the same proxy with the right CA and certificates works (the cases above fail for their reason)', async () => {
    const queue = await freshQueue('tls-ok');
    const url = urlVia(strictPort, 'amqps', 'localhost');
    const run = await cli('wq-publish', ['--url', url, '--ca', good.ca, '--cert', good.clientCert, '--key', good.clientKey, '-q', queue, 'over tls']);
    expect(run.exitCode, run.stderr).toBe(0);
    const plain = await cli('wq-publish', ['--url', urlVia(goodPort, 'amqps', 'localhost'), '--ca', good.ca, '-q', queue, 'again']);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });
});

describe('permissions: 77 at once, naming the missing permission', () => {
  it('wq-publish as a user without write permission: 77, "write" on the default exchange', async () => {
    const url = await brokerUser('nowrite', { configure: '.*', write: '', read: '.*' });
    const queue = await freshQueue('nowrite');
    const { run, ms } = await timed('wq-publish', ['--url', url, '-q', queue, 'a', 'b']);
    expectFailure(run, 77, new RegExp(`may not publish to queue "${queue}": it lacks the "write" permission on exchange "amq.default"`), new URL(url).password);
    expect(errors(run)[0]?.msg).toMatch(/0 of \d messages were published and confirmed/);
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('wq-publish declaring a queue without configure permission: 77, "configure", no queue made', async () => {
    const url = await brokerUser('noconf', { configure: '', write: '.*', read: '.*' });
    const queue = uniqueQueue('noconf');
    const { run, ms } = await timed('wq-publish', ['--url', url, '-q', queue, 'a']);
    expectFailure(run, 77, new RegExp(`may not declare queue "${queue}": it lacks the "configure" permission`));
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await queueExists(queue)).toBe(false);
  });

  it('wq-consume as a user without read permission: 77, "read", the message stays', async () => {
    const url = await brokerUser('noread', { configure: '.*', write: '.*', read: '' });
    const queue = await freshQueue('noread');
    await publish(queue, ['keep me']);
    const { run, ms } = await timed('wq-consume', ['--url', url, '-q', queue, '--', 'cat']);
    expectFailure(run, 77, new RegExp(`queue "${queue}": it lacks the "read" permission`));
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});

describe('bad names, headers and commands', () => {
  it('wq-consume -- /tmp: 126, a directory is not an executable; the message stays', async () => {
    const queue = await freshQueue('dir');
    await publish(queue, ['keep me']);
    const run = await cli('wq-consume', ['-q', queue, '--', '/tmp']);
    expectNoDetail(run, 126, /"\/tmp" is a directory, not an executable/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('wq-publish -H with a 70 KB header: 64 about the header size, nothing published', async () => {
    const queue = await freshQueue('bighdr');
    const run = await cli('wq-publish', ['-q', queue, '-H', `big=${'x'.repeat(70_000)}`, 'item']);
    expectNoDetail(run, 64, /the headers take \d+ bytes encoded: amqplib encodes at most 64 KiB \(65536 bytes\) of headers/);
    expect(errors(run)[0]?.msg).not.toMatch(/reading the input/);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('wq-publish -H at exactly 64 KiB encoded is published; one byte more is 64', async () => {
    const queue = await freshQueue('hdrlimit');
    // table: 4-byte length + 1 (name length) + 1 (name "a") + 1 (type) + 4 (value length) + value
    const fits = await cli('wq-publish', ['-q', queue, '-H', `a=${'x'.repeat(65536 - 11)}`, 'item']);
    expect(fits.exitCode, fits.stderr).toBe(0);
    const over = await cli('wq-publish', ['-q', queue, '-H', `a=${'x'.repeat(65536 - 10)}`, 'item']);
    expectNoDetail(over, 64, /the headers take 65537 bytes encoded/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('wq-publish to a queue named amq.*: 64, the prefix is reserved', async () => {
    const queue = uniqueQueue('reserved').replace(/^wq-test/, 'amq.wq-test');
    const { run, ms } = await timed('wq-publish', ['-q', queue, 'a']);
    expectFailure(run, 64, /is reserved: names starting with "amq\." belong to the broker/);
    expect(ms).toBeLessThan(PROMPT_MS);
    expect(await queueExists(queue)).toBe(false);
  });
});

describe.each(BOTH)('%s: an address that accepts and never answers', (name) => {
  it('ends 69 once --connect-timeout has passed, not after the socket timeout of 10 s per try', async () => {
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const server = createServer((socket) => held.push(socket)); // accepts, then says nothing
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as import('node:net').AddressInfo).port;
    try {
      const { queue, expected } = await queueFor(name);
      const started = performance.now();
      const run = await cli(name, ['--connect-timeout', '1', ...argsFor(name, queue, ['--url', `amqp://guest:pw-silent@127.0.0.1:${port}`])]);
      const ms = performance.now() - started;
      expect(run.exitCode, run.stderr).toBe(69);
      expect(errors(run)).toHaveLength(1);
      expect(run.stderr).not.toContain('pw-silent');
      expect(ms).toBeLessThan(8_000); // it was 10 s and more: the first try alone waited the socket's 10 s
      expect(await queueState(queue)).toEqual(expected);
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});
