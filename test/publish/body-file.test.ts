import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshQueue, drainMessages, queueExists, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// wq-publish --body-file: a whole file (or stdin) as one message, bytes intact; several files, a message each.
describe('wq-publish --body-file', () => {
  it('publishes each file whole, in order, binary and text with newlines alike; "-" is stdin', async () => {
    const queue = uniqueQueue('bodyfile');
    const dir = tempDir();
    const binary = randomBytes(3 * 1024 * 1024);
    const text = 'line one\nline two\n\n';
    const fromStdin = Buffer.concat([randomBytes(1000), Buffer.from([0, 0xff, 0x0a])]);
    writeFileSync(join(dir, 'a.bin'), binary);
    writeFileSync(join(dir, 'b.txt'), text);
    writeFileSync(join(dir, 'empty'), '');
    const run = await cli('wq-publish', ['-q', queue, '--body-file', join(dir, 'a.bin'), '--body-file', join(dir, 'b.txt'), '--body-file', '-', '--body-file', join(dir, 'empty')], { input: fromStdin });
    expect(run.exitCode).toBe(0);
    expect(await queueState(queue)).toEqual({ ready: 4, unacked: 0, consumers: 0 });
    const got = await drainMessages(queue);
    expect(got.map((m) => m.content.length)).toEqual([binary.length, text.length, fromStdin.length, 0]);
    expect(got[0]?.content.equals(binary)).toBe(true);
    expect(got[1]?.content.toString()).toBe(text);
    expect(got[2]?.content.equals(fromStdin)).toBe(true);
    expect(got.map((m) => m.properties.deliveryMode)).toEqual([2, 2, 2, 2]);
  });

  it('a path that cannot be read fails before connecting: exit 64, one line, no queue declared', async () => {
    const queue = uniqueQueue('bodyfile-missing');
    const dir = tempDir();
    writeFileSync(join(dir, 'ok'), 'ok');
    const run = await cli('wq-publish', ['-q', queue, '--body-file', join(dir, 'ok'), '--body-file', join(dir, 'missing')]);
    expect(run.exitCode).toBe(64);
    expect(run.stderr).toContain(`cannot read --body-file ${join(dir, 'missing')}: ENOENT. Check the path and its permissions.`);
    expect(await queueExists(queue)).toBe(false);
  });

  it('a file that fails while it is read (EIO), after one published: exit 64, and the line says where to resume', async () => {
    const queue = await freshQueue('bodyfile-eio');
    const dir = tempDir();
    writeFileSync(join(dir, 'ok'), 'first');
    // /proc/self/mem passes the check before connecting, and its read fails with EIO.
    const run = await cli('wq-publish', ['-q', queue, '--run-id', 'eio', '--body-file', join(dir, 'ok'), '--body-file', '/proc/self/mem']);
    expect(run.exitCode, run.stderr).toBe(64);
    // It said how many were published, and not where to resume.
    expect(run.logs.at(-1)?.msg).toMatch(/^reading the input failed \(.*\) after 1 message was published and confirmed to queue "[^"]+"\. The rest of the input was not published\. To resume, run again with the same input and --run-id eio --skip 1: items from 2 on are published again, with the same message ids\.$/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('is one way to give the messages: with items or --file it is a usage error (64)', async () => {
    const queue = uniqueQueue('bodyfile-usage');
    const dir = tempDir();
    writeFileSync(join(dir, 'ok'), 'ok');
    const run = await cli('wq-publish', ['-q', queue, '--body-file', join(dir, 'ok'), 'item']);
    expect(run.exitCode).toBe(64);
    expect(run.stderr).toContain('give the messages one way: items or --body-file, not both.');
    const twice = await cli('wq-publish', ['-q', queue, '--body-file', '-', '--body-file', '-']);
    expect(twice.exitCode).toBe(64);
    expect(twice.stderr).toContain('--body-file - (stdin) can be given once.');
    expect(await queueExists(queue)).toBe(false);
  });
});
