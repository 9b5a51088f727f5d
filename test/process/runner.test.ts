import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNativeSpawn, type NativeSpawn } from '../../src/process/native-spawn.js';
import { exitStatusOf, succeeded } from '../../src/process/outcome.js';
import { Environment } from '../../src/process/environment.js';
import { runCommand, type RunOptions } from '../../src/process/runner.js';
import { alive, tempDir } from '../helpers/files.js';
import { waitFor } from '../helpers/wait.js';

// The runner's contract, for both ways of starting the command: the posix_spawn addon that `npm run build`
// compiles into dist/ and node:child_process, which wq falls back to. Real processes, no broker.
const ADDON = join(import.meta.dirname, '../../dist/wq-spawn.node');
const haveCompiler = ['cc', 'gcc', 'clang'].some((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);

describe('the native spawn addon', () => {
  it.runIf(process.platform === 'linux' && haveCompiler)('is built by npm run build and loads here', () => {
    expect(existsSync(ADDON)).toBe(true);
    const loaded = loadNativeSpawn(ADDON);
    expect(typeof loaded, typeof loaded === 'string' ? loaded : '').toBe('object');
  });

  it('reports why it cannot be used instead of throwing', () => {
    expect(loadNativeSpawn(join(tempDir(), 'missing.node'))).toMatch(/not built|Cannot find/);
  });
});

const native = loadNativeSpawn(ADDON);
const backends: Array<[string, NativeSpawn | undefined]> = [['node:child_process', undefined]];
if (typeof native !== 'string') backends.unshift(['native posix_spawn', native]);

/** A command with an empty body, the PATH only, no timeout; `extra` overrides. */
const options = (command: string, args: string[], addon: NativeSpawn | undefined, extra: Partial<RunOptions> = {}): RunOptions => ({
  command,
  file: command.includes('/') ? command : `/bin/${command}`,
  args,
  body: Buffer.alloc(0),
  env: Environment.of({ PATH: process.env.PATH }),
  timeoutMs: 0,
  graceMs: 5000,
  native: addon,
  ...extra,
});

describe.each(backends)('runCommand with %s', (_name, addon) => {
  const run = (command: string, args: string[], extra: Partial<RunOptions> = {}) => runCommand(options(command, args, addon, extra));

  it.each([
    ['a small binary body', 200],
    ['a 1 MB body, larger than the pipe', 1024 * 1024],
  ])('writes %s to stdin, byte for byte, then EOF', async (_what, size) => {
    const out = join(tempDir(), 'body');
    const body = randomBytes(size);
    const outcome = await run('sh', ['-c', 'cat > "$OUT"'], { body, env: Environment.of({ PATH: process.env.PATH, OUT: out }) }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(readFileSync(out).equals(body)).toBe(true);
  });

  it('reports the exit status, and a death by signal by name', async () => {
    expect(await run('sh', ['-c', 'exit 7']).done).toMatchObject({ kind: 'exited', exitCode: 7, timedOut: false, stopped: false });
    expect(await run('sh', ['-c', 'kill -USR1 $$']).done).toMatchObject({ kind: 'signaled', signal: 'SIGUSR1' });
    // The first name of signal 6, on both paths (the addon said SIGIOT, its alias).
    expect(await run('sh', ['-c', 'kill -ABRT $$']).done).toMatchObject({ kind: 'signaled', signal: 'SIGABRT' });
  });

  it('a death by a real-time signal is a failure with status 128 + N, never an exit 0 (node:child_process has no name for it)', async () => {
    const outcome = await run('sh', ['-c', 'kill -40 $$']).done;
    expect(succeeded(outcome)).toBe(false);
    expect(exitStatusOf(outcome)).toBe(168);
  });

  it('a command that exits 143 itself is a failure with status 143 on both paths', async () => {
    const outcome = await run('sh', ['-c', 'exit 143']).done;
    expect(succeeded(outcome)).toBe(false);
    expect(exitStatusOf(outcome)).toBe(143);
  });

  it('a command that ignores a 1 MB stdin and exits 0 is a success, not an EPIPE', async () => {
    const outcome = await run('true', [], { body: randomBytes(1024 * 1024) }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
  });

  it('passes exactly the given environment', async () => {
    const out = join(tempDir(), 'env');
    await run('sh', ['-c', 'env > "$OUT"'], { env: Environment.of({ PATH: process.env.PATH, OUT: out, WQ_MESSAGE_ID: 'id-1' }) }).done;
    const env = readFileSync(out, 'utf8');
    expect(env).toContain('WQ_MESSAGE_ID=id-1\n');
    expect(env).not.toMatch(/^HOME=/m);
  });

  it('starts it as a session leader with no terminal (its own process group), no signal ignored or blocked (Node ignores SIGPIPE)', async () => {
    const out = join(tempDir(), 'status');
    // Fields 5-7 of /proc/PID/stat: process group, session, controlling terminal (0: none, so it can
    // never be stopped by SIGTTOU at a terminal with `stty tostop`). exec: grep reports the shell's signal state.
    const running = run('sh', ['-c', 'cut -d" " -f5-7 /proc/$$/stat > "$OUT"; exec grep -E "^Sig(Ign|Blk)" /proc/self/status >> "$OUT"'], {
      env: Environment.of({ PATH: process.env.PATH, OUT: out }),
    });
    expect(await running.done).toMatchObject({ kind: 'exited', exitCode: 0 });
    const [ids, ...sig] = readFileSync(out, 'utf8').trim().split('\n');
    expect(ids).toBe(`${running.pid} ${running.pid} 0`);
    expect(sig).toEqual(['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']);
  });

  it.each([
    ['a NUL byte in an environment string', { env: Environment.of({ PATH: process.env.PATH, WQ_MESSAGE_ID: 'a\0b' }) }, 'EINVAL|ERR_INVALID_ARG_VALUE'],
    ['an environment string over 128 KiB', { env: Environment.of({ PATH: process.env.PATH, WQ_HEADERS: 'x'.repeat(200_000) }) }, 'E2BIG'],
  ])('%s is a failed start, never a throw', async (_what, extra, code) => {
    const running = run('true', [], extra);
    const outcome = await running.done;
    expect(outcome).toMatchObject({ kind: 'start-failed', transient: false });
    expect(outcome.kind === 'start-failed' && outcome.error.code).toMatch(new RegExp(`^(${code})$`));
    expect(running.pid).toBeUndefined();
  });

  it('a missing executable is a start failure with ENOENT, not an exit status', async () => {
    const missing = join(tempDir(), 'missing');
    expect(await run(missing, []).done).toMatchObject({ kind: 'start-failed', transient: false, error: { code: 'ENOENT' } });
  });

  it('a command that exits 0 after wq stopped it is reported as stopped (its message must go back)', async () => {
    const ready = join(tempDir(), 'ready');
    const running = run('sh', ['-c', 'trap "exit 0" TERM; touch "$OUT"; while :; do sleep 0.02; done'], { env: Environment.of({ PATH: process.env.PATH, OUT: ready }) });
    await waitFor(() => existsSync(ready));
    running.stop('SIGTERM');
    expect(await running.done).toMatchObject({ kind: 'exited', exitCode: 0, stopped: true, timedOut: false });
  });

  it('runs an executable script without a #! line with /bin/sh, as execvp does', async () => {
    const dir = tempDir();
    const script = join(dir, 'no-shebang');
    writeFileSync(script, 'echo ran > "$OUT"\n');
    chmodSync(script, 0o755);
    const outcome = await run(script, [], { env: Environment.of({ PATH: process.env.PATH, OUT: join(dir, 'out') }) }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('ran\n');
  });

  it('a binary the kernel cannot run (an ELF for another machine) is status 126, never handed to /bin/sh', async () => {
    const file = join(tempDir(), 'true-arm');
    const elf = readFileSync('/bin/true');
    elf.writeUInt16LE(0x28, 18); // e_machine: ARM, so execve fails with ENOEXEC ("exec format error")
    writeFileSync(file, elf, { mode: 0o755 });
    const outcome = await run(file, []).done;
    expect(exitStatusOf(outcome), JSON.stringify(outcome)).toBe(126); // it was 2: /bin/sh read the ELF as a script
  });

  it('stop() sends SIGTERM to the group, then SIGKILL after the grace period, children included', async () => {
    const pids = join(tempDir(), 'pids');
    const running = run('sh', ['-c', 'trap "" TERM; sleep 30 & echo $$ $! > "$OUT"; while :; do sleep 0.05; done'], {
      env: Environment.of({ PATH: process.env.PATH, OUT: pids }),
      graceMs: 300,
    });
    await waitFor(() => existsSync(pids) && readFileSync(pids, 'utf8').includes(' '));
    running.stop('SIGTERM');
    expect(await running.done).toMatchObject({ kind: 'signaled', signal: 'SIGKILL', stopped: true });
    const [shell, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    await waitFor(() => !alive(shell!) && !alive(sleeper!), 'the command and its child to be gone', 3000);
  });

  it('stop() reaches what left the group but not the session (GNU timeout calls setpgid): SIGTERM, then SIGKILL', async () => {
    const out = join(tempDir(), 'pids');
    // timeout moves itself and its child to a group of their own; the child ignores SIGTERM and SIGUSR1
    // (timeout's signal to it), so only the SIGKILL after the grace period ends the two.
    const running = run('sh', ['-c', 'timeout -s USR1 300 sh -c \'trap "" TERM USR1; echo $PPID $$ > "$OUT"; exec sleep 300\''], {
      env: Environment.of({ PATH: process.env.PATH, OUT: out }),
      graceMs: 300,
    });
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes(' '), 'timeout and its child to start');
    const [timeoutPid, childPid] = readFileSync(out, 'utf8').trim().split(' ').map(Number);
    expect(readFileSync(`/proc/${timeoutPid}/stat`, 'latin1').split(') ')[1]!.split(' ')[2]).not.toBe(String(running.pid)); // its own group
    running.stop('SIGTERM');
    expect(await running.done).toMatchObject({ stopped: true });
    await waitFor(() => !alive(timeoutPid!) && !alive(childPid!), 'timeout and its child to be gone', 3000);
  });

  it('stop() gives what left the group its SIGTERM too: GNU timeout passes it on, and the work ends cleanly', async () => {
    const out = join(tempDir(), 'pids');
    // The command itself ignores SIGTERM and waits for timeout: only the signal to what left the group
    // reaches timeout, and the command ends after its child has (were it to end first, its end would
    // SIGKILL the rest before the child's trap ran).
    const running = run('sh', ['-c', 'trap "" TERM; timeout 300 sh -c \'trap "echo term >> \\"$OUT.log\\"; exit 0" TERM; echo $PPID $$ > "$OUT"; while :; do sleep 0.05; done\''], {
      env: Environment.of({ PATH: process.env.PATH, OUT: out }),
      graceMs: 5000,
    });
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').includes(' '), 'timeout and its child to start');
    const [timeoutPid, childPid] = readFileSync(out, 'utf8').trim().split(' ').map(Number);
    running.stop('SIGTERM');
    await running.done;
    await waitFor(() => !alive(timeoutPid!) && !alive(childPid!), 'timeout and its child to be gone', 3000);
    expect(readFileSync(`${out}.log`, 'utf8')).toBe('term\n');
  });

  it('kills what a command left running in its process group when it exits on its own', async () => {
    const pid = join(tempDir(), 'pid');
    const outcome = await run('sh', ['-c', 'sleep 30 & echo $! > "$OUT"; exit 0'], { env: Environment.of({ PATH: process.env.PATH, OUT: pid }) }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0, stopped: false });
    const sleeper = Number(readFileSync(pid, 'utf8'));
    await waitFor(() => !alive(sleeper), 'the background child to be gone', 3000);
  });

  it('kills what left the group but not the session when the command fails on its own, so it cannot run beside the next attempt', async () => {
    const out = join(tempDir(), 'pids');
    // GNU timeout, in the background, moves itself and its child to a group of their own; the shell fails.
    const outcome = await run('sh', ['-c', 'timeout 300 sh -c \'echo $PPID $$ > "$OUT"; exec sleep 300\' & while [ ! -s "$OUT" ]; do sleep 0.02; done; exit 3'], {
      env: Environment.of({ PATH: process.env.PATH, OUT: out }),
    }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 3, stopped: false });
    const [timeoutPid, childPid] = readFileSync(out, 'utf8').trim().split(' ').map(Number);
    await waitFor(() => !alive(timeoutPid!) && !alive(childPid!), 'timeout and its child to be gone', 3000);
  });

  it('--timeout stops the command and says so', async () => {
    const outcome = await run('sleep', ['5'], { timeoutMs: 200 }).done;
    expect(outcome).toMatchObject({ kind: 'signaled', signal: 'SIGTERM', timedOut: true, stopped: true });
  });

  it('runs many commands at once and reports each one its own status', async () => {
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => run('sh', ['-c', `exit ${i}`]).done));
    expect(outcomes.map((o) => (o.kind === 'exited' ? o.exitCode : o.kind))).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});
