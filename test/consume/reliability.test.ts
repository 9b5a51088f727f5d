import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { admin, brokerUrl, drain, drainMessages, freshQueue, publish, queueState, uniqueQueue, forget } from '../helpers/broker.js';
import { cli, errors, FIXTURE, start, toRun } from '../helpers/cli.js';
import { alive, recorded, tempDir } from '../helpers/files.js';
import { freePort, startProxy, urlVia } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

describe('poison messages: --max-attempts', () => {
  it.each([
    ['classic', {}],
    ['quorum', { 'x-queue-type': 'quorum' }],
  ])('on a %s queue a message that always fails reaches the dead-letter queue after N attempts; the others are processed', async (_type, args) => {
    const queue = await freshQueue('poison', args);
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['good-1', 'poison', 'good-2'], { messageId: 'm' });
    const out = tempDir();
    const script = `body=$(cat); echo "$body $WQ_DELIVERY_COUNT" >> ${out}/log; [ "$body" != poison ]`;
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '3', '--', 'sh', '-c', script]);
    expect(run.exitCode).toBe(0);
    const lines = readFileSync(`${out}/log`, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('good-')).sort()).toEqual(['good-1 1', 'good-2 1']);
    expect(lines.filter((l) => l.startsWith('poison'))).toEqual(['poison 1', 'poison 2', 'poison 3']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(dlq)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    const ch = await (await admin()).createChannel();
    const dead = await ch.get(dlq, { noAck: true });
    await ch.close();
    expect(dead && dead.content.toString()).toBe('poison');
    expect(dead && dead.properties.headers).toMatchObject({ 'x-wq-attempts': 3, 'x-wq-dead-letter-reason': 'exit 1', 'x-wq-original-queue': queue });
    expect(dead && dead.properties.messageId).toBe('m');
    expect(run.logs.filter((l) => /moved to the dead-letter queue/.test(l.msg))).toHaveLength(1);
  });

  it('a one-shot run exits with the command\'s status while its message is retried, and 0 once it dead-letters it: a Job with completions = the queue\'s depth counts each message once', async () => {
    const queue = await freshQueue('poison-oneshot');
    const dlq = uniqueQueue('dlq');
    await publish(queue, ['bad']);
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 2; i++) codes.push((await cli('wq-consume', ['-q', queue, '--max-attempts', '2', '--dead-letter-queue', dlq, '--', 'false'])).exitCode);
    // It was [0, 0]: the retried failure counted a completion, so such a Job could finish with the retry copy still queued.
    expect(codes).toEqual([1, 0]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(dlq)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});

describe('a command that disappears during a drain', () => {
  it('ends the run with 127 at its first failed start, its message retried and the rest left in the queue (they were all dead-lettered at once)', async () => {
    const queue = await freshQueue('vanish');
    const dlq = uniqueQueue('vanish-dlq');
    await publish(queue, ['1', '2', '3', '4', '5', '6']);
    const dir = tempDir();
    const script = join(dir, 'work.sh');
    writeFileSync(script, '#!/bin/sh\ncat > /dev/null\nrm -f "$0"\n', { mode: 0o755 });
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '2', '--dead-letter-queue', dlq, '--', script]);
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(127);
    expect(await queueState(dlq)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    // The first ran; the second could not start (its retry copy is back in the queue with the other four).
    expect(await queueState(queue)).toEqual({ ready: 5, unacked: 0, consumers: 0 });
  });
});

describe('a command that cannot start for now', () => {
  it('a script held open for writing (ETXTBSY, a deploy rewriting it): no attempt spent, nothing dead-lettered, the run ends 71 (every message was dead-lettered, exit 0)', async () => {
    const queue = await freshQueue('txtbsy');
    const dlq = uniqueQueue('txtbsy-dlq');
    await publish(queue, ['1', '2', '3']);
    const script = join(tempDir(), 'work.sh');
    writeFileSync(script, '#!/bin/sh\ncat > /dev/null\n', { mode: 0o755 });
    const writer = openSync(script, 'a'); // exec(2) of a file open for writing fails with ETXTBSY
    try {
      const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '2', '--dead-letter-queue', dlq, '--', script]);
      expect(run.exitCode, run.stderr.slice(-1500)).toBe(71);
      expect(run.logs.some((l) => /command could not start for now \(ETXTBSY/.test(l.msg))).toBe(true);
    } finally {
      closeSync(writer);
    }
    expect(await queueState(dlq)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
    const back = await drainMessages(queue);
    expect(back.map((m) => m.properties.headers?.['x-wq-attempts'] ?? 0)).toEqual([0, 0, 0]);
  });
});

