import { spawn } from 'node:child_process';

// Run the command on one message: the body goes to its stdin (then EOF), its stdout and stderr are
// the worker's own (inherited, untouched). node:child_process rather than execa on this path: the
// bundled execa adds ~23 ms to every start (bench/RESULTS.md), and we need our own signal handling.

export type Outcome =
  | { kind: 'exited'; exitCode: number; durationMs: number; timedOut: boolean; stopped: boolean }
  | { kind: 'signaled'; signal: NodeJS.Signals; durationMs: number; timedOut: boolean; stopped: boolean }
  | { kind: 'spawn-failed'; error: NodeJS.ErrnoException; durationMs: number; timedOut: false; stopped: boolean };

export interface RunOptions {
  command: string;
  args: readonly string[];
  body: Buffer;
  env: NodeJS.ProcessEnv;
  /** Stop the command after this long; 0 = never. */
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL when stopping. */
  graceMs: number;
}

export interface Running {
  readonly pid: number | undefined;
  readonly done: Promise<Outcome>;
  /** Forward a signal, then SIGKILL the command's process group after the grace period. Idempotent. */
  stop(signal?: NodeJS.Signals): void;
}

export function runCommand(opts: RunOptions): Running {
  const started = performance.now();
  // Its own process group, so stop() reaches the children of a shell script too.
  const child = spawn(opts.command, opts.args, { stdio: ['pipe', 'inherit', 'inherit'], env: opts.env, detached: true });
  let exited = false;
  let timedOut = false;
  let stopped = false;
  let killTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;

  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
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
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (!exited) finish({ kind: 'spawn-failed', error, durationMs: performance.now() - started, timedOut: false, stopped });
    });
    child.once('exit', (code, signal) => {
      const durationMs = performance.now() - started;
      if (signal) finish({ kind: 'signaled', signal, durationMs, timedOut, stopped });
      else finish({ kind: 'exited', exitCode: code ?? 0, durationMs, timedOut, stopped });
    });
  });

  // A command that does not read its stdin is not an error in itself: its exit status decides.
  child.stdin.on('error', () => {});
  child.stdin.end(opts.body);

  if (opts.timeoutMs > 0) {
    timeoutTimer = setTimeout(() => {
      timedOut = true;
      stop('SIGTERM');
    }, opts.timeoutMs);
  }
  return { pid: child.pid, done, stop };
}
