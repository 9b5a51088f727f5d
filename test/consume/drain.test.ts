import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { waitQueueName } from '../../src/consume/wait-queue.js';
import { admin, forget, freshQueue, publish, queueExists, queueState, readyCount } from '../helpers/broker.js';
import { cli, start, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

// Drains that wait for their peers, retries that wait, exit codes that dead-letter, and the run's account.
const broker = inject('brokerName');

// A worker that logs "<epoch ms> <body> <attempt> start|ok|fail"; an item "late-fail" fails its first
// attempt after $SLOW seconds, an item "flaky" fails while its attempt is below $PASS_AT.
const WORKER = `body=$(cat); t() { date +%s%3N; }; echo "$(t) $body $WQ_DELIVERY_COUNT start" >> "$LOG"
if [ "$body" = late-fail ] && [ "$WQ_DELIVERY_COUNT" = 1 ]; then sleep "$SLOW"; echo "$(t) $body $WQ_DELIVERY_COUNT fail" >> "$LOG"; exit 1; fi
if [ "$body" = flaky ] && [ "$WQ_DELIVERY_COUNT" -lt "\${PASS_AT:-1}" ]; then echo "$(t) $body $WQ_DELIVERY_COUNT fail" >> "$LOG"; exit 1; fi
if [ "$body" = bad ]; then echo "$(t) $body $WQ_DELIVERY_COUNT fail" >> "$LOG"; exit 3; fi
echo "$(t) $body $WQ_DELIVERY_COUNT ok" >> "$LOG"`;

const lines = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')) : []);

describe(`--until-empty waits for its peers (RabbitMQ ${broker})`, () => {
  it('two drains, one holding a message that fails late: the other waits, takes the retry, and the queue ends empty', async () => {
    const queue = await freshQueue('drain-peers');
    await publish(queue, ['late-fail', 'a', 'b', 'c', 'd']);
    const log = `${tempDir()}/log`;
    const env = { LOG: log, SLOW: '3' };
    const flags = ['-q', queue, '--until-empty', '--idle', '1', '-p', '1', '--', 'sh', '-c', WORKER];
    const a = start('wq-consume', flags, { env });
    await waitFor(() => lines(log).some((l) => l[1] === 'late-fail'), 'drain A to start the late failure');
    const b = start('wq-consume', flags, { env });
    const [ra, rb] = [toRun(await a), toRun(await b)];
    // A's failure ends A (no --max-attempts): exit 1, its message retried. B saw the queue empty while A
    // held it, did not end, took the retry copy, and ended only then.
    expect(ra.exitCode).toBe(1);
    expect(rb.exitCode).toBe(0);
    const ok = lines(log).filter((l) => l[3] === 'ok').map((l) => l[1]).sort();
    expect(ok).toEqual(['a', 'b', 'c', 'd', 'late-fail']);
    const failAt = Number(lines(log).find((l) => l[3] === 'fail')?.[0]);
    const retriedAt = Number(lines(log).find((l) => l[1] === 'late-fail' && l[2] === '2')?.[0]);
    expect(retriedAt).toBeGreaterThanOrEqual(failAt);
    expect(rb.logs.some((l) => /other consumers? may still hand messages back/.test(l.msg))).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a lone drain still ends after --idle, with the run account as its last line', async () => {
    const queue = await freshQueue('drain-alone');
    forget(`${queue}.dead`); // --max-attempts declares the dead-letter queue
    await publish(queue, ['a', 'b', 'flaky']);
    const log = `${tempDir()}/log`;
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.3', '--max-attempts', '5', '--', 'sh', '-c', WORKER], { env: { LOG: log, PASS_AT: '2' } });
    expect(run.exitCode).toBe(0);
    const last = run.logs[run.logs.length - 1];
    expect(last?.msg).toMatch(/^run finished in \d+\.\d s: the command ran 4 times \(\d+ ms at p50, \d+ ms at p95, \d+ ms at most\); of the messages, 3 acked, 1 retried, 0 dead-lettered, 0 handed back$/);
    expect(last).toMatchObject({ processed: 4, acked: 3, retried: 1, deadLettered: 0, handedBack: 0, exitCode: 0 });
    for (const k of ['durationP50Ms', 'durationP95Ms', 'durationMaxMs', 'wallMs']) expect(typeof last?.[k]).toBe('number');
    expect(Number(last?.durationMaxMs)).toBeGreaterThanOrEqual(Number(last?.durationP50Ms));
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('the queue deleted while the drain waits for a peer that holds a message: exit 78 and one line, not 69', async () => {
    const queue = await freshQueue('drain-deleted');
    await publish(queue, ['held']);
    const holder = await (await admin()).createChannel();
    await holder.prefetch(1);
    await holder.consume(queue, () => {}, { noAck: false }); // holds the message unacked: a peer
    await waitFor(async () => (await queueState(queue)).unacked === 1, 'the peer to hold the message');
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.3', '--', 'true']);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => /other consumers? may still hand messages back/.test(stderr), 'the drain to wait for its peer');
    await holder.deleteQueue(queue);
    const run = toRun(await child);
    await holder.close().catch(() => undefined);
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(78);
    expect(run.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([expect.stringMatching(/was deleted while wq-consume checked whether it is drained/)]);
    expect(await queueExists(queue)).toBe(false);
  });
});

describe(`--retry-delay (RabbitMQ ${broker})`, () => {
  it.each([
    ['classic', {}],
    ['quorum', { 'x-queue-type': 'quorum' }],
  ])('on a %s queue a failed message waits out the delay, durably, and the drain waits for it', async (_type, args) => {
    const queue = await freshQueue('retry-delay', args);
    const wait = waitQueueName(queue, 2500);
    forget(wait);
    await publish(queue, ['flaky', 'x']);
    const log = `${tempDir()}/log`;
    const child = start('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.2', '--retry-delay', '2.5', '--', 'sh', '-c', WORKER], { env: { LOG: log, PASS_AT: '2' } });
    await waitFor(() => lines(log).some((l) => l[3] === 'fail'), 'the first attempt to fail');
    // The copy waits in the wait queue, not in the work queue.
    await waitFor(async () => (await readyCount(wait).catch(() => 0)) === 1, 'the copy in the wait queue');
    expect(await readyCount(queue)).toBe(0);
    const run = toRun(await child);
    expect(run.exitCode).toBe(0);
    const failed = Number(lines(log).find((l) => l[3] === 'fail')?.[0]);
    const second = lines(log).find((l) => l[1] === 'flaky' && l[3] === 'start' && l[2] === '2');
    expect(second).toBeDefined();
    expect(Number(second?.[0]) - failed).toBeGreaterThanOrEqual(2500);
    expect(lines(log).filter((l) => l[3] === 'ok').map((l) => l[1]).sort()).toEqual(['flaky', 'x']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(wait)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a retry wait queue that cannot answer may hold retries: the drain does not end as drained, exit 69, one line', async () => {
    const queue = await freshQueue('retry-unknown');
    await publish(queue, ['x']);
    // The wait queue's name held by another connection's exclusive queue: a passive declare of it fails
    // (405 RESOURCE_LOCKED), as one whose majority is down would, and is not "no such queue".
    const holder = await (await admin()).createChannel();
    const wait = waitQueueName(queue, 5000);
    await holder.assertQueue(wait, { exclusive: true, durable: false });
    try {
      const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.2', '--retry-delay', '5', '--', 'cat']);
      expect(run.exitCode, run.stderr.slice(-1500)).toBe(69);
      expect(run.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([expect.stringMatching(new RegExp(`could not check whether queue "${queue}" is drained: its retry wait queue "${wait}" did not answer \\(.*RESOURCE_LOCKED`))]);
      expect(run.stdout).toBe('x'); // the message ran and was acked first
      expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    } finally {
      await holder.close();
    }
  });

  // Before, -c 1 exited with the command's status (3) and no error line: the 406 closed the channel, the
  // retry copy was never sent, and the message came back with its attempt count unchanged, pod after pod.
  it('a retry wait queue that exists with other arguments: exit 78 with the line that names it, the message back, also with -c 1', async () => {
    for (const mode of [['-c', '1'], ['--until-empty', '--idle', '0.2']]) {
      const queue = await freshQueue('retry-other-args');
      forget(`${queue}.dead`); // declared at start-up for --max-attempts
      const wait = waitQueueName(queue, 5000);
      const ch = await (await admin()).createChannel();
      await ch.assertQueue(wait, { durable: true }); // a plain classic queue: no TTL, no x-expires
      await ch.close();
      forget(wait);
      await publish(queue, ['x']);
      const run = await cli('wq-consume', ['-q', queue, ...mode, '--max-attempts', '3', '--retry-delay', '5', '--', 'sh', '-c', 'exit 3']);
      expect(run.exitCode, run.stderr.slice(-1500)).toBe(78);
      expect(run.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([expect.stringMatching(new RegExp(`"${wait}".*(inequivalent arg|other arguments)`))]);
      await waitFor(async () => (await queueState(queue)).ready === 1, 'the message back in the queue');
      expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
      expect(await readyCount(wait)).toBe(0);
    }
  });

  it('--retry-delay-max doubles the delay per attempt, up to the max', async () => {
    const queue = await freshQueue('retry-backoff');
    for (const ms of [500, 1000, 1500]) forget(waitQueueName(queue, ms));
    await publish(queue, ['flaky']);
    const log = `${tempDir()}/log`;
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.2', '--retry-delay', '0.5', '--retry-delay-max', '1.5', '--', 'sh', '-c', WORKER], { env: { LOG: log, PASS_AT: '5' } });
    expect(run.exitCode).toBe(0);
    const starts = lines(log).filter((l) => l[3] === 'start').map((l) => Number(l[0]));
    const ends = lines(log).filter((l) => l[3] !== 'start').map((l) => Number(l[0]));
    expect(starts).toHaveLength(5);
    const gaps = starts.slice(1).map((s, i) => s - (ends[i] as number));
    [500, 1000, 1500, 1500].forEach((min, i) => expect(gaps[i], `gap before attempt ${i + 2}`).toBeGreaterThanOrEqual(min));
    expect(run.logs.filter((l) => /queued for another attempt in/.test(l.msg)).map((l) => /in ([\d.]+)s/.exec(l.msg)?.[1])).toEqual(['0.5', '1', '1.5', '1.5']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

// RabbitMQ 4.3 can delay a quorum queue's returned messages itself (x-delayed-retry-*, a queue argument
// or policy). wq does not use it (docs/reliability.md): its retries are confirmed copies, not returns, so
// the broker's delay never applies to them, and --retry-delay-max doubles where the broker's delay does
// not. On a queue that has it, --retry-delay behaves as everywhere else.
const is43 = /^4\.([3-9]|\d\d)/.test(broker);
describe.runIf(is43)(`--retry-delay on a quorum queue with the broker's own delayed retry (RabbitMQ ${broker})`, () => {
  it('the broker delays a returned message itself; wq\'s retries are copies that wait in its wait queues, doubling, never counted as returns', async () => {
    const delayed = { 'x-queue-type': 'quorum', 'x-delayed-retry-type': 'all', 'x-delayed-retry-min': 1000, 'x-delayed-retry-max': 8000 };
    // The broker's own mechanism, seen by a plain client that returns the message (nack, requeue).
    const plain = await freshQueue('broker-delay', delayed);
    await publish(plain, ['returned']);
    const ch = await (await admin()).createChannel();
    await ch.prefetch(1);
    const seen: number[] = [];
    await new Promise<void>((resolve) => {
      void ch.consume(plain, (m) => {
        if (!m) return;
        seen.push(Date.now());
        if (seen.length < 3) ch.nack(m, false, true);
        else {
          ch.ack(m);
          resolve();
        }
      });
    });
    await ch.close();
    const brokerGaps = seen.slice(1).map((t, i) => t - (seen[i] as number));
    for (const gap of brokerGaps) expect(gap).toBeGreaterThanOrEqual(1000);
    console.log(`RabbitMQ ${broker}'s delayed retry, gaps between deliveries of a returned message: ${brokerGaps.join(', ')} ms`);

    // wq on the same kind of queue: copies, through QUEUE.retry-1s, -2s, -4s.
    const queue = await freshQueue('wq-delay', delayed);
    for (const ms of [1000, 2000, 4000]) forget(waitQueueName(queue, ms));
    await publish(queue, ['flaky']);
    const log = `${tempDir()}/log`;
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.2', '--retry-delay', '1', '--retry-delay-max', '4', '--', 'sh', '-c', WORKER], { env: { LOG: log, PASS_AT: '4' } });
    expect(run.exitCode).toBe(0);
    const starts = lines(log).filter((l) => l[3] === 'start');
    const ends = lines(log).filter((l) => l[3] !== 'start').map((l) => Number(l[0]));
    expect(starts.map((l) => l[2])).toEqual(['1', '2', '3', '4']); // attempts counted by wq, no return counted
    const gaps = starts.slice(1).map((l, i) => Number(l[0]) - (ends[i] as number));
    [1000, 2000, 4000].forEach((min, i) => expect(gaps[i], `gap before attempt ${i + 2}`).toBeGreaterThanOrEqual(min));
    console.log(`wq-consume --retry-delay 1 --retry-delay-max 4 on it, gaps before attempts 2-4: ${gaps.join(', ')} ms`);
    expect(run.logs.filter((l) => /queued for another attempt in/.test(l.msg)).map((l) => /in ([\d.]+)s/.exec(l.msg)?.[1])).toEqual(['1', '2', '4']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(plain)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 60_000);
});

describe(`--dead-letter-on (RabbitMQ ${broker})`, () => {
  it('an exit status in the list dead-letters on the first attempt; wq-consume exits 0; other failures retry', async () => {
    const queue = await freshQueue('dl-on');
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['bad']);
    const log = `${tempDir()}/log`;
    const run = await cli('wq-consume', ['-q', queue, '--dead-letter-on', '3,4', '--', 'sh', '-c', WORKER], { env: { LOG: log } });
    expect(run.exitCode).toBe(0);
    expect(lines(log).map((l) => l.slice(1))).toEqual([['bad', '1', 'start'], ['bad', '1', 'fail']]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(dlq)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    const ch = await (await admin()).createChannel();
    const dead = await ch.get(dlq, { noAck: true });
    await ch.close();
    expect(dead && dead.properties.headers).toMatchObject({ 'x-wq-attempts': 1, 'x-wq-dead-letter-reason': 'exit 3 (--dead-letter-on)', 'x-wq-original-queue': queue });

    await publish(queue, ['flaky']);
    const other = await cli('wq-consume', ['-q', queue, '--dead-letter-on', '3,4', '--', 'sh', '-c', WORKER], { env: { LOG: log, PASS_AT: '2' } });
    expect(other.exitCode).toBe(1);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    expect(await queueState(dlq)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a bad list is a usage error (64), nothing consumed', async () => {
    const queue = await freshQueue('dl-on-bad');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '--dead-letter-on', '3,x', '--', 'true']);
    expect(run.exitCode).toBe(64);
    expect(run.logs.map((l) => l.msg)).toEqual(['--dead-letter-on needs exit statuses from 1 to 255, comma-separated (e.g. 3,4); got "3,x".']);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});
