import { describe, expect, it } from 'vitest';
import { admission, fate, verdict, type VerdictOptions } from '../../src/consume/verdict.js';
import type { Outcome } from '../../src/process/outcome.js';

const exited = (exitCode: number, timedOut = false, stopped = timedOut): Outcome => ({ kind: 'exited', exitCode, durationMs: 1, timedOut, stopped });
const killed = (signal: NodeJS.Signals, stopped = false): Outcome => ({ kind: 'signaled', signal, durationMs: 1, timedOut: false, stopped });
const noStart = (code: string, transient = false): Outcome => ({ kind: 'start-failed', error: { code, message: `spawn x ${code}` }, transient, durationMs: 1, timedOut: false, stopped: false });
const plain: VerdictOptions = { maxAttempts: 0, deadLetterOn: [] };
const three: VerdictOptions = { maxAttempts: 3, deadLetterOn: [] };
const badItem: VerdictOptions = { maxAttempts: 0, deadLetterOn: [3, 4] };

describe('verdict: what happens to a message after its command', () => {
  it.each([
    ['exit 0', exited(0), 1, false, plain, { action: 'ack' }],
    ['exit 0 while wq stops, not stopped itself (it finished first)', exited(0), 1, true, plain, { action: 'ack' }],
    ['exit 0 after wq stopped it (a worker that traps SIGTERM): not done, put back', exited(0, false, true), 1, true, plain, { action: 'put-back', attempts: 0 }],
    ['exit 0 after wq stopped it on attempt 3 of 3: put back, the stop spends no attempt', exited(0, false, true), 3, false, three, { action: 'put-back', attempts: 2 }],
    ['killed by the SIGKILL that followed a stop', killed('SIGKILL', true), 1, true, three, { action: 'put-back', attempts: 0 }],
    ['exit 0 but past --timeout', exited(0, true), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['exit 1', exited(1), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['exit 1 on attempt 25, no --max-attempts', exited(1), 25, false, plain, { action: 'retry', attempts: 25 }],
    ['killed by SIGKILL', killed('SIGKILL'), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['start failed: ENOENT (counts as the command failing)', noStart('ENOENT'), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['start failed: EACCES on the last attempt', noStart('EACCES'), 3, false, three, { action: 'dead-letter', attempts: 3, reason: 'start EACCES' }],
    ['start failed: E2BIG (the message cannot start it, ever)', noStart('E2BIG'), 3, false, three, { action: 'dead-letter', attempts: 3, reason: 'start E2BIG' }],
    ['start failed: EAGAIN (a pid limit): no attempt spent', noStart('EAGAIN', true), 3, false, three, { action: 'refresh', attempts: 2 }],
    ['start failed: EMFILE on attempt 1', noStart('EMFILE', true), 1, false, plain, { action: 'refresh', attempts: 0 }],
    ['failed while wq is stopping', exited(143), 1, true, plain, { action: 'hand-back' }],
    ['failed while stopping, last attempt', exited(1), 3, true, three, { action: 'hand-back' }],
    ['attempt 2 of 3', exited(1), 2, false, three, { action: 'retry', attempts: 2 }],
    ['attempt 3 of 3', exited(1), 3, false, three, { action: 'dead-letter', attempts: 3, reason: 'exit 1' }],
    ['attempt 5 of 3 (counted elsewhere)', killed('SIGSEGV'), 5, false, three, { action: 'dead-letter', attempts: 5, reason: 'signal SIGSEGV' }],
    ['timeout on attempt 3 of 3', exited(0, true), 3, false, three, { action: 'dead-letter', attempts: 3, reason: 'timeout' }],
    ['--dead-letter-on 3,4: exit 3', exited(3), 1, false, badItem, { action: 'dead-letter', attempts: 1, reason: 'exit 3 (--dead-letter-on)' }],
    ['--dead-letter-on 3,4: exit 5', exited(5), 1, false, badItem, { action: 'retry', attempts: 1 }],
    ['--dead-letter-on 3,4: exit 3 while stopping', exited(3), 1, true, badItem, { action: 'hand-back' }],
  ] as const)('%s', (_label, outcome, attempts, stopping, opts, expected) => {
    expect(verdict(outcome, attempts, stopping, opts)).toEqual(expected);
  });
});

describe('fate: the result\'s step, then the verdict, and whether the run ends', () => {
  const retrying = { ...three, retryDelaySeconds: 0, count: 0 };
  const onePerPod = { ...plain, retryDelaySeconds: 0, count: 1 };
  const tooLarge: Outcome = { kind: 'rejected', reason: 'too large', durationMs: 1, timedOut: false, stopped: false };
  it.each([
    ['exit 0, no result to send', exited(0), undefined, 1, retrying, { decision: { action: 'ack' } }],
    ['exit 0, result nacked on the last attempt: a fresh copy, no attempt spent, the run ends 69', exited(0), { unsent: true }, 3, retrying, { decision: { action: 'refresh', attempts: 2 }, endsRun: 69 }],
    ['exit 0, result too large on the last attempt: dead-lettered', exited(0), { rejected: tooLarge }, 3, retrying, { decision: { action: 'dead-letter', attempts: 3, reason: 'refused: too large' } }],
    ['exit 0, result too large, one message per pod: retried, the run ends 65', exited(0), { rejected: tooLarge }, 1, onePerPod, { decision: { action: 'retry', attempts: 1 }, endsRun: 65 }],
    ['exit 0, publishing the result failed: handed back (the run ends on that error)', exited(0), { error: new Error('lost') }, 1, retrying, { decision: { action: 'hand-back' } }],
    ['exit 1, one message per pod: the run ends with its status', exited(1), undefined, 1, onePerPod, { decision: { action: 'retry', attempts: 1 }, endsRun: 1 }],
    ['exit 1 with --retry-delay, a drain: the run goes on', exited(1), undefined, 1, { ...plain, retryDelaySeconds: 5, count: 0 }, { decision: { action: 'retry', attempts: 1 } }],
    ['exit 3 on attempt 1 of 3, one message per pod: retried, the pod exits 3 (a Job counts the message once it is done)', exited(3), undefined, 1, { ...three, retryDelaySeconds: 0, count: 1 }, { decision: { action: 'retry', attempts: 1 }, endsRun: 3 }],
    ['exit 3 on attempt 3 of 3, one message per pod: dead-lettered, the pod exits 0', exited(3), undefined, 3, { ...three, retryDelaySeconds: 0, count: 1 }, { decision: { action: 'dead-letter', attempts: 3, reason: 'exit 3' } }],
    ['exit 3 with --max-attempts 3, -c 5: the run goes on', exited(3), undefined, 1, { ...three, retryDelaySeconds: 0, count: 5 }, { decision: { action: 'retry', attempts: 1 } }],
    ['exit 3 with --max-attempts 3, -c 3 after a reconnect with one left: the run goes on (not a one-message run)', exited(3), undefined, 1, { ...three, retryDelaySeconds: 0, count: 1, runCount: 3 }, { decision: { action: 'retry', attempts: 1 } }],
    ['EMFILE: a fresh copy, the run ends 71', noStart('EMFILE', true), undefined, 1, retrying, { decision: { action: 'refresh', attempts: 0 }, endsRun: 71 }],
    ['ENOENT in a drain with --max-attempts (the command gone): retried, the run ends 127', noStart('ENOENT'), undefined, 1, retrying, { decision: { action: 'retry', attempts: 1 }, endsRun: 127 }],
    ['EACCES on the last attempt: dead-lettered, the run ends 126', noStart('EACCES'), undefined, 3, retrying, { decision: { action: 'dead-letter', attempts: 3, reason: 'start EACCES' }, endsRun: 126 }],
    ['E2BIG (this message\'s own): retried, the run goes on', noStart('E2BIG'), undefined, 1, retrying, { decision: { action: 'retry', attempts: 1 } }],
  ] as const)('%s', (_label, ran, step, attempt, opts, expected) => {
    expect(fate(ran, step, attempt, false, opts)).toEqual(expected);
  });
});

describe('admission: before the command, a copy the broker counted returns of is replaced', () => {
  const one = { maxAttempts: 1, deadLetterOn: [] };
  const reason = (n: number) => `returned without a result ${n} times (wq-consume was killed or lost its channel, or the broker refused its copy)`;
  it.each([
    ['a fresh message (classic or quorum)', { recorded: 0, recordedReturns: 0, brokerReturns: undefined, earlierDeliveries: 0 }, plain, { action: 'run', attempt: 1 }],
    ['classic, redelivered (counts nothing)', { recorded: 0, recordedReturns: 0, brokerReturns: undefined, earlierDeliveries: 1 }, plain, { action: 'run', attempt: 2 }],
    ['a wq copy after 4 attempts', { recorded: 4, recordedReturns: 0, brokerReturns: undefined, earlierDeliveries: 0 }, plain, { action: 'run', attempt: 5 }],
    ['quorum, x-delivery-count 0', { recorded: 2, recordedReturns: 0, brokerReturns: 0, earlierDeliveries: 0 }, plain, { action: 'run', attempt: 3 }],
    ['quorum, returned once (a crash)', { recorded: 0, recordedReturns: 0, brokerReturns: 1, earlierDeliveries: 1 }, plain, { action: 'refresh', attempts: 1, returns: 1 }],
    ['quorum, returned 19 times, no --max-attempts', { recorded: 6, recordedReturns: 0, brokerReturns: 19, earlierDeliveries: 19 }, plain, { action: 'refresh', attempts: 25, returns: 19 }],
    ['quorum, returned, attempts left', { recorded: 1, recordedReturns: 0, brokerReturns: 1, earlierDeliveries: 1 }, three, { action: 'refresh', attempts: 2, returns: 1 }],
    ['--max-attempts 1, returned once (a lost connection; it may never have run): counted, not dead-lettered', { recorded: 0, recordedReturns: 0, brokerReturns: 1, earlierDeliveries: 1 }, one, { action: 'refresh', attempts: 1, returns: 1 }],
    ['--max-attempts 1, returned a second time (two lost connections): still not dead-lettered', { recorded: 1, recordedReturns: 1, brokerReturns: 1, earlierDeliveries: 1 }, one, { action: 'refresh', attempts: 2, returns: 2 }],
    ['--max-attempts 1, a fifth return (a message that kills its pod): dead-lettered', { recorded: 4, recordedReturns: 4, brokerReturns: 1, earlierDeliveries: 1 }, one, { action: 'dead-letter', attempts: 5, reason: reason(5) }],
    ['--max-attempts 3, 3 failures and a first return: runs again (its next failure dead-letters it)', { recorded: 3, recordedReturns: 0, brokerReturns: 1, earlierDeliveries: 1 }, three, { action: 'refresh', attempts: 4, returns: 1 }],
    ['--max-attempts 6, a sixth return: not yet (the bound is 7)', { recorded: 5, recordedReturns: 5, brokerReturns: 1, earlierDeliveries: 1 }, { maxAttempts: 6, deadLetterOn: [] }, { action: 'refresh', attempts: 6, returns: 6 }],
    ['--max-attempts 6, a seventh return: dead-lettered', { recorded: 6, recordedReturns: 6, brokerReturns: 1, earlierDeliveries: 1 }, { maxAttempts: 6, deadLetterOn: [] }, { action: 'dead-letter', attempts: 7, reason: reason(7) }],
  ] as const)('%s', (_label, counts, opts, expected) => {
    expect(admission(counts, opts)).toEqual(expected);
  });
});