describe('--dead-letter-exchange', () => {
  it("publishes the dead letter to an exchange (such as the queue's own DLX) with its routing key, confirmed", async () => {
    const queue = await freshQueue('dlx');
    const parked = uniqueQueue('parked');
    const exchange = `${parked}-x`;
    const ch = await (await admin()).createChannel();
    await ch.assertExchange(exchange, 'fanout', { durable: false, autoDelete: true });
    await ch.assertQueue(parked, { durable: true });
    await ch.bindQueue(parked, exchange, '');
    await ch.close();
    await publish(queue, ['bad']);
    const run = await cli('wq-consume', ['-q', queue, '--max-attempts', '1', '--dead-letter-exchange', exchange, '--', 'false']);
    expect(run.exitCode).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(parked)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    expect((await drain(parked)).map(String)).toEqual(['bad']);
  });

  it('a missing dead-letter exchange is a configuration error before any message is taken', async () => {
    const queue = await freshQueue('dlx-missing');
    await publish(queue, ['keep']);
    const run = await cli('wq-consume', ['-q', queue, '--max-attempts', '1', '--dead-letter-exchange', 'wq-test-no-such-exchange', '--', 'false']);
    expect(run.exitCode).toBe(78);
    expect(errors(run)).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(/exchange "wq-test-no-such-exchange" does not exist/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});

describe('drain mode: --until-empty', () => {
  it('50 messages, 3 drain workers: all exit 0 when the queue is empty, each message processed once', async () => {
    const queue = await freshQueue('drain');
    const bodies = Array.from({ length: 50 }, (_, i) => `item-${i}`);
    await publish(queue, bodies);
    const out = tempDir();
    const workers = Array.from({ length: 3 }, () => start('wq-consume', ['-q', queue, '--until-empty', '--idle', '1', '--', FIXTURE('record.sh')], { env: { OUT: out } }));
    const runs = (await Promise.all(workers)).map(toRun);
    expect(runs.map((r) => r.exitCode)).toEqual([0, 0, 0]);
    expect(recorded(out).map((r) => r.body.toString()).sort()).toEqual([...bodies].sort());
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--concurrency runs several commands at once inside one process', async () => {
    const queue = await freshQueue('concurrency');
    await publish(queue, ['a', 'b', 'c', 'd']);
    const out = tempDir();
    // Each command waits until a second one has started: with --concurrency 1 this would time out.
    const script = `cat >/dev/null; touch ${out}/$$; i=0; while [ $(ls ${out} | wc -l) -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ $i -lt 100 ]`;
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '-j', '2', '--', 'sh', '-c', script]);
    expect(run.exitCode).toBe(0);
    expect(run.logs.filter((l) => l.msg === 'command succeeded: acked')).toHaveLength(4);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('--count still bounds a drain', async () => {
    const queue = await freshQueue('drain-count');
    await publish(queue, ['1', '2', '3', '4', '5']);
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '-c', '3', '--', 'cat']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('123');
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  it('an empty queue ends a drain with exit 0 after --idle', async () => {
    const queue = await freshQueue('drain-empty');
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.3', '--', 'cat']);
    expect(run.exitCode).toBe(0);
    expect(errors(run)).toEqual([]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('--timeout', () => {
  it('stops a command that runs too long, hands the message back and exits 124', async () => {
    const queue = await freshQueue('timeout');
    await publish(queue, ['slow']);
    const run = await cli('wq-consume', ['-q', queue, '--timeout', '0.5', '--grace', '0.5', '--', 'sh', '-c', 'trap "" TERM; sleep 30']);
    expect(run.exitCode).toBe(124);
    expect(errors(run)).toEqual([]);
    expect(run.logs.some((l) => /past --timeout/.test(l.msg))).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});

describe('the broker comes and goes', () => {
  it('retries a broker that is not reachable yet, then consumes', async () => {
    const queue = await freshQueue('late-broker');
    await publish(queue, ['late']);
    const port = await freePort();
    const child = start('wq-consume', ['--url', urlVia(port), '-q', queue, '--connect-timeout', '20', '--', 'cat']);
    // The broker comes up only once wq-consume has said it is retrying, however slow the machine.
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await waitFor(() => /Retrying for up to 20s/.test(stderr), 'wq-consume to retry', 20_000);
    await startProxy({ port });
    const run = toRun(await child);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('late');
    expect(run.logs.filter((l) => /Retrying for up to 20s/.test(l.msg))).toHaveLength(1);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a connection lost while the command runs: the command is stopped, nothing is acked, wq-consume reconnects and runs the message again', async () => {
    const queue = await freshQueue('lost');
    await publish(queue, ['in flight']);
    const proxy = await startProxy();
    const dir = tempDir();
    // The first run waits to be stopped; the second, after the reconnect, succeeds.
    const script = `cat >/dev/null; if [ -e ${dir}/first ]; then touch ${dir}/second; exit 0; fi; echo $$ > ${dir}/first; sleep 30`;
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--grace', '1', '--', 'sh', '-c', script]);
    await waitFor(() => existsSync(`${dir}/first`) && readFileSync(`${dir}/first`, 'utf8').length > 0, 'the command to start');
    proxy.cutAll();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(alive(Number(readFileSync(`${dir}/first`, 'utf8')))).toBe(false);
    expect(existsSync(`${dir}/second`)).toBe(true);
    expect(run.logs.some((l) => /lost the connection to the broker .*went back to the queue; reconnecting/.test(l.msg))).toBe(true);
    expect(run.logs.filter((l) => /command succeeded: acked/.test(l.msg))).toHaveLength(1);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it("a connection lost while a drain's end check waits for its answer: it reconnects and finishes the drain (exit 0), not 69", async () => {
    const queue = await freshQueue('lost-in-check');
    // With --no-declare the end check's passive declare is the first queue.declare: it is held, then cut.
    const proxy = await startProxy({ holdClientFrom: { classId: 50, methodId: 10 } });
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--no-declare', '--until-empty', '--idle', '0.5', '--connect-timeout', '10', '--', 'cat']);
    await waitFor(() => proxy.holding(), "the drain's end check to be held");
    proxy.cutAll();
    await waitFor(() => proxy.connections() > 0, 'wq-consume to reconnect');
    proxy.release();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([expect.stringMatching(/^lost the connection to the broker .*; reconnecting/)]);
    expect(run.logs.at(-2)?.msg).toBe('queue stayed empty and no other consumer holds a message: drain finished');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // The setup's time (10 s at the least) spans its tries, but not the reconnects between them. Before, a
  // connection made after 10 s of setup and reconnecting was cut at once: exit 69, "did not take a
  // consumer within 10s", from a healthy broker, and the message stayed in its queue.
  it('a connection lost while the consumer waits for its consume-ok, then a reconnect that takes seconds: the setup goes on (exit 0)', async () => {
    const queue = await freshQueue('lost-in-setup');
    await publish(queue, ['item']);
    const proxy = await startProxy({ holdClientFrom: { classId: 60, methodId: 20 } }); // basic.consume
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--connect-timeout', '10', '--', 'cat']);
    await waitFor(() => proxy.holding(), 'the basic.consume to be held');
    await new Promise((r) => setTimeout(r, 7000));
    await proxy.close(); // the connection drops, and nothing listens for 4 s
    await new Promise((r) => setTimeout(r, 4000));
    await startProxy({ port: proxy.port });
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toBe('item');
    expect(errors(run)).toEqual([]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 60_000);

  it('a connection lost for good: the command is stopped, nothing is acked, exit 69 once no address answers within --connect-timeout', async () => {
    const queue = await freshQueue('lost-for-good');
    await publish(queue, ['in flight']);
    const proxy = await startProxy();
    const marker = `${tempDir()}/started`;
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--grace', '1', '--connect-timeout', '2', '--', 'sh', '-c', `cat >/dev/null; touch ${marker}; sleep 30`]);
    await waitFor(() => existsSync(marker), 'the command to start');
    await proxy.close();
    const run = toRun(await child);
    expect(run.exitCode).toBe(69);
    expect(errors(run)).toEqual([expect.objectContaining({ code: 'BROKER_UNAVAILABLE', retryable: true, detail: expect.stringMatching(/ECONNREFUSED/) })]);
    // The run's account still ends it (before, a run that ended on an error thrown by a reconnect had none).
    expect(run.logs.at(-1)?.msg).toMatch(/^run finished in \d+\.\d s: the command ran 1 time \(.*\); of the messages, 0 acked, 0 retried, 0 dead-lettered, 1 handed back; 1 reconnect$/);
    await waitFor(async () => (await queueState(queue)).ready === 1, 'the broker to requeue the message');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a connection lost while SIGTERM stops the command: exit 143, as for any stop, and the message back', async () => {
    const queue = await freshQueue('lost-while-stopping');
    await publish(queue, ['in flight']);
    const proxy = await startProxy();
    const marker = `${tempDir()}/started`;
    // The command takes its time over SIGTERM; the connection drops meanwhile.
    const script = `trap 'sleep 1; exit 1' TERM; cat >/dev/null; touch ${marker}; while :; do sleep 0.05; done`;
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--grace', '5', '--', 'sh', '-c', script]);
    await waitFor(() => existsSync(marker), 'the command to start');
    process.kill(child.pid as number, 'SIGTERM'); // not child.kill(): execa would SIGKILL it 5 s later
    await new Promise((r) => setTimeout(r, 300));
    proxy.cutAll();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(143); // it was 69: the lost connection outranked the signal
    await waitFor(async () => (await queueState(queue)).ready === 1, 'the broker to requeue the message');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('SIGTERM after the last message, while the broker no longer answers: the connection is cut after --grace + 5 s, exit 143', async () => {
    const queue = await freshQueue('silent-close');
    await publish(queue, ['item']);
    // The proxy passes everything up to the ack (class 60, method 80) and nothing after it: the command
    // succeeds, the ack and the channel's close never reach the broker, and its close-ok never comes.
    const proxy = await startProxy({ holdClientFrom: { classId: 60, methodId: 80 } });
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--grace', '1', '--heartbeat', '0', '--', 'cat']);
    await waitFor(() => proxy.holding(), 'wq-consume to ack');
    await new Promise((r) => setTimeout(r, 300));
    const signalled = Date.now();
    process.kill(child.pid as number, 'SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const run = toRun(await child);
    clearTimeout(killer);
    expect(Date.now() - signalled).toBeLessThan(15_000); // --grace 1 + 5, and room for a busy machine; it waited for ever
    expect(run.exitCode, run.stderr).toBe(143);
    expect(run.logs.map((l) => l.msg)).toContain('the broker has not answered within 6s of the signal (a resource alarm?): closing the connection; the broker puts back every message not acked');
    // The ack never reached the broker: the message is back, to run again (a duplicate, never a loss).
    await waitFor(async () => (await queueState(queue)).ready === 1, 'the broker to requeue the message');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  }, 40_000);
});

describe('secrets stay secret', () => {
  it('--url-file reads the URL from a file (a mounted Secret)', async () => {
    const queue = await freshQueue('url-file');
    await publish(queue, ['via file']);
    const file = `${tempDir()}/url`;
    writeFileSync(file, `${brokerUrl()}\n`);
    const run = await cli('wq-consume', ['--url-file', file, '-q', queue, '--', 'cat'], { noBrokerEnv: true, env: { BROKER_URL: 'amqp://nobody:wrong@127.0.0.1:1' } });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('via file');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('amqps:// with --ca, --cert and --key (client certificate verified by the server)', async () => {
    const dir = tempDir();
    const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=wq-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem']);
    for (const name of ['server', 'client']) {
      ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name === 'server' ? 'localhost' : 'wq-client'}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
      writeFileSync(`${dir}/${name}.ext`, name === 'server' ? 'subjectAltName=DNS:localhost\n' : 'extendedKeyUsage=clientAuth\n');
      ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    }
    const read = (f: string) => readFileSync(`${dir}/${f}`);
    const proxy = await startProxy({ tls: { key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true } });
    const queue = await freshQueue('tls');
    await publish(queue, ['over tls']);
    const url = urlVia(proxy.port, 'amqps', 'localhost');
    const withoutCert = await cli('wq-consume', ['--url', url, '--ca', `${dir}/ca.pem`, '--connect-timeout', '0', '-q', queue, '--', 'cat']);
    expect(withoutCert.exitCode).toBe(77); // the broker refused the handshake: not retried
    expect(errors(withoutCert)).toHaveLength(1);
    const run = await cli('wq-consume', ['--url', url, '--ca', `${dir}/ca.pem`, '--cert', `${dir}/client.pem`, '--key', `${dir}/client.key`, '-q', queue, '--', 'cat']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('over tls');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('bad inputs: the documented status, one clear line, the queue unchanged', () => {
  const secret = 'pa55-word';
  const cases: Array<{ name: string; args: (q: string) => string[]; code: number; line: RegExp; body?: Buffer; queueArgs?: Record<string, unknown> }> = [
    { name: 'wrong password', args: (q) => ['--url', urlWithPassword(secret), '-q', q, '--', 'cat'], code: 77, line: /refused access/ },
    { name: 'unreachable host', args: (q) => ['--url', `amqp://guest:${secret}@127.0.0.1:1/`, '--connect-timeout', '0', '-q', q, '--', 'cat'], code: 69, line: /cannot reach the broker/ },
    { name: 'unknown host', args: (q) => ['--url', `amqp://guest:${secret}@no-such-host.invalid/`, '--connect-timeout', '0', '-q', q, '--', 'cat'], code: 69, line: /does not resolve/ },
    { name: 'missing queue', args: () => ['-q', 'wq-test-missing-queue', '--', 'cat'], code: 78, line: /does not exist/ },
    { name: 'queue declared with other arguments', args: (q) => ['-q', q, '--declare', '--queue-type', 'quorum', '--', 'cat'], code: 78, line: /exists with other arguments/ },
    { name: 'missing command', args: (q) => ['-q', q, '--', '/nonexistent/worker'], code: 127, line: /not found/ },
    { name: 'non-executable command', args: (q) => ['-q', q, '--', FIXTURE('not-executable.sh')], code: 126, line: /not executable/ },
    { name: 'bad flag', args: (q) => ['-q', q, '-Z', '--', 'cat'], code: 64, line: /unknown option -Z/ },
    { name: 'bad URL scheme', args: (q) => ['--url', `http://guest:${secret}@127.0.0.1/`, '-q', q, '--', 'cat'], code: 64, line: /must start with amqp/ },
    { name: 'a 0-byte body, command fails', args: (q) => ['-q', q, '--', 'sh', '-c', 'cat >/dev/null; exit 4'], code: 4, line: /exited with status 4/, body: Buffer.alloc(0) },
    // 64 MB on 3.x; 4.x refuses messages above 16 MiB by default, so 15 MB there.
    { name: 'a huge body, command fails', args: (q) => ['-q', q, '--', 'sh', '-c', 'cat >/dev/null; exit 4'], code: 4, line: /exited with status 4/, body: randomBytes((inject('brokerName').startsWith('4') ? 15 : 64) * 1024 * 1024) },
    { name: 'a command that closes stdin at once and fails', args: (q) => ['-q', q, '--', 'sh', '-c', 'exec 0<&-; exit 6'], code: 6, line: /exited with status 6/, body: randomBytes(1024 * 1024) },
  ];
  it.each(cases)('$name', async ({ args, code, line, body }) => {
    const queue = await freshQueue('bad');
    const payload = body ?? Buffer.from('keep me');
    await publish(queue, [payload]);
    const run = await cli('wq-consume', args(queue));
    expect(run.exitCode).toBe(code);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(run.logs[0]?.msg).toMatch(line);
    expect(run.stderr).not.toContain(secret);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    const [left] = await drain(queue);
    expect(left?.equals(payload)).toBe(true);
  });
});

function urlWithPassword(password: string): string {
  const u = new URL(urlVia(5672));
  u.password = password;
  return u.toString();
}
