import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { brokerUrl, freshQueue, queueState } from '../helpers/broker.js';
import { cli, DIST, errors, NODE, toRun } from '../helpers/cli.js';
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
    expect(errors(run)[0]?.msg).toMatch(/item 3 \(message id \w+-000003\) is over \d+ bytes, larger than RabbitMQ 4\.\d+\.\d+'s default max_message_size of 16777216 bytes.*2 messages before it were published and confirmed.*the rest of the input was not published\. To go on without it, run again with the same input and --run-id \w+ --skip 3: the items after it are published, with the same message ids; publish item 3, split into smaller items, in a run of its own\.$/);
    expect(await queueState(queue)).toEqual({ ready: 2, unacked: 0, consumers: 0 });
  });

  // The reader kept every byte of a line until its end: --file /dev/zero grew past 2 GB, and a pod was
  // OOM-killed (137) where 65 was due. Now it stops at the limit, the input still open.
  it('a line that does not end: refused (65) once it passes the limit, with bounded memory, the input still open', async () => {
    const queue = await freshQueue('max-size-endless');
    const child = spawn(NODE, [DIST('wq-publish'), '-q', queue, '--no-progress'], { env: { ...process.env, BROKER_URL: brokerUrl(), QUEUE: undefined }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.stdin.on('error', () => {});
    const ended = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let exited = false;
    void ended.then(() => (exited = true));
    child.stdin.write('first\n');
    const chunk = Buffer.alloc(MiB, 'z');
    // Up to twice the limit, never the end of the line nor of the input.
    for (let sent = 0; !exited && !child.stdin.destroyed && sent < (is4 ? 32 : 256); sent++) if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r).once('close', r));
    const code = await Promise.race([ended, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    child.stdin.destroy();
    child.kill('SIGKILL');
    expect(code, stderr.slice(-500)).toBe(65);
    const run = toRun({ exitCode: 65, stdout, stderr });
    expect(errors(run)[0]?.msg).toMatch(new RegExp(`item 2 \\(message id \\w+-000002\\) is over \\d+ bytes, larger than RabbitMQ [\\d.]+'s default max_message_size of ${is4 ? 16 * MiB : 128 * MiB} bytes.*1 message before it was published and confirmed`));
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it.runIf(is4)('a line over the limit that --skip passes over is read past, not kept, and the run goes on', async () => {
    const queue = await freshQueue('max-size-skip');
    const file = `${tempDir()}/items.txt`;
    writeFileSync(file, `first\nsecond\n${'x'.repeat(17 * MiB)}\r\nafter\n`);
    const run = await cli('wq-publish', ['-q', queue, '--file', file, '--run-id', 'big', '--skip', '3', '--no-progress']);
    expect(run.exitCode, run.stderr.slice(0, 500)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
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
