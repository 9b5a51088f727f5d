import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsumeMessage } from 'amqplib';
import { describe, expect, inject, it } from 'vitest';
import { admin, brokerUser, consumerCount, drainMessages, forget, freshQueue, publish, queueExists, queueState, queueTypeOf, readyCount, uniqueQueue } from '../helpers/broker.js';
import { cli, errors, start, toRun } from '../helpers/cli.js';
import { startProxy, urlVia } from '../helpers/proxy.js';
import { QUEUE_TYPES, SPAWNS } from '../helpers/matrix.js';
import { waitFor } from '../helpers/wait.js';

// --result-queue and --reply: a command's stdout as one confirmed message, and only then the input's
// ack. On classic and quorum queues; binary output on both ways of starting a command.
const broker = inject('brokerName');


describe.each(QUEUE_TYPES)('on a %s queue', (type, queueArgs) => {
  it.each(SPAWNS)('binary stdout becomes one persistent result, its correlation id the input\'s message id, then the ack (%s)', async (_spawn, spawnEnv) => {
    const queue = await freshQueue('res-bin', queueArgs);
    const results = uniqueQueue('res-bin-out');
    const body = randomBytes(256 * 1024);
    await publish(queue, [body], { messageId: 'item-1' });
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--', 'cat'], { env: spawnEnv });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(''); // captured, not passed through
    expect(await queueTypeOf(results)).toBe(type); // declared of the work queue's type
    const [result, more] = await drainMessages(results);
    expect(more).toBeUndefined();
    expect(result?.content.equals(body)).toBe(true);
    expect(result?.properties).toMatchObject({ correlationId: 'item-1', messageId: 'item-1', deliveryMode: 2 });
    expect(result?.properties.headers).toMatchObject({ 'x-wq-exit-code': 0, 'x-wq-source-queue': queue, 'x-wq-attempt': 1 });
    expect(typeof result?.properties.headers?.['x-wq-duration-ms']).toBe('number');
    expect(run.logs.find((l) => l.resultBytes === body.length)?.msg).toBe(`command succeeded, its result (${body.length} bytes) published to "${results}": acked`);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // A work queue with arguments of its own: the broker names them before x-queue-type when a probe
  // leaves them out. Before, such a quorum queue's result and dead-letter queues were declared classic,
  // on the one node wq was connected to.
  it('a work queue with other arguments (a delivery limit, a length limit, a dead-letter exchange): its result and dead-letter queues are of its type', async () => {
    const own = { 'x-max-length': 1000, 'x-dead-letter-exchange': '', 'x-overflow': 'reject-publish', ...(type === 'quorum' ? { 'x-delivery-limit': 50 } : {}) };
    const queue = await freshQueue('res-args', { ...queueArgs, ...own });
    const results = uniqueQueue('res-args-out');
    forget(`${queue}.dead`);
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--max-attempts', '1', '--', 'false']);
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0); // dead-lettered on purpose
    expect([await queueTypeOf(results), await queueTypeOf(`${queue}.dead`)]).toEqual([type, type]);
    expect(await readyCount(`${queue}.dead`)).toBe(1);
    expect(await readyCount(results)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('an empty stdout is an empty result, not none', async () => {
    const queue = await freshQueue('res-empty', queueArgs);
    const results = uniqueQueue('res-empty-out');
    await publish(queue, ['x'], { messageId: 'e-1' });
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--', 'true']);
    expect(run.exitCode).toBe(0);
    const got = await drainMessages(results);
    expect(got.map((m) => [m.content.length, m.properties.correlationId])).toEqual([[0, 'e-1']]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('output written through /dev/stdout as well as fd 1 keeps its order, with no hole of NUL bytes', async () => {
    const queue = await freshQueue('res-devstdout', queueArgs);
    const results = uniqueQueue('res-devstdout-out');
    await publish(queue, ['appended', 'truncated']);
    // stdout is a file: what reopens /dev/stdout gets its own offset. Appended, as through a pipe; truncated
    // by the command itself, as `cmd > file` would be, but never a hole where the earlier bytes were.
    const script = 'b=$(cat); echo aaaa; if [ "$b" = appended ]; then echo b >> /dev/stdout; else echo b > /dev/stdout; fi; echo c';
    const run = await cli('wq-consume', ['-q', queue, '-c', '2', '--result-queue', results, '--', 'sh', '-c', script]);
    expect(run.exitCode, run.stderr).toBe(0);
    // They were "aaaa\nc\n" (fd 1 wrote over the appended line) and "b\n\0\0\0c\n".
    expect((await drainMessages(results)).map((m) => m.content.toString())).toEqual(['aaaa\nb\nc\n', 'b\nc\n']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a failed command sends no result: its message is retried, its stdout passes through', async () => {
    const queue = await freshQueue('res-fail', queueArgs);
    const results = uniqueQueue('res-fail-out');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--', 'sh', '-c', 'echo partial; exit 3']);
    expect(run.exitCode).toBe(3);
    expect(run.stdout).toBe('partial\n');
    expect(await readyCount(results)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a 20 MiB stdout over --result-max-bytes (16 MiB by default): one line naming both sizes, no result, the input retried (exit 65)', async () => {
    const queue = await freshQueue('res-big', queueArgs);
    const results = uniqueQueue('res-big-out');
    await publish(queue, ['x']);
    // The output grows to 20 MiB in one step (a file extended in one call) just before the command ends:
    // written over time, the check made while it runs (every 0.1 s) could see it first on a loaded machine.
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--', 'truncate', '-s', String(20 * 1024 * 1024), '/dev/stdout']);
    expect(run.exitCode).toBe(65);
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      'refused (status 65): the command succeeded, but its output of 20971520 bytes is over --result-max-bytes 16777216 (no result sent) on attempt 1: queued for another attempt',
    ]);
    expect(await readyCount(results)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a stdout that passes --result-max-bytes while its command runs stops the command then: refused (65), one line, the input retried', async () => {
    const queue = await freshQueue('res-runaway', queueArgs);
    const results = uniqueQueue('res-runaway-out');
    const dir = mkdtempSync(join(tmpdir(), 'wq-test-'));
    const marker = join(dir, 'finished');
    await publish(queue, ['x']);
    // A runaway output would fill TMPDIR if it ran on: this one stops writing, and would finish 5 s later.
    const script = 'cat > /dev/null; head -c 2000000 /dev/zero; sleep 5; touch "$0"';
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--result-max-bytes', '1000000', '--', 'sh', '-c', script, marker]);
    expect(run.exitCode).toBe(65);
    // The size first seen over the limit: the check every 0.1 s may catch head -c still writing.
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^refused \(status 65\): its output passed --result-max-bytes 1000000 while it ran \((\d{7}) bytes\): it was stopped, and no result sent on attempt 1: queued for another attempt$/),
    ]);
    const seen = Number(/while it ran \((\d+) bytes\)/.exec(String(run.logs.find((l) => l.level >= 40)?.msg))?.[1]);
    expect(seen).toBeGreaterThan(1_000_000);
    expect(seen).toBeLessThanOrEqual(2_000_000);
    expect(existsSync(marker)).toBe(false);
    rmSync(dir, { recursive: true });
    expect(await readyCount(results)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  // A small tmpfs as TMPDIR (mounting one needs root, as the test machines have).
  it.skipIf(process.getuid?.() !== 0)('a TMPDIR that fills while a command that exits 0 writes its stdout: no cut result, the message handed back with no attempt spent (exit 71); a failed command\'s own failure stands', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-test-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
    try {
      writeFileSync(join(dir, 'filler'), Buffer.alloc(400 * 1024));
      // exit 0 whatever head says: a command that ignores a failed write to its stdout; then one that fails of it.
      for (const [script, attempts] of [['cat > /dev/null; head -c 300000 /dev/zero; exit 0', 0], ['cat > /dev/null; head -c 300000 /dev/zero', 1]] as const) {
        const queue = await freshQueue('res-full-tmp', queueArgs);
        forget(`${queue}.dead`); // --max-attempts declares it
        const results = uniqueQueue('res-full-tmp-out');
        await publish(queue, ['x']);
        const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--max-attempts', '3', '--', 'sh', '-c', script], { env: { TMPDIR: dir } });
        const warned = run.logs.filter((l) => l.level >= 40).map((l) => l.msg);
        if (attempts === 0) {
          expect(run.exitCode).toBe(71);
          expect(warned).toEqual([`the system was short of a resource (ENOSPC: ${dir} was full when the command ended or while it ran, so its output may have been cut short): message handed back (a fresh copy, no attempt spent); is TMPDIR (the pod's disk, an emptyDir) full?`]);
        } else {
          expect(warned).toEqual(['command exited with status 1 on attempt 1 of 3: queued for another attempt']);
        }
        expect(await readyCount(results)).toBe(0);
        expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
        const [copy] = await drainMessages(queue);
        expect(copy?.properties.headers?.['x-wq-attempts'] ?? 0, script).toBe(attempts);
      }
    } finally {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true });
    }
  });

  // Two commands at once: A fills TMPDIR and fails; B writes its result while it is full, and exits 0
  // after A's file is gone. Before, B's end found room again: its cut (empty) result was published and
  // its message acked, the real output lost.
  it.skipIf(process.getuid?.() !== 0)('-j 2: a result cut short while another command filled TMPDIR is not sent, though the room is back when it ends (exit 71)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wq-test-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    try {
      const queue = await freshQueue('res-full-peer', queueArgs);
      forget(`${queue}.dead`); // --max-attempts declares it
      const results = uniqueQueue('res-full-peer-out');
      await publish(queue, ['A', 'B']);
      const script = 'if [ "$(cat)" = A ]; then head -c 2000000 /dev/zero; sleep 2; exit 3; fi; sleep 1; echo result-of-B; sleep 2';
      const run = await cli('wq-consume', ['-q', queue, '-c', '2', '-j', '2', '--result-queue', results, '--max-attempts', '5', '--', 'sh', '-c', script], { env: { TMPDIR: dir } });
      expect(run.exitCode, run.stderr.slice(-1500)).toBe(71);
      expect(await readyCount(results)).toBe(0);
      expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
      const copies = await drainMessages(queue);
      expect(copies.map((m) => [m.content.toString(), m.properties.headers?.['x-wq-attempts'] ?? 0]).sort()).toEqual([['A', 1], ['B', 0]]);
    } finally {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true });
    }
  });

  it.skipIf(!broker.startsWith('4'))('a 20 MiB stdout that the broker refuses (RabbitMQ 4: 16 MiB max message size): one line, no result, the input retried (exit 65)', async () => {
    const queue = await freshQueue('res-broker', queueArgs);
    const results = uniqueQueue('res-broker-out');
    await publish(queue, ['x', 'y']);
    const run = await cli('wq-consume', ['-q', queue, '-c', '2', '--result-queue', results, '--result-max-bytes', String(64 * 1024 * 1024), '--', 'sh', '-c', 'if [ "$(cat)" = x ]; then head -c 20971520 /dev/zero; else echo small; fi']);
    expect(run.exitCode).toBe(65);
    const refused = run.logs.filter((l) => l.level >= 40).map((l) => l.msg);
    expect(refused).toEqual([
      'refused (status 65): the command succeeded, but the broker refused its result of 20971520 bytes, over its max message size 16777216 (set --result-max-bytes 16777216 at most) on attempt 1: queued for another attempt',
    ]);
    // The refused result closed its channel; the next result went out on a new one.
    expect((await drainMessages(results)).map((m) => m.content.toString())).toEqual(['small\n']);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it.skipIf(!broker.startsWith('4'))('results the broker refuses as too large, among others at -j 3: each refused (65) and dead-lettered, every other result sent, the connection kept', async () => {
    const queue = await freshQueue('res-broker-mix', queueArgs);
    forget(`${queue}.dead`);
    const results = uniqueQueue('res-broker-mix-out');
    const bodies = Array.from({ length: 12 }, (_, i) => ['big', 'fail', 'ok'][i % 3] + String(i));
    await publish(queue, bodies);
    // A refused result's channel is closed while its body frames are still on their way: the next result's
    // channel must not take that channel's number (the broker closed the connection: 505, exit 70).
    const script = 'b=$(cat); case $b in big*) head -c 17000000 /dev/zero;; fail*) exit 3;; *) echo "$b";; esac';
    const run = await cli('wq-consume', ['-q', queue, '-j', '3', '--until-empty', '--idle', '1', '--max-attempts', '2', '--result-queue', results, '--result-max-bytes', String(20_000_000), '--', 'sh', '-c', script]);
    expect(errors(run).map((l) => l.msg)).toEqual([]);
    expect(run.exitCode).toBe(0);
    // A result on the channel that a refusal closed is sent again: the broker may have taken it before the
    // close (a quorum queue confirms late), so it can arrive twice, with the same message id. A duplicate
    // is within the contract; a second run of the item (a new id) is not what happened here.
    const copies = await drainMessages(results);
    const ids = new Map<string, Set<string>>();
    for (const m of copies) ids.set(m.content.toString(), (ids.get(m.content.toString()) ?? new Set()).add(String(m.properties.messageId)));
    expect([...ids.keys()].sort()).toEqual(['ok11\n', 'ok2\n', 'ok5\n', 'ok8\n']);
    expect([...ids.values()].map((s) => s.size)).toEqual([1, 1, 1, 1]);
    const dead = (await drainMessages(`${queue}.dead`)).map((m) => m.content.toString()).sort();
    expect(dead).toEqual(bodies.filter((b) => !b.startsWith('ok')).sort());
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a result queue at its length limit (reject-publish) nacks the result: not the message\'s fault, a fresh copy with no attempt spent, exit 69, one line', async () => {
    const queue = await freshQueue('res-full', queueArgs);
    // A classic result queue: a quorum queue applies its length limit a little late (one more may get in).
    const results = await freshQueue('res-full-out', { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    await publish(results, ['already there']);
    await publish(queue, ['item'], { messageId: 'good-1' });
    // --max-attempts 1: a nack spent as an attempt would dead-letter a message whose command succeeded.
    const run = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--max-attempts', '1', '--', 'cat']);
    expect(run.exitCode).toBe(69);
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      `command succeeded, but the broker refused its result of 4 bytes (basic.nack: is queue "${results}" at its length limit, x-max-length or x-max-length-bytes, or a quorum queue without its majority?): message handed back (a fresh copy, no attempt spent); the run ends, so that it does not come straight back`,
    ]);
    expect((await drainMessages(results)).map((m) => m.content.toString())).toEqual(['already there']);
    forget(`${queue}.dead`); // declared at start-up for --max-attempts
    expect(await readyCount(`${queue}.dead`)).toBe(0);
    const [copy, more] = await drainMessages(queue);
    expect(more).toBeUndefined();
    expect(copy && [copy.content.toString(), copy.properties.messageId, copy.properties.headers?.['x-wq-attempts'] ?? 0]).toEqual(['item', 'good-1', 0]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('the result queue deleted while wq-consume waits: the message is handed back, exit 78, one line', async () => {
    const queue = await freshQueue('res-gone', queueArgs);
    const results = uniqueQueue('res-gone-out');
    const child = start('wq-consume', ['-q', queue, '--result-queue', results, '--', 'cat']);
    await waitFor(async () => (await consumerCount(queue)) === 1, 'wq-consume to consume');
    const ch = await (await admin()).createChannel();
    await ch.deleteQueue(results);
    await ch.close();
    await publish(queue, ['x']);
    const run = toRun(await child);
    expect(run.exitCode).toBe(78);
    expect(errors(run).map((l) => l.msg)).toEqual([expect.stringMatching(/^result queue "wq-test-res-gone-out-\w+" no longer exists \(deleted while wq-consume ran\): the message was handed back\./)]);
    expect(await queueExists(results)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('SIGKILL of wq-consume after the result\'s confirm, before the input\'s ack: one duplicate result with the same correlation id, none missing', async () => {
    const queue = await freshQueue('res-kill', queueArgs);
    const results = uniqueQueue('res-kill-out');
    await publish(queue, ['item'], { messageId: 'k-1' });
    // The proxy passes everything but the first basic.ack (class 60, method 80), and all after it.
    const proxy = await startProxy({ holdClientFrom: { classId: 60, methodId: 80 } });
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--result-queue', results, '--', 'tr', 'a-z', 'A-Z']);
    await waitFor(() => proxy.holding(), 'wq-consume to ack');
    expect(await readyCount(results)).toBe(1); // confirmed before the ack was sent
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    await waitFor(async () => (await readyCount(queue)) === 1, 'the broker to requeue the input');
    const again = await cli('wq-consume', ['-q', queue, '--result-queue', results, '--', 'tr', 'a-z', 'A-Z']);
    expect(again.exitCode).toBe(0);
    const got = await drainMessages(results);
    expect(got.map((m) => [m.content.toString(), m.properties.correlationId])).toEqual([
      ['ITEM', 'k-1'],
      ['ITEM', 'k-1'],
    ]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // The reviewer's case: the log said "received SIGTERM while waiting: exiting" with a message in hand.
  it('SIGTERM while a result awaits its confirm: says a message is in hand, cuts the connection after --grace and the margin, the input goes back (exit 143)', async () => {
    const queue = await freshQueue('res-term', queueArgs);
    const results = uniqueQueue('res-term-out');
    await publish(queue, ['item']);
    // The proxy passes everything but the result's basic.publish (class 60, method 40), and all after it.
    const proxy = await startProxy({ holdClientFrom: { classId: 60, methodId: 40 } });
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--result-queue', results, '--grace', '1', '--', 'cat']);
    await waitFor(() => proxy.holding(), 'wq-consume to publish the result');
    process.kill(child.pid!, 'SIGTERM'); // not child.kill(): execa would follow with SIGKILL after 5 s
    const run = toRun(await child);
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(143);
    expect(run.logs.find((l) => l.msg.startsWith('received SIGTERM'))?.msg).toBe('received SIGTERM: settling the message in hand (its result or copy awaits the broker), then exiting');
    await waitFor(async () => (await readyCount(queue)) === 1, 'the broker to requeue the input');
    expect(await readyCount(results)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('--concurrency 2: every result matches its input', async () => {
    const queue = await freshQueue('res-j2', queueArgs);
    const results = uniqueQueue('res-j2-out');
    const n = 40;
    for (let i = 0; i < n; i++) await publish(queue, [`item-${i}`], { messageId: `id-${i}` });
    const run = await cli('wq-consume', ['-q', queue, '-j', '2', '--until-empty', '--idle', '0.5', '--result-queue', results, '--', 'sh', '-c', 'sleep 0.0$(( $$ % 5 )); tr a-z A-Z']);
    expect(run.exitCode).toBe(0);
    const got = await drainMessages(results);
    expect(got).toHaveLength(n);
    for (const m of got) expect(m.content.toString()).toBe(`ITEM-${String(m.properties.correlationId).slice(3)}`);
    expect(new Set(got.map((m) => m.properties.correlationId)).size).toBe(n);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--reply: a message with reply_to gets its result there with its correlation_id; one without passes stdout through', async () => {
    const queue = await freshQueue('res-rpc', queueArgs);
    const replies = await freshQueue('res-rpc-replies');
    await publish(queue, ['ping'], { replyTo: replies, correlationId: 'c-7', messageId: 'm-7' });
    await publish(queue, ['no reply wanted']);
    const run = await cli('wq-consume', ['-q', queue, '-c', '2', '--reply', '--', 'tr', 'a-z', 'A-Z']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('NO REPLY WANTED');
    const got = await drainMessages(replies);
    expect(got.map((m) => [m.content.toString(), m.properties.correlationId])).toEqual([['PING', 'c-7']]);
    expect(got[0]?.properties.messageId).not.toBe('m-7');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // RabbitMQ 3.x returns a mandatory message to a direct reply-to even when it delivers it: before, the
  // delivered reply was logged as dropped, "the requester is gone".
  it('--reply to a direct reply-to (amq.rabbitmq.reply-to): the requester gets the result with its correlation_id, and no warning', async () => {
    const queue = await freshQueue('res-rpc-direct', queueArgs);
    const ch = await (await admin()).createChannel();
    try {
      let reply!: (m: ConsumeMessage | null) => void;
      const got = new Promise<ConsumeMessage | null>((resolve) => (reply = resolve));
      await ch.consume('amq.rabbitmq.reply-to', (m) => reply(m), { noAck: true });
      ch.sendToQueue(queue, Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'c-9', persistent: true });
      const run = await cli('wq-consume', ['-q', queue, '--reply', '--', 'tr', 'a-z', 'A-Z']);
      expect(run.exitCode, run.stderr).toBe(0);
      const m = await got;
      expect([m?.content.toString(), m?.properties.correlationId]).toEqual(['PING', 'c-9']);
      expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([]);
      expect(run.logs.some((l) => /^command succeeded, its result \(4 bytes\) published to "amq\.rabbitmq\.reply-to\./.test(l.msg))).toBe(true);
    } finally {
      await ch.close();
    }
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // Before, the broker's close (541) was taken for a lost connection: reconnect, run the command again at
  // once, for ever (hundreds of runs in ten seconds, --max-attempts never reached on a classic queue).
  it('--reply to a direct reply-to name the broker cannot decode: it closes the connection; the run ends 65 after one run, one line, the message back', async () => {
    const queue = await freshQueue('res-rpc-bad', queueArgs);
    forget(`${queue}.dead`); // declared at start-up for --max-attempts: deleted after the file, whatever happens
    await publish(queue, ['ping'], { replyTo: 'amq.rabbitmq.reply-to.abc.def', messageId: 'bad-reply' });
    const runs = join(mkdtempSync(join(tmpdir(), 'wq-test-')), 'runs');
    const run = await cli('wq-consume', ['-q', queue, '--reply', '--max-attempts', '3', '--', 'sh', '-c', `echo run >> ${runs}; cat`]);
    expect(run.exitCode).toBe(65);
    expect(errors(run).map((l) => l.msg)).toEqual([expect.stringMatching(/^the broker closed the connection \(.*541.*\) when the result was published to the message's reply_to "amq\.rabbitmq\.reply-to\.abc\.def", which is no direct reply-to name it can decode: the message went back to the queue/)]);
    expect(run.logs.some((l) => /reconnecting/.test(l.msg))).toBe(false);
    expect(execFileSync('cat', [runs], { encoding: 'utf8' })).toBe('run\n');
    expect(await readyCount(`${queue}.dead`)).toBe(0);
    await waitFor(async () => (await queueState(queue)).ready === 1, 'the message back in the queue');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('--reply to a requester that is gone: the result is dropped with a warning, the input acked', async () => {
    const queue = await freshQueue('res-rpc-gone', queueArgs);
    await publish(queue, ['ping'], { replyTo: `wq-test-nobody-${randomBytes(4).toString('hex')}`, correlationId: 'c-8' });
    const run = await cli('wq-consume', ['-q', queue, '--reply', '--', 'cat']);
    expect(run.exitCode).toBe(0);
    expect(run.logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([expect.stringMatching(/no longer exists \(the requester is gone\): the result was dropped: acked$/)]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('the result queue before any message is taken', () => {
  it('--no-declare with a missing result queue: exit 78, one line, the message untouched', async () => {
    const queue = await freshQueue('res-nodeclare');
    const results = uniqueQueue('res-nodeclare-out');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '--no-declare', '--result-queue', results, '--', 'cat']);
    expect(run.exitCode).toBe(78);
    expect(errors(run).map((l) => l.msg)).toEqual([`result queue "${results}" does not exist, and --no-declare says not to declare it: declare it first, or drop --no-declare.`]);
    expect(await queueExists(results)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a user that may not publish (no write permission): exit 77 with one line naming the permission, the input handed back, never a reconnect loop', async () => {
    const queue = await freshQueue('res-nowrite');
    const results = await freshQueue('res-nowrite-out');
    await publish(queue, ['item']);
    const url = await brokerUser('nowrite', { configure: '.*', write: '^$', read: '.*' });
    const child = start('wq-consume', ['--url', url, '-q', queue, '--result-queue', results, '--', 'cat']);
    // Before the fix the refusal was taken for a lost connection: reconnect, run the command again, forever.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const run = toRun(await child);
    clearTimeout(timer);
    expect(run.exitCode).toBe(77);
    expect(errors(run).map((l) => l.msg)).toEqual([expect.stringMatching(/^basic\.publish: user "wq-test-nowrite-\w+" may not publish to queue "wq-test-res-nowrite-out-\w+": it lacks the "write" permission on exchange "amq\.default"/)]);
    expect(run.logs.filter((l) => /reconnecting/.test(String(l.msg)))).toEqual([]);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    expect(await queueState(results)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a pipeline: stage 1\'s results are stage 2\'s work, the item\'s id carried through, then gathered into one file', async () => {
    const stage1 = await freshQueue('res-pipe-1');
    const stage2 = uniqueQueue('res-pipe-2');
    const done = uniqueQueue('res-pipe-3');
    await publish(stage1, ['abc'], { messageId: 'p-1' });
    await publish(stage1, ['xyz'], { messageId: 'p-2' });
    const one = await cli('wq-consume', ['-q', stage1, '--until-empty', '--idle', '0.5', '--result-queue', stage2, '--', 'tr', 'a-z', 'A-Z']);
    const two = await cli('wq-consume', ['-q', stage2, '--until-empty', '--idle', '0.5', '--result-queue', done, '--', 'rev']);
    expect([one.exitCode, two.exitCode]).toEqual([0, 0]);
    // The documented way to gather a result queue: each result on a line after its correlation id.
    const gather = await cli('wq-consume', ['-q', done, '--until-empty', '--idle', '0.5', '--', 'sh', '-c', 'printf "%s\\t%s\\n" "$WQ_CORRELATION_ID" "$(cat)"']);
    expect(gather.exitCode).toBe(0);
    expect(gather.stdout.split('\n').sort()).toEqual(['', 'p-1\tCBA', 'p-2\tZYX']);
    for (const q of [stage1, stage2, done]) expect(await queueState(q)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});
