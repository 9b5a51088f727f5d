import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, inject, it } from 'vitest';
import { freshQueue, publish, queueState } from '../helpers/broker.js';
import { cli, errors } from '../helpers/cli.js';

const run = promisify(execFile);

// The broker's delivery acknowledgement timeout (consumer_timeout) closing the channel under a long
// command. RabbitMQ checks it on a 60 s tick, so this test takes about a minute; it changes a
// broker-wide setting for new channels, so it runs in the faults group, alone, and restores it.
it('a command outliving consumer_timeout: one line that says how to raise it, the message back, exit 69', async () => {
  const [cmd, ...prefix] = inject('rabbitmqctl');
  const ctl = (expr: string) => run(cmd as string, [...prefix, 'eval', expr]);
  const before = (await ctl('application:get_env(rabbit, consumer_timeout).')).stdout.trim();
  // A quorum queue: on RabbitMQ 4.3 the timeout applies to quorum queues only, and cancels the consumer
  // (basic.cancel) instead of closing the channel.
  const queue = await freshQueue('ack-timeout', { 'x-queue-type': 'quorum' });
  await publish(queue, ['slow']);
  await ctl('application:set_env(rabbit, consumer_timeout, 1000).');
  let result;
  try {
    const pending = cli('wq-consume', ['-q', queue, '--grace', '1', '--', 'sleep', '600']);
    // The channel reads the setting when it opens; restore it for everyone else once ours is open.
    await new Promise((r) => setTimeout(r, 1500));
    await restore();
    result = await pending;
  } finally {
    await restore();
  }
  expect(result.exitCode).toBe(69);
  expect(errors(result)).toHaveLength(1);
  expect(errors(result)[0]?.msg).toMatch(/delivery acknowledgement timeout.*Raise consumer_timeout/);
  expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });

  async function restore() {
    const m = /\{ok,(\d+)\}/.exec(before);
    if (m) await ctl(`application:set_env(rabbit, consumer_timeout, ${m[1]}).`);
    else await ctl('application:unset_env(rabbit, consumer_timeout).');
  }
}, 150_000);
