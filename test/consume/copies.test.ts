import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admin, brokerUrl, drainMessages, forget, freshQueue, publish, queueState, queueTypeOf } from '../helpers/broker.js';
import { cli, FIXTURE, start, toRun } from '../helpers/cli.js';
import { recorded, tempDir } from '../helpers/files.js';
import { QUEUE_TYPES } from '../helpers/matrix.js';
import { waitFor } from '../helpers/wait.js';

// What the copies that replace a message carry (a retry, a dead letter, a stopped command's message put
// back), each test failing on the code before its fix:
// - headers too large to re-publish once wq adds its own: the copy could never be sent, so the message
//   was handed back and run again without end (thousands of runs in seconds, --max-attempts never reached);
// - the sender-selected distribution (CC): each copy went to the CC'd queues again;
// - a stop spent an attempt (a nack counts on a quorum queue, and through the redelivered flag on a classic
//   one), so pod evictions alone could dead-letter a message that never failed;
// - a copy the broker refused (a full queue with reject-publish): the message was handed back and the run
//   went on, so it came straight back, each nack one more towards a quorum queue's delivery limit (then the
//   broker drops it), and a one-message pod exited 0 with its message not handled.

/** With Debian's amqp-publish: a reply_to and a header name of 100 bytes 0xff each, legal AMQP but not UTF-8. */
function publishNotUtf8(queue: string): void {
  const ff = `"$(printf '\\377%.0s' $(seq 1 100))"`;
  execFileSync('sh', ['-c', `amqp-publish --url "$URL" -r "$Q" -p -t ${ff} -H ${ff}': v' -H 'kept: yes' -b item`], { env: { ...process.env, URL: brokerUrl(), Q: queue } });
}

