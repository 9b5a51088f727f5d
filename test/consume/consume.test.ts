import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admin, brokerUrl, freshQueue, publish, queueExists, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli, DIST, errors, FIXTURE, start, toRun } from '../helpers/cli.js';
import { alive, recorded, tempDir } from '../helpers/files.js';
import { startProxy, urlVia } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

describe('wq-consume takes exactly one message by default', () => {
  it('runs the command on the first of three messages and leaves the other two ready', async () => {
    const queue = await freshQueue('three');
    await publish(queue, ['first', 'second', 'third']);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    const got = recorded(out);
    expect(got.map((r) => r.body.toString())).toEqual(['first']);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
    // The next two were never pushed to that consumer, so neither is marked redelivered.
    const ch = await (await admin()).createChannel();
    const next = await ch.get(queue, { noAck: false });
    expect(next && next.fields.redelivered).toBe(false);
    await ch.nack(next as never, false, true);
    await ch.close();
    const ack = run.logs.find((l) => l.msg.includes('acked'));
    expect(ack).toMatchObject({ queue, exitCode: 0 });
  });

  it('reads BROKER_URL and QUEUE from the environment, like the Kubernetes example Job', async () => {
    const queue = await freshQueue('env');
    await publish(queue, ['from-env']);
    const out = tempDir();
    const run = await cli('wq-consume', ['--', FIXTURE('record.sh')], { env: { OUT: out, QUEUE: queue } });
    expect(run.exitCode).toBe(0);
    expect(recorded(out)[0]?.body.toString()).toBe('from-env');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('-c 2 processes two messages in order, then stops', async () => {
    const queue = await freshQueue('count');
    await publish(queue, ['a', 'b', 'c']);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-c', '2', '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(recorded(out).map((r) => r.body.toString())).toEqual(['a', 'b']);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('--declare creates a durable queue that does not exist yet', async () => {
    const queue = uniqueQueue('declare');
    const run = await cli('wq-consume', ['-q', queue, '--declare', '--wait', '0.3', '--', 'true']);
    expect(run.exitCode).toBe(75);
    const ch = await (await admin()).createChannel();
    // Re-declaring it durable succeeds only if it is durable.
    await expect(ch.assertQueue(queue, { durable: true })).resolves.toMatchObject({ messageCount: 0 });
    await ch.close();
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('the ack contract', () => {
  it('puts a failed message back at the end of the queue with its attempt count, and exits with its status', async () => {
    const queue = await freshQueue('fail');
    await publish(queue, ['doomed', 'next'], { messageId: 'd' });
    const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat >/dev/null; exit 3']);
    expect(run.exitCode).toBe(3);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
    const ch = await (await admin()).createChannel();
    const first = await ch.get(queue, { noAck: true });
    const second = await ch.get(queue, { noAck: true });
    await ch.close();
    expect(first && first.content.toString()).toBe('next');
    expect(second && [second.content.toString(), second.properties.messageId, second.properties.headers?.['x-wq-attempts']]).toEqual(['doomed', 'd', 1]);
    expect(run.logs.some((l) => /exited with status 3 on attempt 1: queued for another attempt/.test(l.msg))).toBe(true);
  });

  it.each([
    ['KILL', 137],
    ['SYS', 159],
    ['XCPU', 152],
    ['USR1', 138],
  ])('reports 128+N when the command dies of SIG%s, and keeps the message', async (signal, code) => {
    const queue = await freshQueue('signal');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', `kill -${signal} $$`]);
    expect(run.exitCode).toBe(code);
    expect(run.logs.some((l) => l.signal === `SIG${signal}`)).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('acks when a command ignores a 1 MB stdin and exits 0 (no EPIPE crash)', async () => {
    const queue = await freshQueue('ignore');
    await publish(queue, [randomBytes(1024 * 1024)]);
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('ignore-stdin.sh')]);
    expect(run.exitCode).toBe(0);
    expect(errors(run)).toEqual([]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('hands back a 1 MB message whose command ignores stdin and fails: no poison loop from SIGPIPE', async () => {
    const queue = await freshQueue('ignore-fail');
    await publish(queue, [randomBytes(1024 * 1024)]);
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('ignore-stdin.sh')], { env: { EXIT: '5' } });
    expect(run.exitCode).toBe(5);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it("keeps the broker's credentials out of the command's environment", async () => {
    const queue = await freshQueue('secrets');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'env'], { env: { AMQP_URL: brokerUrl(), KEEP_ME: 'yes' } });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^KEEP_ME=yes$/m);
    expect(run.stdout).toMatch(/^WQ_QUEUE=/m);
    expect(run.stdout).not.toMatch(/^(BROKER_URL|AMQP_URL|BROKER_URL_FILE)=/m);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // A wq-consume started by another one's command inherits that message's variables: a message without
  // an id or headers must not pass them on as its own.
  it.each(['native', 'child_process'])("gives the command only its own message's WQ_* variables, never inherited ones (WQ_SPAWN=%s)", async (mode) => {
    const queue = await freshQueue(`inherited-${mode}`);
    await publish(queue, ['x']);
    const show = 'echo "id=${WQ_MESSAGE_ID-unset} headers=${WQ_HEADERS-unset} file=${WQ_BODY_FILE-unset} queue=$WQ_QUEUE keep=$KEEP_ME"';
    const inherited = { WQ_MESSAGE_ID: 'outer-id', WQ_HEADERS: '{"from":"outer"}', WQ_BODY_FILE: '/outer/body', WQ_QUEUE: 'outer-queue', KEEP_ME: 'yes' };
    const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', show], { env: { WQ_SPAWN: mode, ...inherited } });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(`id=unset headers=unset file=unset queue=${queue} keep=yes\n`);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('passes the command stdout and stderr through untouched, apart from its own JSON logs', async () => {
    const queue = await freshQueue('stdio');
    await publish(queue, ['hello']);
    const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat; printf "\\nto-stderr\\n" >&2']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('hello');
    expect(run.otherStderr).toEqual(['to-stderr']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

/** A copy of dist/wq-consume.mjs alone, as when only the bundle is copied into an image. */
function bundleWithoutAddon(): string {
  const script = `${tempDir()}/wq-consume.mjs`;
  copyFileSync(DIST('wq-consume'), script);
  return script;
}

describe('how the command is started (WQ_SPAWN)', () => {
  it.each(['child_process', 'native', 'auto'])('WQ_SPAWN=%s keeps the ack contract: success acked, failure handed back', async (mode) => {
    const queue = await freshQueue(`spawn-${mode}`);
    await publish(queue, ['ok', 'fail']);
    const out = tempDir();
    const first = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out, WQ_SPAWN: mode } });
    expect(first.exitCode).toBe(0);
    const second = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat >/dev/null; exit 3'], { env: { WQ_SPAWN: mode } });
    expect(second.exitCode).toBe(3);
    expect(recorded(out).map((r) => r.body.toString())).toEqual(['ok']);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a copy of wq-consume.mjs without wq-spawn.node still works, through node:child_process', async () => {
    const queue = await freshQueue('spawn-copy');
    await publish(queue, ['copied']);
    const script = bundleWithoutAddon();
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { script, env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    // Said at info level, with the reason: never a silent fallback.
    const line = run.logs.find((l) => l.msg.includes('starting commands with node:child_process'));
    expect(line).toMatchObject({ level: 30, reason: 'wq-spawn.node was not built' });
    expect(recorded(out).map((r) => r.body.toString())).toEqual(['copied']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('WQ_SPAWN=native without the addon exits 78 with one line, before taking a message', async () => {
    const queue = await freshQueue('spawn-native-missing');
    await publish(queue, ['untouched']);
    const script = bundleWithoutAddon();
    const run = await cli('wq-consume', ['-q', queue, '--', 'cat'], { script, env: { WQ_SPAWN: 'native' } });
    expect(run.exitCode).toBe(78);
    expect(errors(run)).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(/WQ_SPAWN=native.*wq-spawn\.node was not built.*Unset WQ_SPAWN/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('an unknown WQ_SPAWN is a usage error (64), nothing consumed', async () => {
    const queue = await freshQueue('spawn-bad');
    await publish(queue, ['untouched']);
    const run = await cli('wq-consume', ['-q', queue, '--', 'cat'], { env: { WQ_SPAWN: 'fork' } });
    expect(run.exitCode).toBe(64);
    expect(run.stderr).toContain('WQ_SPAWN must be one of auto, native, child_process');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});

describe('bodies are bytes', () => {
  it.each([
    ['binary', randomBytes(4096)],
    ['empty', Buffer.alloc(0)],
    ['16 MB', randomBytes(16 * 1024 * 1024)],
  ])('a %s body reaches the command byte for byte', async (_label, body) => {
    const queue = await freshQueue('bytes');
    await publish(queue, [body]);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    const got = recorded(out);
    expect(got).toHaveLength(1);
    expect(got[0]?.body.equals(body)).toBe(true);
    expect(got[0]?.env.WQ_BODY_BYTES).toBe(String(body.length));
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('signals', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s during a long command stops it, hands the message back and leaves no process behind', async (signal, code) => {
    const queue = await freshQueue('term');
    await publish(queue, ['long job']);
    const pidfile = `${tempDir()}/pids`;
    const child = start('wq-consume', ['-q', queue, '--grace', '2', '--', FIXTURE('sleep-forever.sh')], { env: { PIDFILE: pidfile } });
    await waitFor(() => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim().split('\n').length === 2);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 1, consumers: 0 });
    const pids = readFileSync(pidfile, 'utf8').trim().split('\n').map(Number);
    child.kill(signal);
    const run = toRun(await child);
    expect(run.exitCode).toBe(code);
    await waitFor(() => pids.every((pid) => !alive(pid)), 'the command and its child to be gone', 3000);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    expect(run.logs.some((l) => l.msg.includes(`received ${signal}`))).toBe(true);
  });

  // Before, the account read "2 messages processed (1 acked, ..., 2 handed back)": a message handed back
  // before its command started was counted among the fates of processed ones.
  it('SIGTERM in a drain: the account tells the command\'s runs from the fates of the messages, one handed back before it ran', async () => {
    const queue = await freshQueue('term-account');
    await publish(queue, ['quick', 'long', 'waiting']);
    const out = tempDir();
    const script = 'b=$(cat); if [ "$b" = long ]; then touch "$OUT/long"; exec sleep 30; fi';
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--grace', '1', '--', 'sh', '-c', script], { env: { OUT: out } });
    await waitFor(() => existsSync(`${out}/long`), 'the long command to start');
    process.kill(child.pid as number, 'SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode).toBe(143);
    const last = run.logs.at(-1);
    expect(last?.msg).toMatch(/^run finished in \d+\.\d s: the command ran 2 times \(.*\); of the messages, 1 acked, 0 retried, 0 dead-lettered, 2 handed back$/);
    expect(last).toMatchObject({ processed: 2, acked: 1, handedBack: 2 });
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  // A broker that takes the connection and never answers: the signal waited for the socket's 10 s
  // timeout (this test's time limit is below it), and said nothing.
  it('SIGTERM while connecting to a broker that does not answer: exit 143 at once, one line that says so', { timeout: 8000 }, async () => {
    const held = new Set<Socket>();
    const silent = createServer((socket) => void held.add(socket.on('error', () => {})));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const child = start('wq-consume', ['--url', `amqp://guest:guest@127.0.0.1:${port}`, '--connect-timeout', '120', '-q', 'wq-test-never-reached', '--', 'cat']);
      await waitFor(async () => held.size === 1, 'the connection');
      child.kill('SIGTERM');
      const run = toRun(await child);
      expect(run.exitCode).toBe(143);
      expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual(['received SIGTERM while connecting to the broker: exiting']);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('SIGTERM while waiting on an empty queue exits 143 at once', async () => {
    const queue = await freshQueue('term-idle');
    const child = start('wq-consume', ['-q', queue, '--', 'cat']);
    await waitFor(async () => (await queueState(queue)).consumers === 1);
    child.kill('SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode).toBe(143);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('empty and deleted queues do not hang', () => {
  it('--wait applies between messages too: -c 5 with 2 messages ends 0 once none more arrives in time (it waited for ever)', async () => {
    const queue = await freshQueue('wait-between');
    await publish(queue, ['a', 'b']);
    const run = await cli('wq-consume', ['-q', queue, '-c', '5', '--wait', '0.5', '--', 'cat']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('ab');
    expect(run.logs.some((l) => l.msg === 'no further message arrived within --wait 0.5s: exiting')).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--wait counts the whole run: a lost connection after two messages, then none more, ends 0, not 75 "no message arrived"', async () => {
    const queue = await freshQueue('wait-reconnect');
    await publish(queue, ['a', 'b']);
    const proxy = await startProxy();
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '-c', '3', '--wait', '3', '--', 'cat'], { noBrokerEnv: true });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(() => out === 'ab', 'both messages processed');
    await new Promise((r) => setTimeout(r, 300)); // their acks on the wire
    proxy.cutAll(); // it reconnects, and its new session has taken nothing yet
    const run = toRun(await child);
    await proxy.close();
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(run.stdout).toBe('ab');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--wait after a lost connection took back the only message, which another consumer now holds: 75, not 0 (nothing was acked or dead-lettered)', async () => {
    const queue = await freshQueue('wait-lost-only');
    await publish(queue, ['only']);
    const proxy = await startProxy();
    const marker = join(tempDir(), 'started');
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '-c', '1', '--wait', '3', '--', 'sh', '-c', 'cat >/dev/null; touch "$M"; sleep 30'], { noBrokerEnv: true, env: { M: marker } });
    await waitFor(() => existsSync(marker), 'the command started');
    const holder = await (await admin()).createChannel();
    await holder.prefetch(1);
    await holder.consume(queue, () => {}, { noAck: false }); // takes the message when the broker requeues it, and keeps it
    proxy.cutAll();
    const run = toRun(await child);
    await proxy.close();
    // It was 0 with "no further message arrived": a Job counted a completion for a message nobody finished.
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(75);
    expect(errors(run)).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(/went back to the queue unfinished/);
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 1 });
    await holder.close();
    await waitFor(async () => (await queueState(queue)).ready === 1, 'the message back in the queue');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('--wait gives up on an empty queue with exit 75', async () => {
    const queue = await freshQueue('wait');
    const run = await cli('wq-consume', ['-q', queue, '--wait', '0.5', '--', 'cat']);
    expect(run.exitCode).toBe(75);
    expect(errors(run)).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(/no message arrived.*--wait/);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a queue deleted while waiting ends with exit 78 and one clear line', async () => {
    const queue = await freshQueue('deleted');
    const child = start('wq-consume', ['-q', queue, '--', 'cat']);
    await waitFor(async () => (await queueState(queue)).consumers === 1);
    const ch = await (await admin()).createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    const run = toRun(await child);
    expect(run.exitCode).toBe(78);
    expect(errors(run)).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(/was deleted/);
  });

  // The message's line said "the channel is gone, so this message goes back to the queue when the broker
  // notices": the channel was open, and the queue gone.
  it('a queue deleted while its message runs: exit 78, and the message\'s line says the broker cancelled the consumer', async () => {
    const queue = await freshQueue('deleted-running');
    await publish(queue, ['x']);
    const began = join(tempDir(), 'began');
    // A drain: a -c 1 run has cancelled its consumer already when the command starts, and hears of no deletion.
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--', 'sh', '-c', `cat >/dev/null; touch ${began}; sleep 5`]);
    await waitFor(async () => existsSync(began), 'the command');
    const ch = await (await admin()).createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    const run = toRun(await child);
    expect(run.exitCode).toBe(78);
    const line = run.logs.find((l) => l.deliveryTag === 1);
    expect(line?.msg).toMatch(/the broker cancelled the consumer \(its queue was deleted.*not acking on a cancelled delivery/);
    expect(line?.msg).not.toMatch(/channel is gone/);
    expect(errors(run)[0]?.msg).toMatch(/was deleted/);
    expect(await queueExists(queue)).toBe(false);
  });
});

describe('bad input: one clear line, a documented code, nothing consumed', () => {
  const secret = 's3cr3t-pw';
  const cases: Array<[string, (q: string) => string[], number, RegExp, Record<string, string>?]> = [
    ['wrong password', (q) => ['--url', badPasswordUrl(secret), '-q', q, '--', 'cat'], 77, /refused access.*Check the user, password/],
    ['wrong password in BROKER_URL', (q) => ['-q', q, '--', 'cat'], 77, /refused access/, { BROKER_URL: 'PLACEHOLDER' }],
    ['unreachable host', (q) => ['--url', `amqp://guest:${secret}@127.0.0.1:1`, '--connect-timeout', '0', '-q', q, '--', 'cat'], 69, /cannot reach the broker.*nothing listens/],
    ['missing queue', () => ['-q', 'wq-test-no-such-queue', '--', 'cat'], 78, /does not exist.*--declare/],
    ['missing command', (q) => ['-q', q, '--', 'no-such-command-wq'], 127, /was not found in PATH/],
    ['non-executable command', (q) => ['-q', q, '--', FIXTURE('not-executable.sh')], 126, /is not executable.*chmod \+x/],
    ['bad flag', (q) => ['-q', q, '--frobnicate', '--', 'cat'], 64, /unknown option --frobnicate/],
    ['bad number', (q) => ['-q', q, '-c', 'many', '--', 'cat'], 64, /--count needs a whole number/],
    ['no command', (q) => ['-q', q], 64, /no command given/],
    ['no queue', () => ['--', 'cat'], 64, /no queue given/],
  ];
  it.each(cases)('%s', async (_label, args, code, message, env) => {
    const queue = await freshQueue('bad');
    await publish(queue, ['keep me']);
    const resolvedEnv = env?.BROKER_URL === 'PLACEHOLDER' ? { BROKER_URL: badPasswordUrl(secret) } : env;
    const run = await cli('wq-consume', args(queue), { env: resolvedEnv });
    expect(run.exitCode).toBe(code);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(message);
    expect(run.stderr).not.toContain(secret);
    expect(run.stdout).toBe('');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  // Before, a failure after connecting named the first address of the list, which did not answer.
  it('a list whose first address does not answer: a failure on the second names the second, redacted', async () => {
    const queue = uniqueQueue('bad-second-address');
    const reached = new URL(brokerUrl());
    const run = await cli('wq-consume', ['--url', `amqp://guest:${secret}@127.0.0.1:1,${brokerUrl()}`, '-q', queue, '--', 'cat']);
    expect(run.exitCode).toBe(78);
    expect(errors(run).map((l) => l.msg)).toEqual([expect.stringContaining(`queue "${queue}" does not exist on amqp://`)]);
    expect(errors(run)[0]?.msg).toContain(`@${reached.host}`);
    expect(errors(run)[0]?.msg).not.toContain('127.0.0.1:1');
    expect(run.stderr).not.toContain(secret);
    expect(await queueExists(queue)).toBe(false);
  });

  // Before, such a script passed the start-up check: each message was taken, spent an attempt and failed
  // (127, "spawn ENOENT", as if the script itself were missing).
  it.each([
    ['Windows line ends', '#!/bin/sh\r\necho x\r\n', /has Windows line ends: its #! line, "#!\/bin\/sh\\r", names a program whose name ends in "\\r".*dos2unix/],
    ['an interpreter that is not there', '#!/usr/bin/no-such-interpreter\necho x\n', /names the interpreter \/usr\/bin\/no-such-interpreter in its #! line, which was not found/],
  ])('a script with %s: exit 127 before any message is taken, one line', async (_what, text, message) => {
    const queue = await freshQueue('bad-interpreter');
    await publish(queue, ['keep me']);
    const script = join(tempDir(), 'work.sh');
    writeFileSync(script, text, { mode: 0o755 });
    const run = await cli('wq-consume', ['-q', queue, '--', script]);
    expect(run.exitCode).toBe(127);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(message);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  // Before, it gave up when the next pause would pass the deadline: 1.5 s into --connect-timeout 3.
  it('an address that does not answer is tried for all of --connect-timeout, then exit 69', async () => {
    const queue = await freshQueue('bad-timeout');
    await publish(queue, ['keep me']);
    const began = performance.now();
    const run = await cli('wq-consume', ['--url', `amqp://guest:${secret}@127.0.0.1:1`, '--connect-timeout', '3', '-q', queue, '--', 'cat']);
    expect(performance.now() - began).toBeGreaterThanOrEqual(3000);
    expect(run.exitCode).toBe(69);
    expect(errors(run).map((l) => l.msg)).toEqual([expect.stringMatching(/cannot reach the broker.*nothing listens/)]);
    expect(run.stderr).not.toContain(secret);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('--help prints usage to stdout without any password', async () => {
    const run = await cli('wq-consume', ['--help'], { env: { BROKER_URL: badPasswordUrl('topsecret') } });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/Usage: wq-consume/);
    expect(run.stdout + run.stderr).not.toContain('topsecret');
    expect(run.stdout).not.toContain('guest:guest'); // the default's password too
  });
});

describe('interoperates with Debian amqp-tools', () => {
  it('consumes what amqp-publish wrote, and the metadata reaches the command as WQ_* variables', async () => {
    const queue = await freshQueue('amqp-tools');
    const url = brokerUrl();
    execFileSync('amqp-publish', ['--url', url, '-r', queue, '-p', '-C', 'text/plain', '-E', 'utf-8', '-H', 'tenant: acme', '-b', 'from amqp-publish']);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    const [got] = recorded(out);
    expect(got?.body.toString()).toBe('from amqp-publish');
    expect(got?.env).toMatchObject({
      WQ_QUEUE: queue,
      WQ_ROUTING_KEY: queue,
      WQ_EXCHANGE: '',
      WQ_REDELIVERED: 'false',
      WQ_DELIVERY_COUNT: '1',
      WQ_CONTENT_TYPE: 'text/plain',
      WQ_CONTENT_ENCODING: 'utf-8',
    });
    expect(JSON.parse(got?.env.WQ_HEADERS ?? '{}')).toEqual({ tenant: 'acme' });
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('passes message id, correlation id, timestamp and the redelivered flag', async () => {
    const queue = await freshQueue('meta');
    await publish(queue, ['m'], { messageId: 'id-42', correlationId: 'corr-7', timestamp: 1700000000, type: 'resize' });
    // A consumer that takes the message and hands it back (nack, requeue) marks it redelivered.
    const ch = await (await admin()).createChannel();
    const got = await ch.get(queue, { noAck: false });
    ch.nack(got as never, false, true);
    await ch.close();
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(recorded(out)[0]?.env).toMatchObject({
      WQ_MESSAGE_ID: 'id-42',
      WQ_CORRELATION_ID: 'corr-7',
      WQ_TIMESTAMP: '1700000000',
      WQ_TYPE: 'resize',
      WQ_REDELIVERED: 'true',
      WQ_DELIVERY_COUNT: '2',
    });
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('reports x-delivery-count from a quorum queue', async () => {
    const queue = await freshQueue('quorum', { 'x-queue-type': 'quorum' });
    await publish(queue, ['q']);
    for (let i = 0; i < 2; i++) expect((await cli('wq-consume', ['-q', queue, '--', 'false'])).exitCode).toBe(1);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(recorded(out)[0]?.env.WQ_DELIVERY_COUNT).toBe('3');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

function badPasswordUrl(password: string): string {
  const u = new URL(brokerUrl());
  u.password = password;
  return u.toString();
}
