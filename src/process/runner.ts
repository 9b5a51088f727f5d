import { nowMs } from './clock.js';
import type { NativeSpawn } from './native-spawn.js';
import { succeeded, transientStartError, type Outcome } from './outcome.js';
import { sessionStragglers } from './session-members.js';
import { startCommand, type ChildExit, type StartSpec } from './start.js';

// Run the command on one message: start it (start.ts: the addon or node:child_process, one contract),
// stop it on request or at --timeout (the signal to its process group, SIGKILL after the grace period),
// and report one Outcome. runCommand() never throws and `done` never rejects: a start that failed is an
// outcome too.

export type { Outcome } from './outcome.js';

export interface RunOptions extends StartSpec {
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
  /** Forward a signal, then SIGKILL the command's process group after the grace period. A second call forwards its signal too. */
  stop(signal?: NodeJS.Signals): void;
}

// The process groups of the commands still running. Whatever way wq-consume exits (a fatal error's
// process.exit included), the 'exit' handler kills them first, before any other exit handler (the
// removal of their files in TMPDIR): no command outlives its wq-consume, nor writes where it is gone.
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** SIGKILL every running command's process group and session, now (the 'exit' handler; tests). */
export function killAllCommands(): void {
  for (const pgid of liveGroups) signalSession(pgid, 'SIGKILL');
  liveGroups.clear();
}

export function runCommand(opts: RunOptions): Running {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.prependListener('exit', killAllCommands);
  }
  const started = nowMs();
  const child = startCommand(opts, opts.native);
  const { pid } = child;
  if (pid !== undefined) liveGroups.add(pid); // a session leader: its process group is its pid
  let exited = false;
  let timedOut = false;
  let stopped = false;
  let killTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;

  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exited || pid === undefined) {
      stopped = true;
      return;
    }
    signalSession(pid, signal);
    if (stopped) return;
    stopped = true;
    killTimer = setTimeout(() => signalSession(pid, 'SIGKILL'), opts.graceMs);
  };

  const done = child.exit.then((exit): Outcome => {
    exited = true;
    clearTimeout(killTimer);
    clearTimeout(timeoutTimer);
    const outcome = outcomeOf(exit, nowMs() - started, timedOut, stopped);
    if (pid !== undefined) {
      liveGroups.delete(pid);
      // The command has ended, so has its process group: whatever it left running there (a background
      // child) is killed before its message is settled, so it can neither outlive wq-consume nor overlap
      // the message's next attempt. A command that must leave a daemon behind starts it with setsid. The
      // addon has done it already, before reaping the command: the group's id could not be anyone else's.
      if (!child.groupKilledAtExit) signalGroup(pid, 'SIGKILL');
      // Its descendants that left the group but not the session (session-members.ts) end now too unless it
      // succeeded, so that none runs beside its message's next attempt. One read of /proc, so not after a
      // success: what a succeeded command leaves there lives on, as a daemon would.
      if (!succeeded(outcome)) for (const straggler of sessionStragglers(pid)) signalPid(straggler, 'SIGKILL');
    }
    return outcome;
  });

  if (opts.timeoutMs > 0 && pid !== undefined) {
    timeoutTimer = setTimeout(() => {
      timedOut = true;
      stop('SIGTERM');
    }, opts.timeoutMs);
  }
  return { pid, done, stop };
}

function outcomeOf(exit: ChildExit, durationMs: number, timedOut: boolean, stopped: boolean): Outcome {
  if ('error' in exit) return { kind: 'start-failed', error: exit.error, transient: transientStartError(exit.error.code), durationMs, timedOut: false, stopped };
  if (exit.signal) return { kind: 'signaled', signal: exit.signal, durationMs, timedOut, stopped };
  // code -1 from the addon: the child was reaped by someone else and its status is unknown: a failure.
  return { kind: 'exited', exitCode: exit.code === null || exit.code < 0 ? 255 : exit.code, durationMs, timedOut, stopped };
}

// The group: the command is a session leader, so its group is its pid. Never the command's pid alone,
// which, once reaped, may be another process's.
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  signalPid(-pid, signal);
}

/** The group, and the descendants that left it but not the session (GNU timeout, job control). */
function signalSession(pid: number, signal: NodeJS.Signals): void {
  signalGroup(pid, signal);
  for (const straggler of sessionStragglers(pid)) signalPid(straggler, signal);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}
