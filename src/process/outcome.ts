import { EXIT, signalExitCode } from '../exit-codes.js';
import type { Outcome } from './runner.js';

// What a command's outcome means, in one place: its exit status, its log fields and its sentence.

/** The command exited 0 within --timeout. */
export function succeeded(outcome: Outcome): boolean {
  return outcome.kind === 'exited' && outcome.exitCode === 0 && !outcome.timedOut;
}

/** The exit status wq-consume reports for a failed command (the shell's conventions). */
export function exitStatusOf(outcome: Outcome): number {
  if (outcome.timedOut) return EXIT.TIMEOUT;
  if (outcome.kind === 'spawn-failed') return outcome.error.code === 'ENOENT' ? EXIT.COMMAND_NOT_FOUND : EXIT.COMMAND_NOT_EXECUTABLE;
  if (outcome.kind === 'signaled') return signalExitCode(outcome.signal);
  return outcome.exitCode;
}

/** Log fields for one outcome. */
export function outcomeFields(outcome: Outcome): Record<string, unknown> {
  const durationMs = Math.round(outcome.durationMs);
  if (outcome.kind === 'exited') return { durationMs, exitCode: outcome.exitCode, timedOut: outcome.timedOut || undefined };
  if (outcome.kind === 'signaled') return { durationMs, signal: outcome.signal, timedOut: outcome.timedOut || undefined };
  return { durationMs, spawnError: outcome.error.code };
}

/** A few words for a header: "exit 3", "signal SIGKILL", "timeout". */
export function outcomeShort(outcome: Outcome): string {
  if (outcome.timedOut) return 'timeout';
  if (outcome.kind === 'exited') return `exit ${outcome.exitCode}`;
  if (outcome.kind === 'signaled') return `signal ${outcome.signal}`;
  return `spawn ${outcome.error.code}`;
}

/** The start of a log sentence: what happened to the command. */
export function outcomeText(outcome: Outcome): string {
  if (outcome.timedOut) return 'command ran past --timeout and was stopped';
  if (outcome.kind === 'exited') return outcome.exitCode === 0 ? 'command succeeded' : `command exited with status ${outcome.exitCode}`;
  if (outcome.kind === 'signaled') return `command was killed by ${outcome.signal}`;
  return `command could not start (${outcome.error.code}: ${outcome.error.message})`;
}
