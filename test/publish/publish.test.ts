import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { ConsumeMessage } from 'amqplib';
import { execa } from 'execa';
import { describe, expect, it, inject } from 'vitest';
import { admin, brokerUrl, drain, freshQueue, queueExists, queueState, readyCount, uniqueQueue } from '../helpers/broker.js';
import { cli, DIST, errors, FIXTURE, NODE, start, toRun } from '../helpers/cli.js';
import { recorded, tempDir } from '../helpers/files.js';
import { freePort, startProxy, urlVia } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** The summary line wq-publish ends a run with. */
const summary = (logs: Array<{ msg: string }>) => logs.find((l) => /^published \d+ /.test(l.msg)) as (Record<string, unknown> & { msg: string }) | undefined;

/** Every message of a queue, in order, with its properties (a consumer with a large prefetch, no ack). */
async function consumeAll(queue: string, expected: number): Promise<ConsumeMessage[]> {
  const ch = await (await admin()).createChannel();
  await ch.prefetch(2000);
  const got: ConsumeMessage[] = [];
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (msg) => {
      if (msg) got.push(msg);
      if (got.length === expected) resolve();
    }, { noAck: true });
  });
  await ch.close();
  return got;
}

describe('wq-publish fills a queue, confirmed', () => {
  it('publishes the arguments in order to a queue it declares durable; wq-consume takes them back', async () => {
    const queue = uniqueQueue('roundtrip');
    const pub = await cli('wq-publish', ['-q', queue, 'apple', 'banana', 'cherry']);
    expect(pub.exitCode).toBe(0);
    expect(summary(pub.logs)).toMatchObject({ queue, published: 3, unconfirmed: 0, ready: 3 });
    expect(summary(pub.logs)?.msg).toBe(`published 3 messages to ${queue}, the queue now holds 3 ready messages`);
    expect(pub.stdout).toBe('');
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
    // Durable: re-declaring it durable succeeds only if it is.
    const ch = await (await admin()).createChannel();
    await expect(ch.assertQueue(queue, { durable: true })).resolves.toMatchObject({ messageCount: 3 });
    await ch.close();

    const out = tempDir();
    const con = await cli('wq-consume', ['-q', queue, '-c', '3', '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(con.exitCode).toBe(0);
    const got = recorded(out);
    expect(got.map((r) => r.body.toString())).toEqual(['apple', 'banana', 'cherry']);
    const ids = got.map((r) => r.env.WQ_MESSAGE_ID);
    expect(new Set(ids).size).toBe(3);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('sets persistent delivery, a message id, --content-type, --header, and routes through --exchange', async () => {
    const queue = await freshQueue('props');
    const ch = await (await admin()).createChannel();
    await ch.bindQueue(queue, 'amq.direct', `${queue}-key`);
    const pub = await cli('wq-publish', ['-q', queue, '-e', 'amq.direct', '-r', `${queue}-key`, '-C', 'text/plain', '-H', 'team=fruit', '--header', 'x-note: a=b', 'one', 'two']);
    expect(pub.exitCode).toBe(0);
    expect(summary(pub.logs)).toMatchObject({ queue, exchange: 'amq.direct', published: 2, ready: 2 });
    const msgs = await consumeAll(queue, 2);
    expect(msgs.map((m) => m.content.toString())).toEqual(['one', 'two']);
    for (const m of msgs) {
      expect(m.fields).toMatchObject({ exchange: 'amq.direct', routingKey: `${queue}-key` });
      expect(m.properties).toMatchObject({ deliveryMode: 2, contentType: 'text/plain', headers: { team: 'fruit', 'x-note': 'a=b' } });
      expect(m.properties.messageId).toMatch(/^[0-9a-f]{12}-\d+$/);
    }
    expect(msgs[0]?.properties.messageId).not.toBe(msgs[1]?.properties.messageId);
    await ch.close();
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--queue-type quorum declares a quorum queue', async () => {
    const queue = uniqueQueue('quorum');
    const pub = await cli('wq-publish', ['-q', queue, '--queue-type', 'quorum', 'q1']);
    expect(pub.exitCode).toBe(0);
    const ch = await (await admin()).createChannel();
    // Declaring it quorum again succeeds only if it is a quorum queue (else 406 inequivalent arg).
    await expect(ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })).resolves.toMatchObject({ messageCount: 1 });
    await ch.close();
    // A quorum queue's counters reach rabbitmqctl a few seconds late: wait for them to settle.
    for (let i = 0; i < 100 && (await queueState(queue)).ready === 0; i++) await sleep(200);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});

describe('--window', () => {
  it('takes up to 1000000 and publishes, confirmed; a larger window is a usage error (exit 64) before connecting, not a run that never ends', async () => {
    const queue = uniqueQueue('window');
    const max = await cli('wq-publish', ['--window', '1000000', '-q', queue, 'a', 'b', 'c']);
    expect(max.exitCode, max.stderr).toBe(0);
    expect(summary(max.logs)).toMatchObject({ published: 3, unconfirmed: 0, ready: 3 });
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });

    const other = uniqueQueue('window');
    for (const window of ['1000001', '3000000000', '100000000000000000000']) {
      const child = start('wq-publish', ['--window', window, '-q', other, 'a', 'b', 'c']);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const pub = toRun(await child);
      clearTimeout(timer);
      expect(pub.exitCode, `--window ${window}`).toBe(64);
      expect(errors(pub).map((l) => l.msg)).toEqual([`--window needs a whole number from 1 to 1000000; got "${window}".`]);
    }
    expect(await queueExists(other)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  }, 60_000);
});

describe('line mode and whole messages', () => {
  const input = Buffer.concat([Buffer.from('alpha\r\nbeta\n\n\r\n  spaced  \n'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\nlast without newline')]);
  const expected = [Buffer.from('alpha'), Buffer.from('beta'), Buffer.from('  spaced  '), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('last without newline')];

  it('stdin: one message per line, line endings stripped, empty lines skipped, bytes kept as they are', async () => {
    const queue = uniqueQueue('stdin');
    const pub = await cli('wq-publish', ['-q', queue], { input });
    expect(pub.exitCode).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 5, unacked: 0, consumers: 0 });
    expect(await drain(queue)).toEqual(expected);
  });

  it('--file: the same rules', async () => {
    const queue = uniqueQueue('file');
    const file = join(tempDir(), 'items.txt');
    writeFileSync(file, input);
    const pub = await cli('wq-publish', ['-q', queue, '--file', file]);
    expect(pub.exitCode).toBe(0);
    expect(await drain(queue)).toEqual(expected);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('-b publishes one whole message, newlines included', async () => {
    const queue = uniqueQueue('body');
    const pub = await cli('wq-publish', ['-q', queue, '-b', 'line one\nline two\n']);
    expect(pub.exitCode).toBe(0);
    expect((await drain(queue)).map(String)).toEqual(['line one\nline two\n']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('refuses two sources at once, and an unreadable --file, before publishing anything', async () => {
    const queue = uniqueQueue('usage');
    const both = await cli('wq-publish', ['-q', queue, '--file', '/etc/hostname', 'item']);
    expect(both.exitCode).toBe(64);
    expect(errors(both)[0]?.msg).toMatch(/one way: items or --file/);
    const missing = await cli('wq-publish', ['-q', queue, '--file', '/nonexistent/items.txt']);
    expect(missing.exitCode).toBe(64);
    expect(errors(missing)[0]?.msg).toMatch(/cannot read --file \/nonexistent\/items.txt: ENOENT/);
    const header = await cli('wq-publish', ['-q', queue, '-H', 'novalue', 'x']);
    expect(header.exitCode).toBe(64);
    expect(await queueExists(queue)).toBe(false);
  });
});

describe('Debian amqp-tools read what wq-publish wrote, byte for byte, in order', () => {
  const items = ['plain', 'héllo wörld ✓', 'tab\there', `quote"s and 'single'`, '  spaces  '];

  it('amqp-get', async () => {
    const queue = uniqueQueue('amqp-get');
    expect((await cli('wq-publish', ['-q', queue, ...items])).exitCode).toBe(0);
    expect((await cli('wq-publish', ['-q', queue, '-b', 'multi\nline\n'])).exitCode).toBe(0);
    expect((await cli('wq-publish', ['-q', queue], { input: Buffer.from([0x00, 0xff, 0x0a, 0x80]) })).exitCode).toBe(0);
    const got: Buffer[] = [];
    for (let i = 0; i < items.length + 2; i++) {
      const { stdout } = await run('amqp-get', ['--url', brokerUrl(), '-q', queue], { encoding: 'buffer' });
      got.push(stdout);
    }
    expect(got).toEqual([...items.map((s) => Buffer.from(s)), Buffer.from('multi\nline\n'), Buffer.from([0x00, 0xff])]);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    expect(await drain(queue)).toEqual([Buffer.from([0x80])]);
  });

  it('amqp-consume', async () => {
    const queue = uniqueQueue('amqp-consume');
    expect((await cli('wq-publish', ['-q', queue, ...items])).exitCode).toBe(0);
    const { stdout } = await run('amqp-consume', ['--url', brokerUrl(), '-q', queue, '-c', String(items.length), 'cat'], { encoding: 'buffer' });
    expect(stdout).toEqual(Buffer.from(items.join('')));
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('memory', () => {
  it('large items publish in bounded memory: the bodies waiting for confirms are capped in bytes too, not only in messages', async () => {
    const queue = await freshQueue('big-items');
    const file = join(tempDir(), 'big.txt');
    writeFileSync(file, `${'x'.repeat(5 * 1024 * 1024)}\n`.repeat(60)); // 300 MiB: the default window of 4000 messages holds it all
    const proxy = await startProxy();
    const child = execa('/usr/bin/time', ['-f', '%M', NODE, DIST('wq-publish'), '--url', urlVia(proxy.port), '-q', queue, '--file', file, '--no-progress', '--log-format', 'json'], { reject: false });
    await waitFor(async () => (await readyCount(queue)) >= 1, 'publishing to begin');
    proxy.pause(); // no confirm reaches it: each body it has sent stays in memory until its confirm
    await sleep(4000);
    proxy.resume();
    const pub = await child;
    await proxy.close();
    expect(pub.exitCode, pub.stderr.slice(-500)).toBe(0);
    const peakMb = Number(pub.stderr.trim().split('\n').at(-1)) / 1024;
    console.log(`wq-publish, 60 items of 5 MiB, confirms held back for 4 s: peak RSS ${Math.round(peakMb)} MB`);
    // It read and kept all 300 MiB; now 64 MiB wait for confirms, plus Node and the reader.
    expect(peakMb).toBeLessThan(280);
    expect(await readyCount(queue)).toBe(60);
    const ch = await (await admin()).createChannel();
    await ch.purgeQueue(queue);
    await ch.close();
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 120_000);
});

describe('publisher confirms: success is reported only for what the broker confirmed', () => {
  it('a queue that refuses messages (x-max-length 5, reject-publish): exit 65 and the count of refused messages', async () => {
    const queue = await freshQueue('full', { 'x-max-length': 5, 'x-overflow': 'reject-publish' });
    const lines = Array.from({ length: 20 }, (_, i) => `m${i}`);
    const pub = await cli('wq-publish', ['-q', queue], { input: lines.join('\n') });
    expect(pub.exitCode).toBe(65);
    expect(summary(pub.logs)).toMatchObject({ published: 5, unconfirmed: 15, ready: 5 });
    const last = pub.logs.at(-1);
    expect(last).toMatchObject({ level: 50, code: 'UNCONFIRMED', exitCode: 65 });
    expect(last?.msg).toMatch(/^15 of 20 messages were not confirmed to queue "[^"]+": 15 refused by the broker \(basic\.nack: is the queue full, with x-max-length and overflow reject-publish, or its node down, or a quorum queue without its majority\?\)/);
    // Which ones: a rerun from the first refused item publishes every one not confirmed (and some again).
    expect(last?.msg).toMatch(/To resume, run again with the same input and --run-id \w+ --skip 5: items from 6 on are published again, with the same message ids\.$/);
    expect(await queueState(queue)).toEqual({ ready: 5, unacked: 0, consumers: 0 });
    expect((await drain(queue)).map(String)).toEqual(lines.slice(0, 5));
  });

  it('the queue deleted while it publishes: exit 78, said so, and the whole input to publish again (what was confirmed went with the queue)', async () => {
    const queue = await freshQueue('deleted-mid');
    const file = join(tempDir(), 'items.txt');
    writeFileSync(file, `${Array.from({ length: 200_000 }, (_, i) => `item ${i}`).join('\n')}\n`);
    const child = start('wq-publish', ['-q', queue, '--file', file, '--no-progress']);
    while ((await readyCount(queue)) < 1000) await sleep(20);
    const ch = await (await admin()).createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    const pub = toRun(await child);
    // The broker either returns what follows (unroutable) or closes the channel (404). It was 65 for the
    // first, with a --skip that left out what had been confirmed to the deleted queue (gone with it).
    const last = pub.logs.at(-1) as { msg: string };
    expect(pub.exitCode).toBe(78);
    expect(last.msg).toMatch(/^queue "[^"]+" was deleted while wq-publish published to it \(404 NOT_FOUND\): the \d+ messages confirmed to it went with it(, and \d+ more were not published)?\. Publish the whole input again \(a rerun declares the queue\), with --run-id \w+ to keep the same message ids\.$/);
    expect(last.msg).not.toMatch(/--skip/);
    expect(await queueExists(queue)).toBe(false);
  }, 60_000);

  it('the queue deleted while it publishes through an exchange (-e, -r, and -q naming the queue): exit 78 too, no --skip', async () => {
    const queue = await freshQueue('deleted-mid-ex');
    const ch = await (await admin()).createChannel();
    await ch.bindQueue(queue, 'amq.direct', `${queue}-key`);
    const file = join(tempDir(), 'items.txt');
    writeFileSync(file, `${Array.from({ length: 200_000 }, (_, i) => `item ${i}`).join('\n')}\n`);
    const child = start('wq-publish', ['-e', 'amq.direct', '-r', `${queue}-key`, '-q', queue, '--file', file, '--no-progress']);
    while ((await readyCount(queue)) < 1000) await sleep(20);
    await ch.deleteQueue(queue);
    await ch.close();
    const pub = toRun(await child);
    // It was 65, "unroutable", with a --skip past the items that went with the deleted queue.
    const last = pub.logs.at(-1) as { msg: string };
    expect(pub.exitCode, pub.stderr).toBe(78);
    expect(last.msg).toMatch(/^queue "[^"]+" was deleted while wq-publish published to it \(404 NOT_FOUND\): the \d+ messages confirmed to it went with it(, and \d+ more were not published)?\. Publish the whole input again/);
    expect(last.msg).not.toMatch(/--skip/);
    expect(await queueExists(queue)).toBe(false);
  }, 60_000);

  it('unroutable messages (an exchange with no matching binding): exit 65, counted as returned', async () => {
    const queue = await freshQueue('unroutable');
    const ch = await (await admin()).createChannel();
    await ch.bindQueue(queue, 'amq.direct', `${queue}-bound`);
    await ch.close();
    const pub = await cli('wq-publish', ['-e', 'amq.direct', '-r', `${queue}-unbound`, 'a', 'b', 'c']);
    expect(pub.exitCode).toBe(65);
    expect(summary(pub.logs)).toMatchObject({ exchange: 'amq.direct', published: 0, unconfirmed: 3 });
    expect(pub.logs.at(-1)?.msg).toMatch(/^3 of 3 messages were not confirmed .*: 3 unroutable \(basic\.return/);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--no-declare and a missing queue: exit 78 before anything is published, and no queue appears', async () => {
    const queue = uniqueQueue('nodeclare');
    const pub = await cli('wq-publish', ['-q', queue, '--no-declare', 'x']);
    expect(pub.exitCode).toBe(78);
    expect(errors(pub)[0]?.msg).toMatch(/does not exist and --no-declare is set/);
    expect(await queueExists(queue)).toBe(false);
  });

  it('a connection closed mid-publish: it reconnects, publishes again what was not confirmed, goes on, and exits 0 with every item in the queue', async () => {
    const queue = uniqueQueue('lost');
    const runId = `lost-${Date.now()}`;
    // Items keep coming on stdin until the broker has closed the connection and wq-publish is back,
    // however fast or slow the machine: the close always lands mid-publish.
    const child = execa(NODE, [DIST('wq-publish'), '-q', queue, '--no-progress', '--run-id', runId], { reject: false, env: { BROKER_URL: brokerUrl() }, stdin: 'pipe' });
    let total = 0;
    let feeding = true;
    const exited = child.then(() => undefined);
    child.stdin?.on('error', () => undefined);
    const feed = (async () => {
      while (feeding) {
        const ok = child.stdin?.write(Array.from({ length: 2000 }, (_, i) => `n${total + i + 1}\n`).join(''));
        total += 2000;
        if (!ok) await Promise.race([new Promise((r) => child.stdin?.once('drain', r)), exited]);
        await sleep(5);
      }
      child.stdin?.end();
    })();
    // Wait until messages arrive, then have the broker close that connection (as an operator, or a node that stops).
    while (!(await queueExists(queue)) || (await queueState(queue)).ready === 0) await sleep(100);
    const [cmd, ...prefix] = inject('rabbitmqctl');
    const { stdout } = await run(cmd as string, [...prefix, 'list_connections', '-q', '--no-table-headers', 'pid', 'client_properties']);
    const line = stdout.split('\n').find((l) => l.includes(`wq-publish (pid ${child.pid})`));
    expect(line).toBeDefined();
    await run(cmd as string, [...prefix, 'close_connection', (line as string).split(/\s+/)[0] as string, 'test: connection lost']);
    // Back on a new connection (a second one from the same pid), then the input ends.
    for (let i = 0; i < 200; i++) {
      const now = await run(cmd as string, [...prefix, 'list_connections', '-q', '--no-table-headers', 'client_properties']);
      if (now.stdout.includes(`wq-publish (pid ${child.pid})`)) break;
      await sleep(100);
    }
    feeding = false;
    await feed;
    const pub = toRun(await child);
    expect(pub.exitCode, pub.stderr).toBe(0);
    const lost = pub.logs.find((l) => l.msg.startsWith('lost the connection to '));
    expect(lost?.msg).toMatch(/\(.*320.*\): reconnecting for up to 30s \(--connect-timeout\); \d+ unconfirmed messages will be published again$/);
    const last = summary(pub.logs) as Record<string, number> & { msg: string };
    expect(last).toMatchObject({ published: total, unconfirmed: 0, reconnects: 1 });
    expect(last.msg).toMatch(new RegExp(`; ${last.republished} published again after 1 reconnect \\(possible duplicates, with the same message ids\\)$`));
    expect(pub.logs.at(-1)).toBe(last);
    // Every item at least once, by message id; a duplicate only among those published again.
    const msgs = await consumeAll(queue, last.ready as number);
    const ids = new Set(msgs.map((m) => m.properties.messageId as string));
    expect(ids.size).toBe(total);
    expect(ids.has(`${runId}-${String(total).padStart(6, '0')}`)).toBe(true);
    expect(msgs.length - total).toBeLessThanOrEqual(last.republished as number);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 120_000);

  it('no broker within --connect-timeout after a lost connection: exit 69, and a rerun with --run-id and --skip completes it with the same message ids', async () => {
    const queue = await freshQueue('giveup');
    const total = 20_000;
    const file = join(tempDir(), 'items.txt');
    writeFileSync(file, Array.from({ length: total }, (_, i) => `g${i + 1}\n`).join(''));
    const proxy = await startProxy();
    const runId = `giveup-${Date.now()}`;
    const child = execa(NODE, [DIST('wq-publish'), '--url', urlVia(proxy.port), '-q', queue, '--no-progress', '--run-id', runId, '--connect-timeout', '1'], { reject: false, stdin: 'pipe' });
    child.stdin?.on('error', () => undefined);
    child.stdin?.write(Array.from({ length: total / 2 }, (_, i) => `g${i + 1}\n`).join(''));
    while ((await readyCount(queue)) < 500) await sleep(20);
    await proxy.close(); // the connection drops, and nothing answers there any more
    const pub = toRun(await child);
    expect(pub.exitCode).toBe(69);
    const last = pub.logs.at(-1) as { msg: string };
    const m = / To resume, run again with the same input and --run-id (\S+) --skip (\d+): items from (\d+) on are published again, with the same message ids\.$/.exec(last.msg);
    expect(m, last.msg).not.toBeNull();
    expect(m?.[1]).toBe(runId);
    const skip = Number(m?.[2]);
    expect(Number(m?.[3])).toBe(skip + 1);
    // Everything before the resume point is in the queue (it was confirmed).
    const before = await readyCount(queue);
    expect(before).toBeGreaterThanOrEqual(skip);

    const rerun = await cli('wq-publish', ['-q', queue, '--file', file, '--run-id', runId, '--skip', String(skip)]);
    expect(rerun.exitCode).toBe(0);
    expect(summary(rerun.logs)).toMatchObject({ published: total - skip, unconfirmed: 0 });
    const msgs = await consumeAll(queue, summary(rerun.logs)?.ready as number);
    const byId = new Map(msgs.map((x) => [x.properties.messageId as string, x.content.toString()]));
    expect(byId.size).toBe(total);
    // (skip may be 0: on a busy machine the confirms of the first messages can still be on their way when the connection drops.)
    for (const n of new Set([1, Math.max(1, skip), skip + 1, total])) expect(byId.get(`${runId}-${String(n).padStart(6, '0')}`)).toBe(`g${n}`);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 120_000);

  it('--skip past the end of the input: nothing published, exit 64, one line; --skip at its end: exit 0 with a warning', async () => {
    const queue = await freshQueue('skip-past');
    const past = await cli('wq-publish', ['-q', queue, '--skip', '5'], { input: 'a\nb\nc\n' });
    expect(past.exitCode).toBe(64);
    expect(errors(past).map((l) => l.msg)).toEqual(['--skip 5 is past the end of the input, which has 3 items: nothing was published. --skip resumes the same input as the run whose last line gave it.']);
    expect(summary(past.logs)).toMatchObject({ published: 0 });
    const end = await cli('wq-publish', ['-q', queue, '--skip', '3'], { input: 'a\nb\nc\n' });
    expect(end.exitCode).toBe(0);
    expect(end.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual(['--skip 3 skipped every item of the input: nothing was published']);
    const some = await cli('wq-publish', ['-q', queue, '--skip', '2'], { input: 'a\nb\nc\n' });
    expect(some.exitCode).toBe(0);
    expect(some.logs.filter((l) => l.level >= 40)).toEqual([]);
    expect((await drain(queue)).map(String)).toEqual(['c']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('refused messages, then a lost connection: the --skip the last line gives resumes before the first refused item, so a rerun publishes every item not confirmed', async () => {
    const queue = await freshQueue('nackloss', { 'x-max-length': 50, 'x-overflow': 'reject-publish' });
    const total = 120;
    const item = (n: number) => `k${n}\n`;
    const file = join(tempDir(), 'items.txt');
    writeFileSync(file, Array.from({ length: total }, (_, i) => item(i + 1)).join(''));
    const proxy = await startProxy();
    const runId = `nackloss-${Date.now()}`;
    const child = execa(NODE, [DIST('wq-publish'), '--url', urlVia(proxy.port), '-q', queue, '--no-progress', '--run-id', runId, '--connect-timeout', '1'], { reject: false, stdin: 'pipe' });
    child.stdin?.on('error', () => undefined);
    // 1-50 fill the queue and are confirmed; 51-100 are nacked (reject-publish).
    child.stdin?.write(Array.from({ length: 100 }, (_, i) => item(i + 1)).join(''));
    while ((await readyCount(queue)) < 50) await sleep(20);
    await sleep(1000);
    // 101-120 go out but their answers are held back: unconfirmed when the connection drops.
    proxy.pause();
    child.stdin?.write(Array.from({ length: 20 }, (_, i) => item(i + 101)).join(''));
    await sleep(500);
    await proxy.close();
    const pub = toRun(await child);
    expect(pub.exitCode, pub.stderr).toBe(69);
    const last = pub.logs.at(-1) as { msg: string };
    expect(last.msg).toMatch(/^70 of 120 messages were not confirmed to queue "[^"]+": 50 refused by the broker \(basic\.nack.*; 20 unconfirmed when the connection was lost/);
    const m = / --run-id (\S+) --skip (\d+): items from (\d+) on are published again, with the same message ids\.$/.exec(last.msg);
    expect(m, last.msg).not.toBeNull();
    // The first refused item is 51: skipping past it would lose 51-100 for good.
    expect(Number(m?.[2])).toBe(50);
    expect(await queueState(queue)).toEqual({ ready: 50, unacked: 0, consumers: 0 });

    // Room in the queue (the cause fixed), then the rerun the last line says.
    const ch = await (await admin()).createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    const rerun = await cli('wq-publish', ['-q', queue, '--file', file, '--run-id', runId, '--skip', m?.[2] as string]);
    expect(rerun.exitCode).toBe(0);
    expect(summary(rerun.logs)).toMatchObject({ published: 70, unconfirmed: 0, ready: 70 });
    const msgs = await consumeAll(queue, 70);
    expect(msgs.map((x) => x.properties.messageId as string)).toEqual(Array.from({ length: 70 }, (_, i) => `${runId}-${String(i + 51).padStart(6, '0')}`));
    expect(msgs.map((x) => x.content.toString())).toEqual(Array.from({ length: 70 }, (_, i) => `k${i + 51}`));
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 60_000);

  it('refused messages, then a lost connection with nothing in flight: exit 65, and the last line still says where to resume (before the first refused item)', async () => {
    const queue = await freshQueue('nackidle', { 'x-max-length': 50, 'x-overflow': 'reject-publish' });
    const proxy = await startProxy();
    const runId = `nackidle-${Date.now()}`;
    const child = execa(NODE, [DIST('wq-publish'), '--url', urlVia(proxy.port), '-q', queue, '--no-progress', '--run-id', runId, '--connect-timeout', '1'], { reject: false, stdin: 'pipe' });
    child.stdin?.on('error', () => undefined);
    child.stdin?.write(Array.from({ length: 100 }, (_, i) => `i${i + 1}\n`).join(''));
    while ((await readyCount(queue)) < 50) await sleep(20);
    await sleep(1000); // every answer in: 1-50 confirmed, 51-100 nacked
    await proxy.close(); // the input is not over: the rest was never read
    const pub = toRun(await child);
    expect(pub.exitCode, pub.stderr).toBe(65);
    const last = pub.logs.at(-1) as { msg: string };
    expect(last.msg).toMatch(/^50 of 100 messages were not confirmed to queue "[^"]+": 50 refused by the broker \(basic\.nack/);
    expect(last.msg).toMatch(new RegExp(`The rest of the input was not published\\. To resume, run again with the same input and --run-id ${runId} --skip 50: items from 51 on are published again, with the same message ids\\.$`));
    expect(await queueState(queue)).toEqual({ ready: 50, unacked: 0, consumers: 0 });
  }, 60_000);

  it('SIGTERM while reading stdin: exit 143 after the messages already sent are confirmed', async () => {
    const queue = uniqueQueue('sigterm');
    const child = execa(NODE, [DIST('wq-publish'), '-q', queue], { reject: false, env: { BROKER_URL: brokerUrl() }, stdin: 'pipe' });
    child.stdin?.write('one\ntwo\nthree\n');
    while (!(await queueExists(queue)) || (await queueState(queue)).ready < 3) await sleep(50);
    child.kill('SIGTERM');
    const pub = toRun(await child);
    expect(pub.exitCode).toBe(143);
    expect(summary(pub.logs)).toMatchObject({ published: 3, unconfirmed: 0, ready: 3 });
    // The last line says where to resume (it did not, with nothing left unconfirmed).
    expect(summary(pub.logs)?.msg).toMatch(/stopped by SIGTERM; the rest of the input was not published\)\. To resume, run again with the same input and --run-id \w+ --skip 3: items from 4 on are published again/);
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  });

  it('SIGTERM while reconnecting: exit 143, and the summary counts the sent messages never confirmed and says where to resume', async () => {
    const queue = await freshQueue('sigterm-reconnect');
    const proxy = await startProxy();
    const runId = `tr-${Date.now()}`;
    const child = execa(NODE, [DIST('wq-publish'), '--url', urlVia(proxy.port), '-q', queue, '--no-progress', '--run-id', runId], { reject: false, stdin: 'pipe' });
    child.stdin?.on('error', () => undefined);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    while (!/message ids /.test(stderr)) await sleep(20);
    proxy.pause(); // the three reach the broker; their confirms do not come back
    child.stdin?.write('one\ntwo\nthree\n');
    while ((await readyCount(queue)) < 3) await sleep(20);
    await proxy.close(); // the connection drops, and nothing answers there any more: it keeps trying
    while (!/reconnecting for up to/.test(stderr)) await sleep(20);
    child.kill('SIGTERM');
    const pub = toRun(await child);
    expect(pub.exitCode).toBe(143);
    expect(summary(pub.logs)).toMatchObject({ published: 0, unconfirmed: 3 });
    const last = pub.logs.at(-1) as { msg: string };
    expect(last.msg).toMatch(/3 unconfirmed when stopped by SIGTERM; each may or may not be in the queue/);
    expect(last.msg).toMatch(new RegExp(`--run-id ${runId} --skip 0: items from 1 on are published again`));
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  }, 60_000);

  it('SIGTERM with a broker that no longer answers (heartbeats off): the summary within seconds, exit 143, the depth left out', async () => {
    const queue = await freshQueue('sigterm-stalled');
    const proxy = await startProxy();
    const child = execa(NODE, [DIST('wq-publish'), '--url', urlVia(proxy.port), '--heartbeat', '0', '-q', queue, '--no-progress'], { reject: false, stdin: 'pipe', timeout: 40_000, forceKillAfterDelay: false });
    child.stdin?.on('error', () => undefined);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    while (!/message ids /.test(stderr)) await sleep(20);
    proxy.pause(); // the broker gets everything, the client hears nothing more: no confirm, no depth, no close-ok
    child.stdin?.write('one\ntwo\n');
    while ((await readyCount(queue)) < 2) await sleep(20);
    child.kill('SIGTERM');
    // Up to 5 s for the confirms, 2 s each for the depth and the close; without a bound it waits for ever (killed at 40 s).
    const pub = toRun(await child);
    expect(pub.exitCode).toBe(143);
    expect(summary(pub.logs)).toMatchObject({ published: 0, unconfirmed: 2 });
    expect(summary(pub.logs)?.ready).toBeUndefined();
    proxy.resume();
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  }, 60_000);

  it('SIGTERM while it still tries to connect: exit 143 and one line, nothing published (it was 69, "cannot reach the broker")', async () => {
    const queue = uniqueQueue('sigterm-connect');
    const port = await freePort(); // nothing listens there
    const child = execa(NODE, [DIST('wq-publish'), '--url', `amqp://guest:guest@127.0.0.1:${port}`, '--connect-timeout', '30', '-q', queue, 'a'], { reject: false });
    await sleep(1500);
    child.kill('SIGTERM');
    const pub = toRun(await child);
    expect(pub.exitCode).toBe(143);
    expect(pub.logs.at(-1)?.msg).toBe('stopped by SIGTERM before publishing began: nothing was published');
    expect(errors(pub)).toEqual([]);
    expect(await queueExists(queue)).toBe(false);
  }, 60_000);

  it('SIGTERM during the AMQP handshake, with stdin still open: exit 143 once connected, not a wait for the end of stdin', async () => {
    const queue = uniqueQueue('sigterm-handshake');
    const proxy = await startProxy();
    proxy.pause(); // the broker's half of the handshake is held back
    const child = execa(NODE, [DIST('wq-publish'), '--url', urlVia(proxy.port), '-q', queue, '--no-progress'], { reject: false, stdin: 'pipe', timeout: 30_000, killSignal: 'SIGKILL' });
    child.stdin?.on('error', () => undefined);
    while (proxy.connections() < 1) await sleep(20);
    await sleep(300);
    child.kill('SIGTERM');
    await sleep(300);
    proxy.resume(); // the handshake ends: it must stop now (it read stdin, open, until SIGKILLed at 30 s)
    const pub = toRun(await child);
    expect(pub.exitCode, pub.stderr.slice(-1000)).toBe(143);
    // The queue's check is not even asked for: the signal came first.
    expect(pub.logs.at(-1)?.msg).toBe('stopped by SIGTERM before publishing began: nothing was published');
    if (await queueExists(queue)) expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 60_000);
});

describe('a large file', () => {
  it('publishes 100,000 lines, in order, each with its own message id', async () => {
    const queue = uniqueQueue('100k');
    const file = join(tempDir(), 'items.txt');
    const total = 100_000;
    const lines = Array.from({ length: total }, (_, i) => `item ${i} ${'x'.repeat(i % 50)}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const pub = await cli('wq-publish', ['-q', queue, '--file', file]);
    expect(pub.exitCode).toBe(0);
    expect(summary(pub.logs)).toMatchObject({ published: total, unconfirmed: 0, ready: total });
    expect(await queueState(queue)).toEqual({ ready: total, unacked: 0, consumers: 0 });
    const msgs = await consumeAll(queue, total);
    expect(msgs.map((m) => m.content.toString())).toEqual(lines);
    expect(new Set(msgs.map((m) => m.properties.messageId)).size).toBe(total);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 180_000);
});
