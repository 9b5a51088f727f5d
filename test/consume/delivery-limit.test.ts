import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { admin, ctl, forget, freshQueue, publish, queueState, readyCount } from '../helpers/broker.js';
import { cli, FIXTURE, start } from '../helpers/cli.js';
import { recorded, tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

// RabbitMQ 4.x gives quorum queues a delivery limit of 20 by default: a message returned more often is
// dropped (or dead-lettered). wq never lets the broker count up to it: a failure is replaced by a fresh
// confirmed copy, and a copy the broker counted returns of (a crash) is replaced before it runs.
// These run on every test broker (3.10 has no default limit; the counts must be the same there).
const QUORUM = { 'x-queue-type': 'quorum' };
const ROUNDS = 25;

describe(`the delivery limit cannot drop a message (RabbitMQ ${inject('brokerName')})`, () => {
  it.each([
    ['quorum', QUORUM],
    ['classic', {}],
  ])(`${ROUNDS} consecutive failures on a %s queue leave the message in the queue, with the true attempt count`, async (_type, args) => {
    const queue = await freshQueue('limit-fail', args);
    await publish(queue, ['stubborn']);
    for (let i = 0; i < ROUNDS; i++) expect((await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat >/dev/null; exit 3'])).exitCode).toBe(3);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    const out = tempDir();
    const last = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
    expect(last.exitCode).toBe(0);
    expect(recorded(out).map((r) => [r.body.toString(), r.env.WQ_DELIVERY_COUNT])).toEqual([['stubborn', String(ROUNDS + 1)]]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it(`${ROUNDS} SIGKILLs of wq-consume while its command runs leave the message in a quorum queue`, async () => {
    const queue = await freshQueue('limit-kill', QUORUM);
    await publish(queue, ['fragile']);
    const out = tempDir();
    await killWhileRunning(queue, out, ROUNDS, []);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    const rec = tempDir();
    const last = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: rec } });
    expect(last.exitCode).toBe(0);
    expect(recorded(rec).map((r) => [r.body.toString(), r.env.WQ_DELIVERY_COUNT])).toEqual([['fragile', String(ROUNDS + 1)]]);
    // Each killed run was attempt N, N = 1..ROUNDS: the count survived every fresh copy.
    expect(Array.from({ length: ROUNDS }, (_, i) => existsSync(`${out}/run-${i + 1}`))).toEqual(Array(ROUNDS).fill(true));
    expect(last.logs.some((l) => /replaced it with a fresh copy/.test(l.msg))).toBe(true);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  }, 180_000);

  it('with --max-attempts 3, failures end in the dead-letter queue after 3 attempts, SIGKILLs after 5 (returns have a bound of their own, max(N + 1, 5)), with the count', async () => {
    for (const mode of ['fail', 'kill'] as const) {
      const queue = await freshQueue(`limit-dlq-${mode}`, QUORUM);
      const dlq = `${queue}.dead`;
      forget(dlq);
      await publish(queue, [mode]);
      const flags = ['-q', queue, '--max-attempts', '3'];
      if (mode === 'fail') {
        // A one-message pod exits with the command's status while its message is retried, 0 once it is dead-lettered.
        for (const code of [1, 1, 0]) expect((await cli('wq-consume', [...flags, '--', 'false'])).exitCode).toBe(code);
      } else {
        await killWhileRunning(queue, tempDir(), 5, ['--max-attempts', '3']);
        // The next pod finds the message came back without a result a fifth time: it dead-letters it.
        const next = await cli('wq-consume', [...flags, '--', 'true']);
        expect(next.exitCode).toBe(0);
      }
      expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
      expect(await queueState(dlq)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
      const ch = await (await admin()).createChannel();
      const dead = await ch.get(dlq, { noAck: true });
      await ch.close();
      expect(dead && [dead.content.toString(), dead.properties.headers?.['x-wq-attempts']]).toEqual([mode, mode === 'kill' ? 5 : 3]);
    }
  });

  it('--max-attempts 1 and wq-consume killed twice holding two messages (one running, one prefetched): both run again, none is dead-lettered', async () => {
    const queue = await freshQueue('limit-blip', QUORUM);
    const dlq = `${queue}.dead`;
    forget(dlq);
    await publish(queue, ['a', 'b']);
    for (let round = 1; round <= 2; round++) {
      const out = tempDir();
      const child = start('wq-consume', ['-q', queue, '--until-empty', '--max-attempts', '1', '--', FIXTURE('hold.sh')], { env: { OUT: out } });
      await waitFor(() => readdirSync(out).some((f) => readFileSync(join(out, f), 'utf8').trim() !== ''), `a command to start (round ${round})`);
      await waitFor(async () => (await queueState(queue)).unacked === 2, 'both messages in hand');
      child.kill('SIGKILL');
      for (const f of readdirSync(out)) process.kill(Number(readFileSync(join(out, f), 'utf8')), 'SIGKILL');
      await child;
      await waitFor(async () => (await readyCount(queue)) === 2, 'the broker to requeue both');
    }
    const rec = tempDir();
    const next = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--max-attempts', '1', '--', FIXTURE('record.sh')], { env: { OUT: rec } });
    expect(next.exitCode, next.stderr.slice(-1500)).toBe(0);
    // Before: both were dead-lettered after the first kill, "came back without a result after 1 attempts"; b had never run.
    expect(recorded(rec).map((r) => r.body.toString()).sort()).toEqual(['a', 'b']);
    expect(await readyCount(dlq)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // A full queue (max-length, reject-publish) refuses every copy to itself. A returned message ran there
  // before as it is: before, its fresh copy was refused, the message handed back (one more count) and the
  // run ended 69 (a status the Jobs ignore); the nack reached the broker before the basic.cancel, so the
  // message came straight back and was put back with a second nack. Two counts a pod: a quorum queue's
  // delivery limit (20 on RabbitMQ 4.0) dropped it after ten pods.
  it('a returned message whose fresh copy a full quorum queue refuses runs as it is, and a refused retry copy costs one return a pod', async () => {
    const queue = await freshQueue('limit-full', QUORUM);
    await publish(queue, ['victim']);
    await killWhileRunning(queue, tempDir(), 1, []); // one return, which the broker counts
    await publish(queue, ['f1', 'f2']);
    // The queue is full: over its limit with two ready messages while one is in hand, it refuses every copy.
    const policy = `${queue}-full`;
    await ctl(['set_policy', policy, `^${queue}$`, '{"max-length":1,"overflow":"reject-publish"}', '--apply-to', 'queues']);
    try {
      // A command that fails: its retry copy is refused too, so its message goes back.
      for (let i = 0; i < 3; i++) {
        const failing = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat >/dev/null; exit 3']);
        expect(failing.exitCode, failing.stderr.slice(-1500)).toBe(3);
        expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
      }
      // The kill, then one nack for each failing pod, as the broker counts them (4.3 counts no nack).
      expect(await brokerCounts(queue, 3)).toBe(inject('brokerName') === '4.3' ? 1 : 4);
      const out = tempDir();
      const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { OUT: out } });
      expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
      expect(recorded(out)).toHaveLength(1);
      expect(run.logs.some((l) => /running it as it is/.test(l.msg))).toBe(true);
      expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
    } finally {
      await ctl(['clear_policy', policy]);
    }
  });
});

// The sum of the broker's x-delivery-count over the queue's n messages, read with basic.get; the
// channel's close returns them.
async function brokerCounts(queue: string, n: number): Promise<number> {
  const ch = await (await admin()).createChannel();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const got = await ch.get(queue, { noAck: false });
    if (!got) throw new Error(`queue ${queue} holds fewer than ${n} messages`);
    sum += Number(got.properties.headers?.['x-delivery-count'] ?? 0);
  }
  await ch.close();
  await waitFor(async () => (await readyCount(queue)) === n, 'the messages back in the queue');
  return sum;
}

// Start wq-consume, wait until its command runs (attempt N writes run-N with its pid), SIGKILL both:
// what an OOM kill or a lost node does. The broker requeues the message and counts the return.
async function killWhileRunning(queue: string, out: string, rounds: number, extra: string[]): Promise<void> {
  for (let i = 1; i <= rounds; i++) {
    const child = start('wq-consume', ['-q', queue, ...extra, '--', FIXTURE('hold.sh')], { env: { OUT: out } });
    const marker = `${out}/run-${i}`;
    await waitFor(() => existsSync(marker) && readFileSync(marker, 'utf8').trim() !== '', `attempt ${i} to start`);
    child.kill('SIGKILL');
    process.kill(Number(readFileSync(marker, 'utf8')), 'SIGKILL');
    await child;
    await waitFor(async () => (await readyCount(queue)) === 1, 'the broker to requeue the message');
  }
}
