import { accessSync, closeSync, constants as fsConstants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { firstLine } from './command.js';
import type { Environment } from './environment.js';
import type { NativeSpawn } from './native-spawn.js';
import type { StartError } from './outcome.js';

// The two ways to start a command, one contract (test/process/ runs the same tests on both):
// - the addon (wq-spawn.c): posix_spawn, no copy of the parent, the exit from a pidfd on the event loop;
// - node:child_process, where the addon cannot be used.
// Both: the command is a session leader (setsid: no controlling terminal, its own process group), every
// signal at its default, the body on its stdin then EOF, stdout inherited or the file given (a captured
// result), stderr inherited. One difference: the addon's stdin is a pipe, libuv's a socket pair, so
// `cat /dev/stdin` (open(2) on it) works only with the addon; reading fd 0 works with both.
// Neither throws: a start that fails is an `exit` holding the error.

export type ChildExit = { code: number | null; signal: NodeJS.Signals | null } | { error: StartError };

export interface Started {
  /** Undefined when nothing was started. */
  pid: number | undefined;
  exit: Promise<ChildExit>;
  /** The command's process group was killed when it exited, before it was reaped (the addon does that). */
  groupKilledAtExit?: boolean;
}

export interface StartSpec {
  /** As the user gave it: argv[0], and what node:child_process looks up in PATH. */
  command: string;
  /** The resolved executable (command.ts), which the addon runs. */
  file: string;
  args: readonly string[];
  body: Buffer;
  /** Exactly the command's environment. */
  env: Environment;
  /** The command's stdout: this descriptor (a file wq reads the result from), or wq's own when undefined. */
  stdoutFd?: number;
}

export function startCommand(spec: StartSpec, native: NativeSpawn | undefined): Started {
  try {
    return native ? startNative(native, spec) : startChildProcess(spec);
  } catch (err) {
    return failed(err as NodeJS.ErrnoException);
  }
}

function failed(err: NodeJS.ErrnoException): Started {
  const error = { code: typeof err.code === 'string' ? err.code : 'EINVAL', message: err.message };
  return { pid: undefined, exit: Promise.resolve({ error }) };
}

// node:child_process reports a death by a signal it has no name for (the real-time signals, 34-64) as
// exit 0, so such a command's message would be acked. So the command runs under /bin/sh, which waits for
// it: a death by a terminating signal N of 1-31 is raised again on the shell (which Node names), any
// other status is the shell's exit status (a real-time signal: 128 + N, a failure). The shell catches
// the stop signals only to wait for the command, which gets them from wq's signal to the group with
// every disposition at its default (a caught signal is reset by exec). The command cannot be told from a
// command that exits 128 + N itself; the exit status is the same. The shell's own stderr is /dev/null,
// so that it does not add its note of a death by a signal ("Terminated") to the command's: the command
// gets the real stderr in a subshell that execs it (a redirection on the command itself would be the
// shell's while it waits).
const WAITER = [
  'trap : HUP INT QUIT TERM',
  'exec 3>&2 2>/dev/null',
  '(exec 2>&3 3>&-; exec "$0" "$@")',
  's=$?',
  'case $((s - 128)) in 1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|24|25|26|27|29|30|31) trap - $((s - 128)); kill -$((s - 128)) $$;; esac',
  'exit $s',
].join('\n');
let shell: string | null | undefined;

function startChildProcess(spec: StartSpec): Started {
  // Loaded only when used: with the addon a run never needs it, and loading it costs every start.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  shell ??= existsSync('/bin/sh') ? '/bin/sh' : null;
  // What the shell would say as an exit status, said as a failed start, as the addon does.
  if (shell) accessSync(spec.file, fsConstants.X_OK);
  const [file, args] = shell ? [shell, ['-c', WAITER, spec.file, ...spec.args]] : [spec.command, spec.args];
  const child = spawn(file, args, { stdio: ['pipe', spec.stdoutFd ?? 'inherit', 'inherit'], env: spec.env.record(), detached: true });
  const exit = new Promise<ChildExit>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ error: { code: error.code ?? 'EINVAL', message: error.message } }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // A command that does not read its stdin is not an error in itself: its exit status decides.
  child.stdin?.on('error', () => {});
  child.stdin?.end(spec.body);
  return { pid: child.pid, exit };
}

function startNative(native: NativeSpawn, spec: StartSpec): Started {
  let resolve!: (exit: ChildExit) => void;
  const exit = new Promise<ChildExit>((r) => (resolve = r));
  const onExit = (code: number, signal: number) => resolve(signal ? { code: null, signal: signalName(signal) } : { code, signal: null });
  const envp = spec.env.strings();
  const out = spec.stdoutFd ?? -1;
  let result = native.spawn(spec.file, [spec.command, ...spec.args], envp, spec.body, onExit, out);
  // A script without a #! line: execvp (node:child_process) hands it to /bin/sh; posix_spawn does not.
  // A binary the kernel refused (another machine's ELF) stays a failed start (126), as the shells say.
  const enoexec = -(constants.errno.ENOEXEC ?? 8);
  if (result === enoexec && isBinary(spec.file)) {
    return failed(Object.assign(new Error(`${spec.file} is a binary this machine cannot run (exec format error): build it, or pull the image, for this CPU and OS`), { code: 'ENOEXEC' }));
  }
  if (result === enoexec) result = native.spawn('/bin/sh', ['/bin/sh', spec.file, ...spec.args], envp, spec.body, onExit, out);
  if (typeof result === 'number') {
    const code = errnoName(-result);
    return failed(Object.assign(new Error(`spawn ${spec.command} ${code}`), { code }));
  }
  const [pid, stdinFd, written] = result;
  if (stdinFd >= 0) {
    // The body is larger than the pipe: the rest goes through the event loop; the pipe is closed when the
    // command ends even if something it left behind holds the other end without reading.
    try {
      const stdin = new Socket({ fd: stdinFd, readable: false, writable: true });
      stdin.on('error', () => {});
      stdin.end(spec.body.subarray(written));
      void exit.then(() => stdin.destroy());
    } catch {
      closeSync(stdinFd); // the command sees EOF early: its exit status decides
    }
  }
  return { pid, exit, groupKilledAtExit: true };
}

// What bash checks before it runs a file as a script: a NUL byte in its first line (of 80 bytes at most).
// Unreadable: not binary, /bin/sh says why.
function isBinary(file: string): boolean {
  return firstLine(file, 80)?.includes('\0') ?? false;
}

// os.constants.errno rather than util.getSystemErrorName: libuv 1.46 has no name for ENOEXEC.
let errnoNames: Map<number, string> | undefined;
function errnoName(errno: number): string {
  errnoNames ??= new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

let signalNames: Map<number, NodeJS.Signals> | undefined;
function signalName(signal: number): NodeJS.Signals {
  // The first name of a number (SIGABRT, not its alias SIGIOT), as node:child_process reports it.
  signalNames ??= new Map(Object.entries(constants.signals).reverse().map(([name, n]) => [n, name as NodeJS.Signals]));
  return signalNames.get(signal) ?? (`SIG${signal}` as NodeJS.Signals);
}
