import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { EXIT, signalExitCode } from '../../src/exit-codes.js';
import { exitStatusOf, outcomeShort, outcomeText } from '../../src/process/outcome.js';
import type { Outcome } from '../../src/process/runner.js';

describe('signalExitCode: 128 + N from the platform table', () => {
  it('covers every signal the platform names, SIGSYS and SIGXCPU included', () => {
    for (const [name, n] of Object.entries(constants.signals)) expect(signalExitCode(name), name).toBe(128 + n);
    expect(signalExitCode('SIGSYS')).toBe(128 + 31);
    expect(signalExitCode('SIGXCPU')).toBe(128 + 24);
    expect(signalExitCode('SIGTERM')).toBe(143);
  });

  it('a numbered real-time signal keeps its number; an unknown name is an internal error, not a SIGTERM', () => {
    expect(signalExitCode('SIG40')).toBe(168);
    expect(signalExitCode('SIGNOPE')).toBe(EXIT.INTERNAL);
  });
});

describe('outcome', () => {
  const signaled = (signal: NodeJS.Signals): Outcome => ({ kind: 'signaled', signal, durationMs: 2, timedOut: false, stopped: false });
  it.each([
    [{ kind: 'exited', exitCode: 0, durationMs: 1, timedOut: false, stopped: false } as Outcome, 0, 'exit 0', 'command succeeded'],
    [{ kind: 'exited', exitCode: 7, durationMs: 1, timedOut: false, stopped: false } as Outcome, 7, 'exit 7', 'command exited with status 7'],
    [{ kind: 'exited', exitCode: 143, durationMs: 1, timedOut: true, stopped: true } as Outcome, 124, 'timeout', 'command ran past --timeout and was stopped'],
    [signaled('SIGSYS'), 159, 'signal SIGSYS', 'command was killed by SIGSYS'],
    [signaled('SIGXCPU'), 152, 'signal SIGXCPU', 'command was killed by SIGXCPU'],
    [{ kind: 'exited', exitCode: 0, durationMs: 1, timedOut: false, stopped: true } as Outcome, 0, 'exit 0', 'command was stopped and exited with status 0'],
    [{ kind: 'signaled', signal: 'SIGKILL', durationMs: 1, timedOut: false, stopped: true } as Outcome, 137, 'signal SIGKILL', 'command was stopped and was killed by SIGKILL'],
    [{ kind: 'start-failed', error: { code: 'ENOENT', message: 'x' }, transient: false, durationMs: 0, timedOut: false, stopped: false } as Outcome, 127, 'start ENOENT', 'command could not start (ENOENT: x)'],
    [{ kind: 'start-failed', error: { code: 'EACCES', message: 'x' }, transient: false, durationMs: 0, timedOut: false, stopped: false } as Outcome, 126, 'start EACCES', 'command could not start (EACCES: x)'],
    [{ kind: 'start-failed', error: { code: 'EAGAIN', message: 'x' }, transient: true, durationMs: 0, timedOut: false, stopped: false } as Outcome, 71, 'start EAGAIN', 'the system was short of a resource (EAGAIN: x)'],
  ])('%# status %s', (outcome, status, short, text) => {
    expect([exitStatusOf(outcome), outcomeShort(outcome), outcomeText(outcome)]).toEqual([status, short, text]);
  });
});
