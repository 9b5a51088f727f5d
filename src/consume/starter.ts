import { fstatSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { ConsumeMessage } from 'amqplib';
import type { ConsumeConfig } from '../config/consume.js';
import type { Logger } from '../log.js';
import type { NativeSpawn } from '../process/native-spawn.js';
import { succeeded, type Outcome } from '../process/outcome.js';
import { runCommand, type Running } from '../process/runner.js';
import type { AcquiredFile } from './acquired-file.js';
import { ItemFiles, type ItemIo } from './item-io.js';
import { commandBaseEnv, messageEnv, type EnvNote } from './message-env.js';
import { resultTarget } from './results.js';
import type { StartCommand } from './slots.js';

// How a message's command is started: its environment (the base, ours minus the broker's credentials,
// made once per run, plus the message's WQ_* variables), its arguments, stdin and stdout (item-io.ts),
// and --acquired-file, which exists from just before a command starts until it has ended. What cannot
// be started is an outcome too (a rejected body, a file that cannot be written), never a throw.
export function commandStarter(config: ConsumeConfig, file: string, native: NativeSpawn | undefined, acquired: AcquiredFile, log: Logger): StartCommand {
  const base = commandBaseEnv(process.env);
  const files = new ItemFiles(config.args, config);
  return (msg: ConsumeMessage, attempt: number) => {
    const notes: EnvNote[] = [];
    const vars = messageEnv(msg, config.queue, attempt, config.headersMaxBytes, notes);
    if (notes.length > 0) log.warn({ queue: config.queue, deliveryTag: msg.fields.deliveryTag, messageId: msg.properties.messageId }, `message metadata changed so that the command can start: ${notes.join('; ')}`);
    let io: ItemIo;
    try {
      io = files.prepare(msg.content, resultTarget(msg, config) !== undefined);
    } catch (err) {
      // The directory was written at start-up: what fails now is a resource (ENOSPC, EMFILE, ...).
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      const error = { code, message: `could not write the message's files in ${tmpdir()}: ${(err as Error).message}` };
      return ended({ kind: 'start-failed', error, transient: true, durationMs: 0, timedOut: false, stopped: false });
    }
    if (io.rejected !== undefined) return ended(rejected(io.rejected, 0));
    acquired.hold();
    const run = runCommand({ command: config.command, file, native, args: io.args, body: io.stdin, env: base.with({ ...vars, ...io.env }), stdoutFd: io.stdoutFd, timeoutMs: config.timeoutSeconds * 1000, graceMs: config.graceSeconds * 1000 });
    const watch = io.stdoutFd !== undefined && run.pid !== undefined ? watchOutput(io.stdoutFd, config.resultMaxBytes, () => run.stop('SIGTERM')) : undefined;
    const done = run.done.then((outcome): Outcome => {
      watch?.end();
      acquired.release();
      return afterExit(outcome, io, config.resultMaxBytes, watch?.passed());
    });
    return { pid: run.pid, done, stop: run.stop };
  };
}

// Once the command has ended: its files removed and its stdout read back; the result, or why there is
// none. Never a throw (the runner's promise of an outcome holds).
function afterExit(outcome: Outcome, io: ItemIo, resultMaxBytes: number, passed: number | undefined): Outcome {
  try {
    const captured = io.finish();
    // It succeeded, but its stdout may have been cut by a full TMPDIR: no result, and not the message's fault
    // (no attempt spent). A failed command's own failure stands, so --max-attempts still bounds a message
    // whose command fills TMPDIR itself.
    if (captured.full && succeeded(outcome)) {
      const error = { code: 'ENOSPC', message: `${tmpdir()} was full when the command ended or while it ran, so its output may have been cut short` };
      return { kind: 'start-failed', error, transient: true, durationMs: outcome.durationMs, timedOut: false, stopped: outcome.stopped };
    }
    if (passed !== undefined && !outcome.timedOut) {
      return rejected(`its output passed --result-max-bytes ${resultMaxBytes} while it ran (${passed} bytes): it was stopped, and no result sent`, outcome.durationMs);
    }
    // The body in the arguments made the command line longer than the kernel takes: the body's fault, not the command's.
    if (outcome.kind === 'start-failed' && outcome.error.code === 'E2BIG' && io.argBytes !== undefined) {
      return rejected(`its arguments with the body in them ({} with -I) are ${io.argBytes} bytes: with the environment, over the kernel's limit for a command line (E2BIG) (pass it as {file} or on stdin)`, 0);
    }
    if (!succeeded(outcome) || outcome.kind !== 'exited') {
      if (captured.output?.length) passThrough(captured.output); // a failure's stdout, as without a result
      return outcome;
    }
    if (io.stdoutFd === undefined) return outcome;
    if (captured.bytes > resultMaxBytes) {
      return rejected(`the command succeeded, but its output of ${captured.bytes} bytes is over --result-max-bytes ${resultMaxBytes} (no result sent)`, outcome.durationMs);
    }
    return { ...outcome, output: captured.output };
  } catch (err) {
    return succeeded(outcome) ? rejected(`the command succeeded, but its output could not be read back: ${(err as Error).message}`, outcome.durationMs) : outcome;
  }
}

/** How often a captured stdout's size is checked while its command runs. */
const OUTPUT_CHECK_MS = 100;

// A captured stdout over --result-max-bytes can never be a result, so its command is stopped as soon as
// that is seen (SIGTERM, SIGKILL after --grace), its message refused (65) when it has ended, and what it
// writes meanwhile is cut: a runaway output cannot fill TMPDIR, the pod's disk. `passed`: the size first
// seen over the limit.
function watchOutput(fd: number, max: number, stop: () => void): { passed: () => number | undefined; end: () => void } {
  let passed: number | undefined;
  const timer = setInterval(() => {
    try {
      const size = fstatSync(fd).size;
      if (size <= max) return;
      if (passed === undefined) stop();
      passed ??= size;
      ftruncateSync(fd, 0);
    } catch {
      // the command has ended and its files are being removed
    }
  }, OUTPUT_CHECK_MS);
  return { passed: () => passed, end: () => clearInterval(timer) };
}

// wq-consume's own stdout may be closed (a pipe to `head`): a failed write is nothing to stop for.
function passThrough(output: Buffer): void {
  if (process.stdout.listenerCount('error') === 0) process.stdout.on('error', () => undefined);
  try {
    process.stdout.write(output);
  } catch {
    // a synchronous stdout (a file) can throw (ENOSPC): the run goes on
  }
}

/** A message refused (exit status 65): a body the arguments cannot carry, an output that is no result. */
function rejected(reason: string, durationMs: number): Outcome {
  return { kind: 'rejected', reason, durationMs, timedOut: false, stopped: false };
}

/** A command that was never started: its outcome is known already. */
function ended(outcome: Outcome): Running {
  return { pid: undefined, done: Promise.resolve(outcome), stop: () => {} };
}
