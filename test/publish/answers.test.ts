import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freshQueue, queueState } from '../helpers/broker.js';
import { cli, errors, start, toRun } from '../helpers/cli.js';
import { startProxy, urlVia } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

// A broker that stops answering outside the confirm window: the queue's check before publishing, the read
// of its depth after. The proxy holds the client's queue.declare (passive, both times) back, so the
// broker never sees it and the socket stays up. Before, each waited until the connection's heartbeat
// gave up (about 90 s), or for ever with --heartbeat 0, and a SIGTERM meanwhile did nothing.
const QUEUE_DECLARE = { classId: 50, methodId: 10 };

describe('a broker that does not answer what wq-publish asks outside its window', () => {
  it('the queue\'s check: exit 69 after --connect-timeout (10 s at the least), one line, nothing published', async () => {
    const queue = await freshQueue('answer-check');
    const proxy = await startProxy({ holdClientFrom: QUEUE_DECLARE });
    const run = await cli('wq-publish', ['--url', urlVia(proxy.port), '--connect-timeout', '1', '--heartbeat', '0', '-q', queue, 'a', 'b']);
    expect(proxy.holding()).toBe(true);
    expect(run.exitCode).toBe(69);
    expect(errors(run).map((l) => l.msg)).toEqual([
      `the broker at amqp://***:***@127.0.0.1:${proxy.port} did not answer the queue's check or declare within 10s (--connect-timeout): a quorum queue without a majority of its nodes running, or a node that does not answer. Nothing was published: run it again once the queue's nodes answer.`,
    ]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('SIGTERM while the queue\'s check waits: the run ends at once (143), nothing published', async () => {
    const queue = await freshQueue('answer-signal');
    const proxy = await startProxy({ holdClientFrom: QUEUE_DECLARE });
    // --connect-timeout 120: only the signal can end it within the test's time.
    const child = start('wq-publish', ['--url', urlVia(proxy.port), '--connect-timeout', '120', '--heartbeat', '0', '-q', queue, 'a', 'b']);
    await waitFor(() => proxy.holding(), 'the queue.declare held back');
    child.kill('SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(143);
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual(['stopped by SIGTERM before publishing began: nothing was published']);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // It waited for the socket's 10 s timeout (this test's time limit is below it).
  it('SIGTERM while connecting to a broker that does not answer: the run ends at once (143), nothing published', { timeout: 8000 }, async () => {
    const queue = await freshQueue('answer-connect');
    const held = new Set<Socket>();
    const silent = createServer((socket) => void held.add(socket.on('error', () => {})));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const child = start('wq-publish', ['--url', urlVia((silent.address() as AddressInfo).port), '--connect-timeout', '120', '-q', queue, 'a', 'b']);
      await waitFor(async () => held.size === 1, 'the connection');
      child.kill('SIGTERM');
      const run = toRun(await child);
      expect(run.exitCode, run.stderr).toBe(143);
      expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual(['stopped by SIGTERM before publishing began: nothing was published']);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('the read of the queue\'s depth after publishing: exit 69 after --connect-timeout, one line saying every message was confirmed', async () => {
    const queue = await freshQueue('answer-depth');
    const proxy = await startProxy({ holdClientFrom: { ...QUEUE_DECLARE, skip: 1 } });
    const run = await cli('wq-publish', ['--url', urlVia(proxy.port), '--connect-timeout', '1', '--heartbeat', '0', '-q', queue, 'a', 'b']);
    expect(proxy.holding()).toBe(true);
    expect(run.exitCode).toBe(69);
    expect(errors(run).map((l) => l.msg)).toEqual([
      `the broker at amqp://***:***@127.0.0.1:${proxy.port} did not answer the read of the queue's depth within 10s (--connect-timeout): a quorum queue without a majority of its nodes running, or a node that does not answer. 2 of 2 messages were published and confirmed to queue "${queue}".`,
    ]);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  // Before, a SIGTERM while the depth was read cut it after 2 s and read as a lost connection (69), and
  // a SIGTERM during the close waited --connect-timeout (here 120 s), then exit 0.
  it.each([
    ['the read of the queue\'s depth', { ...QUEUE_DECLARE, skip: 1 }],
    ['the close', { classId: 20, methodId: 40, skip: 1 }], // channel.close: the depth's channel, then the publisher's
  ])('SIGTERM while %s waits: 143 within seconds, no error line, every message in the queue', async (_what, held) => {
    const queue = await freshQueue('answer-late-signal');
    const proxy = await startProxy({ holdClientFrom: held });
    const child = start('wq-publish', ['--url', urlVia(proxy.port), '--connect-timeout', '120', '--heartbeat', '0', '-q', queue, 'a', 'b', 'c']);
    await waitFor(() => proxy.holding(), 'the request held back');
    child.kill('SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode, run.stderr).toBe(143);
    expect(errors(run)).toEqual([]);
    expect(run.logs.find((l) => /^published 3 messages to /.test(l.msg))).toMatchObject({ published: 3, unconfirmed: 0 });
    expect(await queueState(queue)).toEqual({ ready: 3, unacked: 0, consumers: 0 });
  });
});
