import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import amqp from 'amqplib';
import { brokerUrl, queueExists, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';

const run = promisify(execFile);
const broker = inject('brokerName');

async function queueFlags(queue: string): Promise<string[]> {
  const [cmd, ...prefix] = inject('rabbitmqctl');
  const { stdout } = await run(cmd as string, [...prefix, 'list_queues', '-q', '--no-table-headers', 'name', 'durable', 'auto_delete', 'exclusive']);
  const line = stdout.split('\n').find((l) => l.split(/\s+/)[0] === queue);
  return line ? line.trim().split(/\s+/).slice(1) : [];
}

// RabbitMQ 4.x deprecates transient non-exclusive queues and global QoS (4.3 refuses them by default;
// the 4.x test brokers refuse both). wq uses neither.
describe(`no deprecated features (RabbitMQ ${broker})`, () => {
  it('wq-consume --declare and wq-publish create durable, non-exclusive, non-auto-delete queues, and consume with per-consumer QoS', async () => {
    const a = uniqueQueue('declare-consume');
    const b = uniqueQueue('declare-publish');
    expect((await cli('wq-publish', ['-q', b, 'one'])).exitCode).toBe(0);
    const consumed = await cli('wq-consume', ['-q', a, '--declare', '--wait', '0.5', '--', 'true']);
    expect(consumed.exitCode).toBe(75);
    expect(await queueFlags(a)).toEqual(['true', 'false', 'false']);
    expect(await queueFlags(b)).toEqual(['true', 'false', 'false']);
    const drained = await cli('wq-consume', ['-q', b, '--', 'true']);
    expect(drained.exitCode).toBe(0);
    expect(await queueState(a)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect(await queueState(b)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it.runIf(broker.startsWith('4'))('the 4.x test broker does refuse a transient queue (so the test above can fail)', async () => {
    // The broker closes the whole connection (541), so this one is the test's own.
    const conn = await amqp.connect(brokerUrl());
    let closedWith = '';
    conn.on('error', (err: Error) => (closedWith = err.message));
    const ch = await conn.createChannel();
    const name = uniqueQueue('transient');
    await expect(ch.assertQueue(name, { durable: false })).rejects.toThrow();
    await conn.close().catch(() => undefined);
    expect(closedWith).toMatch(/transient_nonexcl_queues. is deprecated/);
    expect(await queueExists(name)).toBe(false);
  });
});
