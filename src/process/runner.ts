import { nowMs } from './clock.js';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { plainCommandEnv, type CommandEnv } from './command-env.js';
import type { NativeEnvBase, NativeExit, NativeResult, NativeSpawn } from './native-spawn.js';

// Run the command on one message: the body goes to its stdin (then EOF), its stdout and stderr are
// the worker's own (inherited, untouched). Two ways to start it, same contract:
// - native (src/native/wq-spawn.c): posix_spawn, no copy of the parent; what a drain needs;
// - node:child_process, where the addon is not available. Not execa on this path: the bundled execa adds
//   ~23 ms to every start (bench/RESULTS.md), and we need our own signal handling.

export type Outcome =
  | { kind: 'exited'; exitCode: number; durationMs: number; timedOut: boolean; stopped: boolean }
  | { kind: 'signaled'; signal: NodeJS.Signals; durationMs: number; timedOut: boolean; stopped: boolean }
  | { kind: 'spawn-failed'; error: NodeJS.ErrnoException; durationMs: number; timedOut: false; stopped: boolean };

export interface RunOptions {
  /** As the user gave it: argv[0], and what node:child_process looks up in PATH. */
  command: string;
  /** The resolved executable (command.ts), which the native spawn runs. */
  file: string;
  args: readonly string[];
  body: Buffer;
  /** Exactly the command's environment (command-env.ts builds one per message from a per-run base). */
  env: NodeJS.ProcessEnv | CommandEnv;
  /** Stop the command after this long; 0 = never. */
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL when stopping. */
  graceMs: number;
  /** The addon to start it with; node:child_process when undefined. */
  native?: NativeSpawn;
}

export interface Running {
  readonly pid: number | undefined;
  readonly done: Promise<Outcome>;
  /** Forward a signal, then SIGKILL the command's process group after the grace period. Idempotent. */
  stop(signal?: NodeJS.Signals): void;
}

export function runCommand(opts: RunOptions): Running {
  return track(opts, opts.native ? startNative(opts.native, opts) : startChildProcess(opts));
}

/** An armed command (armCommand): not started yet. */
export interface Armed {
  /** Take it back: false when it has started already (onStarted has run, or is about to). */
  disarm(): boolean;
}

/**
 * Native spawn only: start this command the moment a running command exits with status 0, from the
 * exit itself (a watching thread of wq-spawn.c), without waiting for the event loop. `onStarted` gets it
 * in that exit's callback, before the exited command's `done` resolves. Commands start in the order
 * they were armed.
 */
export function armCommand(opts: RunOptions & { native: NativeSpawn }, onStarted: (run: Running) => void): Armed {
  const { native } = opts;
  const id = ++lastArmedId;
  const exit = deferredExit();
  onArmedStart.set(id, (result) => onStarted(track(opts, nativeStarted(opts, result, exit.exit))));
  const [envp, base] = nativeEnv(native, opts.env);
  native.arm(id, opts.file, [opts.command, ...opts.args], envp, opts.body, exit.onExit, base);
  return {
    disarm() {
      // False once the addon has started it: the exit that did so reports it, and onStarted follows.
      if (!onArmedStart.has(id) || !native.disarm(id)) return false;
      onArmedStart.delete(id);
      return true;
    },
  };
}

let lastArmedId = 0;
const onArmedStart = new Map<number, (result: NativeResult) => void>();

function track(opts: RunOptions, child: Started): Running {
  const started = nowMs();
  let exited = false;
  let timedOut = false;
  let stopped = false;
  let killTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;

  // The command has its own process group, so a signal reaches the children of a shell script too.
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
    }
  };

  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (stopped) {
      if (!exited) signalGroup(signal);
      return;
    }
    stopped = true;
    if (exited) return;
    // A command being stopped frees no slot for an armed one: the session decides what comes next.
    if (child.pid !== undefined) opts.native?.noSuccessor(child.pid);
    signalGroup(signal);
    killTimer = setTimeout(() => signalGroup('SIGKILL'), opts.graceMs);
  };

  const done = new Promise<Outcome>((resolve) => {
    const finish = (outcome: Outcome) => {
      exited = true;
      clearTimeout(killTimer);
      clearTimeout(timeoutTimer);
      // Whatever the command left running in its group must not outlive a message it was stopped on.
      if (stopped) signalGroup('SIGKILL');
      resolve(outcome);
    };
    void child.exit.then((exit) => {
      const durationMs = nowMs() - started;
      if ('error' in exit) finish({ kind: 'spawn-failed', error: exit.error, durationMs, timedOut: false, stopped });
      else if (exit.signal) finish({ kind: 'signaled', signal: exit.signal, durationMs, timedOut, stopped });
      else finish({ kind: 'exited', exitCode: exit.code ?? 0, durationMs, timedOut, stopped });
    });
  });

  if (opts.timeoutMs > 0) {
    timeoutTimer = setTimeout(() => {
      timedOut = true;
      stop('SIGTERM');
    }, opts.timeoutMs);
  }
  return { pid: child.pid, done, stop };
}