/** A fanout exchange whose only queue is full and refuses more (reject-publish): every publish is nacked. */
async function refusingExchange(): Promise<{ exchange: string; full: string }> {
  const full = await freshQueue('copy-full', { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
  await publish(full, ['filler']);
  const exchange = `${full}-x`;
  const ch = await (await admin()).createChannel();
  await ch.assertExchange(exchange, 'fanout', { durable: false, autoDelete: true });
  await ch.bindQueue(full, exchange, '');
  await ch.close();
  return { exchange, full };
}

/** wq-consume, killed if it runs longer than `ms`: a run that loops shows as a kill, not a hung test. */
async function bounded(args: string[], env: Record<string, string>, ms = 20_000) {
  const child = start('wq-consume', args, { env });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const run = toRun(await child);
  clearTimeout(timer);
  return run;
}

describe.each(QUEUE_TYPES)('copies on a %s queue', (type, queueArgs) => {
  it('the dead-letter queue wq declares is of the work queue\'s type', async () => {
    const queue = await freshQueue('copy-dlq-type', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['item']);
    const out = tempDir();
    const run = await bounded(['-q', queue, '--max-attempts', '1', '--', FIXTURE('record.sh')], { OUT: out, EXIT: '1' });
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(await queueTypeOf(dlq)).toBe(type);
    expect((await drainMessages(dlq)).map((m) => m.content.toString())).toEqual(['item']);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('a header amqplib cannot encode again (a timestamp at the top of its 64 bits): the copy leaves it out and names it, --max-attempts dead-letters the message', async () => {
    const queue = await freshQueue('copy-int64', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    // Legal AMQP, as other clients send it; amqplib decodes both as numbers rounded past their range.
    await publish(queue, ['item'], { headers: { ts: { '!': 'timestamp', value: 2n ** 64n - 1n }, big: { '!': 'long', value: 2n ** 63n - 1n }, nested: { deep: [{ '!': 'timestamp', value: 2n ** 64n - 1n }] }, small: 'kept', when: { '!': 'timestamp', value: 1700000000 } } });
    const out = tempDir();
    const run = await bounded(['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '2', '--', FIXTURE('record.sh')], { OUT: out, EXIT: '1' });
    expect(run.signal, 'wq-consume looped until killed').toBeUndefined();
    // Before: every copy failed to encode, so the message was handed back each time (a quorum queue's
    // delivery limit then drops it), and --max-attempts never dead-lettered it.
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(recorded(out).map((r) => r.env.WQ_DELIVERY_COUNT)).toEqual(['1', '2']);
    const dead = await drainMessages(dlq);
    expect(dead.map((m) => m.content.toString())).toEqual(['item']);
    expect(dead[0]!.properties.headers).toMatchObject({ small: 'kept', when: { '!': 'timestamp', value: 1700000000 }, big: 2 ** 63, 'x-wq-attempts': 2 });
    expect(String(dead[0]!.properties.headers?.['x-wq-headers-dropped']).split(',').sort()).toEqual(['nested', 'ts']);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('a header too large to copy: the copy leaves it out and names it, --max-attempts dead-letters the message', async () => {
    const queue = await freshQueue('copy-big-header', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    // A table of 65,508 bytes: amqplib publishes it (64 KiB at most), but not with wq's own headers added.
    await publish(queue, ['item'], { headers: { big: 'x'.repeat(65_480), small: 'kept' } });
    const out = tempDir();
    const run = await bounded(['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '2', '--', FIXTURE('record.sh')], { OUT: out, EXIT: '1' });
    expect(run.signal, 'wq-consume looped until killed').toBeUndefined();
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(recorded(out).map((r) => r.env.WQ_DELIVERY_COUNT)).toEqual(['1', '2']);
    const dead = await drainMessages(dlq);
    expect(dead.map((m) => m.content.toString())).toEqual(['item']);
    expect(dead[0]!.properties.headers).toMatchObject({ small: 'kept', 'x-wq-headers-dropped': 'big', 'x-wq-attempts': 2 });
    expect(dead[0]!.properties.headers).not.toHaveProperty('big');
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('a message published with CC: its retry and dead-letter copies go to their own queues only', async () => {
    const queue = await freshQueue('copy-cc', queueArgs);
    const other = await freshQueue('copy-cc-other');
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['item'], { CC: [other] });
    expect(await queueState(other)).toMatchObject({ ready: 1 });
    const out = tempDir();
    const run = await bounded(['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '3', '--', FIXTURE('record.sh')], { OUT: out, EXIT: '1' });
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(recorded(out)).toHaveLength(3);
    expect(await queueState(other)).toMatchObject({ ready: 1, unacked: 0 });
    expect((await drainMessages(dlq)).map((m) => m.content.toString())).toEqual(['item']);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  // Before, --max-attempts dead-lettered such a message without running it ("came back without a result
  // after 9 attempts"); without it, the message ran as attempt 10.
  it('a publisher\'s own x-delivery-count and x-acquired-count headers on a first delivery are not counts: the message runs as attempt 1', async () => {
    const queue = await freshQueue('copy-foreign-count', queueArgs);
    forget(`${queue}.dead`);
    await publish(queue, ['item'], { headers: { 'x-delivery-count': 9, 'x-acquired-count': 9 } });
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--max-attempts', '3', '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(recorded(out).map((r) => [r.body.toString(), r.env.WQ_DELIVERY_COUNT])).toEqual([['item', '1']]);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
    expect(await drainMessages(`${queue}.dead`)).toEqual([]);
  });

  it('a stop spends no attempt: the message of a command stopped by SIGTERM runs again as attempt 1, even with --max-attempts 1', async () => {
    const queue = await freshQueue('copy-stop', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['item']);
    const dir = tempDir();
    const ready = join(dir, 'ready');
    const worker = join(dir, 'worker.sh');
    writeFileSync(worker, `#!/bin/sh\necho "$WQ_DELIVERY_COUNT" > "${ready}"\nexec sleep 30\n`, { mode: 0o755 });
    const child = start('wq-consume', ['-q', queue, '--max-attempts', '1', '--grace', '5', '--', worker]);
    await waitFor(() => existsSync(ready), 'the worker to start');
    child.kill('SIGTERM');
    const stopped = toRun(await child);
    expect(stopped.exitCode).toBe(143);
    expect(stopped.logs.some((l) => /stopped and was killed by SIGTERM: message handed back/.test(l.msg))).toBe(true);
    expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });

    const out = tempDir();
    const again = await cli('wq-consume', ['-q', queue, '--max-attempts', '1', '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(again.exitCode, again.stderr.slice(-1500)).toBe(0);
    expect(recorded(out).map((r) => [r.body.toString(), r.env.WQ_DELIVERY_COUNT])).toEqual([['item', '1']]);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
    expect(await drainMessages(dlq)).toEqual([]);
  });

  it('a stop puts back the message that waited unstarted too: no attempt spent for either', async () => {
    const queue = await freshQueue('copy-stop-waiting', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['one', 'two']);
    const dir = tempDir();
    const ready = join(dir, 'ready');
    const worker = join(dir, 'worker.sh');
    writeFileSync(worker, `#!/bin/sh\ncat > /dev/null\ntouch "${ready}"\nexec sleep 30\n`, { mode: 0o755 });
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--max-attempts', '1', '--grace', '5', '--', worker]);
    await waitFor(() => existsSync(ready), 'the first command to start');
    await waitFor(async () => (await queueState(queue)).unacked === 2, 'the second message to wait in wq-consume');
    child.kill('SIGTERM');
    expect(toRun(await child).exitCode).toBe(143);
    expect(await queueState(queue)).toMatchObject({ ready: 2, unacked: 0 });

    const out = tempDir();
    const again = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '1', '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(again.exitCode, again.stderr.slice(-1500)).toBe(0);
    expect(recorded(out).map((r) => [r.body.toString(), r.env.WQ_DELIVERY_COUNT]).sort()).toEqual([['one', '1'], ['two', '1']]);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
    expect(await drainMessages(dlq)).toEqual([]);
  });
  it.each([
    ['a one-message pod', ['--max-attempts', '1']],
    ['a drain', ['--until-empty', '--idle', '0.5', '--max-attempts', '1']],
  ])('a dead-letter copy the broker refuses, %s: the message stays, the run ends with the command\'s status', async (_label, flags) => {
    const queue = await freshQueue('copy-refused', queueArgs);
    const { exchange, full } = await refusingExchange();
    await publish(queue, ['item']);
    const out = tempDir();
    const run = await bounded(['-q', queue, ...flags, '--dead-letter-exchange', exchange, '--', FIXTURE('record.sh')], { OUT: out, EXIT: '3' });
    expect(run.signal, 'wq-consume looped until killed').toBeUndefined();
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(3);
    expect(run.stderr).toMatch(/could not publish the dead-letter copy/);
    expect(recorded(out)).toHaveLength(1);
    expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
    expect(await queueState(full)).toMatchObject({ ready: 1, unacked: 0 });
  });
  it('a reply_to and a header name that are not UTF-8: the copies leave them out and name them, --max-attempts dead-letters the message', async () => {
    const queue = await freshQueue('copy-not-utf8', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    publishNotUtf8(queue);
    const out = tempDir();
    const run = await bounded(['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '2', '--', FIXTURE('record.sh')], { OUT: out, EXIT: '3' });
    expect(run.signal, 'wq-consume looped until killed').toBeUndefined();
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(recorded(out)).toHaveLength(2);
    const dead = await drainMessages(dlq);
    expect(dead.map((m) => m.content.toString())).toEqual(['item']);
    expect(dead[0]!.properties.replyTo).toBeUndefined();
    expect(dead[0]!.properties.headers).toMatchObject({ kept: 'yes', 'x-wq-properties-dropped': 'replyTo', 'x-wq-attempts': 2 });
    expect(String(dead[0]!.properties.headers?.['x-wq-headers-dropped'])).toMatch(/^\uFFFD+$/);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('--reply to a reply_to that is not UTF-8: no queue has that name, so the result is dropped and the message acked', async () => {
    const queue = await freshQueue('reply-not-utf8', queueArgs);
    publishNotUtf8(queue);
    const run = await bounded(['-q', queue, '--reply', '--', 'cat'], {});
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(run.stderr).toMatch(/no queue has that name: the result was dropped/);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });
  it('a dead-letter queue of the user\'s own, with arguments of its own (a length cap): used as it is', async () => {
    const queue = await freshQueue('copy-own-dlq', queueArgs);
    const dlq = await freshQueue('copy-own-dlq-dead', { 'x-max-length': 1000 });
    await publish(queue, ['item']);
    const run = await bounded(['-q', queue, '--max-attempts', '1', '--dead-letter-queue', dlq, '--', 'false'], {});
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect((await drainMessages(dlq)).map((m) => m.content.toString())).toEqual(['item']);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });
});
