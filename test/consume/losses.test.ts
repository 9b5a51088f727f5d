import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admin, brokerUrl, forget, freshQueue, publish, queueState, readyCount } from '../helpers/broker.js';
import { start, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { QUEUE_TYPES } from '../helpers/matrix.js';
import { startProxy, urlVia } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

// A connection that goes, or a delivery that comes, at the edges of a run: after a failure has ended it,
// during its setup (a lost connection, a signal), and while it cancels its consumer. Each test failed on the code before its fix.

const CHANNEL_CLOSE = { classId: 20, methodId: 40 };
const BASIC_CANCEL = { classId: 60, methodId: 30 };
const BASIC_CONSUME = { classId: 60, methodId: 20 };

describe.each(QUEUE_TYPES)('on a %s queue', (_type, queueArgs) => {
  it('a connection lost after a failure has ended the run: the exit status is the failure\'s, and no other session takes work', async () => {
    const queue = await freshQueue('lost-after-failure', queueArgs);
    await publish(queue, ['fail', 'slow']);
    const proxy = await startProxy();
    const dir = tempDir();
    // "fail" exits 3 at once; "slow" runs until it is stopped. Either succeeds if it ever runs again.
    const script = `b=$(cat); [ -e ${dir}/$b ] && exit 0; touch ${dir}/$b; [ "$b" = fail ] && exit 3; sleep 30`;
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '-c', '2', '-j', '2', '--grace', '1', '--', 'sh', '-c', script]);
    // The failure's retry copy is confirmed and its original acked (ready 1, unacked 1) while "slow" runs.
    await waitFor(async () => {
      if (!existsSync(`${dir}/slow`)) return false;
      const { ready, unacked } = await queueState(queue);
      return ready === 1 && unacked === 1;
    }, 'the failure to be settled while the other command runs');
    proxy.cutAll();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(3); // it was 0: the run reconnected, ran "slow" again and acked it
    expect(run.logs.map((l) => l.msg)).not.toContain('command succeeded: acked');
    await waitFor(async () => (await readyCount(queue)) === 2, 'the broker to requeue "slow"');
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  it('a connection lost while the setup closes a channel: the run goes on at the next address, never exit 70', async () => {
    const queue = await freshQueue('lost-in-setup', queueArgs);
    const dlq = `${queue}.dead`;
    forget(dlq);
    const ch = await (await admin()).createChannel();
    await ch.assertQueue(dlq, { durable: true });
    await ch.close();
    await publish(queue, ['item']);
    // With --max-attempts the setup looks for the dead-letter queue on a channel of its own, then closes
    // it: the proxy holds that channel.close back, and the connection is cut while the close waits.
    const proxy = await startProxy({ holdClientFrom: CHANNEL_CLOSE });
    const child = start('wq-consume', ['--url', `${urlVia(proxy.port)},${brokerUrl()}`, '-q', queue, '--max-attempts', '3', '--', 'cat']);
    await waitFor(() => proxy.holding(), 'the setup to close its channel');
    proxy.cutAll();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(0); // it was 70: the setup waited for a close-ok that could never come
    expect(run.stdout).toBe('item');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(dlq)).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('a signal during the setup stops the session before it runs anything: the message stays, and no attempt is spent', async () => {
    const queue = await freshQueue('signal-in-setup', queueArgs);
    await publish(queue, ['m']);
    const dir = tempDir();
    // The proxy holds back basic.consume (and what follows it): the setup waits for its consume-ok when
    // the signal comes, and the broker delivers the message once the proxy lets it through.
    const proxy = await startProxy({ holdClientFrom: BASIC_CONSUME });
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--', 'sh', '-c', `touch ${dir}/started; cat`]);
    await waitFor(() => proxy.holding(), 'the setup to send basic.consume');
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.kill('SIGTERM');
    // Handled: said at once since the fix. The code before it said nothing until the setup was done, so
    // the test goes on after 2 s without it (and then sees the command start).
    await waitFor(() => /received SIGTERM/.test(stderr), 'the signal to be handled', 2000).catch(() => undefined);
    // The consume-ok and the delivery then reach wq-consume in one read (a quorum queue delivers a Raft
    // round after the consume-ok), as they can on any queue: before the setup's last step has run.
    proxy.pause();
    proxy.release();
    await waitFor(async () => (await readyCount(queue)) === 0, 'the broker to deliver it');
    proxy.resume();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(143);
    expect(existsSync(join(dir, 'started'))).toBe(false); // it started, and was stopped at once
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    // Put back as a fresh copy, not requeued: its next run is its first attempt.
    const next = toRun(await start('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat >/dev/null; echo "$WQ_DELIVERY_COUNT $WQ_REDELIVERED"']));
    expect(next.stdout).toBe('1 false\n');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a delivery that races the drain\'s basic.cancel is put back as a fresh copy: its first run is attempt 1', async () => {
    const queue = await freshQueue('cancel-race', queueArgs);
    const dir = tempDir();
    // The proxy holds back the drain's basic.cancel (and what follows it), so the broker goes on
    // delivering to this consumer: a message published now reaches wq-consume while it cancels.
    const proxy = await startProxy({ holdClientFrom: BASIC_CANCEL });
    const child = start('wq-consume', ['--url', urlVia(proxy.port), '-q', queue, '--until-empty', '--idle', '0.3', '--', 'sh', '-c', `cat >> ${dir}/bodies; echo " $WQ_DELIVERY_COUNT" >> ${dir}/bodies`]);
    await waitFor(() => proxy.holding(), 'the drain to cancel its consumer');
    await publish(queue, ['late']);
    await waitFor(async () => (await readyCount(queue)) === 0, 'the broker to deliver it'); // confirmed, then no longer ready
    proxy.release();
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(readFileSync(join(dir, 'bodies'), 'utf8')).toBe('late 1\n'); // it was "late 2": the nack counted an attempt
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});
