import { describe, expect, it, vi } from 'vitest';
import { BrokerUnavailableError } from '../../src/errors.js';
import { queueMissing } from '../../src/amqp/queue.js';
import { cancelledError, drainCheckError, lostSentence } from '../../src/consume/lost-error.js';

// What the log says when the broker ends a run: a consumer it cancelled (the queue deleted, its node down,
// a consumer timeout), a connection it closed (a shutdown, a quorum lost, a crash).
const notFound = (text: string) => Object.assign(new Error(`Channel closed by server: 404 (NOT-FOUND) with message "${text}"`), { code: 404 });

describe('cancelledError: what the queue check after a basic.cancel says', () => {
  it('a plain 404 is a deleted queue (78); a 404 for a node that is down, or any other failure, is unavailable (69)', async () => {
    const deleted = await cancelledError('q', () => Promise.reject(notFound("NOT_FOUND - no queue 'q' in vhost '/'")));
    expect([deleted.exitCode, deleted.message]).toEqual([78, expect.stringMatching(/^queue "q" was deleted/)]);
    const down = await cancelledError('q', () => Promise.reject(notFound("NOT_FOUND - failed to perform operation on queue 'q' in vhost '/' due to timeout")));
    expect([down.exitCode, down.message]).toEqual([69, expect.stringMatching(/^the broker cancelled the consumer of queue "q", and the queue cannot be reached \(.*due to timeout.*\): its node is down/)]);
    const closed = await cancelledError('q', () => Promise.reject(new Error('Channel ended, no reply will be forthcoming')));
    expect(closed.exitCode).toBe(69);
  });

  it('a queue that still answers: the consumer timeout (69)', async () => {
    const timeout = await cancelledError('q', async () => ({}));
    expect(timeout).toBeInstanceOf(BrokerUnavailableError);
    expect(timeout.message).toMatch(/still exists: on RabbitMQ 4\.3\+ that is a quorum queue's delivery acknowledgement timeout/);
  });

  it('no answer within 5 s (a node that is down answers after a minute): unavailable (69), without waiting longer', async () => {
    vi.useFakeTimers();
    try {
      const pending = cancelledError('q', () => new Promise(() => undefined));
      await vi.advanceTimersByTimeAsync(5000);
      const err = await pending;
      expect([err.exitCode, err.message]).toEqual([69, expect.stringMatching(/cannot be reached \(no answer about it within 5s\)/)]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('drainCheckError: the end-of-drain check that failed', () => {
  it('a plain 404 is a deleted queue (78); a 404 for a node that is down is unavailable (69)', () => {
    expect(drainCheckError('q', notFound("NOT_FOUND - no queue 'q' in vhost '/'")).exitCode).toBe(78);
    expect(drainCheckError('q', notFound("NOT_FOUND - failed to perform operation on queue 'q' in vhost '/' due to timeout")).exitCode).toBe(69);
  });

  it('a queue whose name holds "404" is not missing for that: the reply code decides, and without one only the broker\'s words', () => {
    const locked = Object.assign(new Error(`Channel closed by server: 405 (RESOURCE-LOCKED) with message "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'run-20240404.retry-5s' in vhost '/'"`), { code: 405 });
    expect(queueMissing(locked)).toBe(false);
    expect(drainCheckError('run-20240404', locked).exitCode).toBe(69);
    expect(queueMissing(new Error("could not check queue 'jobs-404': timeout"))).toBe(false);
    expect(queueMissing(new Error("Operation failed: QueueDeclare; 404 (NOT-FOUND) with message \"NOT_FOUND - no queue 'q' in vhost '/'\""))).toBe(true);
    expect(queueMissing(notFound("NOT_FOUND - no queue 'q' in vhost '/'"))).toBe(true);
  });
});

describe('lostSentence: how a lost connection is told', () => {
  const sentence = (detail: string) => lostSentence(new BrokerUnavailableError('x', undefined, { detail }));
  it('a shutdown, a quorum lost (541), anything else', () => {
    expect(sentence('Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure"')).toMatch(/^the broker closed the connection: it is shutting down/);
    expect(sentence('Connection closed: 541 (INTERNAL-ERROR) with message "INTERNAL_ERROR"')).toMatch(/^the broker closed the connection with an internal error \(.*\): a queue without a quorum of its nodes/);
    expect(sentence('read ECONNRESET')).toMatch(/^lost the connection to the broker \(read ECONNRESET\), a crash or a network failure/);
  });
});