type ChildExit = { code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException };

interface Started {
  pid: number | undefined;
  exit: Promise<ChildExit>;
}

function startChildProcess(opts: RunOptions): Started {
  // Loaded only when used: with the native spawn a run never needs it, and loading it costs every start.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const child = spawn(opts.command, opts.args, { stdio: ['pipe', 'inherit', 'inherit'], env: commandEnv(opts.env).object(), detached: true });
  const exit = new Promise<ChildExit>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // A command that does not read its stdin is not an error in itself: its exit status decides.
  child.stdin.on('error', () => {});
  child.stdin.end(opts.body);
  return { pid: child.pid, exit };
}

function startNative(native: NativeSpawn, opts: RunOptions): Started {
  const exit = deferredExit();
  const [envp, base] = nativeEnv(native, opts.env);
  const result = native.spawn(opts.file, [opts.command, ...opts.args], envp, opts.body, exit.onExit, base);
  return nativeStarted(opts, result, exit.exit);
}

// The exit of a natively started child: resolves `exit`, after starting the tracking of the armed
// command this exit started, if any (so that the session holds it before it learns of this exit).
function deferredExit(): { exit: Promise<ChildExit>; onExit: NativeExit } {
  let resolve!: (exit: ChildExit) => void;
  const exit = new Promise<ChildExit>((r) => (resolve = r));
  const onExit: NativeExit = (code, signal, successor) => {
    if (successor) {
      const [id, result] = successor;
      const start = onArmedStart.get(id);
      onArmedStart.delete(id);
      start?.(result);
    }
    resolve(signal ? { code: null, signal: signalName(signal) } : { code, signal: null });
  };
  return { exit, onExit };
}

function nativeStarted(opts: RunOptions, result: NativeResult, exit: Promise<ChildExit>): Started {
  if (typeof result === 'number') {
    const code = errnoName(-result);
    // A script without a #! line: execvp (node:child_process) hands it to /bin/sh, posix_spawn does not.
    if (code === 'ENOEXEC') return startChildProcess(opts);
    const error: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${opts.command} ${code}`), { code, errno: result, syscall: `spawn ${opts.command}`, path: opts.command });
    return { pid: undefined, exit: Promise.resolve({ error }) };
  }
  const [pid, stdinFd, written] = result;
  if (stdinFd >= 0) {
    // The body is larger than the pipe: the rest goes through the event loop.
    const stdin = new Socket({ fd: stdinFd, readable: false, writable: true });
    stdin.on('error', () => {});
    stdin.end(opts.body.subarray(written));
  }
  return { pid, exit };
}

function commandEnv(env: RunOptions['env']): CommandEnv {
  return typeof env.object === 'function' && typeof env.envpParts === 'function' ? (env as CommandEnv) : plainCommandEnv(env as NodeJS.ProcessEnv);
}

// The run's base strings go to the addon once (envBase), then only each message's own.
const envBases = new WeakMap<NativeSpawn, WeakMap<readonly string[], NativeEnvBase>>();
function nativeEnv(native: NativeSpawn, env: RunOptions['env']): [string[], NativeEnvBase | undefined] {
  const { base, own } = commandEnv(env).envpParts();
  if (base.length === 0) return [own, undefined];
  let bases = envBases.get(native);
  if (!bases) envBases.set(native, (bases = new WeakMap()));
  let handle = bases.get(base);
  if (!handle) bases.set(base, (handle = native.envBase(base)));
  return [own, handle];
}

// os.constants.errno rather than util.getSystemErrorName: libuv 1.46 has no name for ENOEXEC.
let errnoNames: Map<number, string> | undefined;
function errnoName(errno: number): string {
  errnoNames ??= new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

let signalNames: Map<number, NodeJS.Signals> | undefined;
function signalName(signal: number): NodeJS.Signals {
  signalNames ??= new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
  return signalNames.get(signal) ?? (`SIG${signal}` as NodeJS.Signals);
}
