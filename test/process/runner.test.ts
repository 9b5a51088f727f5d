import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNativeSpawn, type NativeSpawn } from '../../src/process/native-spawn.js';
import { armCommand, runCommand, type RunOptions, type Running } from '../../src/process/runner.js';
import { commandEnvFactory } from '../../src/process/command-env.js';
import { MESSAGE_ENV_KEYS } from '../../src/consume/message-env.js';
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
  env: { PATH: process.env.PATH },
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
    const outcome = await run('sh', ['-c', 'cat > "$OUT"'], { body, env: { PATH: process.env.PATH, OUT: out } }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(readFileSync(out).equals(body)).toBe(true);
  });

  it('reports the exit status, and a death by signal by name', async () => {
    expect(await run('sh', ['-c', 'exit 7']).done).toMatchObject({ kind: 'exited', exitCode: 7, timedOut: false, stopped: false });
    expect(await run('sh', ['-c', 'kill -USR1 $$']).done).toMatchObject({ kind: 'signaled', signal: 'SIGUSR1' });
  });

  it('a command that ignores a 1 MB stdin and exits 0 is a success, not an EPIPE', async () => {
    const outcome = await run('true', [], { body: randomBytes(1024 * 1024) }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
  });

  it('passes exactly the given environment', async () => {
    const out = join(tempDir(), 'env');
    await run('sh', ['-c', 'env > "$OUT"'], { env: { PATH: process.env.PATH, OUT: out, WQ_MESSAGE_ID: 'id-1' } }).done;
    const env = readFileSync(out, 'utf8');
    expect(env).toContain('WQ_MESSAGE_ID=id-1\n');
    expect(env).not.toMatch(/^HOME=/m);
  });

  it("passes a run's environment, its base and a message's variables, exactly and each name once", async () => {
    const out = join(tempDir(), 'env');
    const envFor = commandEnvFactory({ PATH: process.env.PATH, OUT: out, WQ_QUEUE: 'from-the-pod', KEPT: 'base' }, MESSAGE_ENV_KEYS);
    // Twice with the same base: the second start reuses what the first converted.
    for (const tag of ['1', '2']) {
      const outcome = await run('sh', ['-c', 'exec env > "$OUT"'], { env: envFor({ WQ_QUEUE: 'jobs', WQ_DELIVERY_TAG: tag }) }).done;
      expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
      const names = readFileSync(out, 'utf8').trim().split('\n');
      expect(names).toEqual(expect.arrayContaining([`PATH=${process.env.PATH}`, `OUT=${out}`, 'KEPT=base', 'WQ_QUEUE=jobs', `WQ_DELIVERY_TAG=${tag}`]));
      expect(names.filter((s) => s.startsWith('WQ_QUEUE='))).toHaveLength(1);
      expect(names.some((s) => s.startsWith('HOME='))).toBe(false);
    }
  });

  it('starts it in its own process group, with no signal ignored or blocked (Node ignores SIGPIPE)', async () => {
    const out = join(tempDir(), 'status');
    // exec: grep inherits the shell's signal state and reports its own.
    const running = run('sh', ['-c', 'cut -d" " -f5 /proc/$$/stat > "$OUT"; exec grep -E "^Sig(Ign|Blk)" /proc/self/status >> "$OUT"'], {
      env: { PATH: process.env.PATH, OUT: out },
    });
    expect(await running.done).toMatchObject({ kind: 'exited', exitCode: 0 });
    const [pgid, ...sig] = readFileSync(out, 'utf8').trim().split('\n');
    expect(Number(pgid)).toBe(running.pid);
    expect(sig).toEqual(['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']);
  });

  it('a missing executable is a spawn failure with ENOENT, not an exit status', async () => {
    const missing = join(tempDir(), 'missing');
    expect(await run(missing, []).done).toMatchObject({ kind: 'spawn-failed', error: { code: 'ENOENT' } });
  });

  it('runs an executable script without a #! line with /bin/sh, as execvp does', async () => {
    const dir = tempDir();
    const script = join(dir, 'no-shebang');
    writeFileSync(script, 'echo ran > "$OUT"\n');
    chmodSync(script, 0o755);
    const outcome = await run(script, [], { env: { PATH: process.env.PATH, OUT: join(dir, 'out') } }).done;
    expect(outcome).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('ran\n');
  });

  it('stop() sends SIGTERM to the group, then SIGKILL after the grace period, children included', async () => {
    const pids = join(tempDir(), 'pids');
    const running = run('sh', ['-c', 'trap "" TERM; sleep 30 & echo $$ $! > "$OUT"; while :; do sleep 0.05; done'], {
      env: { PATH: process.env.PATH, OUT: pids },
      graceMs: 300,
    });
    await waitFor(() => existsSync(pids) && readFileSync(pids, 'utf8').includes(' '));
    running.stop('SIGTERM');
    expect(await running.done).toMatchObject({ kind: 'signaled', signal: 'SIGKILL', stopped: true });
    const [shell, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
    await waitFor(() => !alive(shell!) && !alive(sleeper!), 'the command and its child to be gone', 3000);
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

// The next command started from the exit of the one before (what a drain does with the message it holds
// ahead): only the native spawn has it. The first command waits at a gate the test opens once the next one
// is armed: armed after an exit, a command waits for the next exit.
describe.runIf(typeof native !== 'string')('armCommand (native spawn)', () => {
  const addon = native as NativeSpawn;
  const opts = (command: string, args: string[], extra: Partial<RunOptions> = {}) => ({ ...options(command, args, addon, extra), native: addon });
  /** A command that waits until open() and then runs `then` (a shell snippet). */
  const gated = (then: string, env: Record<string, string> = {}) => {
    const go = join(tempDir(), 'go');
    const run = runCommand(opts('sh', ['-c', `until [ -e "$GO" ]; do sleep 0.005; done; ${then}`], { env: { PATH: process.env.PATH!, GO: go, ...env } }));
    return { run, open: () => writeFileSync(go, '') };
  };
  const arm = (o: RunOptions & { native: NativeSpawn }) => {
    let started: (run: Running) => void;
    const run = new Promise<Running>((resolve) => (started = resolve));
    const events: string[] = [];
    const armed = armCommand(o, (r) => {
      events.push('started');
      started(r);
    });
    return { armed, run, events };
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

  it('starts an armed command the moment a running one exits 0, before that exit is reported', async () => {
    const out = join(tempDir(), 'out');
    const first = gated('exit 0');
    const next = arm(opts('sh', ['-c', 'cat > "$OUT"'], { body: Buffer.from('two'), env: { PATH: process.env.PATH, OUT: out } }));
    first.open();
    await first.run.done.then(() => next.events.push('first done'));
    expect(next.events).toEqual(['started', 'first done']);
    expect(await (await next.run).done).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(readFileSync(out, 'utf8')).toBe('two');
    expect(next.armed.disarm()).toBe(false);
  });

  it('starts armed commands in arming order, one per exit', async () => {
    const dir = tempDir();
    const order = join(dir, 'order');
    const first = gated('echo a >> "$OUT"', { OUT: order });
    const b = arm(opts('sh', ['-c', 'echo b >> "$OUT"'], { env: { PATH: process.env.PATH, OUT: order } }));
    const c = arm(opts('sh', ['-c', 'echo c >> "$OUT"'], { env: { PATH: process.env.PATH, OUT: order } }));
    first.open();
    await first.run.done;
    expect(b.events).toEqual(['started']);
    await (await b.run).done;
    expect(c.events).toEqual(['started']);
    await (await c.run).done;
    expect(readFileSync(order, 'utf8')).toBe('a\nb\nc\n');
  });

  it.each([
    ['exits 3', false, 'exit 3'],
    ['is killed by a signal', false, 'kill -TERM $$'],
    ['is stopped and exits 0 on SIGTERM', true, 'trap "exit 0" TERM; while :; do sleep 0.02; done'],
  ])('a command that %s starts nothing: the armed one can still be taken back', async (_what, stop, then) => {
    const first = gated(then);
    const next = arm(opts('true', []));
    first.open();
    if (stop) setTimeout(() => first.run.stop('SIGTERM'), 100);
    await first.run.done;
    await settle();
    expect(next.events).toEqual([]);
    expect(next.armed.disarm()).toBe(true);
    expect(next.armed.disarm()).toBe(false);
  });

  it('is started by the exit even while the event loop is busy; taking it back is then too late', async () => {
    const started = join(tempDir(), 'started');
    const first = gated('exit 0');
    const next = arm(opts('sh', ['-c', 'touch "$OUT"'], { env: { PATH: process.env.PATH, OUT: started } }));
    first.open();
    // Block the event loop (as a long synchronous task or a GC pause would) until the next command runs.
    const block = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; !existsSync(started); i++) {
      if (i > 1500) throw new Error('the armed command never started');
      Atomics.wait(block, 0, 0, 10);
    }
    expect(next.armed.disarm()).toBe(false);
    expect(next.events).toEqual([]); // the start is reported with the exit that made it, on the event loop
    await first.run.done;
    expect(next.events).toEqual(['started']);
    expect(await (await next.run).done).toMatchObject({ kind: 'exited', exitCode: 0 });
  });

  it('a command taken back before the exit never starts', async () => {
    const out = join(tempDir(), 'never');
    const first = gated('exit 0');
    const next = arm(opts('sh', ['-c', 'touch "$OUT"'], { env: { PATH: process.env.PATH, OUT: out } }));
    expect(next.armed.disarm()).toBe(true);
    first.open();
    await first.run.done;
    await settle();
    expect(next.events).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it("an armed command gets the run's base environment and its own variables", async () => {
    const out = join(tempDir(), 'env');
    const envFor = commandEnvFactory({ PATH: process.env.PATH!, OUT: out, KEPT: 'base' }, MESSAGE_ENV_KEYS);
    const first = gated('exit 0');
    const next = arm(opts('sh', ['-c', 'exec env > "$OUT"'], { env: envFor({ WQ_QUEUE: 'armed' }) }));
    first.open();
    await first.run.done;
    expect(await (await next.run).done).toMatchObject({ kind: 'exited', exitCode: 0 });
    expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual(expect.arrayContaining(['KEPT=base', 'WQ_QUEUE=armed', `OUT=${out}`]));
  });

  it('refuses a base that envBase() did not make, and envBase() refuses what is not strings', () => {
    const exit = () => {};
    expect(() => addon.spawn('/bin/true', ['true'], [], Buffer.alloc(0), exit, {} as never)).toThrow(/envBase/);
    expect(() => addon.envBase([1] as never)).toThrow(/array of strings/);
  });

  // A watching thread is blocked while a child it starts runs up to its exec, so commands side by side
  // each get one of their own (up to 8), and a command that follows another reuses the idle one. Counted
  // in a fresh process: the threads of this one depend on the tests that ran before.
  it('starts a watching thread per command running side by side, at most 8, and none for commands one after another', () => {
    const script = `
      const addon = require(process.argv[1]);
      const tasks = () => require('node:fs').readdirSync('/proc/self/task').length;
      const run = (n) => Promise.all(Array.from({ length: n }, () => new Promise((done) => addon.spawn('/bin/sleep', ['sleep', '0.2'], [], Buffer.alloc(0), done))));
      (async () => {
        const before = tasks();
        for (let i = 0; i < 3; i++) await run(1);
        const oneAfterAnother = tasks() - before;
        await run(3);
        const three = tasks() - before;
        await run(12);
        console.log(JSON.stringify({ oneAfterAnother, three, twelve: tasks() - before }));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script, ADDON], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ oneAfterAnother: 0, three: 2, twelve: 7 });
  });

  it('two commands side by side each start their armed successors, in arming order', async () => {
    const dir = tempDir();
    const order = join(dir, 'order');
    const env = { PATH: process.env.PATH!, OUT: order };
    const a = gated('echo a >> "$OUT"', env);
    const b = gated('echo b >> "$OUT"', env);
    const next = ['c', 'd', 'e', 'f'].map((name) => arm(opts('sh', ['-c', `echo ${name} >> "$OUT"`], { env })));
    a.open();
    await a.run.done;
    await (await next[0]!.run).done;
    b.open();
    await b.run.done;
    for (const n of next) expect(await (await n.run).done).toMatchObject({ kind: 'exited', exitCode: 0 });
    const lines = readFileSync(order, 'utf8').trim().split('\n');
    expect(lines.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(next.map((n) => n.events)).toEqual([['started'], ['started'], ['started'], ['started']]);
  });

  it('an armed command that cannot start is reported as a spawn failure when its turn comes', async () => {
    const first = gated('exit 0');
    const next = arm(opts(join(tempDir(), 'missing'), []));
    first.open();
    await first.run.done;
    expect(await (await next.run).done).toMatchObject({ kind: 'spawn-failed', error: { code: 'ENOENT' } });
  });
});
