import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signalExitCode } from '../../src/exit-codes.js';
import { describe, expect, it } from 'vitest';
import { freshQueue, publish, queueState } from '../helpers/broker.js';
import { cli, FIXTURE, start, toRun } from '../helpers/cli.js';
import { alive, recorded, tempDir } from '../helpers/files.js';
import { QUEUE_TYPES, SPAWNS } from '../helpers/matrix.js';
import { waitFor } from '../helpers/wait.js';

// The edges of the core where a message was lost or a run crashed (each test failed on the code before
// the fix): a stopped worker that exits 0, headers no environment can carry. Both ways of starting a command, classic and quorum queues.

describe.each(SPAWNS)('with %s', (_spawn, spawnEnv) => {
  // Before, with node:child_process the shell that waits for the command added its own "Terminated" to
  // the command's stderr.
  it('a command that dies by a signal leaves nothing of wq\'s on its stderr: only its own lines and wq\'s log', async () => {
    const queue = await freshQueue('edge-sig-stderr');
    await publish(queue, ['work']);
    const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'echo its-own-line >&2; kill -TERM $$'], { env: spawnEnv });
    expect(run.exitCode).toBe(143);
    expect(run.otherStderr).toEqual(['its-own-line']);
    expect(run.logs.some((l) => /killed by SIGTERM/.test(l.msg))).toBe(true);
    expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
  });

  // Before, with node:child_process an empty or "." PATH entry gave the command's name without a slash, and
  // the shell that starts it ran its own builtin echo: the wrong program ran, and its message was acked.
  it('a command found through an empty PATH entry runs that file, never a shell builtin of the same name', async () => {
    const queue = await freshQueue('edge-builtin');
    await publish(queue, ['work']);
    const dir = tempDir();
    writeFileSync(join(dir, 'echo'), '#!/bin/sh\necho "my own echo: $*"\n', { mode: 0o755 });
    const run = await cli('wq-consume', ['-q', queue, '--', 'echo', 'hi'], { env: { ...spawnEnv, PATH: `:${process.env.PATH}` }, cwd: dir });
    expect(run.exitCode, run.stderr.slice(-1500)).toBe(0);
    expect(run.stdout).toBe('my own echo: hi\n');
    expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
  });

  describe.each(QUEUE_TYPES)('on a %s queue', (_type, queueArgs) => {
    it('SIGTERM to a worker that traps it and exits 0 hands its message back: the work was not done', async () => {
      const queue = await freshQueue('edge-trap', queueArgs);
      await publish(queue, ['work']);
      const dir = tempDir();
      const ready = join(dir, 'ready');
      const worker = join(dir, 'worker.sh');
      writeFileSync(worker, `#!/bin/sh\ntrap "exit 0" TERM\ntouch "${ready}"\nwhile :; do sleep 0.05; done\n`, { mode: 0o755 });
      const child = start('wq-consume', ['-q', queue, '--grace', '5', '--', worker], { env: spawnEnv });
      await waitFor(() => existsSync(ready), 'the worker to start');
      child.kill('SIGTERM');
      const run = toRun(await child);
      expect(run.exitCode).toBe(143);
      expect(run.logs.map((l) => l.msg)).not.toContain('command succeeded: acked');
      expect(run.logs.some((l) => /stopped and exited with status 0: message handed back/.test(l.msg))).toBe(true);
      expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
    });

    it('SIGHUP stops the command and hands its message back, as SIGTERM does (exit 129), leaving nothing running', async () => {
      const queue = await freshQueue('edge-hup', queueArgs);
      await publish(queue, ['work']);
      const pidFile = join(tempDir(), 'pid');
      const child = start('wq-consume', ['-q', queue, '--', 'sh', '-c', `echo $$ > ${pidFile}; exec sleep 300`], { env: spawnEnv });
      await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').length > 0, 'the command to start');
      child.kill('SIGHUP');
      const run = toRun(await child);
      expect(run.exitCode).toBe(129);
      expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
      expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
    });

    // SIGXCPU, SIGXFSZ, SIGTRAP, SIGSYS and SIGABRT ended wq at once (152, 153, 133, 159, 134), the command left running.
    it.each(['SIGUSR2', 'SIGXCPU', 'SIGXFSZ', 'SIGTRAP', 'SIGSYS', 'SIGABRT'] as const)('%s, whose default would end wq at once: the command is stopped with SIGTERM and its message put back (exit 128 + N), nothing left running', async (signal) => {
      const queue = await freshQueue('edge-fatal-signal', queueArgs);
      await publish(queue, ['work']);
      const pidFile = join(tempDir(), 'pid');
      const child = start('wq-consume', ['-q', queue, '--', 'sh', '-c', `trap 'echo term > ${pidFile}.term; exit 1' TERM; echo $$ > ${pidFile}; sleep 300 & wait`], { env: spawnEnv });
      await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').length > 0, 'the command to start');
      child.kill(signal);
      const run = toRun(await child);
      expect(run.exitCode).toBe(signalExitCode(signal));
      expect(readFileSync(`${pidFile}.term`, 'utf8')).toBe('term\n');
      expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
      expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
    });

    it('a worker killed by a real-time signal has failed: its message is not acked (exit 168)', async () => {
      const queue = await freshQueue('edge-rt-signal', queueArgs);
      await publish(queue, ['work']);
      const run = await cli('wq-consume', ['-q', queue, '--', 'sh', '-c', 'cat > /dev/null; kill -40 $$'], { env: spawnEnv });
      expect(run.exitCode).toBe(168);
      expect(run.logs.map((l) => l.msg)).not.toContain('command succeeded: acked');
      expect(await queueState(queue)).toMatchObject({ ready: 1, unacked: 0 });
    });

    it('a 60,000-byte binary header and NUL bytes in a header and the message id: the command runs, with one warning line', async () => {
      const queue = await freshQueue('edge-headers', queueArgs);
      await publish(queue, ['big'], { messageId: 'id\0with-nul', headers: { blob: randomBytes(60_000), 'small-one': 'a\0b', n: 7 } });
      const out = tempDir();
      const run = await cli('wq-consume', ['-q', queue, '--', FIXTURE('record.sh')], { env: { ...spawnEnv, OUT: out } });
      expect(run.exitCode).toBe(0);
      const [got] = recorded(out);
      expect(got?.body.toString()).toBe('big');
      expect(got?.env.WQ_MESSAGE_ID).toBe('id\uFFFDwith-nul');
      expect(got?.env.WQ_HEADERS_TRUNCATED).toBe('blob');
      expect(JSON.parse(got!.env.WQ_HEADERS!)).toEqual({ 'small-one': 'a\0b', n: 7 });
      const warnings = run.logs.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/WQ_MESSAGE_ID held a NUL byte.*WQ_HEADERS was \d+ bytes, over 65536/);
      expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
    });

    it('-j 2: messages no environment could carry run beside ordinary ones; nothing ends in 69 or 70', async () => {
      const queue = await freshQueue('edge-j2', queueArgs);
      await publish(queue, ['a', 'b']);
      await publish(queue, ['c'], { headers: { blob: randomBytes(60_000) } });
      await publish(queue, ['d'], { correlationId: 'x\0y' });
      await publish(queue, ['e']);
      const out = tempDir();
      const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '-j', '2', '--', FIXTURE('record.sh')], { env: { ...spawnEnv, OUT: out } });
      expect(run.exitCode).toBe(0);
      expect(recorded(out).map((r) => r.body.toString()).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(await queueState(queue)).toMatchObject({ ready: 0, unacked: 0 });
    });
  });
});
