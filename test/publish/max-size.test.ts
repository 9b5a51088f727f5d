import { writeFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { freshQueue, queueState } from '../helpers/broker.js';
import { cli, errors } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// max_message_size: 16 MiB by default on RabbitMQ 4.x, 128 MiB on 3.x. wq-publish checks the known
// default before sending, so nothing is half-published: what came before is confirmed, the rest is not sent.
const broker = inject('brokerName');
const is4 = broker.startsWith('4');
const MiB = 1024 * 1024;

describe(`a message above the broker's max_message_size (RabbitMQ ${broker})`, () => {
  it(is4 ? 'is refused before it is sent: exit 65, one line with the size and the limit, the messages before it confirmed' : 'of 17 MiB is within 3.x\'s 128 MiB and is published', async () => {
    const queue = await freshQueue('max-size');
    const file = `${tempDir()}/items.txt`;
    writeFileSync(file, `first\nsecond\n${'x'.repeat(17 * MiB)}\nafter\n`);
    const run = await cli('wq-publish', ['-q', queue, '--file', file, '--no-progress']);
    if (!is4) {
      expect(run.exitCode).toBe(0);
      expect(await queueState(queue)).toEqual({ ready: 4, unacked: 0, consumers: 0 });
      return;
    }
    expect(run.exitCode).toBe(65);
    expect(errors(run)).toHaveLength(1);
    expect(errors(run)[0]?.msg).toMatch(/item 3 \(message id \w+-000003\) is 17825792 bytes, larger than RabbitMQ 4\.\d+\.\d+'s default max_message_size of 16777216 bytes.*2 messages before it were published and confirmed.*the rest of the input was not published\. To resume, run again with the same input and --run-id \w+ --skip 2: items from 3 on are published again/);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  it('exactly 16 MiB passes on every version', async () => {
    const queue = await freshQueue('max-size-ok');
    const file = `${tempDir()}/one.txt`;
    writeFileSync(file, `${'y'.repeat(16 * MiB)}\n`);
    const run = await cli('wq-publish', ['-q', queue, '--file', file, '--no-progress']);
    expect(run.exitCode, run.stderr.slice(0, 500)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});
