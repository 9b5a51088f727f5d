import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drainMessages, freshQueue, publish, queueState, uniqueQueue } from '../helpers/broker.js';
import { cli, errors, start, toRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { QUEUE_TYPES, SPAWNS } from '../helpers/matrix.js';
import { waitFor } from '../helpers/wait.js';

// The item as an argument or a file (-I with {} and {file}, --item-file, --no-stdin): on classic and
// quorum queues, both ways of starting a command. Each run gets a TMPDIR of its own, so that the test
// can see wq's body files come and go.

/** A shell command that writes its arguments, NUL-separated, to $OUT/args and its stdin to $OUT/stdin. */
const RECORD_ARGS = ['sh', '-c', 'for a; do printf "%s\\0" "$a"; done > "$OUT/args"; cat > "$OUT/stdin"', 'sh'];
const recordedArgs = (out: string) => readFileSync(join(out, 'args'), 'utf8').split('\0').slice(0, -1);

/** What is left in a run's TMPDIR: wq's directory and the files in it. */
const leftIn = (tmp: string) => readdirSync(tmp, { recursive: true }).map(String);

describe.each(QUEUE_TYPES)('on a %s queue', (_type, queueArgs) => {
  describe.each(SPAWNS)('with %s', (_spawn, spawnEnv) => {
    it('-I puts a text item with spaces, quotes and shell syntax in one argument, wherever {} is, and stdin still gets it', async () => {
      const queue = await freshQueue('item-text', queueArgs);
      const item = `it's "a  b" $HOME \\ ; echo pwned\n`;
      await publish(queue, [item]);
      const out = tempDir();
      const run = await cli('wq-consume', ['-q', queue, '-I', '--', ...RECORD_ARGS, '{}', '--id={}', '{}{}', 'x'], { env: { ...spawnEnv, OUT: out } });
      expect(run.exitCode).toBe(0);
      expect(recordedArgs(out)).toEqual([item, `--id=${item}`, item + item, 'x']);
      expect(readFileSync(join(out, 'stdin'), 'utf8')).toBe(item);
      expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    });

    it('{file} holds a 5 MiB binary body, bytes intact, private to the command, also in WQ_BODY_FILE; removed when the command ends', async () => {
      const queue = await freshQueue('item-file', queueArgs);
      const body = randomBytes(5 * 1024 * 1024);
      await publish(queue, [body]);
      const out = tempDir();
      const tmp = tempDir();
      const script = 'cp "$1" "$OUT/copy"; stat -c %a "$1" > "$OUT/mode"; stat -c %a "$(dirname "$1")" > "$OUT/dirmode"; printf "%s\\0%s" "$1" "$WQ_BODY_FILE" > "$OUT/paths"; wc -c > "$OUT/stdin-bytes"';
      const run = await cli('wq-consume', ['-q', queue, '-I', '--no-stdin', '--', 'sh', '-c', script, 'sh', '{file}'], { env: { ...spawnEnv, OUT: out, TMPDIR: tmp } });
      expect(run.exitCode).toBe(0);
      expect(readFileSync(join(out, 'copy')).equals(body)).toBe(true);
      expect(readFileSync(join(out, 'mode'), 'utf8').trim()).toBe('600');
      expect(readFileSync(join(out, 'dirmode'), 'utf8').trim()).toBe('700');
      const [path, envPath] = readFileSync(join(out, 'paths'), 'utf8').split('\0');
      expect(envPath).toBe(path);
      expect(path?.startsWith(tmp)).toBe(true);
      expect(readFileSync(join(out, 'stdin-bytes'), 'utf8').trim()).toBe('0');
      expect(existsSync(path as string)).toBe(false);
      expect(leftIn(tmp)).toEqual([]);
      expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    });
  });

  it.each([
    ['binary', randomBytes(64).fill(0xff, 0, 1), /not UTF-8 text/],
    ['text with a NUL byte', Buffer.from('a\0b'), /NUL byte/],
    ['text over 65536 bytes', Buffer.alloc(70_000, 'a'), /70000 bytes, over the 65536/],
  ])('-I with {} never runs on a %s body: exit 65 and one clear line, the message retried; dead-lettered (exit 0) with --dead-letter-on 65', async (_what, body, why) => {
    const queue = await freshQueue('item-bad', queueArgs);
    await publish(queue, [body], { messageId: 'bad-1' });
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-I', '--', ...RECORD_ARGS, '{}'], { env: { OUT: out } });
    expect(run.exitCode).toBe(65);
    expect(existsSync(join(out, 'args'))).toBe(false);
    const line = run.logs.find((l) => why.test(l.msg));
    expect(line?.msg).toMatch(/^refused \(status 65\): .*\(pass it as \{file\} or on stdin\) on attempt 1: queued for another attempt$/);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
    const dead = uniqueQueue('item-bad-dead');
    const again = await cli('wq-consume', ['-q', queue, '-I', '--dead-letter-on', '65', '--dead-letter-queue', dead, '--', ...RECORD_ARGS, '{}'], { env: { OUT: out } });
    expect(again.exitCode).toBe(0);
    expect(again.logs.some((l) => /^refused \(status 65\).* on attempt 2: moved to the dead-letter queue$/.test(l.msg))).toBe(true);
    expect(existsSync(join(out, 'args'))).toBe(false);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    const [copy] = await drainMessages(dead);
    expect(copy?.content.equals(body)).toBe(true);
    expect(copy?.properties.messageId).toBe('bad-1');
  });

  // Before, the account counted each refused body as a run of 0 ms: "the command ran 3 times".
  it('a drain where -I refuses two bodies before any start: the account says the command ran once, and where each message went', async () => {
    const queue = await freshQueue('item-bad-count', queueArgs);
    const dead = uniqueQueue('item-bad-count-dead');
    await publish(queue, ['ok', Buffer.from([0xff, 0xfe]), Buffer.from('a\0b')]);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--until-empty', '--idle', '0.5', '--dead-letter-on', '65', '--dead-letter-queue', dead, '-I', '--', ...RECORD_ARGS, '{}'], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(recordedArgs(out)).toEqual(['ok']);
    expect(run.logs.at(-1)?.msg).toMatch(/^run finished in \d+\.\d s: the command ran 1 time \(\d+ ms at p50, \d+ ms at p95, \d+ ms at most\); of the messages, 1 acked, 0 retried, 2 dead-lettered, 0 handed back$/);
    expect(run.logs.at(-1)).toMatchObject({ processed: 1, acked: 1, deadLettered: 2 });
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
    expect((await drainMessages(dead)).length).toBe(2);
  });

  it('a body holding $$, $&, {} and {file} reaches the command as it is: what -I puts in is never replaced again', async () => {
    const queue = await freshQueue('item-dollar', queueArgs);
    const item = 'cost $$5, match $& and $1, see {file} and {}';
    await publish(queue, [item]);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-I', '--', 'sh', '-c', 'printf "%s\\0" "$@" > "$OUT/args"; printf %s "$WQ_BODY_FILE" > "$OUT/path"', 'sh', '{}', '{file}:{}'], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    const path = readFileSync(join(out, 'path'), 'utf8');
    expect(recordedArgs(out)).toEqual([item, `${path}:${item}`]);
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('{} repeated in one argument beyond the kernel\'s 128 KiB for one argument: refused (65) with one line, never an E2BIG start', async () => {
    const queue = await freshQueue('item-e2big', queueArgs);
    await publish(queue, [Buffer.alloc(60_000, 'a')]);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-I', '--', ...RECORD_ARGS, '{}{}{}'], { env: { OUT: out } });
    expect(run.exitCode).toBe(65);
    expect(existsSync(join(out, 'args'))).toBe(false);
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      'refused (status 65): an argument with the body in it would be 180000 bytes, over the 131071 the kernel allows one argument (pass it as {file} or on stdin) on attempt 1: queued for another attempt',
    ]);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it.each(SPAWNS)('{} in 40 arguments, each under 128 KiB but 2.4 MB in all (E2BIG): refused (65) with one line, not a failed command (%s)', async (_spawn, spawnEnv) => {
    const queue = await freshQueue('item-argmax', queueArgs);
    await publish(queue, [Buffer.alloc(60_000, 'a')]);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '-I', '--', ...RECORD_ARGS, ...Array<string>(40).fill('{}')], { env: { ...spawnEnv, OUT: out } });
    expect(run.exitCode).toBe(65);
    expect(existsSync(join(out, 'args'))).toBe(false);
    expect(run.logs.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^refused \(status 65\): its arguments with the body in them \(\{\} with -I\) are 2400\d+ bytes: with the environment, over the kernel's limit for a command line \(E2BIG\) \(pass it as \{file\} or on stdin\) on attempt 1: queued for another attempt$/),
    ]);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('SIGTERM while the command runs on {file}: the body file and wq\'s directory are gone, the message is handed back', async () => {
    const queue = await freshQueue('item-term', queueArgs);
    await publish(queue, [randomBytes(1024)]);
    const out = tempDir();
    const tmp = tempDir();
    const child = start('wq-consume', ['-q', queue, '-I', '--', 'sh', '-c', 'printf %s "$1" > "$OUT/path.tmp"; mv "$OUT/path.tmp" "$OUT/path"; exec sleep 300', 'sh', '{file}'], { env: { OUT: out, TMPDIR: tmp } });
    await waitFor(() => existsSync(join(out, 'path')), 'the command to start');
    const path = readFileSync(join(out, 'path'), 'utf8');
    expect(existsSync(path)).toBe(true);
    child.kill('SIGTERM');
    const run = toRun(await child);
    expect(run.exitCode).toBe(143);
    expect(existsSync(path)).toBe(false);
    expect(leftIn(tmp)).toEqual([]);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a relative TMPDIR: {file} and WQ_BODY_FILE are absolute, so a command that changes directory still reads its item', async () => {
    const queue = await freshQueue('item-reltmp', queueArgs);
    await publish(queue, ['from a relative TMPDIR']);
    const out = tempDir();
    mkdirSync(join(out, 'tmp'));
    const script = 'printf "%s\\0" "$1" "$WQ_BODY_FILE" > "$OUT/args"; cd /; cat "$1" > "$OUT/file"';
    const run = await cli('wq-consume', ['-q', queue, '-I', '--no-stdin', '--', 'sh', '-c', script, 'sh', '{file}'], { env: { OUT: out, TMPDIR: 'tmp' }, cwd: out });
    expect(run.exitCode, run.stderr).toBe(0);
    const [arg, env] = recordedArgs(out);
    expect(arg).toBe(env);
    expect(arg).toMatch(new RegExp(`^${out}/tmp/wq-consume-\\w+/body-1$`));
    expect(readFileSync(join(out, 'file'), 'utf8')).toBe('from a relative TMPDIR');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('without -I a literal {} is an argument like any other; --item-file alone gives WQ_BODY_FILE and keeps stdin', async () => {
    const queue = await freshQueue('item-plain', queueArgs);
    await publish(queue, ['plain']);
    const out = tempDir();
    const run = await cli('wq-consume', ['-q', queue, '--item-file', '--', 'sh', '-c', 'printf "%s\\0" "$@" > "$OUT/args"; cat "$WQ_BODY_FILE" > "$OUT/file"; cat > "$OUT/stdin"', 'sh', '{}', '{file}'], { env: { OUT: out } });
    expect(run.exitCode).toBe(0);
    expect(recordedArgs(out)).toEqual(['{}', '{file}']);
    expect(readFileSync(join(out, 'file'), 'utf8')).toBe('plain');
    expect(readFileSync(join(out, 'stdin'), 'utf8')).toBe('plain');
    expect(await queueState(queue)).toEqual({ ready: 0, unacked: 0, consumers: 0 });
  });
});

describe('checked before any message is taken', () => {
  it('-I with no {} or {file} in the command is a usage error (64), before any message is taken', async () => {
    const queue = await freshQueue('item-usage');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '-I', '--', 'cat']);
    expect(run.exitCode).toBe(64);
    expect(run.stderr).toMatch(/no argument of the command holds \{\} or \{file\}/);
    expect(errors(run).length + run.otherStderr.length).toBeGreaterThan(0);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });

  it('a TMPDIR where no file can be made, with {file}: exit 78, one line, the message untouched', async () => {
    const queue = await freshQueue('item-tmpdir');
    await publish(queue, ['x']);
    const run = await cli('wq-consume', ['-q', queue, '-I', '--', 'cat', '{file}'], { env: { TMPDIR: '/proc/wq-no-such-dir' } });
    expect(run.exitCode).toBe(78);
    expect(errors(run).map((l) => l.msg)).toEqual(['cannot make a directory in /proc/wq-no-such-dir (ENOENT) for the body and output files: set TMPDIR to a writable directory, e.g. an emptyDir.']);
    expect(await queueState(queue)).toEqual({ ready: 1, unacked: 0, consumers: 0 });
  });
});
