import { constants } from 'node:os';

// Every exit status wq sets itself, in one table (README "Exit codes" mirrors it).
// Codes 1-125 that are not listed here come from the command and pass through.
export const EXIT = {
  /** The message(s) were processed and acked, dead-lettered on purpose, or the drain found the queue empty. */
  OK: 0,
  /** Bad flags or a bad value (sysexits EX_USAGE). */
  USAGE: 64,
  /**
   * wq-publish: the broker refused (basic.nack) or could not route (basic.return) some messages; they are
   * not in the queue. wq-consume: a message refused: a body that {} (-I) cannot carry, or a result over
   * --result-max-bytes or the broker's max message size, and retried: the run ends as after a failure
   * (a dead-lettered one ends nothing: 0); or a reply_to the broker cannot decode, which closed the
   * connection: the message went back (EX_DATAERR).
   */
  REFUSED: 65,
  /** No broker address answered within --connect-timeout (both CLIs reconnect after a lost connection first); a queue's node is down; a result or retry wait queue cannot take or show its messages (EX_UNAVAILABLE). */
  BROKER_UNAVAILABLE: 69,
  /** An internal error in wq itself (EX_SOFTWARE). */
  INTERNAL: 70,
  /** The command could not be started for want of a resource (EAGAIN, EMFILE, ENFILE, ENOMEM: a pod's pid or file limit) or for another reason than being missing or not executable (ETXTBSY), or its body or output file could not be written (TMPDIR full): its message went back without spending an attempt (EX_OSERR). */
  START_FAILED: 71,
  /** wq-publish could not write its manifest to stdout: the reader closed it (EPIPE), or a full disk (EX_IOERR). */
  OUTPUT_FAILED: 74,
  /** --wait expired and no message arrived; wq-publish --job found an empty queue (EX_TEMPFAIL). */
  NO_MESSAGE: 75,
  /** The broker refused the login, the vhost, a permission or our client certificate (EX_NOPERM). */
  ACCESS_REFUSED: 77,
  /** The queue (or result queue, or wq-publish's --exchange) is missing, was deleted, or exists with other arguments; an --acquired-file or TMPDIR cannot be written; TLS cannot work as configured; or WQ_SPAWN=native cannot be honoured (EX_CONFIG). */
  CONFIG: 78,
  /** The command ran longer than --timeout and was stopped (as GNU timeout). */
  TIMEOUT: 124,
  /** The command exists but cannot be executed. */
  COMMAND_NOT_EXECUTABLE: 126,
  /** The command was not found. */
  COMMAND_NOT_FOUND: 127,
} as const;

/** 128 + N, the shell's status for a death by signal N (N from the platform's own table, so SIGSYS is 159 on Linux). */
export function signalExitCode(signal: NodeJS.Signals | string): number {
  const n = (constants.signals as Record<string, number | undefined>)[signal];
  if (n !== undefined) return 128 + n;
  const numeric = /^SIG(\d+)$/.exec(signal)?.[1]; // a real-time signal the table has no name for
  return numeric === undefined ? EXIT.INTERNAL : 128 + Number(numeric);
}

/** Signals that stop wq-consume's commands with themselves (SIGTERM: Kubernetes deleting a pod). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const;
/**
 * Signals whose default action would end wq at once, its commands left running (and their messages
 * requeued under them): handled like SIGTERM, with the commands stopped by SIGTERM; exit 128 + N.
 * SIGUSR1 is left to Node (it starts the inspector). SIGABRT is caught when another process sends it;
 * an abort() inside wq (V8 out of memory) still ends it at once, as SIGKILL and the OOM killer do.
 */
export const OTHER_FATAL_SIGNALS = ['SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGIO', 'SIGPWR', 'SIGSTKFLT', 'SIGXCPU', 'SIGXFSZ', 'SIGTRAP', 'SIGSYS', 'SIGABRT'] as const;

/** The signal that stops the commands when wq-consume got `signal`. */
export function stopSignalFor(signal: string): NodeJS.Signals {
  return (STOP_SIGNALS as readonly string[]).includes(signal) ? (signal as NodeJS.Signals) : 'SIGTERM';
}
