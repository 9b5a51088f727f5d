import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consumerCount, freshQueue, publish, queueState } from '../helpers/broker.js';
import { cli, start, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

// The command reports whether the file exists while it runs (what a readinessProbe `test -f` sees).
const PROBE = ['sh', '-c', 'cat >/dev/null; if test -f "$ACQ"; then echo present >> "$OUT"; else echo absent >> "$OUT"; fi; exit "${RC:-0}"'];

describe('--acquired-file exists only while a message is held', () => {
  it('exists while the command runs on the message, and is gone after the ack', async () => {
    const queue = await freshQueue('acq');
    await publish(queue, ['one', 'two']);
    const dir = tempDir();
    const acq = join(dir, 'acquired');
    const out = join(dir, 'out');
    const run = await cli('wq-consume', ['-q', queue, '--acquired-file', acq, '--', ...PROBE], { env: { ACQ: acq, OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('present\n');
    expect(existsSync(acq)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('is removed when the command fails, and the message goes back', async () => {
    const queue = await freshQueue('acq-fail');
    await publish(queue, ['x']);
    const dir = tempDir();
    const acq = join(dir, 'acquired');
    const out = join(dir, 'out');
    const run = await cli('wq-consume', ['-q', queue, '--acquired-file', acq, '--', ...PROBE], { env: { ACQ: acq, OUT: out, RC: '3' } });
    expect(run.exitCode).toBe(3);
    expect(readFileSync(out, 'utf8')).toBe('present\n');
    expect(existsSync(acq)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('with --until-empty, exists while each message runs and is gone at the end', async () => {
    const queue = await freshQueue('acq-drain');
    await publish(queue, ['a', 'b', 'c']);
    const dir = tempDir();
    const acq = join(dir, 'acquired');
    const out = join(dir, 'out');
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--acquired-file', acq, '--', ...PROBE], { env: { ACQ: acq, OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('present\npresent\npresent\n');
    expect(existsSync(acq)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a KEDA-started pod that finds nothing: no file while it waits, exit 0 within its --idle', async () => {
    const queue = await freshQueue('acq-idle');
    const dir = tempDir();
    const acq = join(dir, 'acquired');
    const out = join(dir, 'out');
    const proc = start('wq-consume', ['-q', queue, '-c', '1', '--until-empty', '--idle', '3', '--acquired-file', acq, '--', ...PROBE], { env: { ACQ: acq, OUT: out } });
    // Subscribed and waiting on the empty queue: the pod would not be Ready.
    await waitFor(async () => (await consumerCount(queue)) === 1, 'the consumer');
    expect(existsSync(acq)).toBe(false);
    const run = toRun(await proc);
    expect(run.exitCode).toBe(0);
    // It ended by the --idle rule (a pod waiting forever, as amqp-consume does, would run into the test's
    // timeout), not by a clock: a busy machine may stretch the 3 s.
    expect(run.logs.find((l) => /drain finished/.test(String(l.msg)))).toMatchObject({ queue, processed: 0, idleSeconds: 3 });
    expect(existsSync(out)).toBe(false);
    expect(existsSync(acq)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  // It emptied and removed whatever was at the path, even on a run that took no message.
  it('a file there that wq did not write: exit 78, the file untouched; one it wrote (a dead container\'s) is removed', async () => {
    const queue = await freshQueue('acq-other');
    await publish(queue, ['kept']);
    const dir = tempDir();
    const other = join(dir, 'important');
    writeFileSync(other, 'keep me\n');
    const run = await cli('wq-consume', ['-q', queue, '--acquired-file', other, '--', 'true']);
    expect(run.exitCode).toBe(78);
    expect(run.stderr).toContain(`--acquired-file ${other} is a file wq did not write`);
    expect(readFileSync(other, 'utf8')).toBe('keep me\n');
    const notFile = join(dir, 'a-dir');
    mkdirSync(notFile);
    expect((await cli('wq-consume', ['-q', queue, '--acquired-file', notFile, '--', 'true'])).stderr).toContain('is not a regular file');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    // Left by a container that was killed while its command ran: the next one in the pod starts as usual.
    const stale = join(dir, 'acquired');
    writeFileSync(stale, '12345\n');
    const out = join(dir, 'out');
    const again = await cli('wq-consume', ['-q', queue, '--acquired-file', stale, '--', ...PROBE], { env: { ACQ: stale, OUT: out } });
    expect(again.exitCode).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('present\n');
    expect(existsSync(stale)).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('a directory it cannot write: exit 78 before any message is taken', async () => {
    const queue = await freshQueue('acq-bad');
    await publish(queue, ['kept']);
    const acq = join(tempDir(), 'no-such-dir', 'acquired');
    const run = await cli('wq-consume', ['-q', queue, '--acquired-file', acq, '--', 'true']);
    expect(run.exitCode).toBe(78);
    expect(run.stderr).toContain('cannot write --acquired-file');
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});
