import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { freshQueue, publish, queueState } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// RabbitMQ 4.3 enforces a delivery acknowledgement timeout per quorum queue and per consumer: with
// --timeout, wq-consume sets its consumer's own (x-consumer-timeout) above --timeout + --grace, so the
// broker never takes back a message wq may still run. The broker checks about once a minute, so the
// command runs 95 s against a queue timeout of 30 s: a check falls in between whatever its phase.
// In the faults group: it is long, and runs beside the other brokers' faults.
const is43 = inject('brokerName') === '4.3';

it.runIf(is43)('a command running past its quorum queue\'s consumer timeout, with --timeout above it, runs to its end and is acked once', async () => {
  const queue = await freshQueue('consumer-timeout', { 'x-queue-type': 'quorum', 'x-consumer-timeout': 30_000 });
  await publish(queue, ['long']);
  const out = tempDir();
  const started = Date.now();
  const run = await cli('wq-consume', ['-q', queue, '--timeout', '120', '--grace', '1', '--', 'sh', '-c', `cat >> ${join(out, 'runs')}; echo >> ${join(out, 'runs')}; sleep 95`]);
  expect(run.exitCode, run.stderr).toBe(0);
  expect(Date.now() - started).toBeGreaterThan(95_000);
  expect(readFileSync(join(out, 'runs'), 'utf8')).toBe('long\n');
  expect(run.logs.some((l) => /acked/.test(l.msg))).toBe(true);
  expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
}, 180_000);

it('with --timeout on a classic queue (which refuses x-consumer-timeout on 4.3): the message is run and acked', async () => {
  const queue = await freshQueue('consumer-timeout-classic');
  await publish(queue, ['short']);
  const run = await cli('wq-consume', ['-q', queue, '--timeout', '10', '--', 'cat']);
  expect(run.exitCode, run.stderr).toBe(0);
  expect(run.stdout).toBe('short');
  expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
});
