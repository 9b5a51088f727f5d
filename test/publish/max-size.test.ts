import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { describe, expect, inject, it } from 'vitest';
import { brokerUrl, freshQueue, queueState } from '../helpers/broker.js';
import { cli, DIST, errors, NODE, toRun, type CliRun } from '../helpers/cli.js';
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
    const { code, run } = await feedUntilExit(['-q', queue, '--no-progress'], (child) => child.stdin!, 'first\n');
    expect(code, run.stderr.slice(-500)).toBe(65);
    expect(errors(run)[0]?.msg).toMatch(new RegExp(`item 2 \\(message id \\w+-000002\\) is over \\d+ bytes, larger than RabbitMQ [\\d.]+'s default max_message_size of ${is4 ? 16 * MiB : 128 * MiB} bytes.*1 message before it was published and confirmed`));
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  // A --body-file that is a pipe (a shell's <(...)) was read whole, whatever its size; a regular file is
  // refused from its size.
  it('a --body-file that is a pipe: refused (65) once it passes the limit, the pipe still open', async () => {
    const queue = await freshQueue('max-size-pipe');
    const over = (is4 ? 16 : 128) * MiB + MiB;
    // The pipe's writer stays for 30 s after the bytes: only the limit ends the read within the 15 s below.
    const script = `exec "$0" "$1" -q "$2" --no-progress --body-file <(head -c ${over} /dev/zero; exec sleep 30)`;
    const child = spawn('bash', ['-c', script, NODE, DIST('wq-publish'), queue], { env: { ...process.env, BROKER_URL: brokerUrl(), QUEUE: undefined }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (b) => (stderr += b));
    const code = await Promise.race([new Promise((resolve) => child.on('exit', resolve)), new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    process.kill(-child.pid!, 'SIGKILL'); // the writer's sleep, and wq-publish if it still runs
    expect(code, stderr.slice(-500)).toBe(65);
    expect(errors(toRun({ exitCode: 65, stdout: '', stderr }))[0]?.msg).toMatch(/item 1 \(message id \w+-000001\) is over \d+ bytes, larger than/);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it.runIf(is4)('a line over the limit that --skip passes over is read past, not kept, and the run goes on', async () => {
    const queue = await freshQueue('max-size-skip');
    const file = `${tempDir()}/items.txt`;
    // Small lines after it, some across the reader's chunks: the skipped line's size was still counted
    // there, and a 6-byte line was refused as too large.
    const after = Array.from({ length: 60_000 }, (_, i) => `after-${i}\n`).join('');
    writeFileSync(file, `first\nsecond\n${'x'.repeat(17 * MiB)}\r\n${after}`);
    const run = await cli('wq-publish', ['-q', queue, '--file', file, '--run-id', 'big', '--skip', '3', '--no-progress']);
    expect(run.exitCode, run.stderr.slice(0, 500)).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 60_000, unacked: 0, consumers: 0 });
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

// Start wq-publish and write to its input (`input(child)`: its stdin, or a pipe it reads) a MiB at a time,
// up to twice the limit, never an end, until it exits; then how it exited, within 15 s.
async function feedUntilExit(args: string[], input: (child: ChildProcess) => Writable, first = ''): Promise<{ code: unknown; run: CliRun }> {
  const child = spawn(NODE, [DIST('wq-publish'), ...args], { env: { ...process.env, BROKER_URL: brokerUrl(), QUEUE: undefined }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => (stdout += b));
  child.stderr!.on('data', (b) => (stderr += b));
  const ended = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let exited = false;
  void ended.then(() => (exited = true));
  const sink = input(child);
  sink.on('error', () => {});
  sink.write(first);
  const chunk = Buffer.alloc(MiB, 'z');
  for (let sent = 0; !exited && !sink.destroyed && sent < (is4 ? 32 : 256); sent++) if (!sink.write(chunk)) await new Promise((r) => sink.once('drain', r).once('close', r));
  const code = await Promise.race([ended, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
  sink.destroy();
  child.kill('SIGKILL');
  return { code, run: toRun({ exitCode: typeof code === 'number' ? code : undefined, stdout, stderr }) };
}
