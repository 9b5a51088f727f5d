import { describe, expect, it } from 'vitest';
import { admission, verdict, type VerdictOptions } from '../../src/consume/verdict.js';
import type { Outcome } from '../../src/process/runner.js';

const exited = (exitCode: number, timedOut = false): Outcome => ({ kind: 'exited', exitCode, durationMs: 1, timedOut, stopped: timedOut });
const killed = (signal: NodeJS.Signals): Outcome => ({ kind: 'signaled', signal, durationMs: 1, timedOut: false, stopped: false });
const noSpawn: Outcome = { kind: 'spawn-failed', error: Object.assign(new Error('spawn x ENOENT'), { code: 'ENOENT' }), durationMs: 1, timedOut: false, stopped: false };
const plain: VerdictOptions = { maxAttempts: 0, deadLetterOn: [] };
const three: VerdictOptions = { maxAttempts: 3, deadLetterOn: [] };
const badItem: VerdictOptions = { maxAttempts: 0, deadLetterOn: [3, 4] };

describe('verdict: what happens to a message after its command', () => {
  it.each([
    ['exit 0', exited(0), 1, false, plain, { action: 'ack' }],
    ['exit 0 after SIGTERM (the work is done)', exited(0), 1, true, plain, { action: 'ack' }],
    ['exit 0 but past --timeout', exited(0, true), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['exit 1', exited(1), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['exit 1 on attempt 25, no --max-attempts', exited(1), 25, false, plain, { action: 'retry', attempts: 25 }],
    ['killed by SIGKILL', killed('SIGKILL'), 1, false, plain, { action: 'retry', attempts: 1 }],
    ['spawn failed', noSpawn, 1, false, plain, { action: 'retry', attempts: 1 }],
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

describe('admission: before the command, a copy the broker counted returns of is replaced', () => {
  it.each([
    ['a fresh message (classic or quorum)', { recorded: 0, brokerReturns: undefined, earlierDeliveries: 0 }, plain, { action: 'run', attempt: 1 }],
    ['classic, redelivered (counts nothing)', { recorded: 0, brokerReturns: undefined, earlierDeliveries: 1 }, plain, { action: 'run', attempt: 2 }],
    ['a wq copy after 4 attempts', { recorded: 4, brokerReturns: undefined, earlierDeliveries: 0 }, plain, { action: 'run', attempt: 5 }],
    ['quorum, x-delivery-count 0', { recorded: 2, brokerReturns: 0, earlierDeliveries: 0 }, plain, { action: 'run', attempt: 3 }],
    ['quorum, returned once (a crash)', { recorded: 0, brokerReturns: 1, earlierDeliveries: 1 }, plain, { action: 'refresh', attempts: 1 }],
    ['quorum, returned 19 times', { recorded: 6, brokerReturns: 19, earlierDeliveries: 19 }, plain, { action: 'refresh', attempts: 25 }],
    ['quorum, returned, attempts left', { recorded: 1, brokerReturns: 1, earlierDeliveries: 1 }, three, { action: 'refresh', attempts: 2 }],
    [
      'quorum, returned, no attempts left',
      { recorded: 2, brokerReturns: 1, earlierDeliveries: 1 },
      three,
      { action: 'dead-letter', attempts: 3, reason: 'returned without a result (wq-consume was killed or lost its channel)' },
    ],
  ] as const)('%s', (_label, counts, opts, expected) => {
    expect(admission(counts, opts)).toEqual(expected);
  });
});
