import { EXIT, signalExitCode } from '../exit-codes.js';

// What became of one command: the only thing the consume core learns of it. `stopped` says wq stopped it
// (a signal, a lost channel, --timeout); `timedOut` that it was --timeout. A start that failed is an
// outcome too, never a throw: `transient` unless it says the command itself is wrong (COMMAND_START_ERRORS)
// or comes from the message (MESSAGE_START_ERRORS): a resource short, a file being written (ETXTBSY). Such a start
// spends no attempt, so it can never dead-letter a good message. A message wq would not run the command
// on (a body that cannot be an argument) or whose result it could not send (output over the limit) is
// `rejected`: exit status 65.
export type Outcome =
  | { kind: 'exited'; exitCode: number; durationMs: number; timedOut: boolean; stopped: boolean; output?: Buffer }
  | { kind: 'signaled'; signal: NodeJS.Signals; durationMs: number; timedOut: boolean; stopped: boolean }
  | { kind: 'start-failed'; error: StartError; transient: boolean; durationMs: number; timedOut: false; stopped: boolean }
  | { kind: 'rejected'; reason: string; durationMs: number; timedOut: false; stopped: false };

export interface StartError {
  /** ENOENT, EACCES, EAGAIN, ... */
  code: string;
  message: string;
}

/** Start errors that say the system was short of a resource (its log line says so). */
export const TRANSIENT_START_ERRORS: readonly string[] = ['EAGAIN', 'EMFILE', 'ENFILE', 'ENOMEM', 'ENOSPC'];
/** Start errors that say the command itself is wrong (gone, not executable): the same for every message. These count as the command's failure. */
export const COMMAND_START_ERRORS: readonly string[] = ['ENOENT', 'EACCES', 'ENOEXEC', 'EISDIR'];
/** Start errors that come from this message (an environment its headers made too large, a NUL byte): a failure that spends its attempt, as the command's own would. */
export const MESSAGE_START_ERRORS: readonly string[] = ['E2BIG', 'EINVAL', 'ERR_INVALID_ARG_VALUE'];

/** A start error the system may clear (a resource short, a file being written): no attempt spent. */
export function transientStartError(code: string): boolean {
  return !COMMAND_START_ERRORS.includes(code) && !MESSAGE_START_ERRORS.includes(code);
}

/** The command exited 0 within --timeout, and wq did not stop it. */
export function succeeded(outcome: Outcome): boolean {
  return outcome.kind === 'exited' && outcome.exitCode === 0 && !outcome.timedOut && !outcome.stopped;
}

/** The exit status wq-consume reports for a failed command (the shell's conventions). */
export function exitStatusOf(outcome: Outcome): number {
  if (outcome.timedOut) return EXIT.TIMEOUT;
  if (outcome.kind === 'start-failed') {
    if (outcome.transient) return EXIT.START_FAILED;
    return outcome.error.code === 'ENOENT' ? EXIT.COMMAND_NOT_FOUND : EXIT.COMMAND_NOT_EXECUTABLE;
  }
  if (outcome.kind === 'signaled') return signalExitCode(outcome.signal);
  if (outcome.kind === 'rejected') return EXIT.REFUSED;
  return outcome.exitCode;
}

/** Log fields for one outcome. */
export function outcomeFields(outcome: Outcome): Record<string, unknown> {
  const durationMs = Math.round(outcome.durationMs);
  const stopped = outcome.stopped || undefined;
  if (outcome.kind === 'exited') return { durationMs, exitCode: outcome.exitCode, timedOut: outcome.timedOut || undefined, stopped };
  if (outcome.kind === 'signaled') return { durationMs, signal: outcome.signal, timedOut: outcome.timedOut || undefined, stopped };
  if (outcome.kind === 'rejected') return { durationMs, rejected: outcome.reason };
  return { durationMs, startError: outcome.error.code, transient: outcome.transient || undefined };
}

/** A few words for a header: "exit 3", "signal SIGKILL", "timeout", "refused: <why>". */
export function outcomeShort(outcome: Outcome): string {
  if (outcome.timedOut) return 'timeout';
  if (outcome.kind === 'exited') return `exit ${outcome.exitCode}`;
  if (outcome.kind === 'signaled') return `signal ${outcome.signal}`;
  if (outcome.kind === 'rejected') return `refused: ${outcome.reason}`;
  return `start ${outcome.error.code}`;
}

/** The start of a log sentence: what happened to the command. */
export function outcomeText(outcome: Outcome): string {
  if (outcome.timedOut) return 'command ran past --timeout and was stopped';
  if (outcome.kind === 'rejected') return `refused (status 65): ${outcome.reason}`;
  if (outcome.stopped && outcome.kind !== 'start-failed') {
    const how = outcome.kind === 'exited' ? `exited with status ${outcome.exitCode}` : `was killed by ${outcome.signal}`;
    return `command was stopped and ${how}`;
  }
  if (outcome.kind === 'exited') return outcome.exitCode === 0 ? 'command succeeded' : `command exited with status ${outcome.exitCode}`;
  if (outcome.kind === 'signaled') return `command was killed by ${outcome.signal}`;
  if (outcome.transient && TRANSIENT_START_ERRORS.includes(outcome.error.code)) return `the system was short of a resource (${outcome.error.code}: ${outcome.error.message})`;
  if (outcome.transient) return `command could not start for now (${outcome.error.code}: ${outcome.error.message}), not a failure of its own`;
  return `command could not start (${outcome.error.code}: ${outcome.error.message})`;
}
